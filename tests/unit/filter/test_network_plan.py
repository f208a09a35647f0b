from __future__ import annotations

import configparser
import copy
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.filter.network_plan import network_plan, networkd_files

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "campus-network.yml"


def campus():
    return yaml.safe_load(EXAMPLE.read_text())["campus_network"]


def ini(text):
    """Sections as lists of (key, value), repeated sections and keys kept (networkd allows both)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read_string(text)    # parses at all: no stray line, every key in a section
    sections, current = [], None
    for line in text.splitlines():
        if line.startswith("["):
            current = (line.strip("[]"), [])
            sections.append(current)
        elif "=" in line and not line.startswith("#"):
            current[1].append(tuple(line.split("=", 1)))
    return sections


def values(text, section, key):
    return [v for s, items in ini(text) if s == section for k, v in items if k == key]


def test_example_plan():
    plan = network_plan(campus())
    node = plan["node2"]
    assert sorted(node["bonds"]) == ["bond0", "bond1"]
    bond1 = node["bonds"]["bond1"]
    assert bond1["mode"] == "802.3ad" and bond1["lacp_rate"] == "fast" and bond1["xmit_hash_policy"] == "layer3+4"
    assert bond1["mtu"] == 9000 and node["bonds"]["bond0"]["mtu"] == 1500
    assert [(m["nic"], m["mac"], m["switches"], m["port"]) for m in bond1["members"]] == [
        ("enp3s0", "52:54:00:4d:02:02", ["rm-swa"], "swp21"), ("enp4s0", "52:54:00:4d:02:03", ["rm-swb"], "swp21")]
    assert sorted(node["vlans"]) == ["bond0.140", "bond1.120", "bond1.130"]
    assert node["networks"]["storage"]["cidr"] == "10.20.20.12/24" and node["networks"]["storage"]["interface"] == "bond1.120"
    assert node["networks"]["vm"]["interface"] == "br-vm" and node["networks"]["vm"]["address"] is None
    assert node["bridges"]["br-vm"]["port"] == "bond0.140"
    assert node["default_gateway"] == {"network": "management", "gateway": "10.20.10.1", "interface": "bond0"}
    assert [n for n, e in node["networks"].items() if e["default"]] == ["management"]
    assert node["warnings"] == []


def test_example_renders_the_expected_files():
    files = networkd_files(network_plan(campus())["node1"])
    assert sorted(files) == [
        "10-bond0-enp1s0.network", "10-bond0-enp2s0.network", "10-bond1-enp3s0.network", "10-bond1-enp4s0.network",
        "20-bond0.netdev", "20-bond0.network", "20-bond1.netdev", "20-bond1.network",
        "30-bond0.140.netdev", "30-bond0.140.network", "30-bond1.120.netdev", "30-bond1.120.network",
        "30-bond1.130.netdev", "30-bond1.130.network", "40-br-vm.netdev", "40-br-vm.network"]
    member = files["10-bond1-enp3s0.network"]
    assert values(member, "Match", "PermanentMACAddress") == ["52:54:00:4d:01:02"]
    assert values(member, "Link", "MTUBytes") == ["9000"] and values(member, "Network", "Bond") == ["bond1"]
    bond = files["20-bond1.netdev"]
    assert values(bond, "NetDev", "Kind") == ["bond"] and values(bond, "NetDev", "MTUBytes") == ["9000"]
    assert dict(ini(bond)[1][1]) == {"Mode": "802.3ad", "LACPTransmitRate": "fast", "TransmitHashPolicy": "layer3+4",
                                     "MIIMonitorSec": "100ms"}
    assert values(files["20-bond1.network"], "Network", "VLAN") == ["bond1.120", "bond1.130"]
    assert values(files["30-bond1.120.netdev"], "VLAN", "Id") == ["120"]
    storage = files["30-bond1.120.network"]
    assert values(storage, "Address", "Address") == ["10.20.20.11/24"] and values(storage, "Link", "MTUBytes") == ["9000"]
    assert not values(storage, "Route", "Gateway")
    management = files["20-bond0.network"]
    assert values(management, "Address", "Address") == ["10.20.10.11/24"]
    assert values(management, "Route", "Gateway") == ["10.20.10.1"]
    assert values(management, "Network", "DNS") == ["10.20.10.2"] and values(management, "Network", "Bridge") == []
    assert values(files["30-bond0.140.network"], "Network", "Bridge") == ["br-vm"]
    assert values(files["40-br-vm.netdev"], "NetDev", "Kind") == ["bridge"]
    assert values(files["40-br-vm.network"], "Network", "LinkLocalAddressing") == ["no"]


def test_rendering_is_byte_identical_twice():
    first = {n: networkd_files(p) for n, p in network_plan(campus()).items()}
    shuffled = campus()
    shuffled["nodes"] = dict(reversed(list(shuffled["nodes"].items())))
    for node in shuffled["nodes"].values():
        node["bonds"] = dict(reversed(list(node["bonds"].items())))
    second = {n: networkd_files(p) for n, p in network_plan(shuffled).items()}
    assert first == second
    assert list(first["node1"]) == sorted(first["node1"])


def test_active_backup_renders_no_lacp_and_a_primary():
    c = campus()
    bond = c["nodes"]["node1"]["bonds"]["bond0"]
    bond.update(mode="active-backup", primary="enp2s0")
    node = network_plan(c)["node1"]
    assert node["bonds"]["bond0"]["primary"] == "enp2s0" and "lacp_rate" not in node["bonds"]["bond0"]
    files = networkd_files(node)
    assert dict(ini(files["20-bond0.netdev"])[1][1]) == {"Mode": "active-backup", "MIIMonitorSec": "100ms"}
    assert values(files["10-bond0-enp2s0.network"], "Network", "PrimarySlave") == ["yes"]
    assert values(files["10-bond0-enp1s0.network"], "Network", "PrimarySlave") == []


def test_untagged_network_on_a_jumbo_bond_keeps_its_mtu_on_its_routes():
    """One bond of four: management untagged (1500) beside jumbo storage: the bond is 9000, management's routes 1500."""
    c = campus()
    node = c["nodes"]["node1"]
    members = node["bonds"]["bond0"]["members"] + node["bonds"]["bond1"]["members"]
    node["bonds"] = {"bond0": {"members": members, "networks": ["management", "storage", "migration", "vm"]}}
    plan = network_plan(c)["node1"]
    assert plan["bonds"]["bond0"]["mtu"] == 9000 and plan["networks"]["management"]["link_mtu"] == 9000
    files = networkd_files(plan)
    bond = files["20-bond0.network"]
    assert values(bond, "Address", "AddPrefixRoute") == ["no"]
    assert ("Route", [("Destination", "10.20.10.0/24"), ("Scope", "link"), ("PreferredSource", "10.20.10.11"),
                      ("MTUBytes", "1500")]) in ini(bond)
    assert ("Route", [("Gateway", "10.20.10.1"), ("MTUBytes", "1500")]) in ini(bond)
    assert len([f for f in files if f.startswith("10-bond0-")]) == 4


