"""The LLDP cabling check (module_utils/network/cabling.py): the plan's bond members against what lldpd on the
node (and the BMC) sees. The lldpcli fixtures are real lldpd 1.0.16 output (two veth pairs between an lldpd named
rm-swa with local port ids swp10/swp11 and a node's lldpd; the "one" capture has the second link down)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.reforge.hci.plugins.filter.network_plan import network_plan
from ansible_collections.reforge.hci.plugins.module_utils.microseg.lldp import LldpError, neighbor_list, neighbors
from ansible_collections.reforge.hci.plugins.module_utils.network.cabling import (
    compare, interfaces_by_mac, members, seen_by_interface)

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "campus-network.yml"
AREA = "host network cabling (reforge.hci.network_cabling)"


def fixture(name):
    return (FIXTURES / name).read_text()


def node1():
    return network_plan(yaml.safe_load(EXAMPLE.read_text())["campus_network"])["node1"]


def ip_link(names=("enp1s0", "enp2s0", "enp3s0", "enp4s0"), bonded=True):
    """ip -j -d link show of node1 after the bonds exist: members carry the bond's MAC, their own in permaddr;
    the bonds and a VLAN share a member's MAC."""
    links = [dict(ifname="lo", link_type="loopback", address="00:00:00:00:00:00", flags=["LOOPBACK", "UP"])]
    for i, name in enumerate(names):
        own = "52:54:00:4d:01:%02x" % i
        link = dict(ifname=name, link_type="ether", flags=["BROADCAST", "UP", "LOWER_UP"], address=own)
        if bonded:
            link.update(address="52:54:00:4d:01:%02x" % (i - i % 2), permaddr=own,
                        linkinfo=dict(info_slave_kind="bond"))
            if link["address"] == own:
                del link["permaddr"]
        links.append(link)
    for bond, mac in (("bond0", "52:54:00:4d:01:00"), ("bond1", "52:54:00:4d:01:02"), ("bond1.120", "52:54:00:4d:01:02")):
        links.append(dict(ifname=bond, link_type="ether", address=mac, flags=["UP"],
                          linkinfo=dict(info_kind="vlan" if "." in bond else "bond")))
    return json.dumps(links)


def lldp_json(seen):
    """lldpcli -f json show neighbors details for [(ifname, system name, port id)], shaped as lldpd shapes it:
    one neighbour is an object, several a list (test_the_helper_has_lldpds_shapes holds it to the real captures)."""
    def chassis(name):
        return {name: dict(id=dict(type="mac", value="02:52:4d:00:00:0%d" % ("ab".index(name[-1]) + 1)), descr=name)}

    entries = [{ifname: dict(via="LLDP", rid="1", chassis=chassis(name),
                             port=dict(id=dict(type="local", value=port), descr="m1 nic", ttl="120"))}
               for ifname, name, port in seen]
    if not entries:
        return json.dumps({"lldp": {}})
    return json.dumps({"lldp": {"interface": entries[0] if len(entries) == 1 else entries}})


CABLED = [("enp1s0", "rm-swa", "swp10"), ("enp2s0", "rm-swb", "swp10"), ("enp3s0", "rm-swa", "swp11"), ("enp4s0", "rm-swb", "swp11")]


def check(seen, links=None, **kw):
    by_mac = interfaces_by_mac(links or ip_link())
    return compare(members(node1()), seen_by_interface(lldp_json(seen), kw.pop("bmc_nics", None), by_mac), by_mac,
                   waited=kw.pop("waited", 60), **kw)


# ------------------------------------------------------------------------------------------ lldpd's JSON shapes
def test_real_output_with_two_neighbours_is_a_list_of_interfaces():
    raw = json.loads(fixture("lldpcli-two.json"))
    assert isinstance(raw["lldp"]["interface"], list)
    assert isinstance(raw["lldp"]["interface"][0]["h2n1"]["chassis"]["rm-swa"]["mgmt-ip"], list)   # several values
    assert neighbor_list(raw) == [
        ("h2n1", dict(system_name="rm-swa", chassis_id="9a:ce:3e:6a:fe:e6", port_id="swp10", port_descr="m1 nic0")),
        ("h2n2", dict(system_name="rm-swa", chassis_id="9a:ce:3e:6a:fe:e6", port_id="swp11", port_descr="m1 nic1"))]


