#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: migration_cutover
short_description: Cut a VM over from vSphere to KVM, with rollback
description:
  - Shuts the guest down (hard power off after O(guest_shutdown_timeout)), runs the final sync with the source
    off and verifies it, converts the VM definition (virtio disks and NICs, BIOS or UEFI as the source had, each
    NIC on the bridge/VLAN its port group maps to with its MAC kept), defines it, boots it and checks it is alive.
  - A VM cut over before (its record in O(journal_dir)) is left alone and reported with C(already_cut_over), so
    a rerun of a wave never stops a VM that already runs on the cluster. Delete C(<journal_dir>/<vm>.cutover.json)
    to cut it over again.
  - Before any change every preflight blocker (RDM, independent, shared or multi-writer disks, shared SCSI bus, foreign
    snapshots, unsupported guest, no disks), the network map and the targets are checked; a blocked VM is refused with
    no power operation at all.
  - On any failure after the shutdown, an unexpected error included, it rolls back, powers the source on again, leaves
    the target defined but stopped, and fails with the reason, the steps done and the writes that may have landed.
  - O(guest_conversion) runs C(virt-v2v-in-place) on the synced disks after the final sync, for guests that need
    drivers or an initramfs for virtio. It converts a qcow2 overlay of each synced disk, so a failed conversion leaves
    the synced base untouched; a successful one is written into the base with an undo log, and a failure after that
    (boot, alive check) writes the undo log back before the source is powered on again.
  - O(method=libvirt) defines and starts the domain with C(virsh) on the host the task runs on (delegate to a
    cluster node). The domain boots on the synced disks themselves, so each gets a throwaway snapshot first (RBD
    snapshot, qcow2 internal snapshot), rolled back if the boot check fails and dropped when it passes; C(raw) file
    targets are refused for this method. A run killed during the boot check is settled by the next run.
    O(method=qemu) boots the converted disks directly under QEMU (TCG where KVM is unavailable) with the disks opened
    copy-on-write, for a boot check where no libvirt runs; the domain XML is still written.
author:
  - reforge.hci contributors (!UNKNOWN)
version_added: 0.1.0
extends_documentation_fragment:
  - reforge.hci.vsphere
  - reforge.hci.vm_disk_target
  - reforge.hci.vm_disk_target.progress
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
attributes:
  check_mode:
    support: full
    details: Returns the domain XML and the NIC mapping; nothing is powered off.
