# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    # The VM, where its disks are read from, journalled and written, for every module
    # that copies a VM's disks. Kept in sync with
    # plugins/module_utils/vsphere/argspec.py:vm_disk_target_argument_spec().
    DOCUMENTATION = r'''
options:
  vm:
    description: Name of the VM.
    type: str
    required: true
  vm_uuid:
    description:
      - The VM's vCenter instance UUID (C(config.instanceUuid)). With it the VM is found by UUID and its name checked;
        without it a name that two VMs share (two folders or datacenters) is refused with both inventory paths.
    type: str
  journal_dir:
    description:
      - Directory of the sync journals (one per VM disk) and of the VM's cutover record. Keep it on the node that
        writes the target, and the same for every sync and the cutover of a VM.
    type: path
    required: true
  targets:
    description:
      - Target per disk, keyed by device key (C("2000")), disk label or position (C("0")).
      - "Each is C({format: raw|qcow2, path: ...}) or C({format: rbd, pool: ..., image: ..., conffile: ...})."
    type: dict
    default: {}
  target_dir:
    description: Directory for disks without an entry in O(targets); files are named C(<vm>-disk<key>.<format>).
    type: path
  target_format:
    description:
      - Format of the targets of disks not listed in O(targets) - files in O(target_dir) (C(raw), C(qcow2)), or
        C(rbd) images C(<vm>-disk<key>) in O(target_pool) written through librbd on the host the task runs on.
    type: str
    choices: [raw, qcow2, rbd]
    default: raw
  target_pool:
    description: Ceph pool of the images when O(target_format=rbd).
    type: str
    default: vms
  read_via:
    description:
      - Where the disk bytes are read from.
      - C(vcenter) - the datastore C(/folder) endpoint of O(hostname) with the vCenter session cookie; every byte
        passes through vCenter.
      - C(esxi_host) - the C(/folder) endpoint of the ESXi host the VM is registered on
        (C(https://<host>/folder/<path>?dcPath=ha-datacenter&dsName=<datastore>)), with a generic service ticket
        from vCenter (C(AcquireGenericServiceTicket), cookie C(vmware_cgi_ticket)). vCenter only issues the
        tickets; the bytes go from the host straight to the machine that runs the task.
      - The host's certificate is verified like vCenter's (O(validate_certs), O(ca_path) must trust the CA that
        signed the host certificates, usually the VMCA), on port 443 unless O(esxi_host_addresses) says otherwise.
    type: str
    choices: [vcenter, esxi_host]
    default: vcenter
  esxi_host_addresses:
    description:
      - For O(read_via=esxi_host), ESXi host names as vCenter knows them mapped to the C(address) or
        C(address:port) to connect to, for hosts whose name does not resolve (or resolves elsewhere) on the
        machine that runs the task. Hosts not listed are reached by their name.
      - The address is also the host part of the URL each ticket is issued for, and must match the host
        certificate.
    type: dict
    default: {}
  esxi_ticket_uses:
    description:
      - For O(read_via=esxi_host), how many Range requests one service ticket serves. The vSphere API documents a
        generic service ticket as usable once, for the one URL it was issued for, so the default asks vCenter for
        a ticket per request. Raise it only for hosts known to accept a ticket again; a ticket the host refuses
        (HTTP 401/403) or older than 60 seconds is replaced either way. Tickets are never logged.
    type: int
    default: 1
'''

    # The progress of a copy in the job output (plugins/action/migration_*.py), for every module that
    # copies a VM's disks: `reforge.hci.vm_disk_target.progress`.
    PROGRESS = r'''
options:
  progress_path:
    description:
      - JSON file replaced (atomically, at most twice a second, and at each disk's start and end) while the copy runs,
        with every disk's bytes done and total, rate, ETA and state; the disk being copied also at the top level.
      - Without it, the action plugin uses a file of its own in the host's async directory and removes it at the end.
    type: path
  progress_interval:
    description:
      - "Seconds between two progress lines of one disk in the job output (the controller's display, shown by AWX
        as the job's output), for example C(db01 disk 1/2 [Hard disk 1]: 42% 12.3 of 29.0 GiB, 85 MB/s, ETA 3m20s).
        Each disk also gets a line when it starts and a final one. For a cutover, the lines are its final sync's."
      - For this, the action plugin runs the module as an async job on its host (the sync host when delegated) and
        reads O(progress_path) while it runs. The module's result and failures are unchanged.
      - C(0) turns the lines off and runs the module as a plain task. Check mode and a task with its own C(async)
        (the role's cold batches) print no progress lines either.
    type: int
    default: 30
  progress_token:
    description:
      - Set by the action plugin for each run and written into the progress file, so that an earlier run's file is
        never read as this one's. Not for playbooks.
    type: str
'''