def test_other_shapes_one_switch_untagged_only_single_member():
    """One switch at 1500, one bond of one NIC, management only: allowed, with a warning for the lost redundancy."""
    c = {"networks": {"management": {"cidr": "192.168.1.0/24", "gateway": "192.168.1.1"}},
         "switches": {"tor": {}},
         "nodes": {"edge1": {"index": 1, "nics": [{"name": "eno1", "mac": "aa:bb:cc:00:00:01", "speed_mbps": 1000}],
                             "bonds": {"bond0": {"members": [{"nic": "eno1", "switch": "tor"}], "networks": ["management"]}}}}}
    plan = network_plan(c)["edge1"]
    assert plan["networks"]["management"]["interface"] == "bond0" and plan["default_gateway"]["gateway"] == "192.168.1.1"
    assert plan["warnings"] == ["nodes.edge1.bonds.bond0: one member, no redundancy (allowed: a member can be added later)"]
    files = networkd_files(plan)
    assert sorted(files) == ["10-bond0-eno1.network", "20-bond0.netdev", "20-bond0.network"]


def test_nic_facts_in_the_discovery_shape():
    """bmc_info's bmcs entry for a node: NICs by Redfish id, FC and IB apart; members by id or MAC."""
    c = campus()
    del c["nodes"]["node1"]["nics"]
    nics = [dict(id="NIC.Integrated.1-%d-1" % i, mac="52:54:00:4D:01:%02X" % (i - 1), speed_mbps=25000, link="LinkUp",
                 lldp=None, protocol="Ethernet", source="EthernetInterfaces") for i in range(1, 5)]
    facts = {"node1": {"failed": False, "bmc": {"nics": nics,
                                                "fc_ports": [dict(id="FC.Slot.3-1", adapter="QLE2692", protocol="FC",
                                                                  speed_mbps=16000, link="LinkUp", wwpn="21:00:00:0e:1e:00:00:01")],
                                                "ib_ports": []}}}
    c["nodes"]["node1"]["bonds"]["bond0"]["members"][0]["nic"] = "NIC.Integrated.1-1-1"
    plan = network_plan(c, facts)["node1"]
    assert [m["nic"] for m in plan["bonds"]["bond0"]["members"]] == ["NIC.Integrated.1-1-1", "NIC.Integrated.1-2-1"]
    assert plan["bonds"]["bond0"]["members"][0]["mac"] == "52:54:00:4d:01:00"
    assert "10-bond0-NIC.Integrated.1-1-1.network" in networkd_files(plan)
    c["nodes"]["node1"]["bonds"]["bond0"]["members"][1] = "FC.Slot.3-1"
    with pytest.raises(AnsibleFilterError, match="is a Fibre Channel port of node1, not a NIC"):
        network_plan(c, facts)


