"""plugins/module_utils/network/state.py: the node's bonds, links and LLDP neighbours against its plan. The fixtures
were read from the metal lab's node1 (Debian 13, kernel 6.12) right after host_network applied the example campus:
/proc/net/bonding/bond0 and bond1, `ip -j -d addr show`, `lldpcli -f json show neighbors details`. The broken states
are those files with one thing changed, as the kernel writes it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.reforge.hci.plugins.filter.network_plan import network_plan
from ansible_collections.reforge.hci.plugins.module_utils.network.state import links, parse_bonding, report_plan, summary, verify

from .conftest import campus

FIXTURES = Path(__file__).parent / "fixtures"
PARTNER = "02:52:4d:00:00:01"


def fixture(name):
    return (FIXTURES / name).read_text()


@pytest.fixture
def node1():
    """node1's plan and its state as read: bonds, links, LLDP."""
    bonds = {b: fixture("bonding-8023ad-%s.txt" % b) for b in ("bond0", "bond1")}
    return network_plan(campus())["node1"], bonds, json.loads(fixture("ip-addr-node1.json")), fixture("lldpcli-node1.json")


def check(plan, bonds, addr, lldp):
    return verify(plan, {name: parse_bonding(text) for name, text in bonds.items()}, links(addr), lldp)


def test_parse_an_8023ad_bond_as_the_kernel_writes_it():
    b = parse_bonding(fixture("bonding-8023ad-bond1.txt"))
    assert (b["mode"], b["lacp_rate"], b["mii_status"]) == ("802.3ad", "fast", "up")
    assert b["aggregator"] == {"id": "1", "partner_mac": PARTNER}
    assert sorted((m["name"], m["perm_mac"], m["aggregator_id"], m["partner_mac"], m["speed"]) for m in b["members"]) == [
        ("enp3s0", "52:54:00:4d:01:02", "1", PARTNER, "25000 Mbps"),
        ("enp4s0", "52:54:00:4d:01:03", "1", PARTNER, "25000 Mbps")]


def test_node1_as_applied_matches_its_plan(node1):
    report, findings = check(*node1)
    assert findings == []
    for name in ("bond0", "bond1"):
        bond = report["bonds"][name]
        assert bond["partner"] == PARTNER and all(m["in_active_aggregator"] for m in bond["members"])
    assert report["bonds"]["bond0"]["members"][0]["lldp"] == ["rm-swa swp10"]
    assert report["links"]["bond1.120"]["addresses"] == ["10.20.20.11/24"] and report["links"]["bond1.120"]["mtu"] == 9000
    lines = summary(report)
    assert lines[0].startswith("bond0 802.3ad (LACP rate fast, hash layer3+4 (1), partner 02:52:4d:00:00:01): enp1s0 ")
    assert "br-vm: UP, MTU 1500, no address" in lines


@pytest.mark.parametrize("bond, edit, finding", [
    ("bond1", lambda t: t.replace("Aggregator ID: 1\nActor Churn State: monitoring", "Aggregator ID: 2\nActor Churn State: churned", 1),
     "bond1: member enp4s0 is in aggregator 2, not the active one (1): it carries no traffic"),
    ("bond0", lambda t: t.replace("system mac address: 02:52:4d:00:00:01", "system mac address: 00:00:00:00:00:00"),
     "bond0: member enp1s0 has no LACP partner (no LACPDU from the switch port)"),
    ("bond1", lambda t: t.replace("MII Status: up\nSpeed: 25000 Mbps", "MII Status: down\nSpeed: Unknown", 1),
     "bond1: member enp4s0 has no link (MII down)"),
    ("bond0", lambda t: t.replace("Slave Interface: enp2s0", "Slave Interface: enp9s0").replace("52:54:00:4d:01:01", "52:54:00:4d:01:09"),
     "bond0: member enp2s0 (52:54:00:4d:01:01) is not in the bond"),
    ("bond0", lambda t: t.replace("IEEE 802.3ad Dynamic link aggregation", "fault-tolerance (active-backup)"),
     "bond0: mode active-backup, the plan says 802.3ad"),
])
def test_a_degraded_bond_is_a_finding(node1, bond, edit, finding):
    plan, bonds, addr, lldp = node1
    bonds = dict(bonds, **{bond: edit(bonds[bond])})
    assert bonds[bond] != node1[1][bond]
    _report, findings = check(plan, bonds, addr, lldp)
    assert finding in findings


