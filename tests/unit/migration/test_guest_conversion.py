"""Guest conversion with virt-v2v-in-place: the decision, the command lines, and the clone/commit/undo with real
qemu-img (no virt-v2v needed here: the overlay is changed with qemu-io the way a conversion would change it)."""
import hashlib
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import guest_conversion as v2v
from ansible_collections.reforge.hci.plugins.module_utils.migration import journal
from ansible_collections.reforge.hci.plugins.module_utils.migration.cutover import earlier_cutover
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError

MiB = 1 << 20
needs_qemu_img = pytest.mark.skipif(not shutil.which("qemu-io"), reason="qemu-utils (Debian) is not installed")


@pytest.mark.parametrize("guest_id, expected", [
    ("windows2019srv_64Guest", "virt_v2v_in_place"), ("windows9Server64Guest", "virt_v2v_in_place"),
    ("rhel8_64Guest", "virt_v2v_in_place"), ("centos7_64Guest", "virt_v2v_in_place"),
    ("sles15_64Guest", "virt_v2v_in_place"), ("oracleLinux8_64Guest", "virt_v2v_in_place"),
    ("debian11_64Guest", "none"), ("ubuntu64Guest", "none"), ("otherLinux64Guest", "none"), (None, "none"),
])
def test_auto_decides_from_the_guest_family(guest_id, expected):
    decision = v2v.decide("auto", guest_id)
    assert decision["conversion"] == expected and decision["why"]


def test_explicit_modes_win_over_the_guest_id_and_unknown_modes_fail():
    assert v2v.decide("none", "windows2019srv_64Guest")["conversion"] == "none"
    assert v2v.decide("virt_v2v_in_place", "debian11_64Guest")["conversion"] == "virt_v2v_in_place"
    with pytest.raises(CutoverError):
        v2v.decide("virt-v2v", "rhel8_64Guest")


def test_overlays_are_backed_by_the_synced_base_of_every_target_kind(tmp_path):
    raw = v2v.overlay_argv({"format": "raw", "path": "t/a.raw"}, "/w/a.qcow2")
    assert raw == ["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.abspath("t/a.raw"), "-F", "raw",
                   "/w/a.qcow2"]
    assert v2v.overlay_argv({"format": "qcow2", "path": "/t/b.qcow2"}, "/w/b")[6:9] == ["/t/b.qcow2", "-F", "qcow2"]
    rbd = v2v.overlay_argv({"format": "rbd", "pool": "vms", "image": "db01-disk2000", "client_name": "client.sync",
                            "conffile": "/etc/ceph/lab.conf"}, "/w/c")
    assert rbd[6:9] == ["rbd:vms/db01-disk2000:id=sync:conf=/etc/ceph/lab.conf", "-F", "raw"]
    assert v2v.backing({"format": "rbd", "pool": "vms", "image": "x"})[0] == "rbd:vms/x:id=admin:conf=/etc/ceph/ceph.conf"
    with pytest.raises(CutoverError):
        v2v.backing({"format": "vmdk", "path": "x"})


def test_input_xml_lists_every_overlay_and_keeps_the_firmware():
    xml = v2v.input_xml({"name": "db01", "memory_mb": 4096, "num_cpu": 2, "firmware": "efi"}, ["/w/0.qcow2", "/w/1.qcow2"])
    dom = ET.fromstring(xml)
    assert dom.find("name").text == "db01" and dom.find("os/loader").get("type") == "pflash"
    disks = dom.findall("devices/disk")
    assert [d.find("source").get("file") for d in disks] == ["/w/0.qcow2", "/w/1.qcow2"]
    assert [d.find("driver").get("type") for d in disks] == ["qcow2", "qcow2"]
    assert [d.find("target").get("dev") for d in disks] == ["sda", "sdb"]
    assert ET.fromstring(v2v.input_xml({"name": "b", "firmware": "bios"}, ["/w/0"])).find("os/loader") is None


