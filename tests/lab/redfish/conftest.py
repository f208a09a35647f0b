"""An in-process fleet on free ports for the simulator's own tests: fast power
transitions and tasks, isolated from a lab that `make demo` may have left running."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable, Iterator

import pytest

from lab.redfish.bmc import Config
from lab.redfish.client_helpers import LabBMC
from lab.redfish.fleet import build
from lab.redfish.server import Fleet

POWER_DELAY = 0.3
TASK_POLLS = 2


def free_port_range(count: int, start: int = 20000, stop: int = 40000) -> int:
    """First port of `count` consecutive free loopback ports."""
    base = start
    while base + count < stop:
        for offset in range(count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", base + offset))
                except OSError:
                    base += offset + 1
                    break
        else:
            return base
    raise RuntimeError("no free port range")


def start_fleet(count: int, pki: dict, hook: Path | None = None) -> Fleet:
    base = free_port_range(count)
    bmcs = build(count, base, Config(power_delay=POWER_DELAY, task_polls=TASK_POLLS), hook=hook)
    return Fleet(bmcs, pki["cert"], pki["key"]).start()


@pytest.fixture(scope="session")
def pki(lab) -> dict:
    return lab.get("pki")


@pytest.fixture(scope="module")
def fleet(pki, tmp_path_factory) -> Iterator[Fleet]:
    hook_dir = tmp_path_factory.mktemp("hook")
    hook = hook_dir / "ctl.sh"
    # Stands in for tests/lab/nodes/ctl.sh: records the power calls the BMC makes.
    hook.write_text(f"#!/bin/sh\necho \"$@\" >> {hook_dir}/calls\n")
    hook.chmod(0o755)
    fl = start_fleet(6, pki, hook)
    fl.hook_calls = hook_dir / "calls"  # type: ignore[attr-defined]
    yield fl
    fl.stop()


@pytest.fixture
def bmc(fleet, pki) -> Callable[[str], LabBMC]:
    """bmc('node1') -> a client for that BMC, reset to its template first."""
    def get(name: str) -> LabBMC:
        sim = next(b for b in fleet.bmcs if b.name == name)
        client = LabBMC(f"https://127.0.0.1:{sim.port}", pki["ca"])
        client.reset()
        return client
    return get
