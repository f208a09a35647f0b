"""playbooks/migrate.yml end to end on the lab: the README's migration command against the lab vCenter."""
import json
import os
import re
import shutil
import subprocess

import pytest

from lab.browser import dump_dom, screenshot
from migration_ansible import REPO
from migration_labvc import LabVC, assert_identical

NO_QEMU = not shutil.which("qemu-system-x86_64")
pytestmark = [pytest.mark.lab, pytest.mark.slow,
              pytest.mark.skipif(NO_QEMU, reason="qemu-system-x86 (Debian) is not installed")]


def _migrate(env, extra):
    return subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i",
                           os.path.join(REPO, "inventories", "lab"), os.path.join(REPO, "playbooks", "migrate.yml"),
                           "-e", json.dumps(extra)], env=env, capture_output=True, text=True, timeout=1200,
                          check=False)


def _wave_setup(lab, tmp_path):
    """The lab vCenter, the environment ansible-playbook runs with, and the wave's own directories."""
    vcsim = lab.get("vcsim")
    lab_dir = os.path.dirname(os.path.dirname(vcsim["ca"]))  # <lab>/pki/ca.pem
    env = dict(os.environ, REFORGE_LAB_DIR=lab_dir, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "build", "collections"), ANSIBLE_NOCOLOR="1")
    work = tmp_path / "migration"
    extra = {"migration_wave_vcenter_port": vcsim["port"], "migration_wave_target_dir": str(work / "disks"),
             "migration_wave_journal_dir": str(work / "journal"), "migration_wave_report_dir": str(work / "reports")}
    return LabVC(vcsim), env, work, extra


def test_lab_wave_moves_a_warm_tier1_vm_and_a_cold_batch(lab, tmp_path):
    vc, env, work, extra = _wave_setup(lab, tmp_path)
    extra.update({
        "migration_wave_domain_dir": str(work / "domains"),
        # The small-site variant: copies on the controller into raw files, a direct QEMU boot
        # check (the lab inventory's own wave goes into the cluster: tests/integration/cluster).
        "migration_wave_sync_host": "localhost", "migration_wave_target_format": "raw",
        "migration_wave_cutover_method": "qemu", "migration_wave_ha": False,
        "migration_wave_qemu_memory_mb": 128,
        "migration_wave_network_map": {"VM Network": {"bridge": "br-vm", "vlan": 100},
                                       "prod-db": {"bridge": "br-vm", "vlan": 110},
                                       "prod-app": {"bridge": "br-vm", "vlan": 120}}})
    before = vc.counters()
    proc = _migrate(env, extra)
    assert proc.returncode == 0, proc.stdout[-5000:]
    report = json.loads((work / "reports" / "lab-wave1.json").read_text())
    # The lab inventory reads straight from the ESXi hosts (migration_wave_read_via): every byte the
    # syncs and the verification read came from a host endpoint with a ticket, none from vCenter's /folder.
    moved = vc.counters_since(before)
    assert moved.get("vcenter_bytes", 0) == 0, moved
    assert moved.get("esxi_bytes", 0) >= sum(s["bytes_read"] for s in report["syncs"]) > 0, moved
    assert (work / "reports" / "lab-wave1.html").exists()
    phases = [(s["vm"], s["phase"], s["kind"]) for s in report["syncs"]]
    assert phases[:3] == [("db01", "full", "full"), ("db01", "incremental1", "incremental"),
                          ("db01", "incremental2", "incremental")]
    db01 = [s for s in report["syncs"] if s["vm"] == "db01"]
    for sync in db01[1:3]:
        # the lab guest wrote 32 MiB at a 4 KiB offset between syncs: 513 blocks of 64 KiB changed
        assert sync["bytes_areas"] == 513 * 65536 and sync["bytes_read"] == sync["bytes_areas"]
    assert db01[3]["phase"] == "final (source off)" and db01[3]["bytes_read"] == 0
    cut = {c["vm"]: c for c in report["cutovers"]}
    assert sorted(cut) == ["batch01", "batch02", "batch03", "db01"]
    assert all(c["cut_over"] for c in cut.values())
    assert [cut[n]["mode"] for n in ("db01", "batch01")] == ["warm", "batch"]
    for name in cut:
        key = vc.disk(name, 2000)["key"]
        assert_identical(vc.base_file(name, key), str(work / "disks" / ("%s-disk%d.raw" % (name, key))))

    _rerun_keeps_the_record(env, extra, work, tmp_path)