def test_argv_and_environment():
    assert v2v.v2v_argv("/w/in.xml") == ["virt-v2v-in-place", "--machine-readable", "-i", "libvirtxml", "/w/in.xml"]
    env = v2v.v2v_env("qemu", "/w/tmp", memory_mb=512, virtio_win="/srv/virtio-win.iso", base={"PATH": "/bin"})
    assert env["LIBGUESTFS_BACKEND"] == "direct" and env["LIBGUESTFS_BACKEND_SETTINGS"] == "force_tcg"
    assert env["LIBGUESTFS_MEMSIZE"] == "256", "virt-v2v doubles it: 512 MiB appliance"
    assert env["VIRTIO_WIN"] == "/srv/virtio-win.iso" and env["VIRT_V2V_TMPDIR"] == "/w/tmp"
    kvm = v2v.v2v_env("kvm", "/w/tmp", base={})
    assert "LIBGUESTFS_BACKEND_SETTINGS" not in kvm and "LIBGUESTFS_MEMSIZE" not in kvm


def test_machine_readable_output_is_parsed():
    out = "\n".join([
        '{ "message": "Setting up the source: -i libvirtxml x.xml", "timestamp": "t", "type": "message" }',
        "[   0.0] Setting up the source: -i libvirtxml x.xml",
        "12/100",
        '{ "message": "could not determine a way to update the configuration of Grub2", "type": "warning" }',
        '{ "message": "inspection could not detect the source guest", "type": "error" }',
        "{ broken json",
    ])
    parsed = v2v.parse_output(out)
    assert parsed["messages"] == ["Setting up the source: -i libvirtxml x.xml"]
    assert parsed["warnings"] == ["could not determine a way to update the configuration of Grub2"]
    assert parsed["errors"] == ["inspection could not detect the source guest"]
    assert parsed["progress"] == [12, 100]


def _qemu_io(image, fmt, *commands):
    argv = ["qemu-io", "-f", fmt]
    for command in commands:
        argv += ["-c", command]
    subprocess.run(argv + [image], check=True, capture_output=True)


@needs_qemu_img
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_commit_writes_the_overlay_into_the_base_and_restore_undoes_it(tmp_path, fmt):
    """What a conversion changed (data and a discarded range) lands in the base; the undo log brings the base back
    byte for byte, and the record in between keeps every sync away."""
    base = str(tmp_path / ("base." + fmt))
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, base, str(16 * MiB)], check=True)
    _qemu_io(base, fmt, "write -P 0x11 0 4M", "write -P 0x22 8M 2M")
    before = _sha_of(base, fmt, tmp_path)
    facts = {"name": "vm1", "disks": [{"key": 2000, "capacity_bytes": 16 * MiB}]}
    conv = v2v.GuestConversion(facts, [{"format": fmt, "path": base}], str(tmp_path / "j"), str(tmp_path / "w"))
    os.makedirs(conv.work_dir)
    subprocess.run(v2v.overlay_argv(conv.disks[0], conv.overlays[0]), check=True)
    # the "conversion": new bytes over data, over a hole, and a discard of data
    _qemu_io(conv.overlays[0], "qcow2", "write -P 0x33 1M 64k", "write -P 0x44 12M 128k", "write -z 8M 1M")
    assert _sha_of(base, fmt, tmp_path) == before, "converting the overlay never touches the base"
    stats = conv.commit()
    assert stats["bytes_committed"] == 192 * 1024
    assert earlier_cutover(str(tmp_path / "j"), "vm1") is None, "a conversion in progress is no cutover"
    assert journal.read_cutover(str(tmp_path / "j"), "vm1")["state"] == "converting", "syncs see a cut-over VM"
    after = _read(base, fmt, tmp_path)
    assert after[1 * MiB:1 * MiB + 65536] == b"\x33" * 65536 and after[12 * MiB:12 * MiB + 131072] == b"\x44" * 131072
    assert after[8 * MiB:9 * MiB] == bytes(MiB) and after[9 * MiB:10 * MiB] == b"\x22" * MiB
    assert after[0:MiB] == b"\x11" * MiB
    assert stats["undo_bytes"] == 64 * 1024 + MiB, "base data under the overlay's ranges only, not its holes"
    restored = v2v.restore(str(tmp_path / "j"), "vm1")
    assert restored["bytes_restored"] == 192 * 1024 + MiB
    assert _sha_of(base, fmt, tmp_path) == before
    assert journal.read_cutover(str(tmp_path / "j"), "vm1") is None
    assert v2v.restore(str(tmp_path / "j"), "vm1") is None
    conv.cleanup()
    assert os.listdir(conv.work_dir) == []