options:
  network_map:
    description:
      - "Port group name to C({bridge: <name>, vlan: <id>, ovs: <bool>}). Every NIC's port group must be mapped;
        the MAC is kept."
      - With O(method=libvirt) a VLAN tag needs an Open vSwitch bridge (C(ovs=true)); on Linux bridges map the
        port group to a per-VLAN bridge instead. Both are checked before the source is touched.
    type: dict
    required: true
  domain_dir:
    description: Where the domain XML and the serial console log are written.
    type: path
    required: true
  method:
    description: How to define and boot the converted VM.
    type: str
    choices: [libvirt, qemu]
    default: libvirt
  libvirt_uri:
    description: libvirt connection URI for O(method=libvirt).
    type: str
    default: qemu:///system
  alive_pattern:
    description: Regular expression that proves on the serial console that the guest is up.
    type: str
    default: "login:"
  alive_timeout:
    description: Seconds to wait for O(alive_pattern).
    type: int
    default: 300
  guest_shutdown_timeout:
    description: Seconds to wait for a guest shutdown before a hard power off.
    type: int
    default: 300
  verify:
    description: Checksum comparison of the final sync.
    type: str
    choices: [none, sample, full]
    default: sample
  domain_type:
    description:
      - libvirt domain type. C(kvm) on nodes with hardware virtualisation; C(qemu) runs the guest under TCG.
      - C(auto) takes what the M(reforge.hci.hypervisor) role's probe recorded in C(/etc/libvirt/reforge-domain-type)
        on the host the task runs on, and C(kvm) when that file is missing.
    type: str
    choices: [auto, kvm, qemu]
    default: auto
  rbd_auth:
    description:
      - How libvirt authenticates to Ceph for RBD disks, C({user, secret_uuid, monitors}) as the hypervisor role set
        them up (its libvirt secret). Without it the domain has no C(<auth>) element.
    type: dict
  qemu_memory_mb:
    description: Memory of the O(method=qemu) boot check (defaults to the VM's).
    type: int
  guest_conversion:
    description:
      - C(none) boots the synced disks as they are (Linux guests with virtio in their initramfs, e.g. Debian, Ubuntu).
      - C(virt_v2v_in_place) runs C(virt-v2v-in-place -i libvirtxml) (Debian packages C(virt-v2v), C(nbdkit) and
        a kernel for the libguestfs appliance, C(linux-image-amd64)) on qcow2 overlays of the synced disks, after the
        final sync and before the boot. Windows guests get virtio drivers from O(virtio_win); RHEL-family and SUSE
        guests get an initramfs with virtio modules. RBD bases are read through QEMU's C(rbd) driver
        (C(qemu-block-extra)).
      - C(auto) decides from the vSphere guest id (the family the administrator set, not an inspection of the
        disk) - C(virt_v2v_in_place) for C(win*), C(rhel*), C(centos*), C(oracleLinux*), C(fedora*), C(sles*),
        C(opensuse*), C(rockylinux*), C(almalinux*), C(asianux*), C(amazonlinux*); C(none) for C(debian*),
        C(ubuntu*) and anything else. The decision and why are in the C(guest_conversion) step.
      - The conversion adds to the downtime (the source is off); under TCG the libguestfs appliance alone takes
        about a minute to start.
    type: str
    choices: [none, virt_v2v_in_place, auto]
    default: none
  guest_conversion_timeout:
    description: Seconds C(virt-v2v-in-place) may run before the cutover gives up and rolls back.
    type: int
    default: 3600
  guest_conversion_memory_mb:
    description:
      - Memory of the libguestfs appliance that runs the conversion (C(LIBGUESTFS_MEMSIZE) is set to half of it,
        virt-v2v doubles it). Defaults to virt-v2v's own (2560 MiB).
    type: int
  guest_conversion_dir:
    description:
      - Where the conversion overlays, the undo logs and the C(virt-v2v) log are written (defaults to
        O(domain_dir)). Needs room for what the conversion changes (tens to a few hundred MiB per VM), on the host
        the task runs on.
    type: path
  virtio_win:
    description:
      - C(VIRTIO_WIN) for Windows guests - the virtio-win ISO or its unpacked directory (not in Debian; from the
        Fedora virtio-win project). Without it virt-v2v finds no Windows drivers and the cutover rolls back. Windows
        conversions also need C(rhsrvany.exe) in C(/usr/share/virt-tools).
    type: path
  streams:
    description: Parallel Range streams of the final sync.
    type: int
    default: 4
  throttle_mb_s:
    description: Read rate limit of the final sync in MB/s (0 = unlimited).
    type: float
    default: 0
'''

EXAMPLES = r'''
- name: Cut db01 over on node1
  reforge.hci.migration_cutover:
    vm: db01
    journal_dir: /var/lib/reforge/migration/journal
    target_format: rbd
    target_pool: vms
    rbd_auth: {user: libvirt, secret_uuid: 6a1e2d55-0f3b-5b8e-9d7e-3f0b1c2d4e5f, monitors: [10.20.0.11, 10.20.0.12]}
    network_map:
      "VM Network": {bridge: br-vm}
      prod-db: {bridge: br-ovs, vlan: 120, ovs: true}
    domain_dir: /var/lib/reforge/migration/domains
  delegate_to: node1
'''

RETURN = r'''
cut_over:
  description: Whether the VM now runs on the target.
  returned: always
  type: bool
rolled_back:
  description: Whether the source was powered on again after a failure.
  returned: always
  type: bool
reason:
  description: Why the cutover failed.
  returned: on failure
  type: str
steps:
  description: The steps done, with timing and details.
  returned: always
  type: list
  elements: dict
downtime_seconds:
  description: Seconds from the source shutdown to the alive check (or the rollback).
  returned: always
  type: float
writes:
  description:
    - Each write that may have landed (C(target_disks), C(domain_xml), C(guest_conversion), C(libvirt_domain),
      C(boot_check)), where, how a failure undoes it and, after a rollback, whether it was (C(undone)).
  returned: when the source was touched
  type: list
  elements: dict
unexpected_error:
  description: The failure was a bug or an error the cutover does not expect (the C(failed) step has the traceback).
  returned: on failure
  type: bool
source_power_state:
  description: The source VM's power state after the rollback, as vCenter reports it.
  returned: on failure
  type: str
already_cut_over:
  description: The VM was cut over by an earlier run; nothing was done.
  returned: when true
  type: bool
domain_xml:
  description: Path of the domain XML (run) or its text (check mode).
  returned: always
  type: str
guest_conversion:
  description:
    - In check mode, the conversion decision (C(conversion), C(why)) and, when one would run, the overlay and
      C(virt-v2v-in-place) command lines. After a run, the C(guest_conversion) step holds its seconds, warnings and
      log path.
  returned: check mode
  type: dict
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.reforge.hci.plugins.module_utils.migration.cutover import Cutover, earlier_cutover
from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.argspec import (
    connect, progress_argument_spec, run_module, vm_disk_target_argument_spec)
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import targets_from_params


DOMAIN_TYPE_FILE = "/etc/libvirt/reforge-domain-type"


def _domain_type(wanted):
    """The hypervisor role's probe result on this node for C(auto)."""
    if wanted != "auto":
        return wanted
    try:
        with open(DOMAIN_TYPE_FILE) as handle:
            found = handle.read().strip()
    except (IOError, OSError):
        return "kvm"
    return found if found in ("kvm", "qemu") else "kvm"


def body(module):
    p = module.params
    earlier = earlier_cutover(p["journal_dir"], p["vm"], settle=not module.check_mode)
    if earlier is not None:  # retired source: no vCenter login at all
        earlier["changed"] = False
        return earlier
    conn = connect(module)
    try:
        facts = vmops.vm_facts(conn, vmops.find_vm(conn, p["vm"], uuid=p["vm_uuid"]))
        settings = CopySettings(streams=p["streams"], throttle_mbps=p["throttle_mb_s"] or None)
        cutover = Cutover(conn, p["vm"], targets_from_params(p, facts), p["journal_dir"], settings,
                          p["network_map"], p["domain_dir"], method=p["method"], libvirt_uri=p["libvirt_uri"],
                          alive_pattern=p["alive_pattern"], alive_timeout=p["alive_timeout"], verify_policy=p["verify"],
                          guest_shutdown_timeout=p["guest_shutdown_timeout"], qemu_memory_mb=p["qemu_memory_mb"],
                          domain_type=_domain_type(p["domain_type"]), rbd_auth=p["rbd_auth"],
                          guest_conversion=p["guest_conversion"], vm_uuid=p["vm_uuid"],
                          progress_path=p["progress_path"], progress_token=p["progress_token"],
                          conversion_options={"timeout": p["guest_conversion_timeout"],
                                              "memory_mb": p["guest_conversion_memory_mb"],
                                              "work_dir": p["guest_conversion_dir"], "virtio_win": p["virtio_win"]})
        if module.check_mode:
            preview = cutover.plan()
            out = {"changed": True, "cut_over": False, "rolled_back": False, "steps": [], "downtime_seconds": 0.0,
                   "domain_xml": preview["domain_xml"], "nics": preview["nics"],
                   "guest_conversion": preview["guest_conversion"]}
            if module._diff:
                out["diff"] = {"before": "", "after": preview["domain_xml"],
                               "after_header": "%s (libvirt domain)" % p["vm"]}
            return out
        result = cutover.run()
    except Exception as exc:  # pylint: disable=broad-except
        # A refusal or a bug before the source was touched: after it, Cutover.run rolls back and returns.
        module.fail_json(msg="cutover of %s failed before any change: %s: %s"
                         % (p["vm"], type(exc).__name__, getattr(exc, "msg", None) or exc),
                         exception=traceback.format_exc(), changed=False, cut_over=False, rolled_back=False)
    finally:
        conn.close()
    result["changed"] = True
    if not result["cut_over"]:
        how = "was rolled back" if result["rolled_back"] else "was NOT fully rolled back (see steps)"
        module.fail_json(msg="cutover of %s failed and %s: %s" % (p["vm"], how, result["reason"]), **result)
    return result


def main():
    spec = vm_disk_target_argument_spec()
    spec.update(
        network_map=dict(type="dict", required=True),
        domain_dir=dict(type="path", required=True),
        method=dict(type="str", choices=["libvirt", "qemu"], default="libvirt"),
        libvirt_uri=dict(type="str", default="qemu:///system"),
        alive_pattern=dict(type="str", default="login:"),
        alive_timeout=dict(type="int", default=300),
        guest_shutdown_timeout=dict(type="int", default=300),
        verify=dict(type="str", choices=["none", "sample", "full"], default="sample"),
        qemu_memory_mb=dict(type="int"),
        domain_type=dict(type="str", choices=["auto", "kvm", "qemu"], default="auto"),
        rbd_auth=dict(type="dict"),
        guest_conversion=dict(type="str", choices=["none", "virt_v2v_in_place", "auto"], default="none"),
        guest_conversion_timeout=dict(type="int", default=3600),
        guest_conversion_memory_mb=dict(type="int"),
        guest_conversion_dir=dict(type="path"),
        virtio_win=dict(type="path"),
        streams=dict(type="int", default=4),
        throttle_mb_s=dict(type="float", default=0),
        **progress_argument_spec(),
    )
    run_module(AnsibleModule(argument_spec=spec, supports_check_mode=True), body)


if __name__ == "__main__":
    main()
