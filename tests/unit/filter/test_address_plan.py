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


@pytest.mark.parametrize("networks, message", [
    ({"a": {"cidr": "10.0.0.0/16"}, "b": {"cidr": "10.0.5.0/24"}}, "overlap"),
    ({"a": {"cidr": "10.0.0.0/24", "gateway": "10.0.1.1"}}, "outside"),
    ({"a": {"cidr": "10.0.0.5/24"}}, "host bits"),
    ({"a": {"cidr": "10.0.0.0/24", "vlan": 5000}}, "vlan"),
    ({"a": {"cidr": "10.0.0.0/24", "vlan": 10}, "b": {"cidr": "10.0.1.0/24", "vlan": 10}}, "same vlan"),
    ({"a": {"cidr": "10.0.0.0/24", "mtu": 10000}}, "mtu"),
    ({"a": {"cidr": "10.0.0.0/30", "first_host": 1}}, "no address left"),
    ({"a": {"cidr": "not-a-net"}}, "invalid cidr"),
])
def test_bad_plans_fail_with_a_clear_reason(networks, message):
    with pytest.raises(AnsibleFilterError, match=message):
        address_plan(networks, ["n1", "n2", "n3"])


def test_duplicate_nodes_and_gateway_collision_are_refused():
    with pytest.raises(AnsibleFilterError, match="listed twice"):
        address_plan(NETWORKS, ["hv01", "hv01"])
    with pytest.raises(AnsibleFilterError, match="gateway address"):
        address_plan({"m": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.12", "first_host": 11}}, ["a", "b"])


def test_unique_macs_normalises_and_refuses_duplicates():
    assert unique_macs({"a": ["AA-BB-CC-00-11-22"]}) == {"a": ["aa:bb:cc:00:11:22"]}
    with pytest.raises(AnsibleFilterError, match="on both a and b"):
        unique_macs({"a": ["aa:bb:cc:00:11:22"], "b": ["AA:BB:CC:00:11:22"]})
