"""The repository stands alone: a clone with an empty folder where `../shared` was runs the
lab's Redfish fleet, and no script, test, role or plugin reads anything outside the clone."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.redfish.client_helpers import LabBMC
from lab.redfish.conftest import free_port_range

REPO_ROOT = Path(__file__).resolve().parents[3]
# What must never appear in code the project runs: the reference folder beside the developers'
# clone, or the variable that used to point at it.
OUTSIDE = re.compile(r"REFORGE_SHARED_DIR|\.\./shared\b|parent\s*/\s*[\"']shared[\"']")
CHECKED = ("scripts", "tests", "roles", "plugins", "playbooks", "inventories", "Makefile", ".ci")


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                         capture_output=True, check=True).stdout.decode()
    return [f for f in out.split("\0") if f]


def test_no_code_reads_outside_the_clone():
    me = Path(__file__).relative_to(REPO_ROOT).as_posix()
    hits = []
    for rel in _tracked_files():
        if not rel.startswith(CHECKED) or rel == me or "/mockups/" in rel or "/schema/csdl/" in rel:
            continue
        path = REPO_ROOT / rel
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{rel}:{number}: {line.strip()}")
    assert not hits, "reads outside the repository:\n" + "\n".join(hits)


@pytest.mark.lab
def test_fleet_runs_from_a_clone_with_an_empty_shared_folder(tmp_path):
    """Copy what git would ship, put an empty `shared/` beside it, and bring the lab's
    pki + redfish components up from the copy on free ports: every BMC serves its tree."""
    work = tmp_path / "campus"
    clone = work / "reforge-hci"
    (work / "shared").mkdir(parents=True)
    for rel in _tracked_files():
        src = REPO_ROOT / rel
        if src.is_file():
            dst = clone / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    lab_dir = tmp_path / "lab"
    base = free_port_range(7)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFORGE_")}
    env.update(REFORGE_LAB_DIR=str(lab_dir), REFORGE_LAB_BMC_BASE_PORT=str(base),
               REFORGE_LAB_SUSHY_PORT=str(base + 6), VENV=os.environ.get("VENV", str(REPO_ROOT / ".venv")))
    lab_sh = str(clone / "tests" / "lab" / "lab.sh")
    up = subprocess.run([lab_sh, "up", "pki", "redfish"], cwd=work, env=env, capture_output=True, text=True,
                        timeout=300, check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr + _log(lab_dir)
        info = json.loads((lab_dir / "redfish.json").read_text())
        templates = set()
        for desc in info["bmcs"]:
            client = LabBMC(desc["endpoint"], info["ca"], info["username"], info["password"])
            system = client.json(desc["system"])
            assert system.get("SerialNumber") or system.get("SKU"), desc
            assert client.get(desc["system"] + "/Bios").status_code == 200, desc
            templates.add(desc["template"])
        # The two templates that rest on the vendor mockups are among them and serve deep resources.
        assert {"hpe-dl360-gen10plus", "dmtf-rackmount1"} <= templates, templates
        hpe = next(d for d in info["bmcs"] if d["template"] == "hpe-dl360-gen10plus")
        client = LabBMC(hpe["endpoint"], info["ca"], info["username"], info["password"])
        registries = client.json("/redfish/v1/Registries")
        assert len(registries["Members"]) > 5, registries
    finally:
        subprocess.run([lab_sh, "down", "redfish", "pki"], cwd=work, env=env, capture_output=True, timeout=120,
                       check=False)


def _log(lab_dir: Path) -> str:
    log = lab_dir / "redfish" / "simulator.log"
    return "\n--- simulator.log\n" + log.read_text()[-3000:] if log.exists() else ""
