"""The vsphere/migration modules as Ansible runs them, against the lab vCenter; cutover boots under QEMU TCG."""
import os
import shutil

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops

from migration_ansible import run_tasks
from migration_bootdisk import MARKER, boot_sector
from migration_labvc import assert_identical

pytestmark = pytest.mark.lab
MiB = 1 << 20


def test_vm_info_reports_tiers_disks_nics(vc, tmp_path):
    proc, res = run_tasks(tmp_path, [{"reforge.hci.vsphere_vm_info": {"names": ["db01", "legacy-rdm"]},
                                      "register": "r_info"}], vc.info)
    assert proc.returncode == 0, proc.stdout[-3000:]
    db01, rdm = res["r_info"]["vms"]
    assert db01["tier"] == "tier1" and db01["firmware"] == "efi"
    assert max(d["capacity_bytes"] for d in db01["disks"]) == 2 << 40
    assert db01["nics"][0]["mac"] == "00:50:56:8a:10:01"
    assert any(d["rdm"] for d in rdm["disks"])


@pytest.mark.refusal(area="migration preflight (migration_preflight; migration_sync and migration_cutover refuse the same)",
                     field="names (the wave's VMs)",
                     message="preflight refused (nothing was changed): snapped01 (existing_snapshots); legacy-rdm (rdm_disk); "
                             "indep01 (independent_disk); shared01 (shared_disk); sol01 (unsupported_guest); "
                             "results[].blockers says what to do for each",
                     fix="each blocker's message says what to do; or leave the VM out of the wave")
def test_preflight_refuses_snapshot_rdm_and_independent_with_reasons(vc, tmp_path, proves_refusal):
    names = ["snapped01", "legacy-rdm", "indep01", "shared01", "sol01", "nfs01", "web01"]
    proc, res = run_tasks(tmp_path, [{"reforge.hci.migration_preflight": {"names": names, "fail_on_blockers": True},
                                      "register": "r_pre", "ignore_errors": True}], vc.info)
    pre = res["r_pre"]
    assert pre["failed"] and sorted(pre["blocked"]) == ["indep01", "legacy-rdm", "shared01", "snapped01", "sol01"]
    rules = {r["vm"]: sorted(set(b["rule"] for b in r["blockers"])) for r in pre["results"]}
    assert rules == {"snapped01": ["existing_snapshots"], "legacy-rdm": ["rdm_disk"],
                     "indep01": ["independent_disk"], "shared01": ["shared_disk"], "sol01": ["unsupported_guest"],
                     "nfs01": [], "web01": []}
    nfs = [r for r in pre["results"] if r["vm"] == "nfs01"][0]
    assert "nfs_thin_full_read" in [w["rule"] for w in nfs["warnings"]]
    assert "before-patch" in pre["report"]
    proves_refusal(pre["msg"])
    assert pre["changed"] is False