def test_every_wrong_field_is_listed_at_once():
    c = campus()
    c["nodes"]["node1"]["bonds"]["bond0"]["members"][0]["nic"] = "eno9"
    c["nodes"]["node2"]["bonds"]["bond1"]["networks"]["backup"] = "tagged"
    with pytest.raises(AnsibleFilterError) as refused:
        network_plan(c)
    text = str(refused.value)
    assert "nodes.node1.bonds.bond0.members[0]" in text and "nodes.node2.bonds.bond1.networks.backup" in text
    assert "nothing was planned" in text


def _refusal(field, message, fix):
    return pytest.mark.refusal(area="campus network (reforge.hci.network_plan)", field=field, message=message, fix=fix)


def _set(path, value):
    """A change to the example: dotted path (list positions as numbers), value (None deletes)."""
    def change(c):
        *parents, last = path.split(".")
        target = c
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is None:
            del target[last]
        else:
            target[last] = value
    return change


def _fc_port(c):
    c["nodes"]["node2"]["nics"] = {"nics": c["nodes"]["node2"]["nics"],
                                   "fc_ports": [{"id": "FC.Slot.3-1", "protocol": "FC", "speed_mbps": 16000}],
                                   "ib_ports": [{"id": "IB.Slot.4-1", "protocol": "InfiniBand", "speed_mbps": 100000}]}
    c["nodes"]["node2"]["bonds"]["bond1"]["members"][1] = "IB.Slot.4-1"


def _mixed_speeds(c):
    c["nodes"]["node2"]["nics"][3]["speed_mbps"] = 10000


def _two_gateways(c):
    del c["default_gateway"]
    c["networks"]["storage"]["gateway"] = "10.20.20.1"


