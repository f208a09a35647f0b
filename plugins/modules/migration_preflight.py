#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: migration_preflight
short_description: Blockers and warnings per VM before a migration from vSphere
description:
  - Checks each VM against the rules of the staged migration and returns them as data and as a readable report.
  - Blockers (the VM is refused) are pre-existing snapshots, RDM disks, independent disks, shared (multi-writer)
    disks, guests that do not run on KVM, missing target capacity.
  - Warnings are CBT disabled or not yet effective, thin disks on NFS that read as fully allocated.
  - Reads only; nothing is changed on vCenter.
author:
  - reforge.hci contributors (!UNKNOWN)
version_added: 0.1.0
extends_documentation_fragment:
  - reforge.hci.vsphere
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes.info_module
options:
  names:
    description:
      - VMs to check, by name. All are found with one inventory query (a ContainerView read in pages), not one
        lookup per VM.
      - A name that matches no VM, or several VMs (in other folders or datacenters) without an entry in O(uuids),
        fails the task and lists the inventory paths.
    type: list
    elements: str
    required: true
  uuids:
    description:
      - vCenter instance UUIDs (C(config.instanceUuid)) of VMs of O(names) whose name is not unique,
        a dict of VM name to instance UUID. The VM with that UUID must have that name.
    type: dict
    default: {}
  target_free_bytes:
    description: Free bytes on the target (RBD pool or file system); the sum over O(names) must fit.
    type: int
  unsupported_guests:
    description: Guest id prefixes (vSphere C(guestId)) that are refused.
    type: list
    elements: str
  fail_on_blockers:
    description: Fail the task when any VM has a blocker.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Refuse the wave if a VM cannot move
  reforge.hci.migration_preflight:
    names: "{{ wave_vms }}"
    target_free_bytes: 10995116277760
    fail_on_blockers: true
'''

RETURN = r'''
results:
  description:
    - Per VM, C(ok), C(blockers) and C(warnings) (each with C(rule) and C(message)), C(bytes_capacity),
      C(bytes_committed), the instance C(uuid) and the C(macs) of its NICs (lower case; they go with the VM, so its
      tier membership can be in place before it starts on the cluster).
  returned: always
  type: list
  elements: dict
blocked:
  description: Names of the VMs with at least one blocker.
  returned: always
  type: list
  elements: str
report:
  description: The readable report.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.reforge.hci.plugins.module_utils.migration import preflight
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.argspec import (
    connect, run_module, vsphere_argument_spec)


def body(module):
    p = module.params
    conn = connect(module)
    try:
        index = vmops.vm_index(conn)
        vms = vmops.lookup_vms(conn, p["names"], uuids=p["uuids"], index=index)
        facts = vmops.vm_facts_many(conn, vms, index=index)
    finally:
        conn.close()
    unsupported = tuple(p["unsupported_guests"]) if p["unsupported_guests"] is not None \
        else preflight.DEFAULT_UNSUPPORTED_GUESTS
    results = []
    free = p["target_free_bytes"]
    for vm in facts:
        res = preflight.check_vm(vm, target_free_bytes=free, unsupported_guests=unsupported)
        if free is not None and res["ok"]:
            free -= res["bytes_committed"] or res["bytes_capacity"]  # the wave shares the target
        results.append(res)
    blocked = [r["vm"] for r in results if not r["ok"]]
    out = {"changed": False, "results": results, "blocked": blocked, "report": preflight.report_text(results)}
    if blocked and p["fail_on_blockers"]:
        module.fail_json(msg="preflight refused (nothing was changed): %s; results[].blockers says what to do for each"
                         % "; ".join("%s (%s)" % (r["vm"], ", ".join(sorted(set(b["rule"] for b in r["blockers"]))))
                                     for r in results if not r["ok"]), **out)
    return out


def main():
    spec = vsphere_argument_spec()
    spec.update(names=dict(type="list", elements="str", required=True),
                uuids=dict(type="dict", default={}),
                target_free_bytes=dict(type="int"),
                unsupported_guests=dict(type="list", elements="str"),
                fail_on_blockers=dict(type="bool", default=False))
    run_module(AnsibleModule(argument_spec=spec, supports_check_mode=True), body)


if __name__ == "__main__":
    main()
