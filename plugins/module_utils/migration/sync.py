# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One sync of a VM's disks from vSphere: snapshot → changed areas → copy → flush → commit → remove snapshot.

Order matters (the research notes corruption reports for the reverse one): the
changeId of snapshot N is committed only once its data is flushed on the
target, then snapshot N is removed, and the next sync creates snapshot N+1.
A run killed anywhere resumes from the journal: the pending snapshot is
reused, confirmed extents are skipped, and orphan sync snapshots are removed.

A full sync (``*``) lists allocated extents only, so it also zeroes every other
range of the target (``TargetWriter.zero_outside``): an earlier copy, or an old
VM of the same name, leaves nothing behind where the source reads zeros.

Integrity checks before the first change to vCenter or a target (issue 13): disks preflight blocks
(RDM, independent, multi-writer, shared SCSI bus) and snapshots no sync of this VM took are refused;
journals of another VM or disk identity are refused; a target whose fingerprint differs from the one
its journal recorded at the last commit (booted, written, replaced, missing) is fully resynced, loudly.
Our snapshots are recognised by their description (``reforge.hci sync <vm-uuid> <token>``), never by name.
A sync that fails before it wrote to any target removes the snapshot it took or resumed.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import re
import time
import uuid
from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration import preflight
from ansible_collections.reforge.hci.plugins.module_utils.migration import verify as verification
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import (
    CopySettings, copy_extents)
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import MigrationError
from ansible_collections.reforge.hci.plugins.module_utils.migration.progress import SyncProgress
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import (
    SyncJournal, is_own_snapshot, snapshot_description, snapshot_owner)
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import (
    mark_synced, open_writer, target_changed, target_uri)
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import changed_areas, host_read, vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.connection import VsphereConnection
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.datastore import RangeReader
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import ChangeIdInvalid