def _one_mac_two_nodes(c):
    c["nodes"]["node2"]["nics"][0]["mac"] = "52:54:00:4d:01:00"


def _network_on_two_bonds(c):
    c["nodes"]["node1"]["bonds"]["bond1"]["networks"]["vm"] = "tagged"


def _lacp_on_active_backup(c):
    c["nodes"]["node1"]["bonds"]["bond0"].update(mode="active-backup", lacp_rate="fast")


def _two_untagged(c):
    c["nodes"]["node1"]["bonds"]["bond1"]["networks"] = {"storage": "untagged", "migration": "untagged"}


def _typo(c):
    bond = c["nodes"]["node1"]["bonds"]["bond1"]
    bond["memebrs"] = bond.pop("members")


def _bridged_twice(c):
    c["nodes"]["node1"]["bridges"]["br-vm2"] = {"network": "vm"}


def _primary_not_a_member(c):
    c["nodes"]["node1"]["bonds"]["bond0"].update(mode="active-backup", primary="enp3s0")


def _no_mac(c):
    del c["nodes"]["node2"]["nics"][0]["mac"]


def _jumbo_over_a_1500_switch(c):
    c["switches"]["rm-swb"] = {}


@pytest.mark.parametrize("change, message", [
    pytest.param(_set("nodes.node2.bonds.bond1.members.1", "eno9"), "'eno9' is not a NIC of node2",
                 marks=_refusal("nodes.<node>.bonds.<bond>.members[<n>]",
                                "nodes.node2.bonds.bond1.members[1]: 'eno9' is not a NIC of node2",
                                "name a NIC the node's discovery facts list (OS name, Redfish id or MAC)")),
    pytest.param(_fc_port, "is an InfiniBand port of node2, not a NIC",
                 marks=_refusal("nodes.<node>.bonds.<bond>.members[<n>]",
                                "nodes.node2.bonds.bond1.members[1]: 'IB.Slot.4-1' is an InfiniBand port of node2, not a NIC",
                                "Fibre Channel and InfiniBand ports never carry the campus networks: bond Ethernet NICs")),
    pytest.param(_set("nodes.node2.bonds.bond1.members.1", "enp1s0"), "already a member at",
                 marks=_refusal("nodes.<node>.bonds.<bond>.members[<n>]",
                                "nodes.node2.bonds.bond1.members[1]: enp1s0 is already a member at nodes.node2.bonds.bond0.members[0]",
                                "give each NIC to one bond (by name and by MAC it is the same NIC)")),
    pytest.param(_mixed_speeds, "members of different speeds",
                 marks=_refusal("nodes.<node>.bonds.<bond>.members",
                                "nodes.node2.bonds.bond1.members: members of different speeds (enp3s0 25000 Mb/s, enp4s0 10000 Mb/s)",
                                "bond NICs of one speed (check the port's negotiated speed and its cable)")),
    pytest.param(_set("nodes.node1.bonds.bond0.members", []), "needs at least one member",
                 marks=_refusal("nodes.<node>.bonds.<bond>.members",
                                "nodes.node1.bonds.bond0.members: a bond needs at least one member NIC",
                                "list the bond's NICs (one member is allowed, with a warning)")),
    pytest.param(_set("nodes.node1.bonds.bond1.networks.backup", "tagged"), "is not defined in networks",
                 marks=_refusal("nodes.<node>.bonds.<bond>.networks.<network>",
                                "nodes.node1.bonds.bond1.networks.backup: network 'backup' is not defined in networks",
                                "define the network under networks, or fix its name")),
    pytest.param(_network_on_two_bonds, "a network rides on one bond of a node",
                 marks=_refusal("nodes.<node>.bonds.<bond>.networks.<network>",
                                "nodes.node1.bonds.bond1.networks.vm: network vm is already on bond0 (a network rides on one bond of a node)",
                                "keep each network on one bond")),
    pytest.param(_two_untagged, "one native network per bond",
                 marks=_refusal("nodes.<node>.bonds.<bond>.networks.<network>",
                                "nodes.node1.bonds.bond1.networks.storage: migration and storage are both untagged on bond1 (one native network per bond)",
                                "tag all but one network of the bond")),
    pytest.param(_set("nodes.node1.bonds.bond0.networks.management", "tagged"), "so it can only ride untagged",
                 marks=_refusal("nodes.<node>.bonds.<bond>.networks.<network>",
                                "nodes.node1.bonds.bond0.networks.management: network management has no vlan, so it can only ride untagged",
                                "give the network its vlan, or let it ride untagged")),
    pytest.param(_bridged_twice, "already has the bridge br-vm",
                 marks=_refusal("nodes.<node>.bridges.<bridge>.network",
                                "nodes.node1.bridges.br-vm2.network: network vm already has the bridge br-vm",
                                "one bridge per network")),
    pytest.param(_primary_not_a_member, "is not a member of bond0",
                 marks=_refusal("nodes.<node>.bonds.<bond>.primary",
                                "nodes.node1.bonds.bond0.primary: 'enp3s0' is not a member of bond0",
                                "name one of the bond's members")),
    pytest.param(_set("nodes.node1.bonds.bond1.lacp_rate", "1s"), "is not fast or slow",
                 marks=_refusal("nodes.<node>.bonds.<bond>.lacp_rate",
                                "nodes.node1.bonds.bond1.lacp_rate: '1s' is not fast or slow",
                                "fast (the default) or slow")),
    pytest.param(_set("nodes.node1.bonds.bond1.xmit_hash_policy", "l34"), "is not one of layer2",
                 marks=_refusal("nodes.<node>.bonds.<bond>.xmit_hash_policy",
                                "nodes.node1.bonds.bond1.xmit_hash_policy: 'l34' is not one of layer2, layer2+3, layer3+4",
                                "a policy networkd knows; layer3+4 is the default")),
    pytest.param(_no_mac, "has no MAC in the facts",
                 marks=_refusal("nodes.<node>.bonds.<bond>.members[<n>], nic_facts",
                                "nodes.node2.bonds.bond0.members[0]: enp1s0 has no MAC in the facts",
                                "rediscover the node: members are matched by their permanent MAC")),
    pytest.param(_set("nodes.node1.bonds", {}), "at least one bond is needed",
                 marks=_refusal("nodes.<node>.bonds", "nodes.node1.bonds: at least one bond is needed",
                                "give the node its bonds (a bond of one NIC is allowed)")),
    pytest.param(_set("nodes.node1.bonds.bond1.networks", {}), "a bond carries at least one network",
                 marks=_refusal("nodes.<node>.bonds.<bond>.networks",
                                "nodes.node1.bonds.bond1.networks: a bond carries at least one network",
                                "list the networks the bond carries")),
    pytest.param(_set("nodes.node1.bonds.bond1.networks.storage", "trunk"), "a network rides tagged or untagged",
                 marks=_refusal("nodes.<node>.bonds.<bond>.networks.<network>",
                                "nodes.node1.bonds.bond1.networks.storage: 'trunk': a network rides tagged or untagged",
                                "tagged (on its vlan) or untagged (the port's native VLAN)")),
    pytest.param(_set("nodes.node1.default_gateway", "backup"), "is not on any bond of node1",
                 marks=_refusal("default_gateway, nodes.<node>.default_gateway",
                                "nodes.node1.default_gateway: network 'backup' is not on any bond of node1",
                                "name a network the node carries")),
    pytest.param(_set("switches", ["rm-swa"]), "a mapping of switch name",
                 marks=_refusal("switches", "switches: a mapping of switch name -> {mtu}",
                                "switches by name, each with the MTU it carries")),
    pytest.param(_set("nodes", {}), "a mapping of node name",
                 marks=_refusal("nodes", "nodes: a mapping of node name -> {index, bonds}",
                                "list the campus's nodes by name")),
    pytest.param(_jumbo_over_a_1500_switch, "but switch rm-swb carries 1500",
                 marks=_refusal("nodes.<node>.bonds.<bond>.networks.<network>, switches.<switch>.mtu",
                                "nodes.node1.bonds.bond1.networks.migration: network migration has mtu 9000 but switch rm-swb carries 1500 "
                                "(switches.rm-swb.mtu)",
                                "raise the switch's MTU (and say so in switches), or lower the network's")),
    pytest.param(_set("nodes.node1.bonds.bond1.members.0", "52:54:00:4d:01:02"), "switch path is not declared",
                 marks=_refusal("nodes.<node>.bonds.<bond>.members[<n>].switch",
                                "network migration has mtu 9000 but bond1's switch path is not declared",
                                "name each member's switch (or the bond's switches) with its mtu under switches")),
    pytest.param(_set("nodes.node1.bonds.bond1.members.0.switch", "rm-swc"), "switch 'rm-swc' is not in switches",
                 marks=_refusal("nodes.<node>.bonds.<bond>.members[<n>].switch",
                                "nodes.node1.bonds.bond1.members[0]: switch 'rm-swc' is not in switches",
                                "list the switch under switches (with the MTU it carries)")),
    pytest.param(_set("switches.rm-swa", {"mtu": "jumbo"}), "is not an MTU from 576 to 9216",
                 marks=_refusal("switches.<switch>.mtu",
                                "switches.rm-swa.mtu: 'jumbo' is not an MTU from 576 to 9216",
                                "the largest IP MTU the switch carries, e.g. 9000")),
    pytest.param(_two_gateways, "more than one default gateway",
                 marks=_refusal("default_gateway, nodes.<node>.default_gateway",
                                "nodes.node1.default_gateway: more than one default gateway: networks management, storage have a gateway",
                                "name the network of the default route in default_gateway")),
    pytest.param(_set("nodes.node1.default_gateway", "storage"), "has no gateway",
                 marks=_refusal("default_gateway, nodes.<node>.default_gateway",
                                "nodes.node1.default_gateway: network storage has no gateway (or no host address) for the default route",
                                "choose a network with a gateway")),
    pytest.param(_lacp_on_active_backup, "an LACP option on an active-backup bond",
                 marks=_refusal("nodes.<node>.bonds.<bond>.lacp_rate / xmit_hash_policy",
                                "nodes.node1.bonds.bond0.lacp_rate: an LACP option on an active-backup bond",
                                "remove the LACP options, or use mode 802.3ad")),
    pytest.param(_set("nodes.node1.bonds.bond0.mode", "balance-rr"), "is not a bond mode here",
                 marks=_refusal("nodes.<node>.bonds.<bond>.mode",
                                "nodes.node1.bonds.bond0.mode: 'balance-rr' is not a bond mode here (802.3ad or active-backup)",
                                "802.3ad (LACP, the default) or active-backup")),
    pytest.param(_set("nodes.node1.bonds.bond1.primary", "enp3s0"), "a primary member is an active-backup option",
                 marks=_refusal("nodes.<node>.bonds.<bond>.primary",
                                "nodes.node1.bonds.bond1.primary: a primary member is an active-backup option",
                                "remove primary, or use mode active-backup")),
    pytest.param(_typo, "unknown option",
                 marks=_refusal("nodes.<node>, nodes.<node>.bonds.<bond>",
                                "nodes.node1.bonds.bond1.memebrs: unknown option",
                                "fix the option's name (the message lists the known ones)")),
    pytest.param(_set("nodes.node1.bridges.br-vm.network", "backup"), "is not on any bond of node1",
                 marks=_refusal("nodes.<node>.bridges.<bridge>.network",
                                "nodes.node1.bridges.br-vm.network: network 'backup' is not on any bond of node1",
                                "bridge a network one of the node's bonds carries")),
    pytest.param(_set("nodes.node2.nics.1.mac", "52:54:00:4d:01:01"), "MAC 52:54:00:4d:01:01 is on both",
                 marks=_refusal("nic_facts, nodes.<node>.nics",
                                "unique_macs: MAC 52:54:00:4d:01:01 is on both node1 and node2",
                                "a cloned or mis-read inventory: rediscover both nodes, check their NIC inventory")),
    pytest.param(_set("nodes.node2.index", 1), "same index 1",
                 marks=_refusal("nodes.<node>.index", "address_plan: nodes node1 and node2 have the same index 1",
                                "give each node its own index (it fixes the node's addresses for good)")),
    pytest.param(_set("nodes.node2.index", None), "a whole number >= 1 is required",
                 marks=_refusal("nodes.<node>.index", "nodes.node2.index: a whole number >= 1 is required",
                                "number the nodes from 1; a node keeps its index")),
    pytest.param(_set("nodes.node2.nics", None), "no NIC facts for node2",
                 marks=_refusal("nic_facts, nodes.<node>.nics", "nodes.node2.nics: no NIC facts for node2",
                                "pass the discovery facts (bmc_info) for the node, or list its NICs")),
    pytest.param(_set("nodes.node2.bonds", {"bond-storage-a": {"members": ["enp1s0"], "networks": ["storage"]}}),
                 "is not an interface name",
                 marks=_refusal("nodes.<node>.bonds.<bond>, nodes.<node>.bridges.<bridge>",
                                "nodes.node2.bonds.bond-storage-a.networks.storage: 'bond-storage-a.120' is not an interface name",
                                "a kernel interface name: at most 15 characters, and room for .<vlan> on a bond")),
    pytest.param(_set("networks.storage.vlan", 130), "use the same vlan 130",
                 marks=_refusal("networks.<name>.vlan", "address_plan: networks migration and storage use the same vlan 130",
                                "one VLAN per network (every address_plan refusal applies to the campus definition)")),
])
def test_bad_definitions_are_refused_with_the_field(change, message, proves_refusal):
    c = campus()
    change(c)
    with pytest.raises(AnsibleFilterError, match=message) as refused:
        network_plan(c)
    proves_refusal(str(refused.value))


