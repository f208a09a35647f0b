"""Fan-out of discover.yml over many simulated BMCs, against a one-BMC baseline of the same run.

A second simulator fleet (200 BMCs, ports 18060..18259) runs beside the lab's six. The
playbook reads every BMC (bmc_info, full inventory) and writes the reuse report; we time
N = 1 (baseline), 20 and 200 BMCs with the same forks and record the times, the ratio to the
baseline and BMCs per second in $REFORGE_LAB_DIR/perf/discover_fanout.json. Nothing is
asserted about absolute times (the machine is shared); only that every BMC was graded.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
BASE_PORT = 18060
FLEET = 200
FORKS = int(os.environ.get("REFORGE_PERF_FORKS", "20"))


@pytest.fixture(scope="module")
def big_fleet(lab, tmp_path_factory):
    pki = Path(lab.get("pki")["ca"]).parent
    ready = tmp_path_factory.mktemp("fleet") / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.redfish.fleet", "--count", str(FLEET), "--base-port", str(BASE_PORT),
         "--cert", str(pki / "server.pem"), "--key", str(pki / "server.key"), "--ready-file", str(ready),
         "--power-delay", "0.2"],
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT / "tests")), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    deadline = time.monotonic() + 300
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "200-BMC fleet did not start"
        time.sleep(0.2)
    yield json.loads(ready.read_text())
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def discover(bmcs: list[dict], tmp: Path, ca: str) -> float:
    inventory = tmp / ("fleet%d.yml" % len(bmcs))
    hosts = {b["name"]: {"bmc_endpoint": b["endpoint"]} for b in bmcs}
    inventory.write_text(json.dumps({"all": {"children": {"servers": {"hosts": hosts}}, "vars": {
        "bmc_username": "root", "bmc_password": "calvin", "bmc_ca_path": ca}}}))
    cmd = ("source scripts/env.sh && ansible-playbook -f %d -i %s playbooks/discover.yml -e reuse_report_dir=%s "
           "-e reuse_report_campus=perf%d" % (FORKS, inventory, tmp, len(bmcs)))
    start = time.monotonic()
    proc = subprocess.run(["bash", "-c", cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600, check=False,
                          env=dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks"))
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((tmp / ("perf%d-reuse.json" % len(bmcs))).read_text())
    assert report["summary"]["total"] == len(bmcs) and report["summary"]["unreachable"] == 0
    return elapsed


def test_discover_fanout_20_and_200(big_fleet, lab, tmp_path):
    ca = lab.get("pki")["ca"]
    bmcs = big_fleet["bmcs"]
    results = {}
    for n in (1, 20, 200):
        results[n] = discover(bmcs[:n], tmp_path, ca)
    base = results[1]
    summary = {
        "forks": FORKS, "cpus": os.cpu_count(), "fleet_startup_seconds": big_fleet["startup_seconds"],
        "runs": {str(n): {"seconds": round(t, 1), "ratio_to_1": round(t / base, 2),
                          "bmcs_per_second": round(n / t, 2)} for n, t in results.items()},
    }
    out = LAB_DIR / "perf" / "discover_fanout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    # Fan-out means 200 BMCs cost far less than 200 single runs.
    assert results[200] < 200 * base
