# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest conversion for KVM with ``virt-v2v-in-place``, run on a clone of the synced disks.

What the conversion changes inside the guest (virtio drivers for Windows, an
initramfs with virtio modules for dracut ``hostonly`` guests, fstab/bootloader
device names, VMware tools removed) cannot be undone by a later sync, and a
failed conversion must not cost the synced base. So:

1. every target disk gets a **qcow2 overlay** backed by the synced base
   (``qemu-img create -b <base> -F <fmt>``; an RBD base through QEMU's ``rbd:``
   driver). ``virt-v2v-in-place`` writes only into the overlays. A failed
   conversion deletes them: the base was never opened for writing.
2. a successful conversion is **committed with an undo log**: the ranges the
   overlay holds (``qemu-img map``, top layer only) are read from the base and
   saved (``<work_dir>/<vm>-disk<i>.undo`` + ``.json``), the cutover record is
   written in the state ``converting`` (from then on ``migration_sync`` sees a
   cut-over VM and never applies an incremental sync over converted bytes), and
   the overlay's ranges are written into the base through the same writers the
   sync uses (raw, qcow2, RBD alike), then flushed. The domain keeps the base as
   its disk: no backing chain on the cluster, the same XML on every node.
3. if anything after the commit fails (define, boot, alive check) the undo log
   is written back: the base is byte-identical to the synced state again, the
   record is removed, and the next cutover resumes with an incremental final
   sync. An interrupted run (killed between commit and the end) leaves the
   ``converting`` record; the next cutover restores from the undo log first.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.reforge.hci.plugins.module_utils.migration import convert, journal
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import open_writer

MODES = ("none", "virt_v2v_in_place", "auto")
V2V = "virt-v2v-in-place"
CONVERTING = "converting"

# vSphere guest ids (VirtualMachineGuestOsIdentifier) by prefix, for ``auto``. Only what the guest id
# says honestly: the family, not how the initramfs was built or which drivers are installed.
#  * Windows has no virtio drivers in the box: virt-v2v injects them (virtio-win needed).
#  * RHEL and its rebuilds, Fedora, SUSE build a dracut "hostonly" initramfs on the VMware VM, with
#    vmw_pvscsi/mptspi but without virtio_blk: the guest does not find its root disk on virtio
#    unless the initramfs is rebuilt, which virt-v2v does.
#  * Debian and Ubuntu use initramfs-tools with MODULES=most (virtio included) and mount by UUID:
#    they boot on virtio as they are.
# Anything else (otherLinux*, other*, unknown ids) stays ``none``: virt-v2v could not inspect it
# reliably or it is not a family virt-v2v converts; set the mode explicitly for those VMs.
_CONVERT_PREFIXES = ("win", "rhel", "centos", "oraclelinux", "fedora", "sles", "opensuse", "suse",
                     "rockylinux", "almalinux", "asianux", "amazonlinux")
_AS_IS_PREFIXES = ("debian", "ubuntu")


def decide(mode: str, guest_id: Optional[str]) -> Dict[str, str]:
    """``{conversion: none|virt_v2v_in_place, why}`` for a VM whose vSphere guest id is ``guest_id``."""
    if mode not in MODES:
        raise CutoverError("guest_conversion must be one of %s, not %r" % (", ".join(MODES), mode))
    if mode != "auto":
        return {"conversion": mode, "why": "guest_conversion=%s" % mode}
    gid = (guest_id or "").lower()
    if gid.startswith(_CONVERT_PREFIXES):
        kind = "Windows: virtio drivers are injected" if gid.startswith("win") else \
            "dracut hostonly initramfs without virtio_blk is rebuilt"
        return {"conversion": "virt_v2v_in_place", "why": "guest id %s (%s)" % (guest_id, kind)}
    if gid.startswith(_AS_IS_PREFIXES):
        return {"conversion": "none", "why": "guest id %s: initramfs-tools includes virtio" % guest_id}
    return {"conversion": "none", "why": "guest id %s is not known to need a conversion" % (guest_id or "unset")}


