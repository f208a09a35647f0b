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
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import re
import time
from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration import verify as verification
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import (
    CopySettings, ProgressFile, copy_extents, progress_label)
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import MigrationError
from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import SyncJournal
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import open_writer, target_uri
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import changed_areas, host_read, vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.connection import VsphereConnection
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.datastore import RangeReader
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import ChangeIdInvalid


def journal_path(journal_dir: str, vm_name: str, disk_key: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", vm_name)
    return os.path.join(journal_dir, "%s-disk%d.journal.json" % (safe, disk_key))


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


def refuse_unsyncable(facts: Dict[str, Any]) -> None:
    """Disks CBT + /folder cannot copy faithfully: preflight reports them, the sync refuses them too."""
    for disk in facts["disks"]:
        if disk["rdm"]:
            raise MigrationError("disk %s of %s is an RDM: not copyable through the datastore" % (disk["label"], facts["name"]))
        if disk["independent"]:
            raise MigrationError("disk %s of %s is independent: snapshots do not freeze it" % (disk["label"], facts["name"]))


class VmSync:
    """Sync every disk of one VM into its targets."""

    def __init__(self, conn: VsphereConnection, vm_name: str, targets: Dict[str, Dict[str, Any]],
                 journal_dir: str, settings: CopySettings, progress_path: Optional[str] = None,
                 verify_policy: str = "none", verify_samples: int = 64) -> None:
        self.conn = conn
        self.vm_name = vm_name
        self.targets = targets
        self.journal_dir = journal_dir
        self.settings = settings
        self.progress_path = progress_path
        self.verify_policy = verify_policy
        self.verify_samples = verify_samples
        self.warnings: List[str] = []

    def _journals(self, facts: Dict[str, Any]) -> List[SyncJournal]:
        out = []
        for index, disk in enumerate(facts["disks"]):
            spec = target_for(self.targets, disk, index)
            out.append(SyncJournal.open(journal_path(self.journal_dir, self.vm_name, disk["key"]),
                                        self.vm_name, disk["key"], disk["capacity_bytes"], target_uri(spec)))
        return out

    def _snapshot(self, vm: Any, journals: List[SyncJournal]) -> Any:
        """Reuse the pending sync's snapshot after a crash, else take a new one; drop orphans."""
        pending_names = {j.pending["snapshot_name"] for j in journals if j.pending}
        snapshot = None
        if len(pending_names) == 1:
            name = pending_names.pop()
            snapshot = vmops.find_snapshot(vm, name)
            if snapshot is not None:
                self.warnings.append("resuming the interrupted sync from snapshot %s" % name)
        if snapshot is None:
            for journal in journals:
                if journal.pending:
                    journal.abandon()
        for snap in vmops.snapshots(vm):
            keep = snapshot is not None and snap["moref"] == snapshot._moId
            if snap["name"].startswith(vmops.SNAPSHOT_PREFIX) and not keep:
                self.warnings.append("removing orphan sync snapshot %s" % snap["name"])
                vmops.remove_snapshot(self.conn, vmops.find_snapshot(vm, snap["name"]))
        if snapshot is None:
            name = "%s%d" % (vmops.SNAPSHOT_PREFIX, int(time.time() * 1000))
            snapshot = vmops.create_snapshot(self.conn, vm, name)
            devices = vmops.snapshot_disks(snapshot)
            for journal in journals:
                new_id = devices[journal.disk_key].backing.changeId
                if not new_id:
                    raise MigrationError("disk %d has no changeId at snapshot %s: CBT is not effective"
                                         % (journal.disk_key, name))
                journal.begin(snapshot._moId, name, new_id, journal.committed_change_id or changed_areas.FULL)
        return snapshot

    def _areas(self, vm: Any, snapshot: Any, journal: SyncJournal, capacity: int) -> changed_areas.ChangedAreas:
        base = journal.pending["base_change_id"]
        try:
            return changed_areas.collect(
                changed_areas.pyvmomi_query(self.conn, vm, snapshot, journal.disk_key, base), capacity, base)
        except ChangeIdInvalid as exc:
            self.warnings.append("FULL RESYNC of %s disk %d: %s; copying every allocated extent again"
                                 % (self.vm_name, journal.disk_key, exc))
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
        started = time.monotonic()
        vm = vmops.find_vm(self.conn, self.vm_name)
        facts = vmops.vm_facts(self.conn, vm)
        refuse_unsyncable(facts)
        if vmops.enable_cbt(self.conn, vm):
            self.warnings.append("enabled CBT on %s" % self.vm_name)
        journals = self._journals(facts)
        snapshot = self._snapshot(vm, journals)
        base_disks = vmops.snapshot_disks(snapshot)
        disks_out = []
        for index, (disk, journal) in enumerate(zip(facts["disks"], journals)):
            disks_out.append(self._sync_disk(vm, snapshot, facts, disk, journal, base_disks[disk["key"]], index))
        vmops.remove_snapshot(self.conn, snapshot)
        totals = {k: sum(d[k] for d in disks_out) for k in
                  ("bytes_read", "bytes_written", "bytes_zero", "bytes_areas", "bytes_requested", "bytes_cleared")}
        duration = time.monotonic() - started
        totals.update(duration=round(duration, 3),
                      read_mb_per_s=round(totals["bytes_read"] / duration / 1e6, 2) if duration else None)
        return {"vm": self.vm_name, "disks": disks_out, "totals": totals, "warnings": self.warnings,
                "session_renewals": self.conn.renewals}

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
        progress = ProgressFile(self.progress_path, ext.total(areas.extents),
                                progress_label(self.vm_name, disk["key"], kind))
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
        journal.commit(summary)
        summary.update(key=disk["key"], label=disk["label"], target=writer.uri, capacity_bytes=capacity,
                       change_id=journal.committed_change_id, journal=journal.path)
        return summary
