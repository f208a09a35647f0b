"""The metal lab's BMCs: one simulated Redfish BMC per QEMU machine, bound to it.
``python -m lab.metal.fleet --netns rmXXXXXX --dir .lab/metal --machines 2 ...`` (started by ctl.sh)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from lab.redfish.bmc import Config
from lab.redfish.fleet import describe
from lab.redfish.profiles import PROFILES
from lab.redfish.server import Fleet

from .machine import Machine, MachineSpec, MetalBMC

# Machine i gets template TEMPLATES[i % len]: two vendors' Redfish dialects drive the same kind of machine.
TEMPLATES = ("dell-r640-h730p", "hpe-dl360-gen10plus")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--netns", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--machines", type=int, default=2)
    ap.add_argument("--nics", type=int, default=4)
    ap.add_argument("--base-port", type=int, default=18101)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()
    os.environ.setdefault("REFORGE_LAB_CA", str(Path(args.cert).with_name("ca.pem")))
    bmcs: list[MetalBMC] = []
    for i in range(args.machines):
        spec = MachineSpec(i + 1, f"metal{i + 1}", Path(args.dir) / "machines" / f"m{i + 1}", args.netns, args.nics)
        bmcs.append(MetalBMC(i + 1, spec.name, PROFILES[TEMPLATES[i % len(TEMPLATES)]], args.base_port + i,
                             spec.name, None, Config(power_delay=0.0), machine=Machine(spec)))
    fleet = Fleet(bmcs, args.cert, args.key).start()
    ready = Path(args.ready_file)
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps({"bmcs": describe(bmcs), "machines": [b.machine.spec.describe() for b in bmcs],
                               "pid": os.getpid()}, indent=1))
    tmp.replace(ready)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    fleet.stop()
    for b in bmcs:
        b.shutdown()


if __name__ == "__main__":
    main()