def test_real_output_with_one_neighbour_is_an_object():
    raw = json.loads(fixture("lldpcli-one.json"))
    assert isinstance(raw["lldp"]["interface"], dict)
    assert neighbors(raw) == {"h2n1": dict(system_name="rm-swa", chassis_id="9a:ce:3e:6a:fe:e6", port_id="swp10",
                                           port_descr="m1 nic0")}


def test_real_output_without_neighbours_and_json0():
    assert neighbor_list(fixture("lldpcli-none.json")) == []
    assert neighbor_list(fixture("lldpcli-two.json0")) == neighbor_list(fixture("lldpcli-two.json"))


def test_two_neighbours_on_one_interface_are_both_kept():
    text = lldp_json([("enp1s0", "rm-swa", "swp10"), ("enp1s0", "rm-swb", "swp99")])
    assert [n["system_name"] for _i, n in neighbor_list(text)] == ["rm-swa", "rm-swb"]
    report, refusals = check([("enp1s0", "rm-swb", "swp99"), ("enp1s0", "rm-swa", "swp10")] + CABLED[1:])
    assert not refusals
    assert "rm-swb swp99, rm-swa swp10 as planned" in report[0]["text"]


def test_the_helper_has_lldpds_shapes():
    real = json.loads(fixture("lldpcli-two.json"))
    made = json.loads(lldp_json([("h2n1", "rm-swa", "swp10"), ("h2n2", "rm-swa", "swp11")]))
    assert type(made["lldp"]["interface"]) is type(real["lldp"]["interface"])
    assert set(made["lldp"]["interface"][0]["h2n1"]) <= set(real["lldp"]["interface"][0]["h2n1"])
    assert type(json.loads(lldp_json(CABLED[:1]))["lldp"]["interface"]) is type(json.loads(fixture("lldpcli-one.json"))["lldp"]["interface"])
    assert json.loads(lldp_json([])) == json.loads(fixture("lldpcli-none.json"))


def test_not_lldpcli_output_is_an_error():
    with pytest.raises(LldpError, match="not JSON"):
        neighbor_list("lldpcli: unable to connect to lldpd")
    with pytest.raises(LldpError, match="no 'lldp' object"):
        neighbor_list("{}")


def test_interfaces_by_permanent_mac_skip_bonds_and_vlans():
    by_mac = interfaces_by_mac(ip_link())
    assert by_mac == {"52:54:00:4d:01:%02x" % i: dict(ifname="enp%ds0" % (i + 1), up=True) for i in range(4)}
    # listed first, a bond or a tap of a NIC's MAC does not take its place; a veth of its own MAC counts
    links = json.loads(ip_link())
    links = links[-3:] + [dict(ifname="tap0", link_type="ether", address="52:54:00:4d:01:01", flags=[],
                               linkinfo=dict(info_kind="tun")),
                          dict(ifname="v0", link_type="ether", address="52:54:00:77:00:00", flags=[],
                               linkinfo=dict(info_kind="veth"))] + links[:-3]
    by_mac = interfaces_by_mac(json.dumps(links))
    assert by_mac["52:54:00:4d:01:00"]["ifname"] == "enp1s0" and by_mac["52:54:00:4d:01:01"]["ifname"] == "enp2s0"
    assert by_mac["52:54:00:77:00:00"] == dict(ifname="v0", up=False)


# ------------------------------------------------------------------------------------------ the comparison
def test_all_correct():
    report, refusals = check(CABLED)
    assert refusals == []
    assert [(e["interface"], e["ok"]) for e in report] == [(n, True) for n in ("enp1s0", "enp2s0", "enp3s0", "enp4s0")]
    assert report[1]["text"] == "bond0 member enp2s0 (52:54:00:4d:01:01): rm-swb swp10 as planned"


