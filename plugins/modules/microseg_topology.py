#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: microseg_topology
short_description: Topology view and flow visibility of a campus's micro-segmentation (HTML page with a Graphviz SVG)
description:
  - Computes, per tier pair, the packets and bytes allowed and dropped over a window from two readings of every
    node's segmentation counters (the JSON of C(nft -j list table bridge <table>)), with rates per second.
  - A counter reset between the readings (a reboot, seen by the kernel's boot id; a table deleted and created
    again, seen by its handle; or a counter that went down) never gives a negative number - the reset
    counter counts from the reset, and the page and the result say which node was reset and why.
  - Draws one page per campus with an inline SVG made by Graphviz C(dot) - switches (from the NICs' LLDP
    neighbours; NICs without one go to an "unknown switch"), nodes with their NICs, bonds, addresses per
    network and VLAN and Ceph OSDs (from C(ceph osd tree -f json)), the VMs grouped by tier, and the flows
    between tiers with their volumes (denied traffic as dashed red edges with the drop counts).
  - Writes C(<dest>/<campus>-topology.html) and C(<campus>-flows.json). Check mode computes and shows the diff
    and writes nothing; the same inputs give the same bytes, so a rerun is not a change.
  - A window in which nothing was counted (no packet on any tier pair or within a tier, no reset) on a campus drawn
    as before leaves the page of the last window that saw traffic in place (changed=false, with a message), so a rerun
    on a quiet campus is not a change.