def _rerun_keeps_the_record(env, extra, work, tmp_path):
    """A rerun changes nothing and says so; the first run's record stays whole (issue 13, the report)."""
    reports = work / "reports"
    first = json.loads((reports / "lab-wave1.json").read_text())
    [first_run] = first["history"]
    dated = json.loads((reports / ("lab-wave1-%s.json" % first_run["run_id"])).read_text())
    assert dated["run_id"] == first_run["run_id"] and dated["changed"] and len(dated["syncs"]) == len(first["syncs"])
    proc = _migrate(env, extra)
    assert proc.returncode == 0, proc.stdout[-5000:]
    latest = json.loads((reports / "lab-wave1.json").read_text())
    history = json.loads((reports / "lab-wave1-history.json").read_text())
    assert [r["run_id"] for r in history["runs"]] == [h["run_id"] for h in latest["history"]]
    assert len(history["runs"]) == 2 and history["runs"][0]["run_id"] == first_run["run_id"]
    assert all(r["started"].endswith("+00:00") and r["finished"].endswith("+00:00") for r in history["runs"])
    # nothing of the first run is lost: its record, its syncs and cutovers as they were
    assert history["runs"][0] == dated
    assert json.loads((reports / ("lab-wave1-%s.json" % first_run["run_id"])).read_text()) == dated
    assert [s for s in latest["syncs"] if s["run_id"] == first_run["run_id"]] == first["syncs"]
    assert [c for c in latest["cutovers"] if c["run_id"] == first_run["run_id"]] == first["cutovers"]
    rerun = history["runs"][1]
    assert not rerun["changed"] and rerun["syncs"] == [] and rerun["cutovers"] == []
    assert rerun["summary"].startswith("nothing changed") and "db01" in rerun["summary"], rerun["summary"]
    assert (reports / ("lab-wave1-%s.html" % rerun["run_id"])).exists()
    vms = {r["vm"]: r for r in latest["vms"]}
    assert sorted(vms) == ["batch01", "batch02", "batch03", "db01"]
    assert all(r["status"] == "cut over" and r["cut_over_run"] == first_run["run_id"] for r in vms.values()), vms
    db01 = vms["db01"]
    # planned for tier1 (30 min RTO, 60 min RPO): the lab wave is well inside both
    assert db01["plan"]["tier"] == "tier1" and db01["plan"]["rto_minutes"] == 30 and db01["rto"] == "met"
    assert db01["rpo"] == "met" and db01["lag_seconds"] > 0
    assert db01["cutover"]["downtime_seconds"] > 0 and db01["cutover"]["source_off_at"].endswith("+00:00")
    assert db01["verification"]["bytes_checked"] > 0 and db01["targets"]
    assert db01["cutover"]["node"] == "localhost" and db01["cutover"]["resource"] is None  # qemu check, no HA here
    assert vms["batch01"]["lag_seconds"] == 0.0 and vms["batch01"]["plan"]["mode"] == "batch"
    _look_at_the_report(reports / "lab-wave1.html", rerun["run_id"], first_run["run_id"], tmp_path, reports)


def _look_at_the_report(html, rerun_id, first_id, tmp_path, reports):
    """The latest HTML as a browser renders it: verdicts per VM, the timeline as SVG, the history lines."""
    dom = dump_dom(html, tmp_path / "chrome")
    rows = dict(re.findall(r'<tr data-vm="([^"]+)" data-verdict="([^"]+)"', dom))
    assert sorted(rows) == ["batch01", "batch02", "batch03", "db01"] and set(rows.values()) <= {"ok", "attention"}, rows
    assert dom.count('class="badge met"') >= 8  # RTO and RPO of four VMs, met
    # the first run's chart: a row per VM, bars of the full sync, incrementals, final sync and downtime
    svg = re.search(r'<svg[^>]*class="timeline" data-run="%s".*?</svg>' % first_id, dom, re.S)
    assert svg, "the first run's timeline is missing"
    chart = svg.group(0)
    for cls in ("full", "incremental", "final", "downtime", "cutover"):
        assert re.search(r'class="bar %s"' % cls, chart), cls
    assert len(re.findall(r'class="bar incremental"', chart)) == 2
    assert len(re.findall(r'<text class="vm"', chart)) == 4
    assert 'data-run="%s" data-changed="false"' % rerun_id in dom
    assert re.search(r'<tr[^>]*data-run="%s"[^>]*>.*?nothing changed' % rerun_id, dom, re.S)
    assert "MiB" in dom and 'title="' in dom and "+00:00" in dom
    png = tmp_path / "wave.png"
    screenshot(html, png, tmp_path / "chrome", "1500,1400")
    shutil.copy(png, reports / "lab-wave1.png")


@pytest.mark.refusal(area="migration (migration_wave role)", field="migration_wave_target_format, migration_wave_cutover_method",
                     message="raw targets cannot be cut over with migration_wave_cutover_method libvirt",
                     fix="migration_wave_target_format qcow2 or rbd (the boot check is rolled back to a snapshot), or the qemu method")
def test_raw_targets_with_the_libvirt_cutover_are_refused_before_any_copy(lab, tmp_path, proves_refusal):
    vc, env, work, extra = _wave_setup(lab, tmp_path)
    extra.update({"migration_wave_sync_host": "localhost", "migration_wave_target_format": "raw",
                  "migration_wave_cutover_method": "libvirt", "migration_wave_ha": False})
    before = vc.counters()
    proc = _migrate(env, extra)
    assert proc.returncode != 0, proc.stdout[-3000:]
    proves_refusal(proc.stdout)
    assert not (work / "disks").exists() and not (work / "journal").exists()
    assert vc.counters_since(before).get("vcenter_bytes", 0) == 0
