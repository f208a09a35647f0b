# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight rules: why a VM cannot (blockers) or should not silently (warnings) be migrated.

Rules work on the plain facts of ``vsphere.vm.vm_facts`` so they are data in,
data out, like Forklift's validation rules, and each finding names its rule.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration.journal import is_own_snapshot

# Guests whose disks we can copy but which KVM/virtio does not run; extendable per campus.
DEFAULT_UNSUPPORTED_GUESTS = ("darwin", "netware", "os2", "solaris", "freebsd", "dos", "win31", "win95", "win98",
                              "winnt", "winme", "vmkernel")
SHARED_MODES = ("sharingMultiWriter",)


def _finding(rule: str, message: str) -> Dict[str, str]:
    return {"rule": rule, "message": message}


def disk_blockers(facts: Dict[str, Any]) -> List[Dict[str, str]]:
    """Disks a snapshot + CBT + /folder copy cannot move faithfully. The one rule preflight, sync and cutover share."""
    blockers: List[Dict[str, str]] = []
    for disk in facts.get("disks") or []:
        label = "%s disk %s" % (facts["name"], disk["label"])
        if disk.get("rdm"):
            blockers.append(_finding("rdm_disk", "%s is a raw device mapping (RDM): it has no datastore file to "
                                                 "read; migrate the LUN separately" % label))
        elif disk.get("independent"):  # physical RDMs are independent too; one reason per disk is clearer
            blockers.append(_finding("independent_disk", "%s is independent (%s): snapshots do not freeze it; make it dependent "
                                     "(disk mode Dependent, VM powered off) or migrate it separately"
                                     % (label, disk.get("disk_mode"))))
        if disk.get("sharing") in SHARED_MODES:
            blockers.append(_finding("shared_disk", "%s is shared between VMs (multi-writer): a guest cluster's disk; "
                                     "move the guest cluster by its own procedure" % label))
        elif disk.get("scsi_bus_sharing"):
            blockers.append(_finding("shared_disk", "%s sits on a shared SCSI bus (%s): a guest cluster disk; "
                                     "move the guest cluster by its own procedure" % (label, disk["scsi_bus_sharing"])))
    return blockers


def foreign_snapshots(facts: Dict[str, Any]) -> List[str]:
    """Snapshots no sync of this VM took (recognised by description and VM UUID, not by name)."""
    return [s["name"] for s in facts.get("snapshots") or [] if not is_own_snapshot(s, facts.get("uuid"))]


def check_vm(facts: Dict[str, Any], target_free_bytes: Optional[int] = None,
             unsupported_guests: tuple = DEFAULT_UNSUPPORTED_GUESTS) -> Dict[str, Any]:
    blockers: List[Dict[str, str]] = []
    warnings: List[Dict[str, str]] = []
    name = facts["name"]
    disks = facts.get("disks") or []
    if not disks:
        blockers.append(_finding("no_disks", "%s has no virtual disk to migrate: create it on the target instead" % name))
    foreign = foreign_snapshots(facts)
    if foreign:
        blockers.append(_finding(
            "existing_snapshots",
            "%s has snapshots (%s): the base disk is not the current data and CBT reads would be wrong; "
            "consolidate them first" % (name, ", ".join(foreign))))
    blockers.extend(disk_blockers(facts))
    for disk in disks:
        label = "%s disk %s" % (name, disk["label"])
        if (disk.get("datastore_type") or "").upper().startswith("NFS") and disk.get("thin"):
            warnings.append(_finding("nfs_thin_full_read",
                                     "%s is thin on NFS: the first sync reads it as fully allocated (%d bytes)"
                                     % (label, disk["capacity_bytes"])))
        if facts.get("cbt_enabled") and not disk.get("change_id") and not disk.get("rdm"):
            warnings.append(_finding("cbt_not_effective", "%s has CBT on but no changeId yet: the first sync "
                                                          "snapshot makes it effective" % label))
    if not facts.get("cbt_enabled"):
        warnings.append(_finding("cbt_disabled", "%s has CBT off: the sync enables it (changeTrackingEnabled)" % name))
    guest = (facts.get("guest_id") or "").lower()
    if any(guest.startswith(prefix) for prefix in unsupported_guests):
        blockers.append(_finding("unsupported_guest", "%s runs %s (%s), which does not run on KVM with virtio; leave it on "
                                 "vSphere (or narrow unsupported_guests if it does)"
                                 % (name, facts.get("guest_full_name"), facts.get("guest_id"))))
    if facts.get("firmware") == "efi" and guest.startswith("win") and "secureBoot" in str(facts.get("boot_options")):
        warnings.append(_finding("secure_boot", "%s uses Secure Boot: the target needs OVMF secure boot variables"
                                 % name))
    needed = sum(d.get("capacity_bytes", 0) for d in disks if not d.get("rdm"))
    committed = facts.get("committed_bytes")
    if target_free_bytes is not None:
        need = committed if committed else needed
        if need > target_free_bytes:
            blockers.append(_finding("target_capacity", "%s needs %d bytes on the target, %d are free: free space on the target "
                                     "or move the VM to a later wave" % (name, need, target_free_bytes)))
    return {"vm": name, "ok": not blockers, "blockers": blockers, "warnings": warnings,
            "bytes_capacity": needed, "bytes_committed": committed, "uuid": facts.get("uuid"),
            # the NICs' MACs go with the VM to the cluster: its tier membership (micro-segmentation) before it starts
            "macs": sorted(set(str(n["mac"]).lower() for n in facts.get("nics") or [] if n.get("mac")))}


def report_text(results: List[Dict[str, Any]]) -> str:
    """The readable form: one line per VM, then its findings."""
    lines = []
    for res in results:
        lines.append("%-24s %s" % (res["vm"], "OK" if res["ok"] else "BLOCKED"))
        for finding in res["blockers"]:
            lines.append("    BLOCKER %-20s %s" % (finding["rule"], finding["message"]))
        for finding in res["warnings"]:
            lines.append("    warning %-20s %s" % (finding["rule"], finding["message"]))
    return "\n".join(lines)
