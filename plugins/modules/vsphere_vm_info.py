#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: vsphere_vm_info
short_description: What a migration needs to know about vSphere VMs
description:
  - Returns VMs with their tier tag (custom attribute C(tier)) and other custom attributes, disks (backing,
    capacity, datastore and its type, RDM/independent/shared), NICs (MAC, port group), guest OS, IP addresses,
    firmware, CBT state and snapshots.
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
      - VM names to return; all VMs when empty. Read in bulk (one inventory query and one paged property
        query for all of them), not one lookup per VM.
      - A name that matches no VM, or several VMs without an entry in O(uuids), fails the task and lists the
        inventory paths.
    type: list
    elements: str
    default: []
  uuids:
    description:
      - vCenter instance UUIDs of VMs of O(names) whose name is not unique, a dict of VM name to instance UUID. The VM with
        that UUID must have that name.
    type: dict
    default: {}
'''

EXAMPLES = r'''
- name: Inventory the VMs of a wave
  reforge.hci.vsphere_vm_info:
    hostname: vcenter.example.org
    username: "{{ vcenter_username }}"
    password: "{{ vcenter_password }}"
    ca_path: /etc/ssl/campus-ca.pem
    names: [db01, app01]
  register: inventory
'''

RETURN = r'''
vms:
  description: One entry per VM.
  returned: always
  type: list
  elements: dict
  sample:
    - name: db01
      tier: tier1
      power_state: poweredOn
      cbt_enabled: true
      firmware: bios
      disks: [{key: 2000, label: Hard disk 1, capacity_bytes: 2199023255552, rdm: false}]
      nics: [{mac: "00:50:56:aa:bb:cc", network: VM Network}]
      snapshots: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.argspec import (
    connect, run_module, vsphere_argument_spec)


def body(module):
    conn = connect(module)
    try:
        wanted = module.params["names"]
        index = vmops.vm_index(conn)
        vms = vmops.lookup_vms(conn, wanted, uuids=module.params["uuids"], index=index) if wanted else index.all()
        return {"changed": False, "vms": vmops.vm_facts_many(conn, vms, index=index)}
    finally:
        conn.close()


def main():
    spec = vsphere_argument_spec()
    spec.update(names=dict(type="list", elements="str", default=[]), uuids=dict(type="dict", default={}))
    run_module(AnsibleModule(argument_spec=spec, supports_check_mode=True), body)


if __name__ == "__main__":
    main()