def journal_path(journal_dir: str, vm_name: str, disk_key: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", vm_name)
    return os.path.join(journal_dir, "%s-disk%d.journal.json" % (safe, disk_key))


class VmBusy(MigrationError):
    """Another run (a sync or a cutover) holds this VM's lock on this host."""


_HELD: Dict[str, List[Any]] = {}  # lock path -> [fd, depth]: this process's locks (a cutover runs its final sync)


@contextlib.contextmanager
def vm_lock(journal_dir: str, vm_name: str):
    """One run per VM and journal dir at a time.

    A job cancelled in AWX can leave its async sync running on the sync host; a rerun beside it would write
    the same targets and journals twice at once. The second run is refused, naming the holder, before it
    reads or writes anything. The lock is the kernel's (flock): a killed run holds nothing.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", vm_name)
    path = os.path.join(journal_dir, "%s.lock" % safe)
    held = _HELD.get(path)
    if held is not None:
        held[1] += 1
        try:
            yield path
        finally:
            held[1] -= 1
        return
    made_dir = not os.path.isdir(journal_dir)
    fd = _lock_file(path, vm_name)
    _HELD[path] = [fd, 1]
    try:
        yield path
    finally:
        del _HELD[path]
        # A refused or finished run leaves no file behind. Removed while still locked, so a run that opened
        # the old file meanwhile finds, once it holds that file's lock, that the path is gone or is another
        # file, and starts over (_lock_file): two runs never both hold "the" lock.
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)
        if made_dir:  # and a journal dir this run made only for its lock goes too (rmdir: only when empty)
            try:
                os.rmdir(journal_dir)
            except OSError:
                pass


def _lock_file(path: str, vm_name: str) -> int:
    """Open and flock the lock file at path, non-blocking; the fd once it is the file at path."""
    while True:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # an ending run removed the empty dir it had made: make it again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise VmBusy("another sync or cutover of %s is running on this host (pid %s, lock %s): nothing was "
                             "read or written; wait for it to end, or stop it, then run again" % (vm_name, holder, path))
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd
        os.close(fd)  # the holder removed it as it ended: lock the file at path now


def target_for(targets: Dict[str, Dict[str, Any]], disk: Dict[str, Any], index: int) -> Dict[str, Any]:
    """Targets keyed by disk key, disk label or position (``"0"``, ``"1"``…)."""
    for key in (str(disk["key"]), disk["label"], str(index)):
        if key in targets:
            return targets[key]
    raise MigrationError("no target given for disk %s (%s)" % (disk["key"], disk["label"]))


def targets_from_params(params: Dict[str, Any], facts: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Explicit ``targets`` plus, for disks not listed, ``<target_dir>/<vm>-disk<key>.<target_format>`` or,
    with ``target_format: rbd``, the image ``<target_pool>/<vm>-disk<key>``."""
    targets = dict(params.get("targets") or {})
    for index, disk in enumerate(facts["disks"]):
        if any(k in targets for k in (str(disk["key"]), disk["label"], str(index))):
            continue
        if not params.get("target_dir") and params.get("target_format") != "rbd":
            continue
        fmt = params.get("target_format") or "raw"
        if fmt == "rbd":
            targets[str(disk["key"])] = {"format": "rbd", "pool": params.get("target_pool") or "vms",
                                         "image": "%s-disk%d" % (facts["name"], disk["key"])}
            continue
        targets[str(disk["key"])] = {
            "format": fmt,
            "path": os.path.join(params["target_dir"], "%s-disk%d.%s" % (facts["name"], disk["key"], fmt))}
    return targets


def refuse_unsyncable(facts: Dict[str, Any], pending_snapshots: Optional[List[str]] = None) -> None:
    """What preflight blocks on the disks (one rule: ``preflight.disk_blockers``) and snapshots that are not
    ours; called before any snapshot or CBT change. ``pending_snapshots`` (morefs the journals name as their
    pending sync's) are ours too: an interrupted sync of an earlier release has no identity in its description."""
    reasons = [b["message"] for b in preflight.disk_blockers(facts)]
    pending = set(pending_snapshots or [])
    foreign = [name for name in preflight.foreign_snapshots(facts)
               if not any(s["name"] == name and s.get("moref") in pending for s in facts.get("snapshots") or [])]
    if foreign:
        reasons.append("%s has snapshots no sync of it took (%s): the base disk is not the current data; "
                       "consolidate them first" % (facts["name"], ", ".join(foreign)))
    if reasons:
        raise MigrationError("refusing to sync %s: %s" % (facts["name"], "; ".join(reasons)))


def open_journal(journal_dir: str, facts: Dict[str, Any], disk: Dict[str, Any], spec: Dict[str, Any]) -> SyncJournal:
    """The disk's journal, checked against the VM's and the disk's identity."""
    return SyncJournal.open(journal_path(journal_dir, facts["name"], disk["key"]), facts["name"], disk["key"],
                            disk["capacity_bytes"], target_uri(spec), vm_uuid=facts.get("uuid"),
                            disk_uuid=disk.get("uuid"))


def check_target(journal: SyncJournal, spec: Dict[str, Any]) -> None:
    """Fall back to a full sync when the target is not what the last commit left (written, replaced, missing).

    Only between syncs: a pending sync has written to the target itself since the last commit.
    """
    if not journal.committed_change_id or journal.pending:
        return
    if journal.fingerprint is None:
        journal.warnings.append("journal %s recorded no fingerprint of its target (written before fingerprints): "
                                "outside changes since its last sync cannot be detected this once" % journal.path)
        return
    reason = target_changed(spec, journal.fingerprint)
    if reason:
        journal.reset("target changed outside the sync (%s); a full sync makes it equal to the source again" % reason)


def _snapshot_by_moref(vm: Any, moref: str) -> Optional[Any]:
    def walk(nodes: List[Any]) -> Optional[Any]:
        for node in nodes or []:
            if node.snapshot._moId == moref:
                return node
            found = walk(node.childSnapshotList)
            if found is not None:
                return found
        return None
    return walk(vm.snapshot.rootSnapshotList) if vm.snapshot else None


TOTALS = ("bytes_read", "bytes_written", "bytes_zero", "bytes_areas", "bytes_requested", "bytes_cleared")


class VmSync:
    """Sync every disk of one VM into its targets."""

    def __init__(self, conn: VsphereConnection, vm_name: str, targets: Dict[str, Dict[str, Any]],
                 journal_dir: str, settings: CopySettings, progress_path: Optional[str] = None,
                 verify_policy: str = "none", verify_samples: int = 64, vm_uuid: Optional[str] = None,
                 progress_token: Optional[str] = None) -> None:
        self.conn = conn
        self.vm_name = vm_name
        self.vm_uuid = vm_uuid  # the instance UUID asked for; after the lookup, the VM's own
        self.targets = targets
        self.journal_dir = journal_dir
        self.settings = settings
        self.progress_path = progress_path
        self.progress_token = progress_token
        self.progress: Optional[SyncProgress] = None
        self.verify_policy = verify_policy
        self.verify_samples = verify_samples
        self.warnings: List[str] = []
        self._snapshot_taken: Optional[Any] = None  # the snapshot this run took or resumed
        self._wrote = False  # a target was opened for writing in this run
        self._skip: Dict[int, str] = {}  # disk key -> why it is not copied (committed at the reused snapshot)

    def _journals(self, facts: Dict[str, Any]) -> List[SyncJournal]:
        out = []
        for index, disk in enumerate(facts["disks"]):
            spec = target_for(self.targets, disk, index)
            journal = open_journal(self.journal_dir, facts, disk, spec)
            check_target(journal, spec)
            self.warnings.extend(journal.warnings)
            out.append(journal)
        return out

    def _pending_snapshots(self, facts: Dict[str, Any]) -> List[str]:
        """Snapshots (morefs) existing journals name as their pending sync's; creates no journal."""
        out = []
        for index, disk in enumerate(facts["disks"]):
            if os.path.exists(journal_path(self.journal_dir, self.vm_name, disk["key"])):
                journal = open_journal(self.journal_dir, facts, disk, target_for(self.targets, disk, index))
                if journal.pending:
                    out.append(journal.pending["snapshot"])
        return out

    def _snapshot(self, vm: Any, journals: List[SyncJournal]) -> Any:
        """Reuse the pending sync's snapshot after a crash, else take a new one; drop our orphans.

        Journals of one VM are made consistent here: a disk committed at the reused snapshot (a run killed
        between disks) is skipped, every other disk without a pending sync starts one at that snapshot.
        """
        pending = {(j.pending["snapshot"], j.pending.get("token")) for j in journals if j.pending}
        snapshot = None
        node = None
        if len(pending) == 1:
            moref, token = pending.pop()
            node = _snapshot_by_moref(vm, moref)
            owner = snapshot_owner(node.description) if node is not None else None
            # a pending record of an older version has no token: its moref alone names the snapshot
            if node is not None and (token is None or owner == (self.vm_uuid, token)):
                snapshot = node.snapshot
                self.warnings.append("resuming the interrupted sync from snapshot %s" % node.name)
            else:
                node = None
        if snapshot is None:
            for journal in journals:
                if journal.pending:
                    journal.abandon()
        for snap in vmops.snapshots(vm):
            if snapshot is not None and snap["moref"] == snapshot._moId:
                continue
            if is_own_snapshot(snap, self.vm_uuid):
                self.warnings.append("removing orphan sync snapshot %s" % snap["name"])
                vmops.remove_snapshot(self.conn, _snapshot_by_moref(vm, snap["moref"]).snapshot)
        if snapshot is None:
            token = uuid.uuid4().hex[:16]
            name = "%s%d" % (vmops.SNAPSHOT_PREFIX, int(time.time() * 1000))
            snapshot = vmops.create_snapshot(self.conn, vm, name, snapshot_description(self.vm_uuid, token))
        else:
            name = node.name
        self._snapshot_taken = snapshot
        devices = vmops.snapshot_disks(snapshot)
        for journal in journals:
            if journal.pending:
                continue
            new_id = devices[journal.disk_key].backing.changeId
            last = journal.last_sync or {}
            if journal.committed_change_id and journal.committed_change_id == new_id \
                    and last.get("snapshot_name") == name:
                self._skip[journal.disk_key] = "committed at snapshot %s by the interrupted run" % name
                continue
            if not new_id:
                raise MigrationError("disk %d has no changeId at snapshot %s: CBT is not effective"
                                     % (journal.disk_key, name))
            journal.begin(snapshot._moId, name, new_id, journal.committed_change_id or changed_areas.FULL,
                          token=token or None)
        return snapshot

    def _drop_unused_snapshot(self, journals: List[SyncJournal]) -> None:
        """After a failure before any target was written: remove the snapshot (a refusal leaves nothing behind).

        Best effort: a snapshot that survives is ours by its description and the next run removes it.
        """
        snapshot = self._snapshot_taken
        if snapshot is None or self._wrote or any(j.progressed for j in journals):
            return
        try:
            vmops.remove_snapshot(self.conn, snapshot)
        except Exception:  # pylint: disable=broad-except
            return
        for journal in journals:
            if journal.pending and journal.pending["snapshot"] == snapshot._moId:
                journal.abandon()

    def _areas(self, vm: Any, snapshot: Any, journal: SyncJournal, capacity: int) -> changed_areas.ChangedAreas:
        base = journal.pending["base_change_id"]
        try:
            return changed_areas.collect(
                changed_areas.pyvmomi_query(self.conn, vm, snapshot, journal.disk_key, base), capacity, base)
        except ChangeIdInvalid as exc:
            message = ("FULL RESYNC of %s disk %d: %s; copying every allocated extent again"
                       % (self.vm_name, journal.disk_key, exc))
            self.warnings.append(message)
            journal.note_resync(message)
            journal.set_base(changed_areas.FULL)
            return changed_areas.collect(
                changed_areas.pyvmomi_query(self.conn, vm, snapshot, journal.disk_key, changed_areas.FULL),
                capacity, changed_areas.FULL)

    def _allocated(self, vm: Any, snapshot: Any, disk_key: int, capacity: int) -> List[ext.Extent]:
        """Every allocated extent of the frozen disk (``*``), for a full verification after an incremental."""
        return changed_areas.collect(changed_areas.pyvmomi_query(self.conn, vm, snapshot, disk_key, changed_areas.FULL),
                                     capacity, changed_areas.FULL).extents

    def _reader(self, vm: Any, datacenter: str, base_disk: Any) -> RangeReader:
        """Through vCenter's /folder, or the ESXi host's with service tickets (the connection's read options)."""
        return host_read.access_of(self.conn).reader(self.conn, vm, datacenter, base_disk.backing.fileName)

    def run(self) -> Dict[str, Any]:
        with vm_lock(self.journal_dir, self.vm_name):
            return self._run()

    def _run(self) -> Dict[str, Any]:
        started = time.monotonic()
        vm = vmops.find_vm(self.conn, self.vm_name, uuid=self.vm_uuid)
        facts = vmops.vm_facts(self.conn, vm)
        self.vm_uuid = facts.get("uuid")
        refuse_unsyncable(facts, self._pending_snapshots(facts))
        journals = self._journals(facts)  # identities and targets checked before the first change
        self.progress = SyncProgress(self.progress_path, self.vm_name, facts["disks"], token=self.progress_token)
        if vmops.enable_cbt(self.conn, vm):
            self.warnings.append("enabled CBT on %s" % self.vm_name)
        try:
            snapshot = self._snapshot(vm, journals)
            base_disks = vmops.snapshot_disks(snapshot)
            disks_out = []
            for index, (disk, journal) in enumerate(zip(facts["disks"], journals)):
                if disk["key"] in self._skip:
                    self.progress.skipped(disk["key"], "committed")
                    disks_out.append(self._skipped(disk, journal))
                    continue
                disks_out.append(self._sync_disk(vm, snapshot, facts, disk, journal, base_disks[disk["key"]], index))
        except Exception:
            self._drop_unused_snapshot(journals)
            raise
        vmops.remove_snapshot(self.conn, snapshot)
        totals = {k: sum(d[k] for d in disks_out) for k in TOTALS}
        duration = time.monotonic() - started
        totals.update(duration=round(duration, 3),
                      read_mb_per_s=round(totals["bytes_read"] / duration / 1e6, 2) if duration else None)
        return {"vm": self.vm_name, "disks": disks_out, "totals": totals, "warnings": self.warnings,
                "session_renewals": self.conn.renewals}

    def _skipped(self, disk: Dict[str, Any], journal: SyncJournal) -> Dict[str, Any]:
        """A disk the interrupted run committed at the reused snapshot: nothing to copy."""
        self.warnings.append("%s disk %d: %s; not copied again" % (self.vm_name, disk["key"], self._skip[disk["key"]]))
        out = {k: 0 for k in TOTALS}
        out.update(kind="committed", key=disk["key"], label=disk["label"], capacity_bytes=disk["capacity_bytes"],
                   target=journal.data.get("target"), change_id=journal.committed_change_id, journal=journal.path)
        return out

    def _sync_disk(self, vm: Any, snapshot: Any, facts: Dict[str, Any], disk: Dict[str, Any],
                   journal: SyncJournal, base_disk: Any, index: int) -> Dict[str, Any]:
        capacity = disk["capacity_bytes"]
        if getattr(base_disk.backing, "parent", None) is not None:
            # The frozen level is a delta (another snapshot sits below ours): /folder would serve a
            # partial file. Preflight refuses foreign snapshots; this guards the data anyway.
            raise MigrationError("disk %s of %s is frozen as a delta (%s): remove other snapshots first"
                                 % (disk["label"], self.vm_name, base_disk.backing.fileName))
        areas = self._areas(vm, snapshot, journal, capacity)
        kind = "full" if areas.change_id == changed_areas.FULL else "incremental"
        spec = target_for(self.targets, disk, index)
        reader = self._reader(vm, facts["datacenter"], base_disk)
        progress = self.progress.start(disk["key"], kind, ext.total(areas.extents))
        self._wrote = True
        writer = open_writer(spec, capacity)
        cleared = 0
        try:
            if kind == "full" and not journal.cleared_all:
                # before any copy: ranges outside the allocated extents, journaled as they become zero
                cleared = writer.zero_outside(areas.extents, capacity, done=journal.cleared(),
                                              on_flushed=journal.confirm_cleared)
                journal.finish_clearing(cleared)
            stats = copy_extents(areas.extents, reader, writer, journal, self.settings, progress)
            writer.flush()  # the changeId below must never be ahead of stable data
            allocated = areas.extents
            if self.verify_policy == "full" and kind != "full":
                allocated = self._allocated(vm, snapshot, journal.disk_key, capacity)
            verified = verification.verify(reader, writer, allocated, capacity, self.verify_policy,
                                           sample_count=self.verify_samples)
        finally:
            writer.close()
            reader.close()
        summary = stats.as_dict()
        summary.update(kind=kind, bytes_areas=ext.total(areas.extents), windows=areas.windows, bytes_cleared=cleared,
                       reader=reader.report(), verification=verified, finished_at=time.time())
        # the target as this sync leaves it (RBD: a sync-owned snapshot), for the next sync to compare
        fingerprint = mark_synced(spec, journal.pending.get("token") or uuid.uuid4().hex[:16])
        journal.commit(summary, fingerprint)
        summary.update(key=disk["key"], label=disk["label"], target=writer.uri, capacity_bytes=capacity,
                       change_id=journal.committed_change_id, journal=journal.path)
        return summary
