# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
name: redfish
short_description: Servers of a campus discovered through their BMCs (Redfish)
version_added: 0.1.0
description:
  - Probes a list of BMC endpoints and/or CIDR ranges (on the given ports), reads each service
    over Redfish and adds one host per server, with C(bmc_endpoint), vendor, model, serial and
    (optionally) its reuse grade as host variables.
  - Groups by vendor (C(vendor_<name>)), model (C(model_<name>)) and readiness
    (C(readiness_reusable), C(readiness_reusable_with_changes), C(readiness_retire)); more with
    C(keyed_groups)/C(groups)/C(compose).
  - Probes run in parallel; a BMC that does not answer, rejects the credentials or serves something the plugin cannot
    read is skipped with a warning naming it and the cause; the other hosts still load.
  - The inventory file must end in C(redfish.yml) or C(redfish.yaml).
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin.
    required: true
    type: str
    choices: [reforge.hci.redfish]
  endpoints:
    description: BMC URLs (C(https://10.0.0.21), C(https://127.0.0.1:18001)).
    type: list
    elements: str
    default: []
  ranges:
    description: CIDR ranges or single addresses to probe on O(ports).
    type: list
    elements: str
    default: []
  ports:
    description: Ports probed for each address of O(ranges); C(a-b) strings give a range.
    type: list
    elements: raw
    default: [443]
  username:
    description: BMC user.
    type: str
    env:
      - name: REDFISH_USERNAME
  password:
    description: BMC password (vault-encrypt it in the file, or use the environment).
    type: str
    env:
      - name: REDFISH_PASSWORD
  validate_certs:
    description: Verify the BMC certificates.
    type: bool
    default: true
    env:
      - name: REDFISH_VALIDATE_CERTS
  ca_path:
    description: CA bundle for the BMC certificates.
    type: path
    env:
      - name: REDFISH_CA_PATH
  timeout:
    description: Seconds per request (keep it short for range scans).
    type: int
    default: 10
    env:
      - name: REDFISH_TIMEOUT
  auth:
    description: V(session) creates a Redfish session per BMC (deleted at the end); V(basic) sends Basic authentication.
    type: str
    choices: [session, basic]
    default: session
    env:
      - name: REDFISH_AUTH
  workers:
    description:
      - BMCs read at the same time (threads of the inventory's process, each BMC with its own session; as
        C(concurrency) of M(reforge.hci.bmc_info)). Reading a BMC is mostly waiting for its answers.
    type: int
    default: 256
  readiness:
    description: Read the full inventory and grade each server for reuse (slower); else only identity.
    type: bool
    default: true
  reuse_criteria:
    description: Grading thresholds (see the reforge.hci.reuse_grade filter).
    type: dict
    default: {}
requirements:
  - redfish >= 3.1.0
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
# inventories/campus/redfish.yml
plugin: reforge.hci.redfish
ranges: [10.20.0.0/26]
ca_path: /etc/pki/campus-bmc-ca.pem
ports: [443]
keyed_groups:
  - key: bmc_power_state
    prefix: power
# (the lab: ranges: [127.0.0.1] with ports: ["18001-18006"])
'''

import ipaddress
import re
import socket
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.display import Display

from ansible_collections.reforge.hci.plugins.module_utils.redfish.fleet import read_fleet
from ansible_collections.reforge.hci.plugins.module_utils.redfish.reuse import grade

display = Display()


def _ports(spec):
    ports = []
    for item in spec:
        text = str(item)
        if "-" in text:
            low, high = (int(p) for p in text.split("-", 1))
            ports.extend(range(low, high + 1))
        else:
            ports.append(int(text))
    return ports


def _safe(text):
    return re.sub(r"[^a-z0-9]+", "_", (text or "unknown").lower()).strip("_") or "unknown"


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "reforge.hci.redfish"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("redfish.yml", "redfish.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        endpoints = list(self.get_option("endpoints")) + self._scan()
        if not endpoints:
            raise AnsibleParserError("%s: give endpoints or ranges to probe" % path)
        connection = dict((key, self.get_option(key)) for key in
                          ("username", "password", "validate_certs", "ca_path", "timeout", "auth"))
        connection["retries"] = 1
        outcomes = read_fleet([dict(connection, endpoint=endpoint) for endpoint in endpoints], self._read,
                              self.get_option("workers"))
        for endpoint, outcome in zip(endpoints, outcomes):
            if outcome["failed"]:
                # One BMC that cannot be read must not take the campus's inventory down with it.
                display.warning("redfish inventory: skipping %s: %s" % (endpoint, outcome["msg"]))
            else:
                self._add(endpoint, outcome["result"])

    def _scan(self):
        """Addresses of the ranges whose port accepts TCP (a cheap filter before HTTPS)."""
        targets = []
        for cidr in self.get_option("ranges"):
            network = ipaddress.ip_network(cidr, strict=False)
            hosts = list(network.hosts()) or [network.network_address]
            targets.extend((str(ip), port) for ip in hosts for port in _ports(self.get_option("ports")))
        with ThreadPoolExecutor(max_workers=max(1, self.get_option("workers"))) as pool:
            open_ports = list(pool.map(self._tcp_open, targets))
        return ["https://%s:%d" % (ip, port) if port != 443 else "https://%s" % ip
                for (ip, port), is_open in zip(targets, open_ports) if is_open]

    def _tcp_open(self, target):
        try:
            with socket.create_connection(target, timeout=min(2, self.get_option("timeout"))):
                return True
        except OSError:
            return False

    def _read(self, bmc):
        """One BMC's facts (and grade), in a thread of read_fleet."""
        if not self.get_option("readiness"):
            return dict(vendor=bmc.vendor, endpoint=bmc.client.endpoint, system=bmc.system_facts())
        facts = bmc.facts()
        facts["reuse"] = grade(facts, self.get_option("reuse_criteria"))
        return facts

    def _add(self, endpoint, facts):
        system = facts["system"]
        name = _safe(system.get("serial") or endpoint).replace("_", "-")
        self.inventory.add_host(name)
        hostvars = dict(bmc_endpoint=endpoint, bmc_vendor=facts["vendor"], bmc_model=system.get("model"),
                        bmc_serial=system.get("serial"), bmc_power_state=system.get("power_state"))
        if "reuse" in facts:
            hostvars["reuse_grade"] = facts["reuse"]["grade"]
            hostvars["reuse_reasons"] = [r["text"] for r in facts["reuse"]["reasons"]]
        for key, value in hostvars.items():
            self.inventory.set_variable(name, key, value)
        for group in ("vendor_" + _safe(facts["vendor"]), "model_" + _safe(system.get("model")),
                      "readiness_" + hostvars["reuse_grade"] if "reuse_grade" in hostvars else None):
            if group:
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
        strict = self.get_option("strict")
        self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