def test_sync_check_mode_writes_nothing(vc, tmp_path):
    conn = vc.connect()
    vm = vmops.find_vm(conn, "batch03")
    disk = vmops.vm_facts(conn, vm)["disks"][0]
    seq_before = vc.disk("batch03", disk["key"])["seq"]
    proc, res = run_tasks(tmp_path, [{"reforge.hci.migration_sync": {
        "vm": "batch03", "journal_dir": str(tmp_path / "j"), "target_dir": str(tmp_path / "t")},
        "register": "r_sync"}], vc.info, check=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert res["r_sync"]["disks"][0]["kind"] == "full"
    assert vc.disk("batch03", disk["key"])["seq"] == seq_before, "no snapshot was taken"
    assert vmops.snapshots(vmops.find_vm(conn, "batch03")) == []
    assert not (tmp_path / "t").exists() and not (tmp_path / "j").exists()


def _cutover_task(tmp_path, name, timeout):
    return {"reforge.hci.migration_cutover": {
        "vm": name, "journal_dir": str(tmp_path / "j"), "target_dir": str(tmp_path / "t"),
        "network_map": {"VM Network": {"bridge": "br-vm", "vlan": 100}},
        "domain_dir": str(tmp_path / "d"), "method": "qemu", "alive_pattern": MARKER.decode(),
        "alive_timeout": timeout, "qemu_memory_mb": 64, "verify": "full"},
        "register": "r_cut", "ignore_errors": True}


@pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="qemu-system-x86 (Debian) is not installed")
def test_cutover_boots_the_migrated_disk_under_qemu(vc, tmp_path):
    """A boot sector written into batch03's disk by the 'guest', warm synced, cut over, booted, alive."""
    name = "batch03"
    conn = vc.connect()
    facts = vmops.vm_facts(conn, vmops.find_vm(conn, name))
    key, mac = facts["disks"][0]["key"], facts["nics"][0]["mac"]
    vc.write(name, key, 0, boot_sector())
    vmops.power_on(conn, vmops.find_vm(conn, name))
    proc, res = run_tasks(tmp_path, [
        {"reforge.hci.migration_sync": {"vm": name, "journal_dir": str(tmp_path / "j"),
                                        "target_dir": str(tmp_path / "t")}, "register": "r_full"},
        _cutover_task(tmp_path, name, 60)], vc.info, extra_args=["--diff"])
    cut = res["r_cut"]
    assert cut.get("cut_over") is True, cut.get("msg") or proc.stdout[-3000:]
    assert [s["step"] for s in cut["steps"]] == ["power_off", "final_sync", "convert", "alive"]
    assert cut["alive"]["seconds_to_alive"] < 30
    final = cut["steps"][1]["totals"]
    assert final["bytes_read"] == 0, "nothing changed since the warm sync: the final sync reads nothing"
    xml = open(cut["domain_xml"]).read()
    assert mac in xml and "br-vm" in xml and 'bus="virtio"' in xml
    assert vmops.find_vm(conn, name).runtime.powerState == "poweredOff"
    assert_identical(vc.base_file(name, key), str(tmp_path / "t" / ("%s-disk%d.raw" % (name, key))))
    # A rerun of the same sync and cutover (a wave rerun) leaves the migrated VM alone.
    vmops.power_on(conn, vmops.find_vm(conn, name))
    proc, res = run_tasks(tmp_path, [
        {"reforge.hci.migration_sync": {"vm": name, "journal_dir": str(tmp_path / "j"),
                                        "target_dir": str(tmp_path / "t")}, "register": "r_full"},
        _cutover_task(tmp_path, name, 60)], vc.info)
    assert res["r_full"]["changed"] is False and res["r_full"]["already_cut_over"] is True
    assert res["r_cut"]["changed"] is False and res["r_cut"]["already_cut_over"] is True, res["r_cut"]
    assert vmops.find_vm(conn, name).runtime.powerState == "poweredOn", "a rerun must not touch the source"
    vmops.power_off(conn, vmops.find_vm(conn, name), 0)


@pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="qemu-system-x86 (Debian) is not installed")
def test_failed_cutover_rolls_back_and_powers_the_source_on(vc, tmp_path):
    """batch01's guest wipes its boot sector: the alive check fails and the source comes back."""
    name = "batch01"
    conn = vc.connect()
    key = vmops.vm_facts(conn, vmops.find_vm(conn, name))["disks"][0]["key"]
    vc.write(name, key, 0, bytes(512))
    vmops.power_on(conn, vmops.find_vm(conn, name))
    proc, res = run_tasks(tmp_path, [_cutover_task(tmp_path, name, 5)], vc.info)
    cut = res["r_cut"]
    assert cut["failed"] and cut["rolled_back"] and not cut["cut_over"]
    assert "REFORGE-OK" in cut["reason"] or "serial" in cut["reason"]
    assert [s["step"] for s in cut["steps"]][-2:] == ["failed", "rollback_source_powered_on"]
    assert vmops.find_vm(conn, name).runtime.powerState == "poweredOn"
    assert os.path.exists(cut["steps"][2]["domain_xml"]), "the converted definition stays for the post-mortem"


def test_cutover_check_mode_touches_nothing(vc, tmp_path):
    """Check mode returns the domain XML as a diff; the source stays on, no snapshot, no file."""
    name = "web01"
    conn = vc.connect()
    vmops.power_on(conn, vmops.find_vm(conn, name))
    key = vmops.vm_facts(conn, vmops.find_vm(conn, name))["disks"][0]["key"]
    seq = vc.disk(name, key)["seq"]
    task = _cutover_task(tmp_path, name, 5)
    task["reforge.hci.migration_cutover"]["network_map"]["prod-app"] = {"bridge": "br-app", "vlan": 120}
    proc, res = run_tasks(tmp_path, [task], vc.info, check=True, extra_args=["--diff"])
    cut = res["r_cut"]
    assert proc.returncode == 0 and not cut.get("failed"), proc.stdout[-3000:]
    assert "<domain" in cut["diff"]["after"] and "br-app" in cut["diff"]["after"]
    assert [n["vlan"] for n in cut["nics"]] == [100, 120]
    assert vmops.find_vm(conn, name).runtime.powerState == "poweredOn"
    assert vc.disk(name, key)["seq"] == seq and not (tmp_path / "d").exists()
