from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.filter.address_plan import address_plan, unique_macs

NETWORKS = {
    "management": {"cidr": "10.20.10.0/24", "gateway": "10.20.10.1", "first_host": 11},
    "storage": {"cidr": "10.20.20.0/24", "vlan": 120, "mtu": 9000, "first_host": 11},
}


def test_plan_is_deterministic_and_stable_when_nodes_are_added():
    three = address_plan(NETWORKS, ["hv01", "hv02", "hv03"])
    four = address_plan(NETWORKS, ["hv01", "hv02", "hv03", "hv04"])
    assert three["hv01"]["management"]["address"] == "10.20.10.11"
    assert three["hv03"]["storage"]["cidr"] == "10.20.20.13/24"
    assert three["hv02"]["storage"]["mtu"] == 9000 and three["hv02"]["storage"]["vlan"] == 120
    for node in three:
        assert four[node] == three[node]
    assert four["hv04"]["management"]["address"] == "10.20.10.14"


def _refusal(field, message, fix):
    return pytest.mark.refusal(area="address plan (reforge.hci.address_plan)", field=field, message=message, fix=fix)


@pytest.mark.parametrize("networks, message", [
    pytest.param({"a": {"cidr": "10.0.0.0/16"}, "b": {"cidr": "10.0.5.0/24"}},
                 "overlap",
                 marks=_refusal("networks.<name>.cidr", "networks a (10.0.0.0/16) and b (10.0.5.0/24) overlap",
                                "give each network its own prefix")),
    pytest.param({"a": {"cidr": "10.0.0.0/24", "gateway": "10.0.1.1"}}, "gateway 10.0.1.1 is outside 10.0.0.0/24",
                 marks=_refusal("networks.<name>.gateway", "network a: gateway 10.0.1.1 is outside 10.0.0.0/24",
                                "use an address inside the network's cidr")),
    pytest.param({"a": {"cidr": "10.0.0.5/24"}}, "has host bits set",
                 marks=_refusal("networks.<name>.cidr",
                                "network a: 10.0.0.5/24 has host bits set (did you mean 10.0.0.0/24?)",
                                "write the network address, as the message suggests")),
    pytest.param({"a": {"cidr": "10.0.0.0/24", "vlan": 5000}}, "vlan 5000 is out of range 1..4094",
                 marks=_refusal("networks.<name>.vlan", "network a: vlan 5000 is out of range 1..4094",
                                "use a VLAN id from 1 to 4094")),
    pytest.param({"a": {"cidr": "10.0.0.0/24", "vlan": 10}, "b": {"cidr": "10.0.1.0/24", "vlan": 10}},
                 "use the same vlan 10",
                 marks=_refusal("networks.<name>.vlan", "networks a and b use the same vlan 10",
                                "one VLAN per network")),
    pytest.param({"a": {"cidr": "10.0.0.0/24", "mtu": 10000}}, "mtu 10000 is out of range 576..9216",
                 marks=_refusal("networks.<name>.mtu", "network a: mtu 10000 is out of range 576..9216",
                                "1500, or 9000 for jumbo frames where every switch port carries them")),
    pytest.param({"a": {"cidr": "10.0.0.0/30", "first_host": 1}}, "has no address left",
                 marks=_refusal("networks.<name>.first_host",
                                "network a (10.0.0.0/30) has no address left for node n3 (host 3)",
                                "a larger prefix or a lower first_host")),
    pytest.param({"a": {"cidr": "not-a-net"}}, "invalid cidr",
                 marks=_refusal("networks.<name>.cidr", "network a: invalid cidr 'not-a-net'",
                                "an IPv4 or IPv6 prefix such as 10.20.10.0/24")),
    pytest.param({}, "networks must be a non-empty mapping",
                 marks=_refusal("networks", "address_plan: networks must be a non-empty mapping of name -> {cidr: ...}",
                                "define campus_networks: each network by name with its cidr")),
    pytest.param({"a": {"vlan": 10}}, "network a has no cidr",
                 marks=_refusal("networks.<name>.cidr", "address_plan: network a has no cidr",
                                "give every network its prefix, e.g. cidr: 10.20.10.0/24")),
    pytest.param({"a": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.x"}}, "is not an IP address",
                 marks=_refusal("networks.<name>.gateway", "network a: gateway '10.0.0.x' is not an IP address",
                                "an address inside the network's cidr, e.g. 10.0.0.1")),
    pytest.param({"a": {"cidr": "10.0.0.0/24", "mtu": "jumbo"}}, "is not a whole number",
                 marks=_refusal("networks.<name>.mtu / vlan / first_host", "network a: mtu 'jumbo' is not a whole number",
                                "write the number (9000, not jumbo; 120, not vlan120)")),
    pytest.param({"a": {"cidr": "10.0.0.0/24", "first_host": 0}}, "first_host must be >= 1",
                 marks=_refusal("networks.<name>.first_host",
                                "network a: first_host must be >= 1 (host 0 is the network address)",
                                "the host number of the first node, e.g. 11")),
])
def test_bad_plans_fail_with_a_clear_reason(networks, message, proves_refusal):
    with pytest.raises(AnsibleFilterError, match=message) as refused:
        address_plan(networks, ["n1", "n2", "n3"])
    proves_refusal(str(refused.value))


@_refusal("nodes", "node hv01 is listed twice", "list each node once")
def test_duplicate_nodes_are_refused(proves_refusal):
    with pytest.raises(AnsibleFilterError, match="listed twice") as refused:
        address_plan(NETWORKS, ["hv01", "hv01"])
    proves_refusal(str(refused.value))


@_refusal("networks.<name>.gateway", "node b would get the gateway address 10.0.0.12 on m",
          "keep the gateway below first_host or outside the nodes' range")
def test_gateway_collision_is_refused(proves_refusal):
    with pytest.raises(AnsibleFilterError, match="gateway address") as refused:
        address_plan({"m": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.12", "first_host": 11}}, ["a", "b"])
    proves_refusal(str(refused.value))


@pytest.mark.refusal(area="address plan (reforge.hci.unique_macs)", field="node MACs (discovered NICs)",
                     message="MAC aa:bb:cc:00:11:22 is on both a and b",
                     fix="a cloned or mis-read BMC inventory: rediscover both nodes, check the NIC inventory")
def test_unique_macs_normalises_and_refuses_duplicates(proves_refusal):
    assert unique_macs({"a": ["AA-BB-CC-00-11-22"]}) == {"a": ["aa:bb:cc:00:11:22"]}
    with pytest.raises(AnsibleFilterError, match="on both a and b") as refused:
        unique_macs({"a": ["aa:bb:cc:00:11:22"], "b": ["AA:BB:CC:00:11:22"]})
    proves_refusal(str(refused.value))


@pytest.mark.parametrize("nodes, message", [
    pytest.param([{"name": "a", "index": 2}, {"name": "b", "index": 2}], "nodes a and b have the same index 2",
                 marks=_refusal("nodes[].index", "address_plan: nodes a and b have the same index 2",
                                "give each node its own index (it fixes the node's addresses for good)")),
    pytest.param([{"name": "a", "index": 0}], "node a: index must be >= 1",
                 marks=_refusal("nodes[].index", "address_plan: node a: index must be >= 1",
                                "number nodes from 1")),
    pytest.param([{"index": 1}], "needs a name and a whole-number index",
                 marks=_refusal("nodes[]", "needs a name and a whole-number index",
                                "list nodes by name, or as {name, index}")),
])
def test_bad_node_lists_are_refused(nodes, message, proves_refusal):
    with pytest.raises(AnsibleFilterError, match=message) as refused:
        address_plan(NETWORKS, nodes)
    proves_refusal(str(refused.value))


@pytest.mark.refusal(area="address plan (reforge.hci.unique_macs)", field="node MACs (discovered NICs)",
                     message="unique_macs: node a: invalid MAC 'zz:bb:cc:00:11:22'",
                     fix="the BMC inventory reported a malformed MAC: rediscover the node, check its NIC inventory")
def test_unique_macs_refuses_a_malformed_mac(proves_refusal):
    with pytest.raises(AnsibleFilterError, match="invalid MAC") as refused:
        unique_macs({"a": ["zz:bb:cc:00:11:22"]})
    proves_refusal(str(refused.value))


@pytest.mark.parametrize("mac", ["aa:bb:cc", "52:54:00:12:34", "52:54:00:12:34:56:78", "52:54-00:12:34:56", 5254001234])
def test_unique_macs_refuses_a_mac_that_is_not_six_octets(mac):
    """netaddr alone reads 'aa:bb:cc' as 00:aa:00:bb:00:cc: a short MAC must not become another NIC's."""
    with pytest.raises(AnsibleFilterError, match="six octets"):
        unique_macs({"a": [mac]})


@pytest.mark.parametrize("mac", ["52:54:00:12:34:56", "52-54-00-12-34-56", "5254.0012.3456", "525400123456", "52:54:00:AB:cd:EF"])
def test_unique_macs_reads_the_usual_six_octet_forms(mac):
    assert unique_macs({"a": [mac]})["a"][0].startswith("52:54:00:")


def test_same_vlan_written_as_text_and_number_is_one_vlan():
    with pytest.raises(AnsibleFilterError, match="use the same vlan 10"):
        address_plan({"a": {"cidr": "10.0.0.0/24", "vlan": "10"}, "b": {"cidr": "10.0.1.0/24", "vlan": 10}}, ["n1"])
