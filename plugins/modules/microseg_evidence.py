#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: microseg_evidence
short_description: Compliance evidence of a campus's micro-segmentation (JSON and an HTML page for auditors)
description:
  - Builds the evidence of one campus from what every node holds - the policy (tiers with their VMs, the allowed
    flows), the segmentation table in force on each node (the text of C(nft list table bridge <table>)), and per
    tier pair the packets and bytes allowed and dropped over a window, summed over the nodes from two readings of
    each node's counters (a counter reset between them is found and reported, never a negative number).
  - With a probe matrix (O(probes), every tier pair tried, allowed and denied), each probe's expected and actual
    result and a verdict, PASS or FAIL; without one the verdict is INCOMPLETE, and the page says the rules were
    shown, not tested.
  - Writes C(<dest>/<campus>-segmentation-evidence.json) and C(.html) (the latest) and a dated copy of both
    (C(<campus>-segmentation-evidence-<UTC time>.json)) for the audit trail. Evidence is a dated record, so
    every run that is not in check mode writes one and reports a change; check mode builds it and writes nothing.
version_added: "0.2.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  campus:
    description: Campus name (title of the page, prefix of the file names).
    type: str
    required: true
  dest:
    description: Directory the evidence is written to (on the host that runs the module, usually the controller).
    type: path
    required: true
  rules:
    description: The table in force on each node, C(node) and C(text) (the output of C(nft list table bridge <table>)).
    type: list
    elements: dict
    required: true
  readings:
    description:
      - Two or more counter readings per node, each C(node) and C(output) - the kernel's boot id, the time in
        epoch seconds and the JSON of C(nft -j list table bridge <table>), one per line, as roles/microseg reads them.
    type: list
    elements: dict
    required: true
  probes:
    description:
      - The probe matrix, if one was run - each C(src_vm), C(src_tier), C(dst_vm), C(dst_tier), C(proto), C(port)
        (none for icmp), C(expected) (C(allow) or C(deny)) and C(passed) (whether the probe got through).
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - reforge.hci.microseg
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Builds the evidence and writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Evidence of the campus (the role reads the rules and counters on every node first)
  reforge.hci.microseg_evidence:
    campus: north
    dest: /srv/reforge/evidence
    tiers: "{{ microseg_tiers }}"
    vms: "{{ microseg_vms }}"
    flows: "{{ microseg_flows }}"
    rules: "{{ rules_per_node }}"
    readings: "{{ readings_per_node }}"
    probes: "{{ lookup('ansible.builtin.file', 'north-probes.json') | from_json }}"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
verdict:
  description: PASS, FAIL (a probe not as the policy says) or INCOMPLETE (no probes).
  returned: always
  type: str
json:
  description: Path of the latest evidence (JSON).
  returned: always
  type: str
html:
  description: Path of the latest evidence page.
  returned: always
  type: str
dated:
  description: Paths of the dated copies written by this run (none in check mode).
  returned: always
  type: list
  elements: str
summary:
  description: Probes run, as expected, not as expected, allowed, denied.
  returned: always
  type: dict
'''

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.microseg import evidence
from ansible_collections.reforge.hci.plugins.module_utils.microseg.flows import FlowError, reading_from_output, window
from ansible_collections.reforge.hci.plugins.module_utils.microseg.policy import module_policy, policy_argument_spec

PROBE_KEYS = ("src_vm", "src_tier", "dst_vm", "dst_tier", "proto", "expected", "passed")


def _write(module, path, text):
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        handle.write(text)
    module.atomic_move(tmp, path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy_argument_spec(),
            campus=dict(type='str', required=True),
            dest=dict(type='path', required=True),
            rules=dict(type='list', elements='dict', required=True),
            readings=dict(type='list', elements='dict', required=True),
            probes=dict(type='list', elements='dict', default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    policy = module_policy(module)
    for i, probe in enumerate(p['probes']):
        missing = [k for k in PROBE_KEYS if k not in probe]
        if missing or probe['expected'] not in ('allow', 'deny'):
            module.fail_json(msg="microseg_evidence probes[%d]: needs %s, expected 'allow' or 'deny' (missing %s)"
                             % (i, ", ".join(PROBE_KEYS), ", ".join(missing) or "none"), field="probes[%d]" % i)
    rule_nodes = sorted(r.get('node') for r in p['rules'])
    if not p['rules'] or any(not r.get('node') or 'text' not in r for r in p['rules']):
        module.fail_json(msg="microseg_evidence rules: one entry per node with node and text", field="rules")
    try:
        readings = [reading_from_output(r.get('node'), r.get('output'), p['table']) for r in p['readings']]
        flow_window = window(policy.tier_names(), readings)
    except FlowError as exc:
        module.fail_json(msg="microseg_evidence: %s" % exc, field="readings")
    read_nodes = sorted(n['node'] for n in flow_window['nodes'])
    if read_nodes != rule_nodes:
        module.fail_json(msg="microseg_evidence: the rules come from %s and the counters from %s: the evidence of a campus "
                             "needs both from every node" % (", ".join(rule_nodes), ", ".join(read_nodes)), field="readings")
    doc = evidence.build_campus(policy, p['campus'], [dict(node=r['node'], rules_in_force=r['text']) for r in p['rules']],
                                p['probes'], flow_window)
    stem = os.path.join(p['dest'], '%s-segmentation-evidence' % p['campus'])
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    texts = {'.json': json.dumps(doc, indent=1, sort_keys=True) + "\n", '.html': evidence.render_html(doc)}
    dated = []
    if not module.check_mode:
        if not os.path.isdir(p['dest']):
            os.makedirs(p['dest'])
        for ext, text in sorted(texts.items()):
            _write(module, '%s-%s%s' % (stem, stamp, ext), text)
            dated.append('%s-%s%s' % (stem, stamp, ext))
            _write(module, stem + ext, text)
    module.exit_json(changed=True, verdict=doc['verdict'], summary=doc['summary'], json=stem + '.json', html=stem + '.html',
                     dated=dated)


if __name__ == '__main__':
    main()
