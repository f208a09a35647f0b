# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    # The VM and where its disks are journalled and written, for every module that
    # copies a VM's disks. Kept in sync with
    # plugins/module_utils/vsphere/argspec.py:vm_disk_target_argument_spec().
    DOCUMENTATION = r'''
options:
  vm:
    description: Name of the VM.
    type: str
    required: true
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
'''
