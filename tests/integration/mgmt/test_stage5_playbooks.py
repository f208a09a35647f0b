"""playbooks/register.yml and playbooks/burnin.yml through their roles, on this machine (connection local):
the register stage against the real Prometheus/Alertmanager of the plane fixture, the burn-in with fio's
libaio engine on a temp file. Rerun changed=0; check mode changes nothing."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from mgmt_plane import REPO_ROOT, get_json

pytestmark = pytest.mark.lab


def playbook(name: str, extra: dict, *args: str, tmp_path) -> dict:
    vars_file = tmp_path / ("vars-%s.json" % name)
    vars_file.write_text(json.dumps(dict(extra, ansible_python_interpreter=sys.executable)))
    cmd = ("source scripts/env.sh && ansible-playbook -i localhost, -c local playbooks/%s -e @%s %s"
           % (name, vars_file, " ".join(args)))
    proc = subprocess.run(["bash", "-c", cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    [stats] = re.findall(r"^localhost\s+:\s+(ok=.*)$", proc.stdout, re.M)
    return dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", stats))


def test_register_playbook_registers_reruns_unchanged_and_dry_runs_clean(plane, exporters, tmp_path):
    west = exporters("west")
    west.metrics.update({"ceph_health_status": 0, "node_load1": 1})
    extra = {"reforge_mgmt_hosts": "localhost", "mgmt_register_install": False,
             "mgmt_register_prometheus": plane.options(),
             "mgmt_register_campuses": [{"name": "west", "cluster": "hci4", "targets": {"node": [west.address]}}]}
    first = playbook("register.yml", extra, tmp_path=tmp_path)
    assert first["changed"] == 1 and first["failed"] == 0
    groups = [g["name"] for g in get_json(plane.prometheus_url + "/api/v1/rules")["data"]["groups"]]
    assert "reforge-west" in groups
    before = plane.snapshot()
    assert playbook("register.yml", extra, tmp_path=tmp_path)["changed"] == 0
    extra["mgmt_register_state"] = "absent"
    dry = playbook("register.yml", extra, "--check", "--diff", tmp_path=tmp_path)
    assert dry["changed"] == 1 and plane.snapshot() == before


def test_burnin_playbook_two_rounds_rerun_unchanged(tmp_path):
    marker = tmp_path / "fenced"
    extra = {"reforge_burnin_hosts": "localhost", "burnin_install": False, "burnin_name": "lab", "burnin_out_dir": str(tmp_path / "out"),
             "burnin_engine": "libaio", "burnin_target": {"filename": str(tmp_path / "data"), "size": "16m"},
             "burnin_duration": 2, "burnin_ramp_time": 0, "burnin_log_avg_msec": 250,
             "burnin_jobs": [{"name": "rand-4k", "rw": "randrw", "bs": "4k", "iodepth": 4},
                             {"name": "seq-1m", "rw": "rw", "bs": "1m", "iodepth": 2}],
             "burnin_thresholds": {"all": {"max_iops_cv": 10}}, "burnin_inject_command": "touch %s" % marker,
             "burnin_inject_label": "node fenced (stand-in)", "burnin_inject_at_fraction": 0.5}
    dry = playbook("burnin.yml", extra, "--check", tmp_path=tmp_path)
    assert dry["failed"] == 0 and not (tmp_path / "out").exists()
    run = playbook("burnin.yml", extra, tmp_path=tmp_path)
    assert run["changed"] == 1 and run["failed"] == 0   # one task (the rounds loop) changed, both rounds ran
    for name in ("lab-clean", "lab-injected"):
        report = json.loads((tmp_path / "out" / name / "report.json").read_text())
        assert report["verdict"] == "PASS" and report["runtime"] == 1
        assert bool(report["events"]) is (name == "lab-injected")
    assert marker.exists()
    assert playbook("burnin.yml", extra, tmp_path=tmp_path)["changed"] == 0
