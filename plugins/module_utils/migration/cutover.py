# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cutover of one VM: guest shutdown → final sync with the source off → convert → define → boot → alive check.

The conversion is the domain definition for KVM and, where the guest needs it
(``guest_conversion``), ``virt-v2v-in-place`` on a clone of the synced disks
(see :mod:`guest_conversion`): a failed conversion leaves the synced base
intact, and a failure after the conversion was committed restores the base from
the undo log before the source comes back.

Any failure after the source went down rolls back: the source is powered on
again in vSphere, the target is left defined but stopped, and the reason is
reported. Network mapping is checked before the source is touched, so a
missing port group mapping costs no downtime at all.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import shutil
import time
import traceback
from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration import boot, convert, journal, preboot
from ansible_collections.reforge.hci.plugins.module_utils.migration import preflight
from ansible_collections.reforge.hci.plugins.module_utils.migration import guest_conversion as v2v
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError, MigrationError
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import VmSync, target_for, vm_lock
from ansible_collections.reforge.hci.plugins.module_utils.migration.writers import release_sync_marks
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.connection import VsphereConnection
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import VsphereError

try:
    from pyVmomi import vmodl
    _FAULTS = (MigrationError, VsphereError, vmodl.MethodFault, OSError)
except ImportError:
    _FAULTS = (MigrationError, VsphereError, OSError)


def earlier_cutover(journal_dir: str, vm_name: str, settle: bool = False) -> Optional[Dict[str, Any]]:
    """The result of an earlier, successful cutover of ``vm_name`` (then nothing is done again).

    Needs no vCenter connection: callers check it before they log in. With ``settle`` (not in check
    mode) the boot-check snapshots a run killed right after the cutover was recorded are dropped.
    """
    done = journal.read_cutover(journal_dir, vm_name)
    if done is None or done.get("state") in (v2v.CONVERTING, preboot.BOOT_CHECK):
        # an interrupted conversion or boot check is no cutover: the next run restores the base and starts again
        return None
    steps: List[Dict[str, Any]] = []
    if settle and done.get("boot_guard"):
        try:
            steps.append(dict(preboot.recover(journal_dir, vm_name) or {}, step="boot_guard_dropped",
                              at=round(time.time(), 3)))
        except MigrationError as exc:
            # the VM runs on the cluster: a snapshot that cannot go yet is reported, not a failed rerun
            steps.append({"step": "boot_guard_drop_failed", "reason": str(exc), "at": round(time.time(), 3)})
    return {"vm": vm_name, "cut_over": True, "rolled_back": False, "already_cut_over": True,
            "cut_over_at": done.get("at"), "domain_xml": done.get("domain_xml"), "steps": steps,
            "downtime_seconds": 0.0}


def refuse_blocked(facts: Dict[str, Any]) -> None:
    """Every preflight blocker (RDM, independent, shared/multi-writer, shared SCSI bus, foreign snapshots,
    unsupported guest, no disks) refuses the cutover before the source is touched."""
    found = preflight.check_vm(facts)
    if found["blockers"]:
        raise CutoverError("%s is blocked, nothing was changed: %s" % (facts["name"], "; ".join(
            "%s: %s" % (b["rule"], b["message"]) for b in found["blockers"])))