@pytest.mark.refusal(area=AREA, field="nodes.<node>.bonds.<bond>.members[<n>] (switch, port)",
                     message="bond0 member enp1s0 (52:54:00:4d:01:00): plan says rm-swa swp10, LLDP shows rm-swb swp10 - "
                             "where the plan puts enp2s0: cables swapped?",
                     fix="swap the two cables (or the two members' switch/port in the plan, if the plan is what is wrong)")
def test_swapped_members_are_refused_with_both_sides(proves_refusal):
    _report, refusals = check([("enp1s0", "rm-swb", "swp10"), ("enp2s0", "rm-swa", "swp10")] + CABLED[2:])
    assert refusals == [
        "bond0 member enp1s0 (52:54:00:4d:01:00): plan says rm-swa swp10, LLDP shows rm-swb swp10 - where the plan puts "
        "enp2s0: cables swapped?",
        "bond0 member enp2s0 (52:54:00:4d:01:01): plan says rm-swb swp10, LLDP shows rm-swa swp10 - where the plan puts "
        "enp1s0: cables swapped?"]
    proves_refusal(refusals[0])


@pytest.mark.refusal(area=AREA, field="nodes.<node>.bonds.<bond>.members[<n>].switch",
                     message="bond0 member enp2s0 (52:54:00:4d:01:01): plan says rm-swb swp10, LLDP shows rm-swa swp12",
                     fix="cable the NIC to the switch the plan names (both members of a bond on one switch lose the bond "
                         "with that switch)")
def test_a_member_on_the_wrong_switch_is_refused(proves_refusal):
    _report, refusals = check([CABLED[0], ("enp2s0", "rm-swa", "swp12")] + CABLED[2:])
    assert refusals == ["bond0 member enp2s0 (52:54:00:4d:01:01): plan says rm-swb swp10, LLDP shows rm-swa swp12"]
    proves_refusal(refusals[0])


@pytest.mark.refusal(area=AREA, field="nodes.<node>.bonds.<bond>.members[<n>].port",
                     message="bond1 member enp4s0 (52:54:00:4d:01:03): plan says rm-swb swp11, LLDP shows rm-swb swp12",
                     fix="move the cable to the planned port (its LAG and VLANs are configured there), or correct the plan")
def test_a_member_on_the_wrong_port_is_refused(proves_refusal):
    _report, refusals = check(CABLED[:3] + [("enp4s0", "rm-swb", "swp12")])
    assert refusals == ["bond1 member enp4s0 (52:54:00:4d:01:03): plan says rm-swb swp11, LLDP shows rm-swb swp12"]
    proves_refusal(refusals[0])


def test_a_member_on_the_other_bonds_port_is_named():
    _report, refusals = check([("enp1s0", "rm-swa", "swp11"), CABLED[1], ("enp3s0", "rm-swa", "swp10"), CABLED[3]])
    assert refusals == [
        "bond0 member enp1s0 (52:54:00:4d:01:00): plan says rm-swa swp10, LLDP shows rm-swa swp11 - where the plan puts "
        "bond1 member enp3s0: cabled to the other bond's port?",
        "bond1 member enp3s0 (52:54:00:4d:01:02): plan says rm-swa swp11, LLDP shows rm-swa swp10 - where the plan puts "
        "bond0 member enp1s0: cabled to the other bond's port?"]


@pytest.mark.refusal(area=AREA, field="nodes.<node>.bonds.<bond>.members[<n>]",
                     message="bond1 member enp3s0 (52:54:00:4d:01:02): plan says rm-swa swp11, no LLDP neighbour within 60 s",
                     fix="check the cable, that the switch port is up and sends LLDP; or raise host_network_lldp_wait for "
                         "a switch that sends rarely")
