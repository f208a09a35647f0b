#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: microseg_policy
short_description: Micro-segmentation by business tier with an nftables bridge-family table
description:
  - Validates a policy of tiers, each VM's tier and the flows allowed between tiers, and refuses a bad one before
    anything is touched (a VM in no tier or two, a flow naming an unknown tier, a bad port or protocol, duplicate tier names).
  - Brings one C(table bridge) to the policy in a single C(nft -f) transaction. Within a tier everything passes;
    between tiers only the listed flows do, and every other frame from a VM of one tier to a VM of another is logged
    (rate limited, with the tier pair in the prefix) and dropped, counted per tier pair.
  - VMs are identified by their MAC addresses (which follow a VM through migration); the interfaces named for a VM
    are bound to its MACs (a frame from that interface with another source MAC is dropped).
  - Stateless (no bridge connection tracking is assumed) - replies of an allowed TCP or UDP flow pass by their source
    port, TCP replies only when they do not open a connection; ICMP echo replies pass when the echo requests do.
  - A change rewrites only the chains whose rules changed and adds or deletes only the set elements that changed;
    named counters survive. Check mode validates the change with C(nft --check) and writes nothing.
version_added: "0.2.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  log_group:
    description: Send drop logs to this nflog group instead of the kernel log.
    type: int
  log_rate:
    description: Rate limit of the drop log per tier pair, in nft syntax.
    type: str
    default: 10/second
  unlisted:
    description:
      - What happens to a unicast frame from or to a MAC in no tier (a gateway, a VM missing from the policy).
      - C(accept) lets it pass, counted on C(outside); C(drop) logs and drops it, counted on C(unlisted), so a VM left out
        of the policy is cut off instead of unsegmented (a gateway then needs a tier of its own and flows).
      - Broadcast and multicast frames pass either way.
    type: str
    choices: [accept, drop]
    default: accept
  netns:
    description: Network namespace that holds the bridges (the lab), instead of the host's.
    type: str
extends_documentation_fragment:
  - reforge.hci.microseg
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
requirements:
  - nft (Debian package nftables), a kernel with the nftables bridge family
'''

EXAMPLES = r'''
- name: Segment the VMs by tier
  reforge.hci.microseg_policy:
    tiers:
      - {name: tier1, description: HIS/EMR}
      - {name: tier2, description: ESB/integration}
    vms:
      - {name: his-db-01, tier: tier1, macs: ["52:54:00:10:00:01"]}
      - {name: esb-01, tier: tier2, macs: ["52:54:00:20:00:01"]}
    flows:
      - {from: tier2, to: tier1, proto: tcp, ports: [5432]}
'''

RETURN = r'''
plan:
  description: What changed (or would change in check mode) - new and rewritten chains, set elements added and removed.
  returned: always
  type: dict
script:
  description: The nft script run (or validated in check mode); empty when nothing changes.
  returned: always
  type: str
ruleset:
  description: The whole table the policy wants, in nft syntax.
  returned: always
  type: str
boot_ruleset:
  description: The table as a file for C(nft -f) at boot, replacing any table of that name in one transaction.
  returned: always
  type: str
counters:
  description: Named counters of the table after the run (packets and bytes).
  returned: always
  type: dict
policy:
  description: The policy as validated (ports merged into ranges).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.microseg.policy import module_policy, policy_argument_spec
from ansible_collections.reforge.hci.plugins.module_utils.microseg.ruleset import desired_state, plan
from ansible_collections.reforge.hci.plugins.module_utils.microseg.nft import Nft, NftError, canonical, converge


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy_argument_spec(),
            log_group=dict(type='int'),
            log_rate=dict(type='str', default='10/second'),
            unlisted=dict(type='str', default='accept', choices=['accept', 'drop']),
            netns=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    policy = module_policy(module)
    desired = desired_state(policy, table=p['table'], log_group=p['log_group'], log_rate=p['log_rate'],
                            unlisted=p['unlisted'])

    def run(argv, data=None):
        return module.run_command(argv, data=data, binary_data=True)

    nft_bin = module.get_bin_path('nft')
    if nft_bin is None and module.check_mode:
        # A dry run before the role's install task has run: no nft, so no table of ours can exist yet.
        first = plan(desired, None)
        module.warn("nft is not installed (yet): the preview assumes the node has no segmentation table")
        module.exit_json(changed=True, plan=first.summary(), script=first.script, diff=dict(before="", after=canonical(desired)),
                         ruleset=desired.render(), boot_ruleset=desired.boot_script(), counters={}, policy=policy.as_dict())
    if nft_bin is None:
        module.fail_json(msg="nft is not installed (Debian package nftables); the microseg role installs it")
    nft = Nft(run, netns=p['netns'], nft=nft_bin)
    try:
        result = converge(nft, desired, check_mode=module.check_mode)
        counters = nft.counters(desired.table)
    except NftError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc)
    module.exit_json(changed=result['changed'], plan=result['plan'], script=result['script'], diff=result['diff'],
                     ruleset=desired.render(), boot_ruleset=desired.boot_script(), counters=counters, policy=policy.as_dict())


if __name__ == '__main__':
    main()
