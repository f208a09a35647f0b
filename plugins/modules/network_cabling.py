#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: network_cabling
short_description: Check a node's cabling against its campus network plan over LLDP
description:
  - For every bond member of the node's plan, finds the node's interface with the member's permanent MAC and
    reads the LLDP neighbour lldpd sees on it (C(lldpcli -f json show neighbors details)), and checks it is the
    switch (system name) and switch port (port id) the plan names for the member.
  - Waits up to O(wait) seconds for every member to have a neighbour (switches send LLDP every 30 s by default),
    then refuses a miscabled node with what was found for each wrong member - swapped members, a member on the
    wrong switch or port, a member without neighbour, a MAC the node does not have.
  - Where lldpd has no neighbour for a member, the LLDP data the BMC received for that NIC (O(bmc_nics)) is used.
  - A member NIC that is down receives nothing - with O(bring_up) it is set up first (a NIC that is not yet in a bond
    and has no address; this is the only change the module makes). In check mode it is not, and such a member is
    reported as not checked.
version_added: "0.3.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  wait:
    description: Seconds to wait for every member to have an LLDP neighbour.
    type: int
    default: 60
  bmc_nics:
    description: The node's NICs as M(reforge.hci.bmc_info) reports them (C(mac), C(lldp)), a second LLDP source.
    type: list
    elements: dict
    default: []
  bring_up:
    description: Set member NICs that are down up, so that they receive LLDP.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
  - reforge.hci.network_plan
requirements:
  - lldpd running on the node (Debian package lldpd), iproute2
'''

EXAMPLES = r'''
- name: Check the cabling before the network is touched
  reforge.hci.network_cabling:
    plan: "{{ (campus_network | reforge.hci.network_plan(nic_facts))[inventory_hostname] }}"
    wait: 60
'''

RETURN = r'''
cabling:
  description: Per member - bond, nic, mac, switches and port planned, interface, found (neighbours with source), ok, text.
  returned: always
  type: list
  elements: dict
brought_up:
  description: Member interfaces set up so that they could receive LLDP.
  returned: always
  type: list
  elements: str
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.network.cabling import (
    LldpError, compare, interfaces_by_mac, members, seen_by_interface)

POLL = 2


def main():
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type='dict', required=True),
            wait=dict(type='int', default=60),
            bmc_nics=dict(type='list', elements='dict', default=[]),
            bring_up=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p['wait'] < 0:
        module.fail_json(msg="network_cabling: wait: %d is not a number of seconds >= 0" % p['wait'])
    try:
        planned = members(p['plan'])
    except ValueError as exc:
        module.fail_json(msg="network_cabling: %s" % exc)
    ip = module.get_bin_path('ip', required=True)
    lldpcli = module.get_bin_path('lldpcli')
    if lldpcli is None:
        module.fail_json(msg="network_cabling: lldpcli is not installed (Debian package lldpd); the host_network role installs it")

    def read(argv, what):
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg="network_cabling: %s failed (rc %d): %s" % (what, rc, err.strip() or out.strip()))
        return out

    try:
        by_mac = interfaces_by_mac(read([ip, '-j', '-d', 'link', 'show'], "ip -j -d link show"))
        wanted = dict((by_mac[m['mac']]['ifname'], by_mac[m['mac']]) for m in planned if m['mac'] in by_mac)
        down = sorted(n for n, link in wanted.items() if not link['up'])
        brought_up, unchecked = [], []
        if down and p['bring_up'] and not module.check_mode:
            for ifname in down:
                read([ip, 'link', 'set', 'dev', ifname, 'up'], "ip link set dev %s up" % ifname)
                brought_up.append(ifname)
        elif down:
            unchecked = down
        deadline = time.monotonic() + p['wait']
        while True:
            seen = seen_by_interface(read([lldpcli, '-f', 'json', 'show', 'neighbors', 'details'], "lldpcli show neighbors"),
                                     p['bmc_nics'], by_mac)
            missing = [n for n in wanted if n not in seen and n not in unchecked]
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
    except LldpError as exc:
        module.fail_json(msg="network_cabling: %s" % exc)
    report, refusals = compare(planned, seen, by_mac, waited=p['wait'], unchecked=unchecked)
    for ifname in unchecked:
        module.warn("%s is down: its cabling is not checked in check mode" % ifname)
    if refusals:
        module.fail_json(msg="network_cabling: the cabling does not match the plan, no network file was written:\n  "
                         + "\n  ".join(refusals), cabling=report, brought_up=brought_up, changed=bool(brought_up))
    module.exit_json(changed=bool(brought_up), cabling=report, brought_up=brought_up)


if __name__ == '__main__':
    main()