@pytest.mark.refusal(area="campus network (reforge.hci.network_plan)", field="the campus definition",
                     message="network_plan: the campus definition must be a mapping with networks and nodes",
                     fix="pass the campus definition (docs/examples/campus-network.yml), not a file name or a list")
def test_a_definition_that_is_not_a_mapping_is_refused(proves_refusal):
    with pytest.raises(AnsibleFilterError, match="must be a mapping") as refused:
        network_plan(["campus-network.yml"])
    proves_refusal(str(refused.value))


@pytest.mark.refusal(area="campus network (reforge.hci.networkd_files)", field="the node's plan",
                     message="networkd_files: give one node's plan (an entry of reforge.hci.network_plan's result)",
                     fix="network_plan(...)[inventory_hostname] | reforge.hci.networkd_files")
def test_rendering_something_else_than_a_node_plan_is_refused(proves_refusal):
    with pytest.raises(AnsibleFilterError, match="give one node's plan") as refused:
        networkd_files(network_plan(campus()))
    proves_refusal(str(refused.value))


def test_the_docs_show_what_is_rendered():
    """docs/network.md shows node1's files as the filter renders them (without the "rendered by" line)."""
    page = (EXAMPLE.parents[1] / "network.md").read_text()
    for name, content in networkd_files(network_plan(campus())["node1"]).items():
        assert "`%s`\n```ini\n%s```" % (name, content.split("\n", 1)[1]) in page, name


def test_the_plan_does_not_change_its_input():
    c = campus()
    before = copy.deepcopy(c)
    network_plan(c)
    assert c == before
