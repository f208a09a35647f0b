"""discover.yml and prepare_hardware.yml against the six simulated BMCs of the lab inventory:
check mode sends no write, the first run converges, the second reports no change; the reuse
report is rendered in headless Chromium."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess

import pytest

from lab.browser import dump_dom, screenshot
from redfish_lab import FAST, REPO_ROOT

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def playbook(name: str, *extra: str, timeout: int = 900) -> tuple[str, dict]:
    """Run a playbook with the lab inventory; return its output and the per-host recap."""
    cmd = "source scripts/env.sh && ansible-playbook -i inventories/lab playbooks/%s %s" % (name, " ".join(extra))
    proc = subprocess.run(["bash", "-c", cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    recap = {}
    for host, stats in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", proc.stdout, re.M):
        recap[host] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", stats))
    return proc.stdout, recap


@pytest.fixture
def campus(fleet):
    for bmc in fleet.bmcs:
        bmc.reset(**FAST)
    yield fleet
    for bmc in fleet.bmcs:
        bmc.reset()


def writes(fleet, cursors):
    return {b.name: b.writes_since(cursors[b.name]) for b in fleet.bmcs if b.writes_since(cursors[b.name])}


def test_prepare_hardware_check_then_twice(campus):
    cursors = {b.name: b.cursor() for b in campus.bmcs}
    _out, recap = playbook("prepare_hardware.yml", "--check", "--diff")
    assert set(recap) == {b.name for b in campus.bmcs}
    assert writes(campus, cursors) == {}, "check mode must not write to any BMC"
    assert sum(r["changed"] for r in recap.values()) > 0, "check mode should report the pending work"

    _out, first = playbook("prepare_hardware.yml")
    assert all(r["failed"] == 0 for r in first.values()) and first["node1"]["changed"] > 0
    boots = {b.name: b.state()["boot_count"] for b in campus.bmcs}
    # spare6 (DMTF) already has its only profile setting (UEFI) and no firmware entry: nothing pending, no reboot.
    assert boots == {"node1": 1, "node2": 1, "node3": 1, "node4": 1, "spare5": 1, "spare6": 0}, boots

    _out, second = playbook("prepare_hardware.yml")
    assert {h: r["changed"] for h, r in second.items()} == {h: 0 for h in second}
    assert {b.name: b.state()["boot_count"] for b in campus.bmcs} == boots, "no reboot when nothing is pending"

    node1 = campus["node1"]
    assert "2.20.1" in node1.state()["firmware"].values() and "7.00.00.00" in node1.state()["firmware"].values()
    assert node1.get(node1.system + "/Bios")["Attributes"]["SysProfile"] == "PerfOptimized"
    drives = node1.get(node1.system + "/Storage/RAID.Integrated.1-1")["Drives"]
    assert {node1.get(d["@odata.id"])["Oem"]["Dell"]["DellPhysicalDisk"]["RaidStatus"] for d in drives} == {"NonRAID"}


def test_prepare_hardware_ilo5_hba_takes_effect_at_the_reboot(campus):
    """node2 (iLO 5, Smart Array SR416i-a) switched to HBA: the port mode is staged in SmartStorageConfig,
    the one reboot applies it and the role's verify step finds nothing pending (before the simulator
    applied port modes at POST, the switch stayed pending and verify failed the host)."""
    extra = json.dumps({"reforge_prepare_hosts": "node2", "hardware_prepare_controller_modes": ["hba"],
                        "hardware_prepare_firmware_baseline": []})
    _out, recap = playbook("prepare_hardware.yml", "-e", shlex.quote(extra))
    assert recap["node2"]["failed"] == 0 and recap["node2"]["changed"] > 0, recap
    node2 = campus["node2"]
    assert node2.state()["boot_count"] == 1
    assert node2.get(node2.system + "/SmartStorage/ArrayControllers/12")["CurrentOperatingMode"] == "HBA"


def test_discover_report_and_chromium(campus, tmp_path):
    cursors = {b.name: b.cursor() for b in campus.bmcs}
    report_dir = tmp_path / "reports"
    _out, recap = playbook("discover.yml", "--check", "-e", "reuse_report_dir=%s" % report_dir)
    assert len(recap) == 6 and all(r["failed"] == 0 for r in recap.values())
    _out, recap = playbook("discover.yml", "-e", "reuse_report_dir=%s" % report_dir)
    assert writes(campus, cursors) == {}, "discovery must never write to a BMC"

    report = json.loads((report_dir / "campus-reuse.json").read_text())
    assert report["summary"]["total"] == 6 and report["summary"]["unreachable"] == 0
    grades = {h: r["grade"] for h, r in report["servers"].items()}
    assert grades["spare5"] == "reusable_with_changes"          # PERC11: controller must be replaced
    assert any("replace it with an HBA" in r["text"] for r in report["servers"]["spare5"]["reasons"])
    assert grades["spare6"] == "retire"          # Haswell: out of Intel's microcode servicing (and 64 GiB, 1 GbE)
    assert report["servers"]["spare5"]["changes"] == ["a new HBA"]
    # reusable as is (after prepare), after a named change, retire: what prepare_hardware.yml will do
    assert report["summary"]["counts"] == {"reusable": 2, "reusable_with_changes": 3, "retire": 1}, report["summary"]
    # the planned switch of node1's PERC deletes its RAID1 boot volume: the report says so before prepare does it
    [node1_ctrl] = [r for r in report["servers"]["node1"]["reasons"] if r["area"] == "controller"]
    assert "destroys 1 RAID volume(s) (Disk.Virtual.0:RAID.Integrated.1-1)" in node1_ctrl["text"], node1_ctrl
    assert report["servers"]["node1"]["measured"]["firmware_behind"]   # lab baseline is newer than node1
    assert not report["servers"]["node3"]["measured"]["firmware_behind"] == [
        {"component": "Bios", "version": "1.86", "baseline": "2.20.1"}], "Dell baseline must not apply to xFusion"

    html = report_dir / "campus-reuse.html"
    dom = dump_dom(html, tmp_path / "chrome")
    rows = re.findall(r'<tr data-host="([^"]+)" data-grade="([^"]+)"', dom)
    assert dict(rows) == grades
    share = "%.1f %%" % (report["summary"]["reused_share"] * 100)
    assert share in dom
    png = tmp_path / "report.png"
    screenshot(html, png, tmp_path / "chrome", "1400,900")
    shutil.copy(png, report_dir / "campus-reuse.png")

    # A reassessment that finds the same writes nothing (a second run of discovery changes nothing) and
    # says so; one that finds something else (here spare6's BMC stopped answering, as a server pulled for
    # preparation would) is a dated record of its own, and the first one stays.
    [first] = report["history"]
    assert report["assessed_at"].endswith("+00:00") and first["run_id"] == report["run_id"]
    first_json = (report_dir / ("campus-reuse-%s.json" % first["run_id"])).read_text()
    files = sorted(p.name for p in report_dir.iterdir())
    out, recap = playbook("discover.yml", "-e", "reuse_report_dir=%s" % report_dir)
    assert sum(r["changed"] for r in recap.values()) == 0, recap
    assert "unchanged since the assessment %s" % first["run_id"] in out
    assert sorted(p.name for p in report_dir.iterdir()) == files
    campus["spare6"].fault(kind="status", status=503, count=-1)
    try:
        _out, recap = playbook("discover.yml", "-e", "reuse_report_dir=%s" % report_dir)
    finally:
        campus["spare6"].lab("DELETE", "faults")
    latest = json.loads((report_dir / "campus-reuse.json").read_text())
    assert latest["summary"]["unreachable"] == 1, latest["summary"]
    assert [h["run_id"] for h in latest["history"]] == [first["run_id"], latest["run_id"]] != [first["run_id"]] * 2
    assert latest["history"][0] == first and first["grades"] == grades
    assert (report_dir / ("campus-reuse-%s.json" % first["run_id"])).read_text() == first_json
    assert (report_dir / ("campus-reuse-%s.html" % first["run_id"])).exists()
    dom = dump_dom(html, tmp_path / "chrome")
    assert 'data-run="%s"' % first["run_id"] in dom and latest["assessed_at"] in dom