def test_a_member_without_neighbour_is_refused(proves_refusal):
    _report, refusals = check(CABLED[:2] + CABLED[3:])
    assert refusals == ["bond1 member enp3s0 (52:54:00:4d:01:02): plan says rm-swa swp11, no LLDP neighbour within 60 s "
                        "(cable, switch port down, or LLDP off on the switch?)"]
    proves_refusal(refusals[0])


@pytest.mark.refusal(area=AREA, field="nodes.<node>.bonds.<bond>.members[<n>].nic",
                     message="bond0 member enp1s0 (52:54:00:4d:01:00): no interface of this node has that MAC",
                     fix="the NIC facts are another node's or stale: rediscover the node (its permanent MACs)")
def test_a_member_mac_the_node_does_not_have_is_refused(proves_refusal):
    links = json.loads(ip_link(bonded=False))
    links = [link for link in links if link["ifname"] != "enp1s0"]
    _report, refusals = check(CABLED[1:], links=json.dumps(links))
    assert refusals == ["bond0 member enp1s0 (52:54:00:4d:01:00): no interface of this node has that MAC"]
    proves_refusal(refusals[0])


def test_members_are_found_by_mac_whatever_the_node_calls_them():
    names = ("eth0", "eth1", "eth2", "eth3")
    report, refusals = check([(n, s, p) for n, (_x, s, p) in zip(names, CABLED)], links=ip_link(names))
    assert refusals == []
    assert report[0]["text"] == "bond0 member enp1s0 (52:54:00:4d:01:00, here eth0): rm-swa swp10 as planned"


def test_the_bmc_is_a_second_source_where_lldpd_sees_nothing():
    bmc = [dict(id="NIC.Integrated.1-3", mac="52:54:00:4D:01:02", lldp=dict(system_name="rm-swa", port_id="swp11",
                                                                            chassis_id="02:52:4d:00:00:01"))]
    report, refusals = check(CABLED[:2] + CABLED[3:], bmc_nics=bmc)
    assert refusals == []
    assert report[2]["text"] == "bond1 member enp3s0 (52:54:00:4d:01:02): rm-swa swp11 (BMC) as planned"
    # lldpd wins where it has a neighbour: the BMC's stale view does not hide a wrong cable
    _report, refusals = check(CABLED[:2] + [("enp3s0", "rm-swa", "swp19")] + CABLED[3:], bmc_nics=bmc)
    assert refusals == ["bond1 member enp3s0 (52:54:00:4d:01:02): plan says rm-swa swp11, LLDP shows rm-swa swp19"]


def test_members_without_switch_or_port_are_not_checked_but_said():
    c = yaml.safe_load(EXAMPLE.read_text())["campus_network"]
    c["switches"] = {}
    for net in c["networks"].values():
        net["mtu"] = 1500
    c["nodes"]["node1"]["bonds"]["bond0"]["members"] = ["enp1s0", "enp2s0"]
    c["nodes"]["node1"]["bonds"]["bond1"]["members"] = ["enp3s0", "enp4s0"]
    del c["nodes"]["node2"]
    by_mac = interfaces_by_mac(ip_link())
    report, refusals = compare(members(network_plan(c)["node1"]), seen_by_interface(lldp_json([]), None, by_mac), by_mac)
    assert refusals == []
    assert report[0]["text"] == ("bond0 member enp1s0 (52:54:00:4d:01:00): no switch or port in the plan, not checked "
                                 "(LLDP shows nothing)")


def test_a_down_member_in_check_mode_is_reported_not_refused():
    report, refusals = check(CABLED[:3], unchecked=("enp4s0",))
    assert refusals == []
    assert "down, LLDP not read in check mode" in report[3]["text"]


def test_members_of_something_else_than_a_node_plan_is_an_error():
    with pytest.raises(ValueError, match="one node's plan"):
        members({"node1": node1()})


def test_the_plan_is_not_changed():
    plan = node1()
    before = copy.deepcopy(plan)
    check(CABLED)
    members(plan)
    assert plan == before
