# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stage 2 (OS install): what each node is installed with, from the campus network definition's plan and the
inventory's per-node install settings; refused before anything is touched when a field is wrong.

Pure: the same definition and settings give the same plan."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.filter.network_plan import network_plan

try:
    import netaddr
except ImportError:
    pass    # network_plan says so

BY_ID_RE = re.compile(r'^/dev/disk/by-id/[A-Za-z0-9_.:+@-]+$')
HOSTNAME_RE = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
NODE_KEYS = ("boot_disk", "address")


def fail(errors):
    raise AnsibleFilterError("os_install_plan: the install is refused, nothing was touched:\n  " + "\n  ".join(errors))


def os_install_plan(campus, nodes, nic_facts=None, network="management"):
    """Per node: hostname, the install NIC (the first member of the bond that carries `network` untagged),
    its address, prefix, gateway, DNS and the boot disk by stable id.

    `nodes` maps each node to install to {boot_disk, address (optional: must be the plan's own network)}."""
    errors = []
    if not isinstance(nodes, dict) or not nodes:
        fail(["nodes: a mapping of the nodes to install to their settings (boot_disk), got %r" % (nodes,)])
    known = (campus or {}).get("nodes") or {}
    for name in sorted(nodes):
        if name not in known:
            errors.append("nodes.%s: unknown node: not under the campus network definition's nodes (%s)"
                          % (name, ", ".join(sorted(known)) or "none"))
    if errors:
        fail(errors)
    plan = network_plan(campus, nic_facts)
    result = {}
    for name in sorted(nodes):
        settings = nodes[name] or {}
        if not isinstance(settings, dict):
            errors.append("nodes.%s: a mapping (boot_disk, address), got %r" % (name, settings))
            continue
        for key in sorted(set(settings) - set(NODE_KEYS)):
            errors.append("nodes.%s.%s: unknown option (known: %s)" % (name, key, ", ".join(NODE_KEYS)))
        if not HOSTNAME_RE.match(name):
            errors.append("nodes.%s: not a host name (lower-case letters, digits and '-', at most 63)" % name)
        disk = settings.get("boot_disk")
        if not disk:
            errors.append("nodes.%s.boot_disk: missing: the boot disk by stable id (/dev/disk/by-id/...); "
                          "nothing is written to a disk not named so" % name)
        elif not isinstance(disk, str) or not BY_ID_RE.match(disk):
            errors.append("nodes.%s.boot_disk: %r is not a stable id (/dev/disk/by-id/<id>); a kernel name such as "
                          "/dev/sda can name another disk on the next boot" % (name, disk))
        node = plan[name]
        net = node["networks"].get(network)
        if net is None:
            errors.append("network: %r is not carried by node %s (its networks: %s)"
                          % (network, name, ", ".join(sorted(node["networks"]))))
            continue
        if net["tagged"] or not net["bond"]:
            errors.append("network: %r rides %s on node %s; the deploy environment configures the install NIC "
                          "untagged" % (network, "tagged (VLAN %s)" % net["vlan"] if net["tagged"] else "no bond", name))
            continue
        if not net["address"]:
            errors.append("network: %r gives node %s no address (host_address: false)" % (network, name))
            continue
        address = net["address"]
        wanted = settings.get("address")
        if wanted:
            subnet = netaddr.IPNetwork(net["network"])
            try:
                ip = netaddr.IPAddress(str(wanted).split("/", maxsplit=1)[0])
            except (netaddr.AddrFormatError, ValueError):
                errors.append("nodes.%s.address: %r is not an address" % (name, wanted))
                continue
            if ip not in subnet or ip in (subnet.network, subnet.broadcast) or str(ip) == net["gateway"]:
                errors.append("nodes.%s.address: %s is outside the plan: not a host address of %s %s (gateway %s); "
                              "the plan gives %s" % (name, ip, network, subnet, net["gateway"], address))
                continue
            address = str(ip)
        member = node["bonds"][net["bond"]]["members"][0]
        result[name] = {
            "hostname": name, "boot_disk": disk, "network": network,
            "address": address, "prefix": net["prefix"], "cidr": "%s/%s" % (address, net["prefix"]),
            "netmask": str(netaddr.IPNetwork(net["network"]).netmask), "gateway": net["gateway"] or "",
            "dns": list(campus.get("dns") or []) if net["default"] else [],
            "domains": list(campus.get("domains") or []) if net["default"] else [],
            "install_nic": member["nic"], "install_mac": member["mac"].lower(), "mtu": net["link_mtu"],
        }
    used = {}
    for name, entry in sorted(result.items()):
        if entry["address"] in used:
            errors.append("nodes.%s.address: %s is node %s's address" % (name, entry["address"], used[entry["address"]]))
        used.setdefault(entry["address"], name)
    if errors:
        fail(errors)
    return result


class FilterModule(object):
    def filters(self):
        return {"os_install_plan": os_install_plan}
