"""reforge.hci.os_install_plan: what each node is installed with (stage 2), and every refusal, made before anything
is touched, with the field named."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.filter.os_install_plan import os_install_plan

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "campus-network.yml"
AREA = "OS install (reforge.hci.os_install_plan, roles/os_install)"
DISK1 = "/dev/disk/by-id/virtio-RMBOOT0001"
DISK2 = "/dev/disk/by-id/virtio-RMBOOT0002"


def campus():
    return yaml.safe_load(EXAMPLE.read_text())["campus_network"]


def nodes(**changes):
    base = {"node1": {"boot_disk": DISK1, "address": ""}, "node2": {"boot_disk": DISK2, "address": ""}}
    for name, settings in changes.items():
        if settings is None:
            base.pop(name, None)
        else:
            base[name] = dict(base.get(name, {}), **settings)
    return base


def test_the_plan_of_the_metal_lab_nodes():
    plan = os_install_plan(campus(), nodes())
    assert plan["node1"] == {
        "hostname": "node1", "boot_disk": DISK1, "network": "management", "address": "10.20.10.11", "prefix": 24,
        "cidr": "10.20.10.11/24", "netmask": "255.255.255.0", "gateway": "10.20.10.1", "dns": ["10.20.10.2"],
        "domains": ["campus.example"], "install_nic": "enp1s0", "install_mac": "52:54:00:4d:01:00", "mtu": 1500}
    assert plan["node2"]["address"] == "10.20.10.12" and plan["node2"]["install_mac"] == "52:54:00:4d:02:00"
    assert os_install_plan(campus(), nodes()) == plan     # pure


def test_an_address_inside_the_network_is_taken():
    assert os_install_plan(campus(), nodes(node2={"address": "10.20.10.50"}))["node2"]["cidr"] == "10.20.10.50/24"


def refusal(field, message, fix):
    return pytest.mark.refusal(area=AREA, field=field, message=message, fix=fix)


def refused(*args, **kwargs) -> str:
    with pytest.raises(AnsibleFilterError) as caught:
        os_install_plan(*args, **kwargs)
    text = str(caught.value)
    assert text.startswith("os_install_plan: the install is refused, nothing was touched:")
    return text


@refusal("nodes.<node>.boot_disk", "nodes.node2.boot_disk: missing: the boot disk by stable id (/dev/disk/by-id/...)",
         "set os_install_boot_disk (or boot_disk) for the node to its boot disk's /dev/disk/by-id/ name")
def test_a_missing_boot_disk_is_refused(proves_refusal):
    proves_refusal(refused(campus(), nodes(node2={"boot_disk": ""})))


@refusal("nodes.<node>.boot_disk", "nodes.node1.boot_disk: '/dev/vda' is not a stable id (/dev/disk/by-id/<id>)",
         "name the disk by its /dev/disk/by-id/ link (serial or WWN), never by kernel name")
def test_a_boot_disk_by_kernel_name_is_refused(proves_refusal):
    proves_refusal(refused(campus(), nodes(node1={"boot_disk": "/dev/vda"})))


@refusal("nodes.<node>.address", "nodes.node1.address: 10.20.11.7 is outside the plan: not a host address of "
         "management 10.20.10.0/24 (gateway 10.20.10.1); the plan gives 10.20.10.11",
         "leave os_install_address empty (the plan's address) or give a host address of the install network")
def test_an_address_outside_the_plan_is_refused(proves_refusal):
    proves_refusal(refused(campus(), nodes(node1={"address": "10.20.11.7"})))
    # the gateway and the network's own addresses are not host addresses either
    for bad in ("10.20.10.1", "10.20.10.0", "10.20.10.255"):
        assert "is outside the plan" in refused(campus(), nodes(node1={"address": bad}))


@refusal("nodes.<node>.address", "nodes.node2.address: 10.20.10.11 is node node1's address",
         "give each node its own address (or leave os_install_address empty)")
def test_an_address_of_another_node_is_refused(proves_refusal):
    proves_refusal(refused(campus(), nodes(node2={"address": "10.20.10.11"})))


@refusal("nodes.<node>", "nodes.node9: unknown node: not under the campus network definition's nodes (node1, node2)",
         "add the node to the campus network definition, or leave it out of the play")
def test_an_unknown_node_is_refused(proves_refusal):
    proves_refusal(refused(campus(), nodes(node9={"boot_disk": DISK1})))


@refusal("network", "network: 'storage' rides tagged (VLAN 120) on node node1; the deploy environment configures the "
         "install NIC untagged", "install over the network that rides untagged (os_install_network: management)")
def test_a_tagged_install_network_is_refused(proves_refusal):
    proves_refusal(refused(campus(), nodes(node2=None), network="storage"))


def test_every_wrong_node_is_named_at_once():
    text = refused(campus(), nodes(node1={"boot_disk": "/dev/sda"}, node2={"boot_disk": "", "address": "1.2.3.4"}))
    assert "nodes.node1.boot_disk" in text and "nodes.node2.boot_disk" in text and "nodes.node2.address" in text


def test_an_unknown_option_is_refused():
    assert "nodes.node1.disk: unknown option" in refused(campus(), nodes(node1={"disk": DISK1}))


def test_the_definition_is_checked_too():
    broken = copy.deepcopy(campus())
    broken["networks"]["management"]["gateway"] = "10.99.0.1"
    with pytest.raises(AnsibleFilterError, match="gateway 10.99.0.1 is outside"):
        os_install_plan(broken, nodes())
