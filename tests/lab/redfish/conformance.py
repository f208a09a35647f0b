"""Run DMTF's redfish-service-validator against each vendor template of the simulator.

A private fleet on free ports is started in-process (the shared lab may be in use by
other tests, which reset BMCs and would kill the validator's session).

    python -m lab.redfish.conformance [template ...]   # from tests/, prints a table
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bmc import BMC, Config
from .profiles import PROFILES
from .server import Fleet
from .tree import SCHEMA_DIR

REPO_ROOT = Path(__file__).resolve().parents[3]
# HPE's mockup links ~600 log entries, schema files and telemetry; a sample of each keeps a run within
# minutes (the validator still fetches every other resource). Registry files are not sampled: the BIOS
# attribute registry is the 12th of iLO's 14 and a sample of 10 hid its failures (issue 12).
COLLECTION_LIMIT = ["LogEntry", "5", "JsonSchemaFile", "10",
                    "MetricReport", "2", "MetricDefinition", "5", "MetricReportDefinition", "5"]
COUNTS = re.compile(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")


def validator_bin() -> str:
    exe = Path(sys.executable).parent / "rf_service_validator"
    return str(exe) if exe.exists() else (shutil.which("rf_service_validator") or "rf_service_validator")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failures(logdir: Path) -> list[str]:
    """'<uri>: <message>' for every FAIL line of the validator's debug log."""
    logs = sorted(logdir.glob("*/RedfishServiceValidatorDebug*.log"))
    out, uri = [], "?"
    for line in logs[-1].read_text(errors="replace").splitlines() if logs else []:
        m = re.search(r"Validating (\S+?)\.\.\.", line)
        if m:
            uri = m.group(1)
        elif " FAIL - " in line:
            out.append(f"{uri}: {line.split(' FAIL - ', 1)[1].strip()}")
    return out


def validate(endpoint: str, ca: str, logdir: Path, timeout: int = 900, uri: str | None = None) -> dict:
    """The whole service from its root, or (``uri``) that one resource alone."""
    env = {**os.environ, "REQUESTS_CA_BUNDLE": ca}
    start = time.monotonic()
    scope = ["--payload", "Single", uri] if uri else ["--collectionlimit", *COLLECTION_LIMIT]
    res = subprocess.run(
        [validator_bin(), "-u", "root", "-p", "calvin", "-r", endpoint, "--authtype", "Session",
         "--schema_directory", str(SCHEMA_DIR), "--skipschema",
         "--nooemcheck", "--logdir", str(logdir), *scope],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=logdir, check=False)
    seconds = round(time.monotonic() - start, 1)
    m = COUNTS.findall(res.stdout)
    if not m:
        raise RuntimeError(f"validator output without counts (rc={res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    passed, warned, failed, untested = map(int, m[-1])
    return {"pass": passed, "warn": warned, "fail": failed, "not_tested": untested, "seconds": seconds,
            "failures": failures(logdir), "rc": res.returncode}


def run(templates: list[str], cert: str, key: str, ca: str, workdir: Path,
        uris: list[str] | None = None) -> dict[str, dict]:
    """Validate each template's whole tree, or (``uris``) only those resources, one at a time (keyed
    '<template> <uri>')."""
    bmcs = [BMC(i + 1, t, PROFILES[t], _free_port(), config=Config()) for i, t in enumerate(templates)]
    fleet = Fleet(bmcs, cert, key).start()
    try:
        results = {}
        for b in bmcs:
            for uri in uris or [None]:
                logdir = workdir / b.profile.key / (uri or "").strip("/").replace("/", "_")
                logdir.mkdir(parents=True, exist_ok=True)
                key = b.profile.key if uri is None else f"{b.profile.key} {uri}"
                results[key] = validate(f"https://127.0.0.1:{b.port}", ca, logdir, uri=uri)
        return results
    finally:
        fleet.stop()


def main() -> None:
    lab = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
    pki = lab / "pki"
    templates = sys.argv[1:] or list(PROFILES)
    out = lab / "redfish" / "conformance"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("run-*"):      # validator reports are ~20 MB per template: keep the last run only
        shutil.rmtree(old, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=out))
    results = run(templates, str(pki / "server.pem"), str(pki / "server.key"), str(pki / "ca.pem"), work)
    print(f"{'template':24} {'pass':>6} {'warn':>5} {'fail':>5} {'seconds':>8}")
    for name, r in results.items():
        print(f"{name:24} {r['pass']:6} {r['warn']:5} {r['fail']:5} {r['seconds']:8}")
        for f in r["failures"][:30]:
            print("    ", f[:300])
    (out / "latest.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