def backing(disk: Dict[str, Any]) -> Tuple[str, str]:
    """(QEMU filename, format) of a synced target: the overlay's backing file."""
    fmt = disk.get("format", "raw")
    if fmt == "rbd":
        client = str(disk.get("client_name") or "client.admin")
        user = client[len("client."):] if client.startswith("client.") else client
        conf = str(disk.get("conffile") or "/etc/ceph/ceph.conf")
        return "rbd:%s/%s:id=%s:conf=%s" % (disk["pool"], disk["image"], user, conf), "raw"
    if fmt not in ("raw", "qcow2"):
        raise CutoverError("no guest conversion for target format %r" % fmt)
    return os.path.abspath(str(disk["path"])), fmt


def overlay_argv(disk: Dict[str, Any], overlay: str, qemu_img: str = "qemu-img") -> List[str]:
    filename, fmt = backing(disk)
    return [qemu_img, "create", "-q", "-f", "qcow2", "-b", filename, "-F", fmt, overlay]


def input_xml(facts: Dict[str, Any], overlays: List[str]) -> str:
    """The minimal libvirt XML ``-i libvirtxml`` reads: name, memory, CPUs, firmware and the overlays.

    All disks go in (``-i disk`` takes one only), so a guest with ``/var`` on a second disk converts too.
    """
    dom = ET.Element("domain", type="kvm")
    ET.SubElement(dom, "name").text = facts["name"]
    ET.SubElement(dom, "memory", unit="MiB").text = str(facts.get("memory_mb") or 1024)
    ET.SubElement(dom, "vcpu").text = str(facts.get("num_cpu") or 1)
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type").text = "hvm"
    if facts.get("firmware") == "efi":
        # virt-v2v reads the firmware from the loader type (pflash = UEFI); BIOS guests are left to inspection
        ET.SubElement(os_el, "loader", readonly="yes", type="pflash").text = convert.OVMF_CODE
    devices = ET.SubElement(dom, "devices")
    for index, path in enumerate(overlays):
        disk = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(disk, "driver", name="qemu", type="qcow2")
        ET.SubElement(disk, "source", file=path)
        # the bus the guest had on VMware (SCSI): the names virt-v2v rewrites start from there
        ET.SubElement(disk, "target", dev="sd" + chr(ord("a") + index), bus="scsi")
    return ET.tostring(dom, encoding="unicode")


def v2v_argv(xml_path: str, verbose: bool = False, v2v: str = V2V) -> List[str]:
    argv = [v2v, "--machine-readable", "-i", "libvirtxml"]
    if verbose:
        argv += ["-v", "-x"]
    return argv + [xml_path]