class Cutover:
    def __init__(self, conn: VsphereConnection, vm_name: str, targets: Dict[str, Dict[str, Any]],
                 journal_dir: str, settings: CopySettings, network_map: Dict[str, Dict[str, Any]],
                 domain_dir: str, method: str = "qemu", libvirt_uri: str = "qemu:///system",
                 alive_pattern: str = "login:", alive_timeout: float = 300, verify_policy: str = "sample",
                 guest_shutdown_timeout: float = 300, qemu_memory_mb: Optional[int] = None,
                 domain_type: str = "kvm", rbd_auth: Optional[Dict[str, Any]] = None,
                 guest_conversion: str = "none", conversion_options: Optional[Dict[str, Any]] = None,
                 vm_uuid: Optional[str] = None, progress_path: Optional[str] = None,
                 progress_token: Optional[str] = None) -> None:
        self.conn = conn
        self.vm_name = vm_name
        self.vm_uuid = vm_uuid
        self.targets = targets
        self.journal_dir = journal_dir
        self.settings = settings
        self.network_map = network_map
        self.domain_dir = domain_dir
        self.method = method
        self.libvirt_uri = libvirt_uri
        self.alive_pattern = alive_pattern
        self.alive_timeout = alive_timeout
        self.verify_policy = verify_policy
        self.guest_shutdown_timeout = guest_shutdown_timeout
        self.qemu_memory_mb = qemu_memory_mb
        self.domain_type = domain_type
        # {user, secret_uuid, monitors}: how libvirt on the node authenticates to Ceph for RBD disks
        self.rbd_auth = rbd_auth or {}
        self.guest_conversion = guest_conversion
        # {memory_mb, virtio_win, timeout, verbose}: passed to guest_conversion.GuestConversion
        self.conversion_options = conversion_options or {}
        self.progress_path = progress_path  # the final sync's progress file (module_utils/migration/progress.py)
        self.progress_token = progress_token
        self.steps: List[Dict[str, Any]] = []
        self.writes: List[Dict[str, Any]] = []

    def _step(self, name: str, **info: Any) -> None:
        info.update(step=name, at=round(time.time(), 3))
        self.steps.append(info)

    def plan(self) -> Dict[str, Any]:
        """What the cutover would do, without touching anything (check mode)."""
        facts = vmops.vm_facts(self.conn, vmops.find_vm(self.conn, self.vm_name, uuid=self.vm_uuid))
        refuse_blocked(facts)
        nics = convert.map_nics(facts["nics"], self.network_map)
        if self.method == "libvirt":
            convert.check_libvirt_nics(nics)
        disks = [self._with_rbd_auth(target_for(self.targets, d, i)) for i, d in enumerate(facts["disks"])]
        if self.method == "libvirt":
            preboot.refuse_unprotectable(disks)
        decision = v2v.decide(self.guest_conversion, facts.get("guest_id"))
        conversion = None
        if decision["conversion"] != "none":
            conversion = self._conversion(facts)
            decision.update(conversion.plan())
        return {"facts": facts, "nics": nics, "disks": disks, "guest_conversion": decision,
                "conversion": conversion,
                "domain_xml": convert.domain_xml(facts, disks, nics, serial_log=self._serial_log(),
                                                 domain_type=self.domain_type)}

    def _conversion(self, facts: Dict[str, Any]) -> v2v.GuestConversion:
        opts = self.conversion_options
        return v2v.GuestConversion(
            facts, [target_for(self.targets, d, i) for i, d in enumerate(facts["disks"])], self.journal_dir,
            opts.get("work_dir") or self.domain_dir, domain_type=self.domain_type, memory_mb=opts.get("memory_mb"),
            virtio_win=opts.get("virtio_win"), timeout=opts.get("timeout") or 3600, verbose=bool(opts.get("verbose")))

    def _with_rbd_auth(self, disk: Dict[str, Any]) -> Dict[str, Any]:
        if disk.get("format") != "rbd" or not self.rbd_auth:
            return disk
        merged = dict(disk)
        merged.setdefault("ceph_user", self.rbd_auth.get("user") or "libvirt")
        merged.setdefault("secret_uuid", self.rbd_auth.get("secret_uuid"))
        merged.setdefault("monitors", self.rbd_auth.get("monitors") or [])
        return merged

    def _nvram(self, facts: Dict[str, Any]) -> Optional[str]:
        """A fresh copy of the OVMF variable store per boot check (the template must stay pristine)."""
        if facts.get("firmware") != "efi":
            return None
        if not os.path.exists(convert.OVMF_VARS):
            raise MigrationError("%s not found (Debian package ovmf)" % convert.OVMF_VARS)
        path = os.path.join(self.domain_dir, "%s_VARS.fd" % self.vm_name)
        shutil.copyfile(convert.OVMF_VARS, path)
        return path

    def _serial_log(self) -> str:
        if self.method == "libvirt":
            # libvirt's own log directory: present on every node, so the cluster can
            # start or migrate the domain anywhere with the same definition.
            return "/var/log/libvirt/qemu/%s-serial.log" % self.vm_name
        return os.path.join(self.domain_dir, "%s.serial.log" % self.vm_name)

    def run(self) -> Dict[str, Any]:
        with vm_lock(self.journal_dir, self.vm_name):
            return self._run()

    def _run(self) -> Dict[str, Any]:
        earlier = earlier_cutover(self.journal_dir, self.vm_name, settle=True)
        if earlier is not None:
            return earlier
        started = time.monotonic()
        # A run killed during its boot check: the domain it started is stopped and the base rolled back.
        recovered = preboot.recover(self.journal_dir, self.vm_name, _stop_domain)
        if recovered is not None:
            self._step("recovered_interrupted_boot_check", **recovered)
        # A run killed after its conversion was committed: the base goes back to the synced state first.
        interrupted = v2v.restore(self.journal_dir, self.vm_name)
        if interrupted is not None:
            self._step("restored_interrupted_conversion", **interrupted)
        vm = vmops.find_vm(self.conn, self.vm_name, uuid=self.vm_uuid)
        # Every refusal (preflight blockers, network map, targets, conversion) happens here, before any change.
        preview = self.plan()
        facts, nics, disks = preview["facts"], preview["nics"], preview["disks"]
        conversion = preview["conversion"]
        committed = False
        was_on = facts["power_state"] == "poweredOn"
        virsh = boot.Virsh(self.libvirt_uri) if self.method == "libvirt" else None
        guard: Optional[preboot.BootGuard] = None
        downtime_started = time.monotonic()
        try:
            self._step("power_off", how=vmops.power_off(self.conn, vm, self.guest_shutdown_timeout))
            self._wrote("target_disks", "final sync into %s" % ", ".join(_where(d) for d in disks),
                        "journaled: the next sync resumes from the journal")
            sync = VmSync(self.conn, self.vm_name, self.targets, self.journal_dir, self.settings,
                          verify_policy=self.verify_policy, vm_uuid=self.vm_uuid, progress_path=self.progress_path,
                          progress_token=self.progress_token).run()
            self._step("final_sync", totals=sync["totals"], warnings=sync["warnings"],
                       kind=",".join(sorted({d["kind"] for d in sync["disks"]})))
            os.makedirs(self.domain_dir, exist_ok=True)
            xml_path = os.path.join(self.domain_dir, "%s.xml" % self.vm_name)
            self._wrote("domain_xml", xml_path, "kept for the post-mortem")
            with open(xml_path, "w") as handle:
                handle.write(preview["domain_xml"])
            self._step("convert", domain_xml=xml_path, firmware=facts["firmware"], nics=nics)
            if conversion is not None:
                self._step("guest_conversion", why=preview["guest_conversion"]["why"], **conversion.convert())
                committed = True  # set before: a commit that fails half way is restored too
                self._wrote("guest_conversion", "converted bytes in the target disks", "undo log")
                self._step("guest_conversion_committed", **conversion.commit())
            if virsh is not None:
                self._wrote("libvirt_domain", "%s on %s" % (self.vm_name, self.libvirt_uri),
                            "kept defined and stopped for the post-mortem")
                virsh.define(preview["domain_xml"])
                self._step("define", uri=self.libvirt_uri)
                if os.path.exists(self._serial_log()):
                    os.unlink(self._serial_log())  # the log appends: an old marker must not pass the check
                # The boot writes to the base itself: a throwaway snapshot first, rolled back on failure.
                guard = preboot.BootGuard(self.journal_dir, self.vm_name, disks, self.vm_name, self.libvirt_uri)
                self._wrote("boot_check", "the guest's boot writes to the target disks",
                            "rolled back to snapshot %s" % guard.snap)
                self._step("boot_guard", **guard.take())
                virsh.start(self.vm_name)
                text = boot.wait_for_marker(self._serial_log(), self.alive_pattern, self.alive_timeout)
                alive = {"alive": True, "serial_tail": text[-200:], "method": "libvirt"}
            else:
                argv = convert.qemu_argv(facts, disks, nics, self._serial_log(), memory_mb=self.qemu_memory_mb,
                                         nvram=self._nvram(facts))
                alive = boot.qemu_boot_check(argv, self._serial_log(), self.alive_pattern, self.alive_timeout)
            self._step("alive", **alive)
            record = {"domain_xml": xml_path, "method": self.method, "alive": alive.get("method"),
                      "guest_conversion": preview["guest_conversion"]["conversion"]}
            if guard is not None:
                record["boot_guard"] = guard.record()  # dropped below; a kill before that drops it next run
            journal.record_cutover(self.journal_dir, self.vm_name, record)
        except Exception as exc:  # pylint: disable=broad-except
            # Anything - a refusal, a lost vCenter, or a bug (TypeError, KeyError) - after the source may
            # have gone down: the source must come back and the base must be the synced one again.
            unexpected = not isinstance(exc, _FAULTS)
            reason = "%s: %s" % (type(exc).__name__, getattr(exc, "msg", None) or exc)
            failed: Dict[str, Any] = {"reason": reason, "unexpected": unexpected}
            if unexpected:
                failed["traceback"] = traceback.format_exc()[-3000:]
            self._step("failed", **failed)
            complete = self._rollback(vm, was_on, virsh, conversion if committed else None, guard)
            return {"vm": self.vm_name, "cut_over": False, "rolled_back": complete, "reason": reason,
                    "unexpected_error": unexpected, "steps": self.steps, "writes": self.writes,
                    "source_power_state": _power_state(vm),
                    "downtime_seconds": round(time.monotonic() - downtime_started, 2)}
        if guard is not None:
            try:
                self._step("boot_guard_dropped", **guard.drop())
            except Exception as exc:  # pylint: disable=broad-except
                # the VM is cut over and runs; the record keeps the guard and the next run drops it
                self._step("boot_guard_drop_failed", reason="%s: %s" % (type(exc).__name__, exc))
        self._release_sync_marks(disks)
        if conversion is not None:
            conversion.cleanup()  # the undo log is no longer needed: the record now says cut over
        return {"vm": self.vm_name, "cut_over": True, "rolled_back": False, "steps": self.steps,
                "sync": sync, "alive": alive, "domain_xml": xml_path, "writes": self.writes,
                "downtime_seconds": round(time.monotonic() - downtime_started, 2),
                "duration": round(time.monotonic() - started, 2)}

    def _release_sync_marks(self, disks: List[Dict[str, Any]]) -> None:
        """No sync follows a cutover: the sync's own RBD snapshots (its outside-change marks) go.

        The VM is cut over and runs: a failure here is reported in the steps, not a failed cutover;
        the snapshots stay until an operator removes them (``rbd snap ls``: ``reforge-synced-*``).
        """
        for disk in disks:
            try:
                removed = release_sync_marks(disk)
            except Exception as exc:  # pylint: disable=broad-except
                self._step("sync_marks_release_failed", target=_where(disk), reason="%s: %s" % (type(exc).__name__, exc))
                continue
            if removed:
                self._step("sync_marks_released", target=_where(disk), snapshots=removed)

    def _wrote(self, what: str, where: str, undo: str) -> None:
        """A write that may land from here on, and how a failure undoes it (``undone`` is set by the rollback)."""
        self.writes.append({"what": what, "where": where, "undo": undo, "undone": None})

    def _undone(self, what: str, undone: bool) -> None:
        for write in self.writes:
            if write["what"] == what:
                write["undone"] = undone

    def _rollback(self, vm: Any, was_on: bool, virsh: Optional[boot.Virsh],
                  conversion: Optional[v2v.GuestConversion] = None,
                  guard: Optional[preboot.BootGuard] = None) -> bool:
        """Each step on its own: one that fails never keeps the next from running. True if all succeeded."""
        complete = True
        target_stopped = True
        if virsh is not None:
            try:
                virsh.stop(self.vm_name)  # keep it defined for the post-mortem, but never two copies running
                self._step("rollback_target_stopped")
            except Exception as exc:  # pylint: disable=broad-except
                complete = target_stopped = False
                self._step("rollback_target_stop_failed", reason=str(exc))
        if guard is not None:
            if not target_stopped:
                # rolling back under a running guest would corrupt it; the marker keeps the guard for the next run
                complete = False
                self._step("rollback_base_deferred", reason="the domain may still run; the next cutover rolls back",
                           snapshot=guard.snap)
            else:
                try:
                    self._step("rollback_base_restored", **guard.rollback())
                    self._undone("boot_check", True)
                except Exception as exc:  # pylint: disable=broad-except
                    complete = False
                    self._undone("boot_check", False)
                    self._step("rollback_base_restore_failed", reason="%s: %s" % (type(exc).__name__, exc),
                               snapshot=guard.snap)
        if conversion is not None:
            # the domain is stopped: the base goes back to the synced state, the journal is valid again
            try:
                restored = v2v.restore(self.journal_dir, self.vm_name)
                conversion.cleanup()
                self._undone("guest_conversion", True)
                if restored is not None:
                    self._step("rollback_target_restored", **restored)
            except Exception as exc:  # pylint: disable=broad-except
                complete = False
                self._undone("guest_conversion", False)
                self._step("rollback_target_restore_failed", reason=str(exc))
        if was_on:
            try:
                vmops.power_on(self.conn, vm)
                self._step("rollback_source_powered_on")
            except Exception as exc:  # pylint: disable=broad-except
                complete = False
                self._step("rollback_source_power_on_failed", reason="%s: %s" % (
                    type(exc).__name__, getattr(exc, "msg", None) or exc))
        return complete


def _where(disk: Dict[str, Any]) -> str:
    return "%s/%s" % (disk["pool"], disk["image"]) if disk.get("format") == "rbd" else str(disk.get("path"))


def _power_state(vm: Any) -> Optional[str]:
    try:
        return str(vm.runtime.powerState)
    except Exception:  # pylint: disable=broad-except
        return None  # the vCenter is gone: the caller says so with the steps


def _stop_domain(uri: str, name: str) -> None:
    boot.Virsh(uri).stop(name)
