"""Build the fleet (default: the six lab servers; more BMCs cycle through the templates)
and run it: ``python -m lab.redfish.fleet --count 6 --state-dir .lab/redfish``."""
from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path

from .bmc import BMC, Config
from .profiles import DEFAULT_FLEET, PROFILES
from .server import Fleet

BASE_PORT = 18001
REPO_ROOT = Path(__file__).resolve().parents[3]


def fleet_spec(count: int) -> list[tuple[str, str, str | None]]:
    """(name, template, bound_node) per BMC; index i serves on BASE_PORT + i."""
    spec = list(DEFAULT_FLEET[:count])
    for i in range(len(spec), count):
        _n, template, _b = DEFAULT_FLEET[i % len(DEFAULT_FLEET)]
        spec.append((f"bmc{i + 1:03d}", template, None))
    return spec


def build(count: int, base_port: int = BASE_PORT, config: Config | None = None,
          hook: Path | None = None, spec: list[tuple[str, str, str | None]] | None = None) -> list[BMC]:
    """The BMCs of fleet_spec(count), or of an explicit (name, template, bound_node) spec."""
    hook = hook or REPO_ROOT / "tests" / "lab" / "nodes" / "ctl.sh"
    return [BMC(i + 1, name, PROFILES[template], base_port + i, bound, hook, config)
            for i, (name, template, bound) in enumerate(spec if spec is not None else fleet_spec(count))]


def describe(bmcs: list[BMC]) -> list[dict]:
    return [{"name": b.name, "endpoint": f"https://127.0.0.1:{b.port}", "vendor": b.profile.vendor,
             "model": b.profile.model, "template": b.profile.key, "port": b.port,
             "bound_node": b.bound_node, "serial": b.serial, "system": b.profile.system}
            for b in bmcs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=int(os.environ.get("REFORGE_LAB_BMCS", "6")))
    ap.add_argument("--base-port", type=int, default=BASE_PORT)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ready-file", required=True, help="written (JSON) once every port listens")
    ap.add_argument("--power-delay", type=float, default=float(os.environ.get("REFORGE_LAB_POWER_DELAY", "2.0")))
    ap.add_argument("--realistic", action="store_true", default=os.environ.get("REFORGE_LAB_REALISTIC") == "1",
                    help="firmware updates and BMC resets take the profiles' real minutes")
    ap.add_argument("--latency", type=float, default=float(os.environ.get("REFORGE_LAB_LATENCY", "0")),
                    help="seconds every Redfish request waits before it is served (real BMCs: 0.2-2)")
    args = ap.parse_args()
    start = time.monotonic()
    bmcs = build(args.count, args.base_port,
                 Config(power_delay=args.power_delay, realistic=args.realistic, latency=args.latency))
    # The lab's account is the one ctl.sh writes into redfish.json and the inventories read
    # (REDFISH_USERNAME/REDFISH_PASSWORD): a lab started with other credentials (the nodes
    # lane's sentinel secrets) must accept those, not the template's root/calvin.
    for bmc in bmcs:
        bmc.username = os.environ.get("REDFISH_USERNAME") or bmc.username
        bmc.password = os.environ.get("REDFISH_PASSWORD") or bmc.password
    fleet = Fleet(bmcs, args.cert, args.key).start()
    ready = Path(args.ready_file)
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps({"bmcs": describe(bmcs), "pid": os.getpid(),
                               "startup_seconds": round(time.monotonic() - start, 3)}, indent=1))
    tmp.replace(ready)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    fleet.stop()


if __name__ == "__main__":
    main()