def v2v_env(domain_type: str, tmpdir: str, memory_mb: Optional[int] = None, virtio_win: Optional[str] = None,
            base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment of the run: libguestfs' direct backend (no libvirtd needed), TCG where the node has no KVM.

    virt-v2v doubles libguestfs' memory size for the conversion, so ``memory_mb`` (the appliance's
    memory) is passed halved.
    """
    env = dict(os.environ if base is None else base)
    env["LIBGUESTFS_BACKEND"] = "direct"
    if domain_type == "qemu":
        # /dev/kvm may exist and still fail (nested virtualisation): the hypervisor role's probe decides
        env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg"
    if memory_mb:
        env["LIBGUESTFS_MEMSIZE"] = str(max(128, int(memory_mb) // 2))
    if virtio_win:
        env["VIRTIO_WIN"] = virtio_win
    env["VIRT_V2V_TMPDIR"] = tmpdir
    env["LIBGUESTFS_CACHEDIR"] = env.get("LIBGUESTFS_CACHEDIR") or "/var/tmp"
    env["TMPDIR"] = tmpdir
    return env


def parse_output(stdout: str) -> Dict[str, Any]:
    """``--machine-readable`` output: JSON lines ``{message, type: message|warning|error|info}`` on stdout,
    progress as ``N/M`` lines, plus the human ``[  12.3] Step`` lines."""
    out: Dict[str, Any] = {"messages": [], "warnings": [], "errors": [], "progress": None}
    for line in stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            kind = item.get("type")
            text = str(item.get("message", "")).strip()
            if kind == "error":
                out["errors"].append(text)
            elif kind == "warning":
                out["warnings"].append(text)
            else:
                out["messages"].append(text)
            continue
        done, sep, total = line.partition("/")
        if sep and done.isdigit() and total.isdigit():
            out["progress"] = [int(done), int(total)]
    return out


def _qemu_map(argv: List[str], what: str) -> List[Dict[str, Any]]:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if proc.returncode != 0:
        raise CutoverError("qemu-img map of %s failed: %s" % (what, proc.stderr.strip()))
    return json.loads(proc.stdout)


def qemu_map_top(overlay: str, qemu_img: str = "qemu-img") -> List[Tuple[int, int, bool]]:
    """(offset, length, has_data) of every range the overlay itself holds (not its backing file).

    Ranges without data are zero clusters: write-zeroes and discards, mostly the ``fstrim`` virt-v2v
    runs over the guest's free space ("Mapping filesystem data") - usually most of the disk.
    """
    ranges = []
    for entry in _qemu_map([qemu_img, "map", "--output=json", "-f", "qcow2", overlay], overlay):
        if entry.get("depth") != 0:
            continue
        if not entry.get("data") and not entry.get("zero"):
            continue
        ranges.append((int(entry["start"]), int(entry["length"]), bool(entry.get("data"))))
    return ranges


def base_data_extents(disk: Dict[str, Any], qemu_img: str = "qemu-img") -> List[Tuple[int, int]]:
    """(offset, length) of what the synced base holds: holes need no undo bytes, only a hole again."""
    filename, fmt = backing(disk)
    return [(int(e["start"]), int(e["length"]))
            for e in _qemu_map([qemu_img, "map", "--output=json", "-f", fmt, filename], filename) if e.get("data")]


def undo_plan(ranges: List[Tuple[int, int, bool]], base_extents: List[Tuple[int, int]]) -> List[List[Any]]:
    """``[offset, length, "data"|"zero"]`` covering every overlay range: "data" where the base holds data (its
    bytes are saved), "zero" where it is a hole (restored by punching a hole again)."""
    out: List[List[Any]] = []
    extents = sorted(base_extents)
    for offset, length, _data in sorted(ranges):
        pos, end = offset, offset + length
        for e_start, e_len in extents:
            e_end = e_start + e_len
            if e_end <= pos or e_start >= end:
                continue
            if e_start > pos:
                out.append([pos, e_start - pos, "zero"])
            cut = min(e_end, end)
            out.append([max(pos, e_start), cut - max(pos, e_start), "data"])
            pos = cut
            if pos >= end:
                break
        if pos < end:
            out.append([pos, end - pos, "zero"])
    return out


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.communicate()


def _zero(writer: Any, offset: int, length: int, step: int = 1 << 30) -> None:
    """Holes/discards in pieces: a trimmed 2 TiB disk is one range, more than one qemu-io request may hold."""
    for pos in range(offset, offset + length, step):
        writer.zero(pos, min(step, offset + length - pos))


class GuestConversion:
    """Conversion of one VM's synced disks (target specs, in the VM's disk order)."""

    def __init__(self, facts: Dict[str, Any], disks: List[Dict[str, Any]], journal_dir: str, work_dir: str,
                 domain_type: str = "kvm", memory_mb: Optional[int] = None, virtio_win: Optional[str] = None,
                 timeout: float = 3600, verbose: bool = False) -> None:
        self.facts = facts
        self.vm = facts["name"]
        self.disks = disks
        self.capacities = [int(d["capacity_bytes"]) for d in facts["disks"]]
        self.journal_dir = journal_dir
        self.work_dir = work_dir
        self.domain_type = domain_type
        self.memory_mb = memory_mb
        self.virtio_win = virtio_win
        self.timeout = timeout
        self.verbose = verbose
        self.overlays = [os.path.join(work_dir, "%s-disk%d.v2v.qcow2" % (self.vm, i)) for i in range(len(disks))]
        self.xml_path = os.path.join(work_dir, "%s.v2v-input.xml" % self.vm)
        self.log_path = os.path.join(work_dir, "%s.v2v.log" % self.vm)

    def plan(self) -> Dict[str, Any]:
        return {"overlays": [overlay_argv(d, o) for d, o in zip(self.disks, self.overlays)],
                "argv": v2v_argv(self.xml_path, self.verbose), "log": self.log_path}

    # -- 1. convert the overlays ------------------------------------------------------------------
    def convert(self) -> Dict[str, Any]:
        for tool in ("qemu-img", V2V):
            if not shutil.which(tool):
                raise CutoverError("%s not found (Debian packages qemu-utils, virt-v2v and nbdkit)" % tool)
        os.makedirs(self.work_dir, exist_ok=True)
        self.discard_overlays()
        for disk, overlay in zip(self.disks, self.overlays):
            proc = subprocess.run(overlay_argv(disk, overlay), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True, check=False)
            if proc.returncode != 0:
                self.discard_overlays()
                raise CutoverError("cannot create the conversion overlay %s: %s" % (overlay, proc.stdout.strip()))
        with open(self.xml_path, "w") as handle:
            handle.write(input_xml(self.facts, self.overlays))
        tmpdir = tempfile.mkdtemp(prefix="reforge-v2v-", dir=self.work_dir)
        started = time.monotonic()
        try:
            with open(self.log_path, "w") as log:
                # its own session: on a timeout the appliance (qemu) and qemu-nbd go with virt-v2v
                proc = subprocess.Popen(v2v_argv(self.xml_path, self.verbose), stdout=subprocess.PIPE, stderr=log,
                                        stdin=subprocess.DEVNULL, universal_newlines=True, start_new_session=True,
                                        env=v2v_env(self.domain_type, tmpdir, self.memory_mb, self.virtio_win))
                try:
                    stdout = proc.communicate(timeout=self.timeout)[0]
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    self.discard_overlays()
                    raise CutoverError("%s did not finish within %ss (log %s)" % (V2V, self.timeout, self.log_path))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        parsed = parse_output(stdout)
        with open(self.log_path, "a") as log:
            log.write("\n--- stdout ---\n" + stdout)
        result = {"seconds": round(time.monotonic() - started, 1), "warnings": parsed["warnings"],
                  "messages": parsed["messages"][-20:], "log": self.log_path}
        if proc.returncode != 0:
            self.discard_overlays()
            why = "; ".join(parsed["errors"]) or "exit status %d" % proc.returncode
            raise CutoverError("%s failed after %ss: %s (log %s)" % (V2V, result["seconds"], why, self.log_path))
        return result

    def discard_overlays(self) -> None:
        for path in self.overlays + [self.xml_path]:
            if os.path.exists(path):
                os.unlink(path)

    # -- 2. commit into the base, with an undo log --------------------------------------------------
    def _undo_paths(self, index: int) -> Tuple[str, str]:
        stem = os.path.join(self.work_dir, "%s-disk%d" % (self.vm, index))
        return stem + ".undo", stem + ".undo.json"

    def commit(self) -> Dict[str, Any]:
        plans = []
        undo_bytes = 0
        for index, overlay in enumerate(self.overlays):
            ranges = qemu_map_top(overlay)
            undo, undo_index = self._undo_paths(index)
            undo_bytes += self._save_undo(index, ranges, undo, undo_index)
            plans.append((index, overlay, ranges, undo, undo_index))
        # From here on the base may hold converted bytes: the record stops every further sync.
        journal.record_cutover(self.journal_dir, self.vm, {
            "state": CONVERTING, "undo": [{"target": self.disks[i], "capacity": self.capacities[i], "data": u,
                                           "index": ui} for i, _o, _r, u, ui in plans]})
        written = 0
        for index, overlay, ranges, _undo, _ui in plans:
            written += self._apply_overlay(index, overlay, ranges)
        return {"bytes_committed": written, "ranges": sum(len(p[2]) for p in plans), "undo_bytes": undo_bytes,
                "bytes_zeroed": sum(n for p in plans for _o, n, data in p[2] if not data)}

    def _save_undo(self, index: int, ranges: List[Tuple[int, int, bool]], undo: str, undo_index: str) -> int:
        plan = undo_plan(ranges, base_data_extents(self.disks[index]))
        saved = 0
        writer = open_writer(self.disks[index], self.capacities[index])
        try:
            with open(undo, "wb") as handle:
                for offset, length, kind in plan:
                    if kind != "data":
                        continue
                    for pos in range(offset, offset + length, 8 << 20):
                        step = min(8 << 20, offset + length - pos)
                        chunk = writer.read(pos, step)
                        if len(chunk) != step:
                            raise CutoverError("short read of the base at %d+%d" % (pos, step))
                        handle.write(chunk)
                        saved += step
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            writer.close()
        journal.atomic_write_json(undo_index, {"ranges": plan})
        return saved

    def _apply_overlay(self, index: int, overlay: str, ranges: List[Tuple[int, int, bool]]) -> int:
        """Write the overlay's own ranges into the base (data as data, zero clusters as holes/discards)."""
        top = os.path.join(self.work_dir, "%s-disk%d.v2v-top.raw" % (self.vm, index))
        # The overlay without its backing file: unallocated reads as zero, qemu-img writes it sparse.
        source = "json:" + json.dumps({"driver": "qcow2", "backing": None,
                                       "file": {"driver": "file", "filename": overlay}})
        proc = subprocess.run(["qemu-img", "convert", "-O", "raw", source, top], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        if proc.returncode != 0:
            raise CutoverError("reading the converted overlay %s failed: %s" % (overlay, proc.stdout.strip()))
        written = 0
        writer = open_writer(self.disks[index], self.capacities[index])
        try:
            with open(top, "rb") as handle:
                for offset, length, data in ranges:
                    if not data:
                        _zero(writer, offset, length)
                        continue
                    for pos in range(offset, offset + length, 8 << 20):
                        step = min(8 << 20, offset + length - pos)
                        handle.seek(pos)
                        writer.write(pos, handle.read(step))
                        written += step
            writer.flush()
        finally:
            writer.close()
            os.unlink(top)
        return written

    # -- 3. undo, cleanup ---------------------------------------------------------------------------
    def cleanup(self) -> None:
        self.discard_overlays()
        for index in range(len(self.disks)):
            for path in self._undo_paths(index):
                if os.path.exists(path):
                    os.unlink(path)


def restore(journal_dir: str, vm: str) -> Optional[Dict[str, Any]]:
    """Write the undo logs of an unfinished conversion back into the bases, then drop the record.

    Idempotent (the same pre-conversion bytes are written again), so an interrupted restore is
    simply run again. Needs no vCenter: the record holds the target specs.
    """
    record = journal.read_cutover(journal_dir, vm)
    if record is None or record.get("state") != CONVERTING:
        return None
    restored = 0
    for item in record.get("undo") or []:
        if not os.path.exists(item["index"]):
            continue  # the commit never began for this disk: the base is untouched
        with open(item["index"]) as handle:
            ranges = json.load(handle)["ranges"]
        writer = open_writer(item["target"], int(item["capacity"]))
        try:
            with open(item["data"], "rb") as handle:
                for offset, length, kind in ranges:
                    if kind != "data":
                        _zero(writer, offset, length)  # a hole before the commit is a hole again
                        restored += length
                        continue
                    for pos in range(offset, offset + length, 8 << 20):
                        step = min(8 << 20, offset + length - pos)
                        writer.write(pos, handle.read(step))
                        restored += step
            writer.flush()
        finally:
            writer.close()
    os.unlink(journal.cutover_marker_path(journal_dir, vm))
    for item in record.get("undo") or []:
        for path in (item["data"], item["index"]):
            if os.path.exists(path):
                os.unlink(path)
    return {"bytes_restored": restored}
