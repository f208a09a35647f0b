"""Cutover with guest conversion (virt-v2v-in-place) against the lab vCenter, on real tools.

virt-v2v runs its libguestfs appliance under TCG here (LIBGUESTFS_BACKEND_SETTINGS=force_tcg, chosen
because the cutover runs with domain_type qemu), with 512 MiB. The failure test takes 70-90 s (the
appliance boots in ~50 s, inspection finds no OS). Converting the real Debian guest took ~26 min on the
shared 2-core machine (almost all of it update-initramfs with MODULES=most inside the TCG appliance),
so those tests run only with REFORGE_SLOW=1, ~30 min each.
"""
import hashlib
import os
import shutil
import uuid

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops

from lab.vcsim.labclient import create_vm, destroy_vm
from migration_ansible import run_tasks
from migration_bootdisk import MARKER, boot_sector
from migration_labvc import assert_identical
import migration_linuxdisk

pytestmark = pytest.mark.lab
MiB = 1 << 20
GiB = 1 << 30

needs_v2v = pytest.mark.skipif(
    not (shutil.which("virt-v2v-in-place") and shutil.which("nbdkit") and shutil.which("qemu-system-x86_64")),
    reason="virt-v2v, nbdkit and qemu-system-x86 (Debian) are not installed")
slow = pytest.mark.skipif(not os.environ.get("REFORGE_SLOW"), reason="REFORGE_SLOW=1 runs the Debian conversion "
                          "(debootstrap once, then several minutes of virt-v2v under TCG)")