def _read(image, fmt, tmp_path):
    out = str(tmp_path / "read.raw")
    subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", image, out], check=True)
    with open(out, "rb") as handle:
        return handle.read()


def _sha_of(image, fmt, tmp_path):
    return hashlib.sha256(_read(image, fmt, tmp_path)).hexdigest()


def test_undo_plan_saves_base_data_only_and_restores_holes_as_holes():
    # overlay: data over base data and a hole, a 1 GiB trim over base data and holes
    ranges = [(0, 4 * MiB, True), (10 * MiB, 1024 * MiB, False)]
    base = [(2 * MiB, 4 * MiB), (20 * MiB, MiB), (2000 * MiB, MiB)]
    assert v2v.undo_plan(ranges, base) == [
        [0, 2 * MiB, "zero"], [2 * MiB, 2 * MiB, "data"],
        [10 * MiB, 10 * MiB, "zero"], [20 * MiB, MiB, "data"], [21 * MiB, 1013 * MiB, "zero"]]
    assert v2v.undo_plan([(0, MiB, True)], []) == [[0, MiB, "zero"]]


def test_a_finished_cutover_record_is_still_a_cutover(tmp_path):
    journal.record_cutover(str(tmp_path), "vm1", {"domain_xml": "/d/vm1.xml", "guest_conversion": "virt_v2v_in_place"})
    assert earlier_cutover(str(tmp_path), "vm1")["already_cut_over"] is True
    assert v2v.restore(str(tmp_path), "vm1") is None
    assert json.load(open(journal.cutover_marker_path(str(tmp_path), "vm1")))["guest_conversion"] == "virt_v2v_in_place"


@pytest.mark.skipif(not (shutil.which("virt-v2v-in-place") and shutil.which("nbdkit")),
                    reason="virt-v2v and nbdkit (Debian) are not installed")
def test_a_conversion_past_its_timeout_is_killed_with_its_appliance(tmp_path):
    """Real virt-v2v-in-place, stopped after 3 s (its appliance takes far longer to boot under TCG): the
    cutover gets a reason, no qemu or qemu-nbd of the run is left, the overlays are gone, the base is intact."""
    base = str(tmp_path / "base.raw")
    with open(base, "wb") as handle:
        handle.truncate(64 * MiB)
    facts = {"name": "vm1", "disks": [{"key": 2000, "capacity_bytes": 64 * MiB}]}
    work = str(tmp_path / "w")
    conv = v2v.GuestConversion(facts, [{"format": "raw", "path": base}], str(tmp_path / "j"), work,
                               domain_type="qemu", memory_mb=512, timeout=3)
    with pytest.raises(CutoverError, match="did not finish within 3s"):
        conv.convert()
    left = subprocess.run(["pgrep", "-f", work], capture_output=True, text=True, check=False).stdout.split()
    assert left == [], "processes of the killed conversion are still running: %s" % left
    assert sorted(os.listdir(work)) == ["vm1.v2v.log"]
    assert v2v.base_data_extents({"format": "raw", "path": base}) == [], "the base is still one hole"
