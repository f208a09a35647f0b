# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Campus address plan: deterministic per-node addresses on each network, with
the checks an engineer expects before anything is touched (overlapping subnets,
gateways outside their subnet, too few addresses, duplicate MACs)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:
    HAS_NETADDR = False


def _require_netaddr():
    if not HAS_NETADDR:
        raise AnsibleFilterError("the reforge.hci address plan filters need the Python library netaddr")


def _number(network, key, value):
    """An integer option of a network, or a refusal naming it (not a bare ValueError from int())."""
    if isinstance(value, bool):
        value = None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError("address_plan: network %s: %s %r is not a whole number" % (network, key, value))


def _networks(networks):
    """Parse and cross-check the campus networks; return {name: (IPNetwork, spec)}."""
    if not isinstance(networks, dict) or not networks:
        raise AnsibleFilterError("address_plan: networks must be a non-empty mapping of name -> {cidr: ...}")
    parsed = {}
    for name, spec in sorted(networks.items()):
        if not isinstance(spec, dict) or "cidr" not in spec:
            raise AnsibleFilterError("address_plan: network %s has no cidr" % name)
        try:
            net = netaddr.IPNetwork(spec["cidr"])
        except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
            raise AnsibleFilterError("address_plan: network %s: invalid cidr %r: %s" % (name, spec["cidr"], to_native(exc)))
        if net.ip != net.network:
            raise AnsibleFilterError("address_plan: network %s: %s has host bits set (did you mean %s?)"
                                     % (name, spec["cidr"], net.cidr))
        gateway = spec.get("gateway")
        if gateway is not None:
            try:
                gateway_ip = netaddr.IPAddress(gateway)
            except (netaddr.AddrFormatError, ValueError, TypeError):
                raise AnsibleFilterError("address_plan: network %s: gateway %r is not an IP address" % (name, gateway))
            if gateway_ip not in net:
                raise AnsibleFilterError("address_plan: network %s: gateway %s is outside %s" % (name, gateway, net))
        mtu = _number(name, "mtu", spec.get("mtu", 1500))
        if not 576 <= mtu <= 9216:
            raise AnsibleFilterError("address_plan: network %s: mtu %d is out of range 576..9216" % (name, mtu))
        vlan = spec.get("vlan")
        if vlan is not None and not 1 <= _number(name, "vlan", vlan) <= 4094:
            raise AnsibleFilterError("address_plan: network %s: vlan %s is out of range 1..4094" % (name, vlan))
        if _number(name, "first_host", spec.get("first_host", 10)) < 1:
            raise AnsibleFilterError("address_plan: network %s: first_host must be >= 1 (host 0 is the network address)" % name)
        parsed[name] = (net, spec)
    names = sorted(parsed)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            na, nb = parsed[a][0], parsed[b][0]
            if na.first <= nb.last and nb.first <= na.last:
                raise AnsibleFilterError("address_plan: networks %s (%s) and %s (%s) overlap" % (a, na, b, nb))
    vlans = {}
    for name in names:
        vlan = parsed[name][1].get("vlan")
        if vlan is not None:
            vlan = int(vlan)  # checked above; "10" and 10 are the same VLAN
            if vlan in vlans:
                raise AnsibleFilterError("address_plan: networks %s and %s use the same vlan %s" % (vlans[vlan], name, vlan))
            vlans[vlan] = name
    return parsed


def address_plan(networks, nodes):
    """Return {node: {network: {address, prefix, cidr, netmask, gateway, vlan, mtu}}}.

    ``nodes`` is a list of node names (in order) or of {name, index} mappings;
    node N gets host number ``first_host + index - 1`` on every network, so the
    plan does not change when nodes are added at the end.
    """
    _require_netaddr()
    parsed = _networks(networks)
    entries = []
    for pos, node in enumerate(nodes or [], start=1):
        if isinstance(node, dict):
            try:
                entries.append((node["name"], int(node.get("index", pos))))
            except (KeyError, TypeError, ValueError):
                raise AnsibleFilterError("address_plan: node %r needs a name and a whole-number index" % (node,))
        else:
            entries.append((str(node), pos))
    seen_names, seen_index = set(), {}
    for name, index in entries:
        if name in seen_names:
            raise AnsibleFilterError("address_plan: node %s is listed twice" % name)
        if index in seen_index:
            raise AnsibleFilterError("address_plan: nodes %s and %s have the same index %d" % (seen_index[index], name, index))
        if index < 1:
            raise AnsibleFilterError("address_plan: node %s: index must be >= 1" % name)
        seen_names.add(name)
        seen_index[index] = name
    plan = {}
    for name, index in entries:
        plan[name] = {}
        for net_name, (net, spec) in parsed.items():
            host = int(spec.get("first_host", 10)) + index - 1
            address = netaddr.IPAddress(net.first + host)
            usable_last = net.last - 1 if net.version == 4 and net.prefixlen < 31 else net.last
            if address.value > usable_last:
                raise AnsibleFilterError("address_plan: network %s (%s) has no address left for node %s (host %d)"
                                         % (net_name, net, name, host))
            gateway = spec.get("gateway")
            if gateway is not None and address == netaddr.IPAddress(gateway):
                raise AnsibleFilterError("address_plan: node %s would get the gateway address %s on %s" % (name, address, net_name))
            plan[name][net_name] = {
                "address": str(address),
                "prefix": net.prefixlen,
                "cidr": "%s/%d" % (address, net.prefixlen),
                "netmask": str(net.netmask),
                "network": str(net.cidr),
                "gateway": gateway,
                "vlan": spec.get("vlan"),
                "mtu": int(spec.get("mtu", 1500)),
            }
    return plan


MAC_RE = re.compile(r'^(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{4}(\.)[0-9A-Fa-f]{4}\2[0-9A-Fa-f]{4}|[0-9A-Fa-f]{12})$')


def unique_macs(nics_by_node):
    """Check that no MAC address appears twice in {node: [mac, ...]}; return the
    normalised mapping (lower case, colon separated)."""
    _require_netaddr()
    owners = {}
    result = {}
    for node, macs in sorted((nics_by_node or {}).items()):
        result[node] = []
        for mac in macs or []:
            # netaddr also reads short forms ('aa:bb:cc' as 00:aa:00:bb:00:cc): a NIC's MAC is six octets.
            if not isinstance(mac, str) or not MAC_RE.match(mac):
                raise AnsibleFilterError("unique_macs: node %s: invalid MAC %r: six octets, e.g. 52:54:00:12:34:56" % (node, mac))
            try:
                norm = str(netaddr.EUI(mac, dialect=netaddr.mac_unix_expanded))
            except (netaddr.AddrFormatError, TypeError) as exc:
                raise AnsibleFilterError("unique_macs: node %s: invalid MAC %r: %s" % (node, mac, to_native(exc)))
            if norm in owners:
                raise AnsibleFilterError("unique_macs: MAC %s is on both %s and %s" % (norm, owners[norm], node))
            owners[norm] = node
            result[node].append(norm)
    return result


class FilterModule(object):
    def filters(self):
        return {"address_plan": address_plan, "unique_macs": unique_macs}
