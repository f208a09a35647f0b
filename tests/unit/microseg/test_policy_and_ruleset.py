"""Micro-segmentation policy validation and the nftables plan (pure; the traffic proof is tests/lab/microseg)."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.microseg.policy import PolicyError, parse_policy
from ansible_collections.reforge.hci.plugins.module_utils.microseg.ruleset import desired_state, plan

TIERS = [{"name": "tier1", "description": "HIS/EMR"}, {"name": "tier2", "description": "ESB"},
         {"name": "intranet", "description": "payment/nursing"}, {"name": "training", "description": "office"}]
VMS = [{"name": "his-db", "tier": "tier1", "macs": ["52:54:00:00:00:01"], "interfaces": ["vm-his-db"]},
       {"name": "his-app", "tier": "tier1", "macs": ["52-54-00-00-00-02"]},
       {"name": "esb", "tier": "tier2", "macs": ["52:54:00:00:00:03"]},
       {"name": "pay", "tier": "intranet", "macs": ["52:54:00:00:00:04"]},
       {"name": "office", "tier": "training", "macs": ["52:54:00:00:00:05"]}]
FLOWS = [{"from": "tier2", "to": "tier1", "proto": "tcp", "ports": [443, "8000-8010", 8005]},
         {"from": "intranet", "to": "tier1", "proto": "icmp"}]


def kernel_has(desired):
    """What the kernel reports after ``desired`` was applied (the shape of Nft.read_table)."""
    return dict(sets=copy.deepcopy(desired.sets), counters=dict((c, {}) for c in desired.counters),
                chains=dict((n, desired.chain_comment(n)) for n in desired.chains), text="")


def _refusal(field, message, fix):
    return pytest.mark.refusal(area="micro-segmentation (microseg_policy, roles/microseg)", field=field, message=message, fix=fix)


def _with(vms=None, flows=None, tiers=None):
    return (tiers if tiers is not None else TIERS, vms if vms is not None else VMS, flows if flows is not None else FLOWS)


@pytest.mark.parametrize("args, field, message", [
    pytest.param(_with(vms=VMS + [{"name": "lost", "macs": ["52:54:00:00:00:09"]}]), "vms[5].tier",
                 "VM lost is in no tier (set tier to one of: tier1, tier2, intranet, training)",
                 marks=_refusal("vms[].tier", "VM lost is in no tier (set tier to one of: tier1, tier2, intranet, training)",
                                "give every VM exactly one tier")),
    pytest.param(_with(vms=VMS + [{"name": "both", "tier": ["tier1", "tier2"], "macs": ["52:54:00:00:00:09"]}]), "vms[5].tier",
                 "VM both is in two tiers (tier1, tier2); a VM belongs to exactly one tier",
                 marks=_refusal("vms[].tier", "VM both is in two tiers (tier1, tier2); a VM belongs to exactly one tier",
                                "choose one tier; split the VM's roles if it really serves two")),
    pytest.param(_with(vms=VMS + [{"name": "esb", "tier": "tier1", "macs": ["52:54:00:00:00:03"]}]), "vms[5].tier",
                 "VM esb is in two tiers (tier2 in vms[2], tier1 here)",
                 marks=_refusal("vms[].tier", "VM esb is in two tiers (tier2 in vms[2], tier1 here); a VM belongs to exactly one tier",
                                "list each VM once, with its one tier")),
    pytest.param(_with(vms=VMS + [{"name": "x", "tier": "dmz", "macs": ["52:54:00:00:00:09"]}]), "vms[5].tier",
                 "VM x names unknown tier 'dmz'",
                 marks=_refusal("vms[].tier", "VM x names unknown tier 'dmz' (known: tier1, tier2, intranet, training)",
                                "define the tier under tiers, or fix the name")),
    pytest.param(_with(flows=[{"from": "tier2", "to": "tier9", "proto": "tcp", "ports": [443]}]), "flows[0].to",
                 "unknown tier 'tier9'",
                 marks=_refusal("flows[].from / flows[].to", "microseg policy flows[0].to: unknown tier 'tier9' (known: tier1, tier2, intranet, training)",
                                "name tiers defined under tiers")),
    pytest.param(_with(flows=[{"from": "tier2", "to": "tier1", "proto": "sctp", "ports": [443]}]), "flows[0].proto",
                 "'sctp' is not one of: tcp, udp, icmp",
                 marks=_refusal("flows[].proto", "microseg policy flows[0].proto: 'sctp' is not one of: tcp, udp, icmp",
                                "tcp, udp or icmp")),
    pytest.param(_with(flows=[{"from": "tier2", "to": "tier1", "proto": "tcp", "ports": [70000]}]), "flows[0].ports[0]",
                 "port 70000 is outside 1..65535",
                 marks=_refusal("flows[].ports", "microseg policy flows[0].ports[0]: port 70000 is outside 1..65535",
                                "ports from 1 to 65535")),
    pytest.param(_with(flows=[{"from": "tier2", "to": "tier1", "proto": "udp", "ports": ["9000-8000"]}]), "flows[0].ports[0]",
                 "range 9000-8000 runs backwards (write 8000-9000)",
                 marks=_refusal("flows[].ports", "range 9000-8000 runs backwards (write 8000-9000)", "low-high")),
    pytest.param(_with(flows=[{"from": "tier2", "to": "tier1", "proto": "tcp", "ports": ["https"]}]), "flows[0].ports[0]",
                 "'https' is not a port or a range like 8000-8010",
                 marks=_refusal("flows[].ports", "'https' is not a port or a range like 8000-8010", "numbers, not service names")),
    pytest.param(_with(flows=[{"from": "tier2", "to": "tier1", "proto": "tcp"}]), "flows[0].ports",
                 "a tcp flow needs its ports",
                 marks=_refusal("flows[].ports", "a tcp flow needs its ports (without connection tracking on the bridge, replies are "
                                "allowed by source port, so any-port would open every port back)", "list the service's ports")),
    pytest.param(_with(flows=[{"from": "intranet", "to": "tier1", "proto": "icmp", "ports": [1]}]), "flows[0].ports",
                 "icmp has no ports",
                 marks=_refusal("flows[].ports", "microseg policy flows[0].ports: icmp has no ports", "leave ports out of an icmp flow")),
    pytest.param(_with(tiers=TIERS + [{"name": "tier1", "description": "again"}]), "tiers[4].name",
                 "duplicate tier name 'tier1' (also tiers[0])",
                 marks=_refusal("tiers[].name", "microseg policy tiers[4].name: duplicate tier name 'tier1' (also tiers[0])",
                                "one entry per tier")),
    pytest.param(_with(tiers=TIERS + [{"name": "Tier-3"}]), "tiers[4].name", "'Tier-3' is not a tier name",
                 marks=_refusal("tiers[].name", "'Tier-3' is not a tier name", "lower-case letters and digits, words joined by single "
                                "underscores (the name is part of nft object names)")),
    pytest.param(_with(vms=VMS + [{"name": "dup", "tier": "tier2", "macs": ["52:54:00:00:00:01"]}]), "vms[5].macs[0]",
                 "52:54:00:00:00:01 is also VM his-db's MAC",
                 marks=_refusal("vms[].macs", "52:54:00:00:00:01 is also VM his-db's MAC", "each MAC belongs to one VM")),
    pytest.param(_with(vms=VMS + [{"name": "nomac", "tier": "tier2"}]), "vms[5].macs",
                 "VM nomac has no MAC address",
                 marks=_refusal("vms[].macs", "VM nomac has no MAC address; its traffic could not be placed in a tier",
                                "list the VM's NIC MACs")),
    pytest.param(_with(flows=[{"from": "tier1", "to": "tier1", "proto": "tcp", "ports": [1]}]), "flows[0].to",
                 "within a tier everything is allowed already",
                 marks=_refusal("flows[].to", "a flow from tier1 to itself: within a tier everything is allowed already",
                                "drop the flow")),
    pytest.param(_with(tiers={"tier1": "HIS"}), "tiers", "must be a list, got dict",
                 marks=_refusal("tiers / vms / flows / vms[].macs / vms[].interfaces", "microseg policy tiers: must be a list, got dict",
                                "write a YAML list (one '- ' entry per item)")),
    pytest.param(_with(flows=["tier2 -> tier1"]), "flows[0]", "must be a mapping, got 'tier2 -> tier1'",
                 marks=_refusal("tiers[] / vms[] / flows[]", "microseg policy flows[0]: must be a mapping, got 'tier2 -> tier1'",
                                "write each entry as a mapping ({from, to, proto, ports})")),
    pytest.param(_with(tiers=[]), "tiers", "no tiers defined",
                 marks=_refusal("tiers", "microseg policy tiers: no tiers defined", "define the tiers (at least one)")),
    pytest.param(_with(vms=VMS + [{"tier": "tier2", "macs": ["52:54:00:00:00:09"]}]), "vms[5].name", "every VM needs a name",
                 marks=_refusal("vms[].name", "microseg policy vms[5].name: every VM needs a name", "give every VM its name")),
    pytest.param(_with(vms=VMS + [{"name": "esb", "tier": "tier2", "macs": ["52:54:00:00:00:03"]}]), "vms[5].name",
                 "VM esb is listed twice (also vms[2])",
                 marks=_refusal("vms[].name", "microseg policy vms[5].name: VM esb is listed twice (also vms[2])",
                                "list each VM once (all its MACs in one entry)")),
    pytest.param(_with(vms=VMS + [{"name": "bad", "tier": "tier2", "macs": ["52:54:00:00:09"]}]), "vms[5].macs[0]",
                 "'52:54:00:00:09' is not a MAC address like 52:54:00:12:34:56",
                 marks=_refusal("vms[].macs", "'52:54:00:00:09' is not a MAC address like 52:54:00:12:34:56",
                                "six hex octets, colon- or dash-separated")),
    pytest.param(_with(vms=VMS + [{"name": "mc", "tier": "tier2", "macs": ["01:00:5e:00:00:01"]}]), "vms[5].macs[0]",
                 "01:00:5e:00:00:01 is a multicast address, not a VM's",
                 marks=_refusal("vms[].macs", "01:00:5e:00:00:01 is a multicast address, not a VM's",
                                "the VM NIC's own (unicast) MAC, from the VM's definition")),
    pytest.param(_with(vms=VMS + [{"name": "ifn", "tier": "tier2", "macs": ["52:54:00:00:00:09"],
                                   "interfaces": ["a-much-too-long-tap-name"]}]), "vms[5].interfaces[0]",
                 "'a-much-too-long-tap-name' is not an interface name (1-15 characters)",
                 marks=_refusal("vms[].interfaces", "'a-much-too-long-tap-name' is not an interface name (1-15 characters)",
                                "the VM's tap device name as libvirt names it (at most 15 characters)")),
    pytest.param(_with(vms=VMS + [{"name": "ifd", "tier": "tier2", "macs": ["52:54:00:00:00:09"],
                                   "interfaces": ["vm-his-db"]}]), "vms[5].interfaces[0]",
                 "vm-his-db is also VM his-db's interface",
                 marks=_refusal("vms[].interfaces", "vm-his-db is also VM his-db's interface", "each interface belongs to one VM")),
])
def test_bad_policies_are_refused_with_the_field_named(args, field, message, proves_refusal):
    with pytest.raises(PolicyError) as refused:
        parse_policy(*args)
    assert refused.value.field == field
    assert message in str(refused.value)
    assert str(refused.value).startswith("microseg policy %s: " % field)
    proves_refusal(str(refused.value))


def test_policy_defaults_deny_between_tiers_and_allow_within():
    policy = parse_policy(TIERS, VMS, FLOWS)
    assert policy.allowed("tier1", "tier1", "udp", 9)
    assert policy.allowed("tier2", "tier1", "tcp", 8007) and policy.allowed("tier2", "tier1", "tcp", 443)
    assert not policy.allowed("tier1", "tier2", "tcp", 443)  # a flow is one direction
    assert not policy.allowed("tier2", "tier1", "udp", 443)
    assert policy.allowed("intranet", "tier1", "icmp") and not policy.allowed("tier1", "intranet", "icmp")
    assert policy.flows_between("tier2", "tier1")[0].port_strings() == ["443", "8000-8010"]  # merged, 8005 inside
    assert policy.macs_of("tier1") == ["52:54:00:00:00:01", "52:54:00:00:00:02"]  # dashes normalised


def test_ruleset_binds_tiers_to_macs_and_counts_every_pair():
    desired = desired_state(parse_policy(TIERS, VMS, FLOWS), log_group=3)
    text = desired.render()
    assert "hook forward" in text and text.count("chain pair_") == 12  # 4 tiers: every ordered pair
    pair = desired.chains["pair_tier2__tier1"]
    assert "tcp dport { 443, 8000-8010 } counter name allow_tier2__tier1 accept" in pair
    assert pair[-1] == "counter name drop_tier2__tier1 drop"
    assert 'limit rate 10/second log prefix "microseg drop tier2>tier1: " group 3' in pair
    back = desired.chains["pair_tier1__tier2"]  # replies of tier2 -> tier1, never a new connection
    assert "tcp sport { 443, 8000-8010 } tcp flags & (syn | ack) != syn counter name allow_tier2__tier1 accept" in back
    assert not any("dport" in r for r in back)
    assert "icmp type echo-reply counter name allow_intranet__tier1 accept" in desired.chains["pair_tier1__intranet"]
    assert desired.sets["bound_ports"] == ("ifname . ether_addr", [("vm-his-db", "52:54:00:00:00:01")])
    assert desired.chain_order()[-1] == "forward"  # jumped-to chains exist before the chain that jumps


def test_rerun_plans_nothing():
    desired = desired_state(parse_policy(TIERS, VMS, FLOWS))
    first = plan(desired, None)
    assert first.changed and first.create_table
    again = plan(desired, kernel_has(desired))
    assert not again.changed and again.script == ""


def test_a_vm_joining_a_tier_changes_one_set_element_only():
    old = desired_state(parse_policy(TIERS, VMS, FLOWS))
    new = desired_state(parse_policy(TIERS, VMS + [{"name": "nurse", "tier": "intranet", "macs": ["52:54:00:00:00:06"]}], FLOWS))
    step = plan(new, kernel_has(old))
    assert step.elements_added == {"tier_intranet": ["52:54:00:00:00:06"]}
    assert not step.rewritten_chains and not step.new_counters and not step.removed_sets
    assert step.script == "add element bridge reforge_microseg tier_intranet { 52:54:00:00:00:06 }\n"


def test_a_new_flow_rewrites_the_two_chains_of_its_pair_only():
    old = desired_state(parse_policy(TIERS, VMS, FLOWS))
    new = desired_state(parse_policy(TIERS, VMS, FLOWS + [{"from": "training", "to": "intranet", "proto": "udp", "ports": [53]}]))
    step = plan(new, kernel_has(old))
    assert step.rewritten_chains == ["pair_intranet__training", "pair_training__intranet"]
    assert not step.elements_added and not step.new_counters
    lines = step.script.splitlines()
    assert lines[0] == "flush chain bridge reforge_microseg pair_intranet__training"  # flush and refill, one transaction
    assert not any(line.startswith("delete") for line in lines)


def test_a_removed_tier_is_unhooked_before_its_objects_go():
    old = desired_state(parse_policy(TIERS, VMS, FLOWS))
    new = desired_state(parse_policy(TIERS[:3], VMS[:4], FLOWS))
    step = plan(new, kernel_has(old))
    assert "forward" in step.rewritten_chains and "tier_training" in step.removed_sets
    assert "drop_training__tier1" in step.removed_counters
    lines = step.script.splitlines()
    refill = lines.index("flush chain bridge reforge_microseg forward")
    assert refill < lines.index("delete chain bridge reforge_microseg from_training")
    assert lines.index("delete chain bridge reforge_microseg from_training") < lines.index("delete set bridge reforge_microseg tier_training")


def test_unlisted_drop_lets_broadcasts_pass_and_drops_unicast_outside_the_tiers():
    desired = desired_state(parse_policy(TIERS, VMS, FLOWS), log_group=3, unlisted="drop")
    forward = desired.chains["forward"]
    assert forward[-3:] == ["ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00 counter name outside accept",
                            'limit rate 10/second log prefix "microseg drop unlisted: " group 3',
                            "counter name unlisted drop"]
    assert "unlisted" in desired.counters
    assert desired_state(parse_policy(TIERS, VMS, FLOWS)).chains["forward"][-1] == "counter name outside accept"
    with pytest.raises(ValueError):
        desired_state(parse_policy(TIERS, VMS, FLOWS), unlisted="reject")
