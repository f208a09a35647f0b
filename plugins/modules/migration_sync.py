#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: migration_sync
short_description: One sync of a vSphere VM's disks into raw, qcow2 or Ceph RBD targets
description:
  - The first sync copies every allocated extent (CBT C(changeId=*)); later ones copy the extents changed since the
    last committed changeId. A changeId that vSphere no longer accepts (Storage vMotion, disk growth, CBT reset)
    falls back to a full allocated resync and says so in RV(sync_warnings).
  - Takes a snapshot so the base disk is frozen, reads it over the datastore C(/folder) HTTP endpoint with
    several parallel Range streams (no VDDK), writes the target at the same offsets (zero chunks become holes or
    discards), flushes, commits the new changeId to the journal and removes the snapshot.
  - The endpoint is vCenter's, or with O(read_via=esxi_host) the ESXi host's own, with generic service tickets.
  - Crash safe; a killed run resumes from the journal without copying confirmed extents again.
  - A full sync first zeroes every range of the target outside the source's allocated extents (holes on raw,
    unmapped zero clusters on qcow2, C(write_zeroes) on RBD), so an existing target keeps nothing of an earlier
    copy or of an old VM of the same name. The zeroing is journaled and resumes after a kill; the changeId is
    committed only after it.
  - A VM that M(reforge.hci.migration_cutover) already cut over is not synced again (C(already_cut_over)).
  - Refuses, before any snapshot or CBT change, RDM, independent, multi-writer and shared-SCSI-bus disks,
    snapshots that no sync of this VM took (whatever their name), and journals that belong to another VM or
    disk identity (instance UUID, disk UUID) than the one found now.
  - A target changed outside the sync since its last commit (written, booted, replaced, missing; files by
    size, mtime, ctime and inode, RBD images by a sync-owned snapshot) is fully resynced with a warning.
  - Meant to be delegated to a cluster node with access to the target, so the data does not pass through the
    Ansible controller. The node needs Python 3 with pyvmomi and requests (Debian C(python3-pyvmomi),
    C(python3-requests)); C(python3-rbd) for RBD targets, C(qemu-utils) for qcow2 targets.
author:
  - reforge.hci contributors (!UNKNOWN)
version_added: 0.1.0
extends_documentation_fragment:
  - reforge.hci.vsphere
  - reforge.hci.vm_disk_target
  - reforge.hci.vm_disk_target.progress
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the next sync is full or incremental and the committed state; takes no snapshot.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  streams:
    description: Parallel HTTP Range streams.
    type: int
    default: 4
  read_size_mb:
    description: Largest single Range read, after coalescing nearby extents.
    type: int
    default: 8
  coalesce_gap_kb:
    description: Extents closer than this are read as one request.
    type: int
    default: 1024
  zero_skip:
    description: Turn all-zero chunks into holes/discards instead of writing them.
    type: bool
    default: true
  throttle_mb_s:
    description: Limit of the read rate of this sync in MB/s (0 = unlimited).
    type: float
    default: 0
  verify:
    description:
      - Compare source and target checksums after the copy, before the changeId is committed.
      - C(sample) checks random ranges. C(full) checks the whole disk, whatever this sync copied. It compares every
        allocated extent of the frozen source by checksum and confirms that the rest of the target reads zeros,
        reading only what the target's own allocation map lists as data there.
    type: str
    choices: [none, sample, full]
    default: none
'''

EXAMPLES = r'''
- name: Sync db01 into the Ceph pool from a cluster node
  reforge.hci.migration_sync:
    hostname: vcenter.example.org
    username: "{{ vcenter_username }}"
    password: "{{ vcenter_password }}"
    ca_path: /etc/ssl/campus-ca.pem
    vm: db01
    journal_dir: /var/lib/reforge/migration/journal
    targets:
      "0": {format: rbd, pool: vms, image: db01-disk0}
    progress_path: /var/lib/reforge/migration/progress/db01.json
    throttle_mb_s: 200
  delegate_to: node1
'''

RETURN = r'''
already_cut_over:
  description: The VM was cut over before; nothing was synced.
  returned: when true
  type: bool
cutover_state:
  description:
    - With RV(already_cut_over), the cutover record's state. C(done) for a finished cutover; C(converting) when a
      cutover committed a guest conversion into the target and has not finished (the next cutover finishes or
      undoes it). Either way the target no longer takes syncs.
  returned: when already_cut_over
  type: str
  sample: done