version_added: "0.2.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  campus:
    description: Campus name (title of the page, prefix of the file names).
    type: str
    required: true
  dest:
    description: Directory the page and the flow data are written to.
    type: path
    required: true
  nodes:
    description:
      - The campus's nodes, each with C(name), C(nics) (the Ethernet ports as M(reforge.hci.bmc_info) returns them -
        C(id), C(mac), C(speed_mbps), C(link), C(lldp) with C(chassis_id), C(port_id), C(system_name)), C(bonds)
        (C(name), C(mode), C(members)) and C(addresses) (network name to address).
      - Optionally C(ip_link) (the output of C(ip -j link show) on the node) and C(lldpcli) (of C(lldpcli -f json show neighbors)) -
        NICs are then matched to the node's interfaces by MAC and named like them, and lldpd's neighbours replace the
        BMC's LLDP data; an interface with a neighbour that the facts do not list is added.
    type: list
    elements: dict
    default: []
  networks:
    description: The campus networks (the address plan's input) - name to C(cidr), C(vlan), C(mtu).
    type: dict
    default: {}
  osd_tree:
    description: The output of C(ceph osd tree -f json); omitted, no OSDs are drawn.
    type: dict
  readings:
    description:
      - Counter readings, two or more per node - C(node), C(at) (epoch seconds or ISO 8601), C(boot_id)
        (C(/proc/sys/kernel/random/boot_id)) and C(nft) (the text of C(nft -j list table bridge <table>)); or C(node)
        and C(output) - the boot id, the time in epoch seconds and that text, one after the other (what roles/microseg reads).
      - Empty, the page is drawn without flow volumes.
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - reforge.hci.microseg
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
requirements:
  - dot (Debian package graphviz) on the host that runs the module
'''

EXAMPLES = r'''
- name: Draw the campus
  reforge.hci.microseg_topology:
    campus: west
    dest: /var/lib/reforge/reports
    tiers: "{{ microseg_tiers }}"
    vms: "{{ microseg_vms }}"
    flows: "{{ microseg_flows }}"
    nodes: "{{ campus_nodes }}"
    networks: "{{ campus_networks }}"
    readings: "{{ counter_readings }}"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
window:
  description: The flow window - start, end, seconds, per tier pair allowed and dropped packets, bytes and rates, per tier
    the traffic within it, the counter resets (node and reason) and the counters gone.
  returned: when readings were given
  type: dict
msg:
  description: Why the page was left as it is (a window in which nothing was counted).
  returned: when nothing was counted
  type: str
html:
  description: Path of the page.
  returned: always
  type: str
json:
  description: Path of the flow data and the graph model.
  returned: always
  type: str
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.microseg.lldp import LldpError, node_nics
from ansible_collections.reforge.hci.plugins.module_utils.microseg.flows import FlowError, reading, reading_from_output, window
from ansible_collections.reforge.hci.plugins.module_utils.microseg.policy import module_policy, policy_argument_spec
from ansible_collections.reforge.hci.plugins.module_utils.microseg.topology import (DotError, TopologyError, dot_source, model,
                                                                                    render_html, render_svg)


def _idle(flows):
    """No packet counted on any tier pair or within any tier, and no counter reset, in the window."""
    return not flows['resets'] and not flows['gone'] and \
        not any(p[k] for p in flows['pairs'] for k in ('allow_packets', 'drop_packets')) and \
        not any(w['packets'] for w in flows['within'])


def _same_campus(path, graph):
    """The page at ``path`` draws the same campus (everything but the flow window and its volumes)."""
    try:
        with open(path) as handle:
            old = json.load(handle)['model']
    except (IOError, OSError, ValueError, KeyError, TypeError):
        return False

    def shape(g):
        g = dict(g, window=None, allowed=[dict(f, packets=0, bytes=0, pps=None, bps=None) for f in g['allowed']], denied=[])
        g['tiers'] = [dict(t, within=None) for t in g['tiers']]
        return json.loads(json.dumps(g, sort_keys=True))
    return shape(old) == shape(graph)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy_argument_spec(),
            campus=dict(type='str', required=True),
            dest=dict(type='path', required=True),
            nodes=dict(type='list', elements='dict', default=[]),
            networks=dict(type='dict', default={}),
            osd_tree=dict(type='dict'),
            readings=dict(type='list', elements='dict', default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    policy = module_policy(module).as_dict()
    where = dict((v.get('name'), v.get('node')) for v in p['vms'])
    for vm in policy['vms']:
        vm['node'] = where.get(vm['name'])
    tiers = [t['name'] for t in policy['tiers']]
    try:
        readings = [reading_from_output(r.get('node'), r['output'], p['table']) if 'output' in r else
                    reading(r.get('node'), r.get('nft') or '', r.get('at'), r.get('boot_id'), p['table']) for r in p['readings']]
        flows = window(tiers, readings) if readings else None
        nodes = []
        for node in p['nodes']:
            node = dict(node)
            if node.get('lldpcli') or node.get('ip_link'):
                node['nics'] = node_nics(node.get('nics'), node.get('lldpcli'), node.get('ip_link'))
            nodes.append(node)
        graph = model(p['campus'], policy, nodes, p['networks'], p['osd_tree'], flows)
    except (FlowError, TopologyError, LldpError, ValueError) as exc:
        module.fail_json(msg="microseg_topology: %s" % exc)
    dot = module.get_bin_path('dot')
    if dot is None:
        module.fail_json(msg="dot is not installed (Debian package graphviz) on the host that draws the topology")

    def run(argv, data=None):
        return module.run_command(argv, data=data, binary_data=True)

    try:
        svg = render_svg(dot_source(graph), run, dot=dot)
    except DotError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc)
    html_path = os.path.join(p['dest'], '%s-topology.html' % p['campus'])
    json_path = os.path.join(p['dest'], '%s-flows.json' % p['campus'])
    files = {
        html_path: render_html(graph, svg),
        json_path: json.dumps(dict(campus=p['campus'], window=flows, model=graph), indent=1, sort_keys=True) + "\n",
    }
    if flows is not None and _idle(flows) and _same_campus(json_path, graph):
        # Nothing was counted in this window and the campus is drawn as before: the page of the last window that
        # saw traffic stays (a rerun on a quiet campus is not a change), and the result says so.
        module.exit_json(changed=False, window=flows, html=html_path, json=json_path,
                         msg="nothing was counted from %s to %s; the page of the earlier window stays" % (flows['start'], flows['end']))
    changed = False
    diffs = []
    for path, text in sorted(files.items()):
        before = None
        if os.path.exists(path):
            with open(path) as handle:
                before = handle.read()
        if before == text:
            continue
        changed = True
        diffs.append(dict(before=before or "", after=text, before_header=path, after_header=path))
        if not module.check_mode:
            if not os.path.isdir(p['dest']):
                os.makedirs(p['dest'])
            tmp = path + '.tmp'
            with open(tmp, 'w') as handle:
                handle.write(text)
            module.atomic_move(tmp, path)
    result = dict(changed=changed, window=flows, html=html_path, json=json_path)
    if module._diff and diffs:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
