"""Fixtures of the registration tests: a real campus plane and stand-in exporters (mgmt_plane.py)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from mgmt_plane import Plane, StandInExporter


@pytest.fixture(scope="module")
def plane():
    if not shutil.which("prometheus") or not shutil.which("prometheus-alertmanager"):
        pytest.fail("Debian's prometheus and prometheus-alertmanager are needed (scripts/apt-packages.txt)")
    root = Path(tempfile.mkdtemp(prefix="reforge-plane-"))
    handle = Plane(root)
    yield handle
    handle.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def exporters():
    made: dict[str, StandInExporter] = {}

    def get(name: str) -> StandInExporter:
        if name not in made:
            made[name] = StandInExporter()
        return made[name]

    yield get
    for exp in made.values():
        exp.close()