disks:
  description:
    - Per disk, the kind of sync, bytes asked for (changed/allocated), read, written and skipped as zero,
      duration, MB/s, changed-area windows, committed changeId and verification result.
    - C(bytes_cleared) is the bytes of the target zeroed outside the source's allocated extents (full syncs).
    - With O(verify=full), C(verification) holds C(bytes_compared), C(bytes_zero_confirmed), C(bytes_zero_read)
      and C(bytes_checked) (compared plus confirmed zero, the capacity).
  returned: success
  type: list
  elements: dict
totals:
  description: Sums over the disks with the duration and read rate of the whole sync.
  returned: success
  type: dict
sync_warnings:
  description:
    - Full resyncs (C(FULL RESYNC of <vm> disk <key>) and the reason, an invalid changeId, a grown disk, a target
      changed outside the sync), resumed syncs, disks already committed by an interrupted run, orphan sync
      snapshots removed, journal identities adopted, CBT enabled (also shown as task warnings).
  returned: success
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings
from ansible_collections.reforge.hci.plugins.module_utils.migration import journal
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import (
    VmSync, check_target, journal_path, open_journal, target_for, targets_from_params)
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.argspec import (
    connect, progress_argument_spec, run_module, vm_disk_target_argument_spec)

MiB = 1024 * 1024


def preview(params, facts, targets):
    """Check mode: what the next sync would be, from the journals and the targets' fingerprints; writes nothing."""
    disks = []
    warnings = []
    for index, disk in enumerate(facts["disks"]):
        path = journal_path(params["journal_dir"], params["vm"], disk["key"])
        committed = None
        if os.path.exists(path):
            spec = target_for(targets, disk, index)
            found = open_journal(params["journal_dir"], facts, disk, spec)  # refuses another VM's/disk's journal
            check_target(found, spec)
            warnings.extend(found.warnings)
            committed = found.committed_change_id
        disks.append({"key": disk["key"], "label": disk["label"], "capacity_bytes": disk["capacity_bytes"],
                      "kind": "incremental" if committed else "full", "committed_change_id": committed})
    return {"changed": True, "disks": disks, "sync_warnings": warnings}


def body(module):
    p = module.params
    done = journal.read_cutover(p["journal_dir"], p["vm"])
    if done is not None:  # retired source: no vCenter login at all
        # state "converting": a guest conversion was committed into the target; its bytes match
        # no source state any more, so no sync may write there either.
        return {"changed": False, "vm": p["vm"], "already_cut_over": True, "cut_over_at": done.get("at"),
                "cutover_state": done.get("state", "done")}
    conn = connect(module)
    try:
        facts = vmops.vm_facts(conn, vmops.find_vm(conn, p["vm"], uuid=p["vm_uuid"]))
        targets = targets_from_params(p, facts)
        if module.check_mode:
            result = preview(p, facts, targets)
            for warning in result["sync_warnings"]:
                module.warn(warning)
            return result
        settings = CopySettings(streams=p["streams"], read_size=p["read_size_mb"] * MiB,
                                coalesce_gap=p["coalesce_gap_kb"] * 1024, zero_skip=p["zero_skip"],
                                throttle_mbps=p["throttle_mb_s"] or None)
        result = VmSync(conn, p["vm"], targets, p["journal_dir"], settings, progress_path=p["progress_path"],
                        verify_policy=p["verify"], vm_uuid=p["vm_uuid"], progress_token=p["progress_token"]).run()
    finally:
        conn.close()
    # Ansible consumes a result's "warnings" key; keep them in the data too, under their own name.
    result["sync_warnings"] = result.pop("warnings")
    for warning in result["sync_warnings"]:
        module.warn(warning)
    result["changed"] = True
    return result


def main():
    spec = vm_disk_target_argument_spec()
    spec.update(
        **progress_argument_spec(),
        streams=dict(type="int", default=4),
        read_size_mb=dict(type="int", default=8),
        coalesce_gap_kb=dict(type="int", default=1024),
        zero_skip=dict(type="bool", default=True),
        throttle_mb_s=dict(type="float", default=0),
        verify=dict(type="str", choices=["none", "sample", "full"], default="none"),
    )
    run_module(AnsibleModule(argument_spec=spec, supports_check_mode=True), body)


if __name__ == "__main__":
    main()