@pytest.fixture
def new_vm(vc):
    """A powered-on VM of our own, so the shared lab VMs stay as the other tests expect them."""
    conn = vc.connect()
    made = []

    def make(capacity):
        name = "v2v-%s" % uuid.uuid4().hex[:8]
        made.append(create_vm(conn.si, name, [capacity], power_on=True))
        return name

    yield make
    for vm in made:
        destroy_vm(vm)
    conn.close()


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(4 * MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def _task(tmp_path, name, conversion="virt_v2v_in_place", timeout=60, pattern=MARKER.decode(), verify="full"):
    return {"reforge.hci.migration_cutover": {
        "vm": name, "journal_dir": str(tmp_path / "j"), "target_dir": str(tmp_path / "t"),
        "network_map": {}, "domain_dir": str(tmp_path / "d"), "method": "qemu", "domain_type": "qemu",
        "alive_pattern": pattern, "alive_timeout": timeout, "qemu_memory_mb": 256, "verify": verify,
        "guest_conversion": conversion, "guest_conversion_memory_mb": 512, "guest_conversion_timeout": 3000},
        "register": "r_cut", "ignore_errors": True}


def _sync(tmp_path, name):
    return {"reforge.hci.migration_sync": {"vm": name, "journal_dir": str(tmp_path / "j"),
                                           "target_dir": str(tmp_path / "t")}, "register": "r_sync"}


@needs_v2v
def test_conversion_failure_rolls_back_and_leaves_the_synced_base_intact(vc, new_vm, tmp_path):
    """A disk virt-v2v cannot inspect (a bare boot sector): the conversion fails, the cutover rolls back, the
    source runs again, and the synced base is byte-identical to what the sync wrote (SHA-256)."""
    name = new_vm(64 * MiB)
    conn = vc.connect()
    vc.write(name, 2000, 0, boot_sector())
    proc, res = run_tasks(tmp_path, [_sync(tmp_path, name)], vc.info)
    assert res["r_sync"].get("changed"), proc.stdout[-3000:]
    base = str(tmp_path / "t" / ("%s-disk2000.raw" % name))
    synced = sha256(base)
    proc, res = run_tasks(tmp_path, [_task(tmp_path, name)], vc.info)
    cut = res["r_cut"]
    assert cut["failed"] and cut["rolled_back"] and not cut["cut_over"], proc.stdout[-3000:]
    assert "virt-v2v-in-place failed" in cut["reason"] and "inspection" in cut["reason"], cut["reason"]
    steps = [s["step"] for s in cut["steps"]]
    assert steps == ["power_off", "final_sync", "convert", "failed", "rollback_source_powered_on"], steps
    assert vmops.find_vm(conn, name).runtime.powerState == "poweredOn"
    assert sha256(base) == synced, "the failed conversion touched the synced base"
    assert_identical(vc.base_file(name, 2000), base)
    assert sorted(os.listdir(tmp_path / "d")) == ["%s.v2v.log" % name, "%s.xml" % name], \
        "overlays and input XML are gone; the log and the domain XML stay for the post-mortem"
    # Nothing recorded: the next sync is an ordinary incremental one into the intact base.
    assert not (tmp_path / "j" / ("%s.cutover.json" % name)).exists()
    vc.write(name, 2000, 8 * MiB, b"\x5a" * MiB)
    proc, res = run_tasks(tmp_path, [_sync(tmp_path, name)], vc.info)
    assert res["r_sync"]["disks"][0]["kind"] == "incremental", proc.stdout[-3000:]
    assert_identical(vc.base_file(name, 2000), base)


@needs_v2v
def test_check_mode_shows_the_conversion_plan(vc, new_vm, tmp_path):
    name = new_vm(64 * MiB)
    task = _task(tmp_path, name)
    proc, res = run_tasks(tmp_path, [task], vc.info, check=True)
    plan = res["r_cut"]["guest_conversion"]
    assert plan["conversion"] == "virt_v2v_in_place"
    assert plan["argv"][:4] == ["virt-v2v-in-place", "--machine-readable", "-i", "libvirtxml"]
    assert plan["overlays"][0][-4:-1] == [str(tmp_path / "t" / ("%s-disk2000.raw" % name)), "-F", "raw"]
    assert not (tmp_path / "d").exists() and not (tmp_path / "t").exists()
    task["reforge.hci.migration_cutover"]["guest_conversion"] = "auto"  # otherLinux64Guest: nothing to do
    proc, res = run_tasks(tmp_path, [task], vc.info, check=True)
    assert res["r_cut"]["guest_conversion"]["conversion"] == "none"


def _debian_vm(vc, new_vm, tmp_path):
    """A VM of our own holding the Debian disk, synced once; returns (name, base path, SHA-256 of the base)."""
    disk = migration_linuxdisk.build()
    name = new_vm(os.path.getsize(disk))
    for offset, data in migration_linuxdisk.data_pieces(disk):
        vc.write(name, 2000, offset, data)
    proc, res = run_tasks(tmp_path, [_sync(tmp_path, name)], vc.info)
    assert res["r_sync"].get("changed"), proc.stdout[-3000:]
    base = str(tmp_path / "t" / ("%s-disk2000.raw" % name))
    synced = sha256(base)
    assert synced == sha256(disk)
    return name, base, synced


@needs_v2v
@slow
@pytest.mark.slow
def test_debian_guest_is_converted_and_cut_over_and_later_syncs_leave_it_alone(vc, new_vm, tmp_path):
    """A real Debian 12 disk converted by virt-v2v-in-place (initramfs rebuilt, virtio found), committed into
    the base, booted; a wave rerun (sync + cutover) then touches neither the source nor the converted disk."""
    name, base, synced = _debian_vm(vc, new_vm, tmp_path)
    proc, res = run_tasks(tmp_path, [_task(tmp_path, name, timeout=120)], vc.info, timeout=3600)
    cut = res["r_cut"]
    assert cut.get("cut_over") is True, cut.get("msg") or proc.stdout[-3000:]
    steps = {s["step"]: s for s in cut["steps"]}
    conv = steps["guest_conversion"]
    print("conversion under TCG: %ss, commit %s, downtime %ss" % (conv["seconds"], steps["guest_conversion_committed"],
                                                                  cut["downtime_seconds"]))
    assert any("virtio drivers installed" in m for m in conv["messages"]), conv["messages"]
    assert 0 < steps["guest_conversion_committed"]["bytes_committed"] < 256 * MiB
    assert sha256(base) != synced, "the converted bytes are in the base"
    assert sorted(os.listdir(tmp_path / "d")) == ["%s.serial.log" % name, "%s.v2v.log" % name, "%s.xml" % name], \
        "overlays and undo logs are gone after the cutover"
    # The source runs again (a wave rerun): neither sync nor cutover touch the converted disk.
    conn = vc.connect()
    vmops.power_on(conn, vmops.find_vm(conn, name))
    converted = sha256(base)
    proc, res = run_tasks(tmp_path, [_sync(tmp_path, name), _task(tmp_path, name)], vc.info)
    assert res["r_sync"]["already_cut_over"] and res["r_cut"]["already_cut_over"], proc.stdout[-3000:]
    assert sha256(base) == converted
    assert vmops.find_vm(conn, name).runtime.powerState == "poweredOn"


@needs_v2v
@slow
@pytest.mark.slow
def test_debian_guest_converted_but_not_alive_is_restored_to_the_synced_base(vc, new_vm, tmp_path):
    """The conversion succeeds and is committed, the alive check then fails: the undo log brings the base back
    to the synced state (SHA-256), the source runs again, and the next sync is an incremental one again."""
    name, base, synced = _debian_vm(vc, new_vm, tmp_path)
    proc, res = run_tasks(tmp_path, [_task(tmp_path, name, pattern="NEVER-SEEN", timeout=5)], vc.info, timeout=3600)
    cut = res["r_cut"]
    assert cut["rolled_back"] and not cut["cut_over"], proc.stdout[-3000:]
    steps = [s["step"] for s in cut["steps"]]
    assert steps == ["power_off", "final_sync", "convert", "guest_conversion", "guest_conversion_committed",
                     "failed", "rollback_target_restored", "rollback_source_powered_on"], steps
    assert sha256(base) == synced, "the undo log did not bring the base back"
    assert vmops.find_vm(vc.connect(), name).runtime.powerState == "poweredOn"
    assert not (tmp_path / "j" / ("%s.cutover.json" % name)).exists()
    proc, res = run_tasks(tmp_path, [_sync(tmp_path, name)], vc.info)
    assert res["r_sync"]["disks"][0]["kind"] == "incremental", proc.stdout[-3000:]