def test_links_that_differ_are_findings(node1):
    plan, bonds, addr, lldp = node1
    for link in addr:
        if link["ifname"] == "bond1.130":
            link["mtu"] = 1500
        if link["ifname"] == "bond1.120":
            link["addr_info"] = [a for a in link["addr_info"] if a.get("family") != "inet"]
        if link["ifname"] == "br-vm":
            link["operstate"] = "DOWN"
    addr = [link for link in addr if link["ifname"] != "bond0.140"]
    _report, findings = check(plan, bonds, addr, lldp)
    assert findings == ["bond0.140: no such link on the node", "bond1.120: 10.20.20.11/24 is not on it",
                        "bond1.130: MTU 1500, the plan says 9000", "br-vm: DOWN"]


def test_a_missing_bond_is_a_finding_and_lldp_is_optional(node1):
    plan, bonds, addr, _lldp = node1
    report, findings = check(plan, {"bond0": bonds["bond0"]}, addr, None)
    assert "bond1: no such bond on the node" in findings
    assert report["bonds"]["bond0"]["members"][0]["lldp"] == []


def test_an_active_backup_bond_reports_its_active_member(node1):
    """As the kernel writes an active-backup bond (no 802.3ad section, 'Currently Active Slave')."""
    text = ("Ethernet Channel Bonding Driver: v6.12.117+deb13-amd64\n\nBonding Mode: fault-tolerance (active-backup)\n"
            "Primary Slave: None\nCurrently Active Slave: enp1s0\nMII Status: up\nMII Polling Interval (ms): 100\n\n"
            "Slave Interface: enp1s0\nMII Status: up\nSpeed: 25000 Mbps\nDuplex: full\nLink Failure Count: 0\n"
            "Permanent HW addr: 52:54:00:4d:01:00\nSlave queue ID: 0\n\n"
            "Slave Interface: enp2s0\nMII Status: up\nSpeed: 25000 Mbps\nDuplex: full\nLink Failure Count: 0\n"
            "Permanent HW addr: 52:54:00:4d:01:01\nSlave queue ID: 0\n")
    b = parse_bonding(text)
    assert (b["mode"], b["active_slave"], b["aggregator"]) == ("active-backup", "enp1s0", None)
    plan, bonds, addr, lldp = node1
    plan["bonds"]["bond0"]["mode"] = "active-backup"
    report, findings = check(plan, dict(bonds, bond0=text), addr, lldp)
    assert [f for f in findings if f.startswith("bond0")] == []
    assert summary(report)[0].startswith("bond0 active-backup (active enp1s0): enp1s0 25000 Mbps MII up, LLDP rm-swa swp10")


def test_not_a_bonding_file_is_refused():
    with pytest.raises(ValueError, match="not a /proc/net/bonding file"):
        parse_bonding("hello")


def test_the_report_keeps_the_plan_without_the_speeds_read_when_it_was_made():
    """On the metal lab the first rerun after a fresh node's apply rewrote the report: the plan made before the apply
    read no speed for the members that were down (speed_mbps null), the plan of the rerun read 25000. The report's plan
    leaves the speeds out (the state has each member's speed), so both plans give the same report."""
    before = network_plan(campus(), {"node1": [{"name": "enp1s0", "mac": "52:54:00:4d:01:00", "speed_mbps": 25000},
                                               {"name": "enp2s0", "mac": "52:54:00:4d:01:01"},
                                               {"name": "enp3s0", "mac": "52:54:00:4d:01:02"},
                                               {"name": "enp4s0", "mac": "52:54:00:4d:01:03"}]})["node1"]
    after = network_plan(campus(), {"node1": [{"name": "enp%ds0" % i, "mac": "52:54:00:4d:01:0%d" % (i - 1),
                                               "speed_mbps": 25000} for i in range(1, 5)]})["node1"]
    assert before != after
    assert report_plan(before) == report_plan(after)
    kept = report_plan(after)
    assert [m["nic"] for m in kept["bonds"]["bond1"]["members"]] == ["enp3s0", "enp4s0"]
    assert "speed_mbps" not in kept["bonds"]["bond1"]["members"][0] and after["bonds"]["bond1"]["members"][0]["speed_mbps"] == 25000
    assert kept["networks"] == after["networks"]
