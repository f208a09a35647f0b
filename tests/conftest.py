"""Session-wide fixtures: the lab is brought up once and shared by every test.

Each lab component (tests/lab/<name>/ctl.sh) is started on first use and
described by $REFORGE_LAB_DIR/<name>.json. A component that was already up
before the session (e.g. left running by `make demo`) is left running.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LAB_DIR = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
COLLECTIONS_DIR = REPO_ROOT / "build" / "collections"

# Plugins are imported as ansible_collections.reforge.hci.* like Ansible does.
if str(COLLECTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_DIR))
# Lab code (simulators, helpers) is importable as `lab.*`.
if str(REPO_ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "tests"))


def _ctl(component: str, verb: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(REPO_ROOT / "tests" / "lab" / component / "ctl.sh"), verb],
        capture_output=True, text=True, timeout=1800, check=False,
    )


class _Lab:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.info: dict[str, dict] = {}

    def get(self, component: str) -> dict:
        if component not in self.info:
            if component != "pki":
                self.get("pki")
            was_up = _ctl(component, "status").returncode == 0
            res = _ctl(component, "up")
            if res.returncode != 0:
                pytest.fail(f"lab component {component} failed to start:\n{res.stdout}\n{res.stderr}")
            if not was_up:
                self.started.append(component)
            self.info[component] = json.loads((LAB_DIR / f"{component}.json").read_text())
        return self.info[component]

    def stop_started(self) -> None:
        if os.environ.get("REFORGE_LAB_KEEP"):
            return
        for component in reversed(self.started):
            _ctl(component, "down")


@pytest.fixture(scope="session")
def lab():
    """Access to lab components: ``lab.get("redfish")`` returns its endpoint description."""
    handle = _Lab()
    yield handle
    handle.stop_started()


@pytest.fixture(scope="session")
def lab_ca(lab) -> str:
    return lab.get("pki")["ca"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def redfish_mockups() -> Path:
    """Vendor Redfish mockups kept in the repository (tests/lab/redfish/mockups/README.md)."""
    return REPO_ROOT / "tests" / "lab" / "redfish" / "mockups"
