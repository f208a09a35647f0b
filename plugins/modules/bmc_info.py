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
  - With O(bmcs), reads many BMCs in one run, side by side (threads on the controller, each BMC with its own
    session). Run it once for the play (C(run_once)) instead of once per host. A campus discovery is bound by
    the BMCs' answer time (0.2-2 s a request), not by work on the controller.
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.redfish.action_group
  - reforge.hci.attributes.info_module
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  endpoint:
    description:
      - Base URL of the BMC's Redfish service, for example C(https://10.0.0.21).
      - C(https://) is assumed when no scheme is given.
      - If not set, the environment variable E(REDFISH_ENDPOINT) is used.
      - Required unless O(bmcs) is given; ignored when it is.
    type: str
    required: false
    aliases: [baseuri]
  bmcs:
    description:
      - Read these BMCs, all in one run, at most O(concurrency) at a time, instead of O(endpoint).
      - Each entry names the BMC (usually the inventory host) and gives its connection; what an entry leaves
        out comes from the module's own connection options (O(username), O(password), O(ca_path), ...).
      - A BMC that cannot be read fails only its own entry of RV(bmcs) (and warns); the others are still read.
    type: list
    elements: dict
    suboptions:
      name:
        description: Key of this BMC in RV(bmcs), for example C(inventory_hostname).
        type: str
        required: true
      endpoint:
        description: Base URL of the BMC's Redfish service. An entry without one fails alone.
        type: str
      username:
        description: BMC user name.
        type: str
      password:
        description: BMC password. Never logged.
        type: str
      validate_certs:
        description: Verify the BMC's TLS certificate.
        type: bool
      ca_path:
        description: PEM file with the CA certificates that signed the BMC's certificate.
        type: path
      timeout:
        description: Seconds to wait for each HTTP answer.
        type: int
      auth:
        description: V(session) or V(basic), as O(auth).
        type: str
        choices: [session, basic]
      retries:
        description: Retries of a request, as O(retries).
        type: int
  concurrency:
    description:
      - With O(bmcs), how many BMCs are read at the same time (threads in the module's process).
      - Each BMC in flight holds one HTTPS connection and one session on its own BMC; a BMC never sees more
        than one request at a time from this module.
    type: int
    default: 256
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

- name: Read every BMC of the play in one run, side by side
  reforge.hci.bmc_info:
    bmcs: "{{ ansible_play_batch | map('extract', hostvars, 'bmc_connection') | list }}"
    username: "{{ bmc_username }}"
    password: "{{ bmc_password }}"
    ca_path: "{{ bmc_ca_path }}"
    concurrency: 128
  run_once: true
  delegate_to: localhost
  register: fleet
  # fleet.bmcs[inventory_hostname].bmc on every host (bmc_connection: {name: ..., endpoint: ...} per host)
'''

RETURN = r'''
bmcs:
  description:
    - With O(bmcs), one entry per name - C(failed), C(endpoint), and either C(bmc) (as RV(bmc) below) or C(msg)
      and C(error_class) saying why that BMC could not be read.
  returned: when O(bmcs) is given
  type: dict
  sample: {"node1": {"failed": false, "endpoint": "https://10.0.0.21", "bmc": {"vendor": "dell"}},
           "node2": {"failed": true, "endpoint": "https://10.0.0.22", "msg": "...", "error_class": "RedfishAuthError"}}
read:
  description: With O(bmcs), how many BMCs were read.
  returned: when O(bmcs) is given
  type: int
failed_bmcs:
  description: With O(bmcs), the names of the BMCs that could not be read.
  returned: when O(bmcs) is given
  type: list
  elements: str
bmc:
  description: The inventory; keys are present for the parts in O(gather).
  returned: success, without O(bmcs)
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
          one (NVMe attached to the CPUs; C(mode) V(direct), no modes to switch).
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

from ansible_collections.reforge.hci.plugins.module_utils.redfish.argspec import redfish_argument_spec
from ansible_collections.reforge.hci.plugins.module_utils.redfish.fleet import DEFAULT_CONCURRENCY
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


BMC_ENTRY = dict(
    name=dict(type="str", required=True),
    endpoint=dict(type="str"),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool"),
    ca_path=dict(type="path"),
    timeout=dict(type="int"),
    auth=dict(type="str", choices=["session", "basic"]),
    retries=dict(type="int"),
)


def main():
    endpoint = dict(redfish_argument_spec()["endpoint"], required=False)
    rm = RedfishModule(dict(gather=dict(type="list", elements="str", choices=PARTS, default=PARTS),
                            endpoint=endpoint,
                            bmcs=dict(type="list", elements="dict", options=BMC_ENTRY),
                            concurrency=dict(type="int", default=DEFAULT_CONCURRENCY)),
                       supports_check_mode=True, required_one_of=[["endpoint", "bmcs"]])

    def read(bmc):
        return gather(bmc, rm.params["gather"])

    if rm.params["bmcs"] is not None:
        rm.run_fleet(rm.params["bmcs"], read, rm.params["concurrency"])
    rm.run(read)


if __name__ == "__main__":
    main()
