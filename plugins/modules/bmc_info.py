#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_info
short_description: Read a server's hardware inventory from its BMC over Redfish
version_added: 0.1.0
description:
  - Returns the system, CPUs (model, virtualization features as the BIOS reports them), memory,
    storage controllers (model, current and pending mode, the modes it supports) with their drives
    (media, capacity, predicted life left, RAID status) and volumes, drives attached without a
    controller (direct NVMe), Ethernet ports (MAC, speed, link, LLDP neighbour where the service
    exposes it), Fibre Channel / InfiniBand ports apart, the firmware inventory, BIOS attributes
    (current and pending) and health, as structured facts.
  - The vendor (dell, hpe, xfusion, lenovo, supermicro, generic) is detected from the service root.
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.redfish.action_group
  - reforge.hci.attributes.info_module
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  gather:
    description:
      - Which parts to read. Leave out parts you do not need on large fan-outs.
    type: list
    elements: str
    choices: [system, manager, cpus, memory, storage, nics, firmware, bios]
    default: [system, manager, cpus, memory, storage, nics, firmware, bios]
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Read the inventory of every BMC
  reforge.hci.bmc_info:
    endpoint: "{{ bmc_endpoint }}"
    username: "{{ bmc_username }}"
    password: "{{ bmc_password }}"
    ca_path: "{{ bmc_ca_path }}"
  delegate_to: localhost
  register: bmc
'''

RETURN = r'''
bmc:
  description: The inventory; keys are present for the parts in O(gather).
  returned: success
  type: dict
  contains:
    vendor:
      description: Adapter chosen for the service.
      type: str
      sample: dell
    system:
      description: Manufacturer, model, serial, power state, BIOS version, health, boot override.
      type: dict
    cpus:
      description: One entry per populated socket, with C(virtualization) features read from the BIOS.
      type: list
      elements: dict
    memory:
      description: C(total_gib) and C(dimm_count).
      type: dict
    storage:
      description:
        - Storage controllers with C(mode), C(pending_mode), C(supported_modes), C(hba_capable), C(drives), C(volumes).
        - C(attachment) is V(controller) for a RAID/HBA controller and V(direct) for drives that reach the OS without
          one (NVMe attached to the CPUs: C(mode) V(direct), no modes to switch).
        - C(passthrough) is true when the drives reach the OS as they are (direct, or a controller in hba, jbod or
          nonraid mode, whatever other modes it offers).
      type: list
      elements: dict
    nics:
      description:
        - Ethernet ports (the uplinks, bond candidates) with C(mac), C(speed_mbps), C(link), C(lldp), C(protocol).
        - Fibre Channel and InfiniBand ports are never listed here; see RV(bmc.fc_ports) and RV(bmc.ib_ports).
      type: list
      elements: dict
    fc_ports:
      description: Fibre Channel HBA ports (C(id), C(adapter), C(speed_mbps), C(link), C(wwpn)); not network uplinks.
      type: list
      elements: dict
    ib_ports:
      description: InfiniBand ports, listed apart like RV(bmc.fc_ports).
      type: list
      elements: dict
    firmware:
      description: Firmware inventory entries (C(id), C(name), C(version), C(updateable)).
      type: list
      elements: dict
    bios:
      description: C(current) and C(pending) attributes, C(settings_uri), C(apply_times).
      type: dict
'''

from ansible_collections.reforge.hci.plugins.module_utils.redfish.module import RedfishModule

PARTS = ["system", "manager", "cpus", "memory", "storage", "nics", "firmware", "bios"]


def gather(bmc, parts):
    facts = dict(vendor=bmc.vendor, endpoint=bmc.client.endpoint)
    bios = bmc.bios_state() if ("bios" in parts or "cpus" in parts) else None
    readers = dict(system=bmc.system_facts, manager=bmc.manager_facts, cpus=lambda: bmc.cpu_facts(bios["current"]),
                   memory=bmc.memory_facts, storage=bmc.storage_facts, nics=bmc.port_facts,
                   firmware=bmc.firmware_inventory, bios=lambda: bios)
    for part in PARTS:
        if part == "nics" and part in parts:
            facts.update(readers[part]())   # nics, fc_ports, ib_ports
        elif part in parts:
            facts[part] = readers[part]()
    return dict(changed=False, bmc=facts)


def main():
    rm = RedfishModule(dict(gather=dict(type="list", elements="str", choices=PARTS, default=PARTS)),
                       supports_check_mode=True)
    rm.run(lambda bmc: gather(bmc, rm.params["gather"]))


if __name__ == "__main__":
    main()
