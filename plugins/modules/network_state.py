#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: network_state
short_description: Read a node's bonds, links and LLDP neighbours and compare them with its campus network plan
description:
  - Reads C(/proc/net/bonding/<bond>) for every bond of the plan, C(ip -j -d addr show) and, where lldpd runs,
    C(lldpcli -f json show neighbors details), and reports per bond its mode, LACP rate, hash policy and partner
    (the switch's LACP system id), per member its link, speed, aggregator and LLDP neighbour, and per planned link
    its MTU, state and addresses.
  - Each difference from the plan is a finding, one line naming the link - a missing bond or member, a member
    without LACP partner or outside the active aggregator (it carries no traffic), members seeing different partners,
    a wrong mode or MTU, a link down, a planned address missing. With O(fail_on_findings) they fail the task.
  - Only reads; changes nothing on the node.
version_added: "0.3.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  wait:
    description:
      - Seconds to read again (every 2 s) while the node differs from the plan - LACP needs a few seconds after a
        bond comes up to put its members in an aggregator. 0 reads once.
    type: int
    default: 0
  fail_on_findings:
    description: Fail when the node still differs from the plan after O(wait) (the findings are in the message).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes.info_module
  - reforge.hci.network_plan
requirements:
  - iproute2; lldpd for the LLDP neighbours (optional)
'''

EXAMPLES = r'''
- name: The node's network against its plan
  reforge.hci.network_state:
    plan: "{{ (campus_network | reforge.hci.network_plan(nic_facts))[inventory_hostname] }}"
  register: net
'''

RETURN = r'''
network:
  description: C(lldp) (C(lldpd), or C(unknown) with why), C(bonds) (per bond mode, lacp_rate, hash_policy, partner,
    active_slave, members with name, mac, mii_status, speed, aggregator_id, partner, in_active_aggregator, lldp) and
    C(links) (per planned link mtu, operstate, kind, addresses, planned_mtu, planned_addresses).
  returned: always
  type: dict
summary:
  description: One line per bond (mode, LACP partner, each member's speed, aggregator and LLDP neighbour) and per planned link
    (state, MTU, addresses).
  returned: always
  type: list
  elements: str
planned:
  description:
    - The plan the node was compared with, as a report keeps it - without the member speeds the plan read from the
      node's NICs when it was made (a NIC that was down then had none), so that a report changes only when the plan or
      the node does. The speed each member runs at is in RV(network).
  returned: always
  type: dict
findings:
  description: Where the node differs from the plan, one line each; empty when it matches.
  returned: always
  type: list
  elements: str
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.network.state import parse_bonding, links, report_plan, summary, verify

BONDING = "/proc/net/bonding"
POLL = 2


def main():
    module = AnsibleModule(
        argument_spec=dict(plan=dict(type='dict', required=True), wait=dict(type='int', default=0),
                           fail_on_findings=dict(type='bool', default=False)),
        supports_check_mode=True,
    )
    plan = module.params['plan']
    if not isinstance(plan.get('bonds'), dict):
        module.fail_json(msg="network_state: plan: give one node's plan (an entry of reforge.hci.network_plan's result)")
    if module.params['wait'] < 0:
        module.fail_json(msg="network_state: wait: %d is not a number of seconds >= 0" % module.params['wait'])
    ip = module.get_bin_path('ip', required=True)
    lldpcli = module.get_bin_path('lldpcli')

    def read():
        rc, out, err = module.run_command([ip, '-j', '-d', 'addr', 'show'])
        if rc != 0:
            module.fail_json(msg="network_state: ip -j -d addr show failed (rc %d): %s" % (rc, err.strip()))
        try:
            link_state = links(out)
            bonds = {}
            for name in plan['bonds']:
                path = os.path.join(BONDING, name)
                if os.path.exists(path):
                    with open(path) as fh:
                        bonds[name] = parse_bonding(fh.read())
        except (ValueError, KeyError) as exc:
            module.fail_json(msg="network_state: %s" % exc)
        lldp = None
        if lldpcli:
            rc, out, err = module.run_command([lldpcli, '-f', 'json', 'show', 'neighbors', 'details'])
            if rc == 0:
                lldp = out
            else:      # lldpd installed but not running: the report says the neighbours are unknown, not "none"
                lldp_error.append("lldpcli -f json show neighbors details failed (rc %d): %s" % (rc, err.strip() or out.strip()))
        return verify(plan, bonds, link_state, lldp)

    deadline = time.monotonic() + module.params['wait']
    lldp_error = []
    network, findings = read()
    while findings and time.monotonic() < deadline:
        time.sleep(POLL)
        del lldp_error[:]
        network, findings = read()
    network['lldp'] = 'lldpd' if lldpcli and not lldp_error else ('unknown: ' + lldp_error[-1] if lldp_error else
                                                                  'unknown: lldpcli is not installed (Debian package lldpd)')
    if lldp_error:
        module.warn("no LLDP neighbours in the report: " + lldp_error[-1])
    result = dict(network=network, findings=findings, summary=summary(network), planned=report_plan(plan))
    if findings and module.params['fail_on_findings']:
        module.fail_json(msg="network_state: the node differs from its plan:\n  " + "\n  ".join(findings), **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
