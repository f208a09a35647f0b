"""The collection as a whole: it builds, installs, and passes ansible-test
sanity, ansible-lint (production profile) and the changelog linter; its
metadata and role argument specs agree with the code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def _run(cmd: list[str], cwd: Path = ROOT, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _assert_ok(res: subprocess.CompletedProcess, what: str) -> None:
    out = (res.stdout + res.stderr)[-8000:]
    assert res.returncode == 0, f"{what} failed (rc={res.returncode}):\n{out}"


def test_ansible_test_sanity():
    _assert_ok(_run([str(ROOT / "scripts" / "sanity.sh"), "--venv"], timeout=2400), "ansible-test sanity")


def test_ansible_lint_production_profile():
    _assert_ok(_run([str(VENV_BIN / "ansible-lint"), "--profile", "production", "--nocolor"]), "ansible-lint")


def test_changelog_fragments_lint():
    _assert_ok(_run([str(VENV_BIN / "antsibull-changelog"), "lint"]), "antsibull-changelog lint")


def test_refusals_page_is_generated_from_the_tests():
    """docs/refusals.md lists what the refusal-marked tests prove; a new or changed refusal regenerates it."""
    _assert_ok(_run([sys.executable, str(ROOT / "scripts" / "refusals_page.py"), "--check"], timeout=300),
               "docs/refusals.md (make refusals)")


def test_collection_builds_and_installs(tmp_path):
    _assert_ok(_run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path)]), "build")
    tarballs = list(tmp_path.glob("reforge-hci-*.tar.gz"))
    assert len(tarballs) == 1
    dest = tmp_path / "installed"
    _assert_ok(_run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "--force",
                     "-p", str(dest), str(tarballs[0])]), "install")
    installed = dest / "ansible_collections" / "reforge" / "hci"
    assert (installed / "MANIFEST.json").is_file()
    # Lab state and the developer venv must never ship.
    assert not (installed / ".venv").exists() and not (installed / ".lab").exists()


def _module_names() -> list[str]:
    return sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


def test_action_groups_cover_the_api_families():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    groups = runtime.get("action_groups", {})
    for name in _module_names():
        if name.startswith("bmc_"):
            assert name in groups.get("redfish", []), f"{name} missing from action_groups.redfish"
        if name.startswith(("vsphere_", "migration_preflight", "migration_sync", "migration_cutover")):
            assert name in groups.get("vsphere", []), f"{name} missing from action_groups.vsphere"
    for group, members in groups.items():
        for member in members:
            assert member in _module_names(), f"action group {group} names unknown module {member}"


@pytest.mark.parametrize("role", sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir()) or ["<none>"])
def test_role_argument_specs_match_defaults(role):
    """Every default is documented in meta/argument_specs.yml with the same value (and vice versa)."""
    if role == "<none>":
        pytest.skip("no roles yet")
    base = ROOT / "roles" / role
    specs_file = base / "meta" / "argument_specs.yml"
    assert specs_file.is_file(), f"role {role} has no meta/argument_specs.yml"
    entry_points = yaml.safe_load(specs_file.read_text())["argument_specs"]
    assert "main" in entry_points, f"role {role} has no main entry point in meta/argument_specs.yml"
    # defaults/main.yml serves every entry point (tasks_from: ...); each default is documented in one of them.
    specs = {}
    for entry in entry_points.values():
        for name, spec in (entry.get("options") or {}).items():
            assert name not in specs or specs[name] == spec, f"{name} is documented differently in two entry points"
            specs[name] = spec
    defaults_file = base / "defaults" / "main.yml"
    defaults = (yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.is_file() else {}
    for name, value in defaults.items():
        assert name.startswith(f"{role}_"), f"role variable {name} is not prefixed with {role}_"
        assert name in specs, f"default {name} is not documented in argument_specs"
        if "default" in specs[name]:
            assert specs[name]["default"] == value, f"{name}: argument_specs default {specs[name]['default']!r} != defaults {value!r}"
    for name, spec in specs.items():
        if "default" in spec:
            assert name in defaults, f"argument_specs documents a default for {name} that defaults/main.yml lacks"
