# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's NICs and their LLDP neighbours for the topology view, from what the node itself sees: lldpd's
``lldpcli -f json show neighbors`` and ``ip -j link show``, merged with the discovery facts (the NICs the BMC
reported, ``reforge.hci.bmc_info``'s ``nics``), matched by MAC address.

lldpd is the node's live view, so where it has a neighbour for an interface, that neighbour is drawn; a NIC
that lldpd does not see keeps the LLDP data the BMC reported (or none: the "unknown switch"). A matched NIC is
named by its interface name (``eno1``), the name bonds use. Pure: the caller runs the commands.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json


class LldpError(ValueError):
    """Output that is not what lldpcli or ip print."""


def _load(text, what):
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise LldpError("%s: not JSON: %r" % (what, (text or "")[:200]))


def _value(item):
    """A value of ``-f json0`` (a list of {value: x}) or of ``-f json`` (bare, or a list when there are several):
    the first one."""
    if isinstance(item, list):
        item = item[0] if item else None
    if isinstance(item, dict) and "value" in item:
        return item["value"]
    return item


def _neighbour(system_name, chassis_id, port_type, port_value, port_descr):
    # A switch names its port in the port id (subtype ifname or local); a host-like neighbour puts its
    # MAC there and its interface name in the description.
    port_id = port_value if port_type in ("ifname", "local") else (port_descr or port_value)
    return dict(system_name=system_name, chassis_id=chassis_id, port_id=port_id, port_descr=port_descr)


def _entries_json(lldp):
    interfaces = lldp.get("interface", []) if isinstance(lldp, dict) else []
    if isinstance(interfaces, dict):
        interfaces = [interfaces]
    for entry in interfaces:
        for ifname, info in sorted(entry.items()):
            chassis = info.get("chassis") or {}
            if "id" in chassis and isinstance(chassis["id"], dict):
                name, body = None, chassis
            else:
                name, body = next(iter(sorted(chassis.items())), (None, {}))
            port = info.get("port") or {}
            pid = port.get("id") or {}
            yield ifname, _neighbour(name, (body.get("id") or {}).get("value"), pid.get("type"), pid.get("value"),
                                     _value(port.get("descr")))


def _entries_json0(lldp):
    for block in lldp:
        for info in (block or {}).get("interface") or []:
            chassis = _value(info.get("chassis")) or {}
            port = _value(info.get("port")) or {}
            cid = (chassis.get("id") or [{}])[0]
            pid = (port.get("id") or [{}])[0]
            yield info.get("name"), _neighbour(_value(chassis.get("name")), cid.get("value"), pid.get("type"),
                                               pid.get("value"), _value(port.get("descr")))


def neighbor_list(lldpcli_json):
    """[(interface, dict(system_name, chassis_id, port_id, port_descr))], one per neighbour, from
    ``lldpcli -f json show neighbors [details]`` or ``-f json0``.

    lldpcli's JSON has one shape for one interface (``interface: {eno1: {...}}``) and another for several
    (``interface: [{eno1: {...}}, {eno2: {...}}]``), an interface with two neighbours is listed twice, a value
    that occurs several times becomes a list, no neighbour at all is ``lldp: {}``; a chassis is keyed by its
    name, or is the bare object when the neighbour sends no name. ``json0`` wraps every level in a list."""
    data = _load(lldpcli_json, "lldpcli -f json show neighbors")
    if not isinstance(data, dict) or not isinstance(data.get("lldp"), (dict, list)):
        raise LldpError("lldpcli -f json show neighbors: no 'lldp' object in %r" % (str(data)[:200],))
    lldp = data["lldp"]
    return list(_entries_json0(lldp) if isinstance(lldp, list) else _entries_json(lldp))


def neighbors(lldpcli_json):
    """{interface: dict(system_name, chassis_id, port_id, port_descr)} from ``lldpcli -f json show neighbors``
    (the last neighbour of an interface that has several; see neighbor_list)."""
    return dict(neighbor_list(lldpcli_json))


def links(ip_link_json):
    """{mac: dict(ifname, operstate)} of the Ethernet interfaces in ``ip -j link show``."""
    data = _load(ip_link_json, "ip -j link show")
    if not isinstance(data, list):
        raise LldpError("ip -j link show: not a list of links")
    out = {}
    for link in data:
        if link.get("link_type") == "ether" and link.get("address"):
            out.setdefault(link["address"].lower(), dict(ifname=link["ifname"], operstate=link.get("operstate")))
    return out


def node_nics(facts, lldpcli_json=None, ip_link_json=None):
    """The node's NICs for the topology: the discovery facts (by MAC) with the interface names and lldpd's
    neighbours of the node, plus any interface on which lldpd sees a neighbour that the facts do not list."""
    seen = neighbors(lldpcli_json) if lldpcli_json else {}
    by_mac = links(ip_link_json) if ip_link_json else {}
    nics, named = [], set()
    for fact in facts or []:
        nic = dict(fact)
        link = by_mac.get(str(fact.get("mac") or "").lower())
        if link:
            nic["id"] = link["ifname"]
            named.add(link["ifname"])
            if nic.get("link") is None and link.get("operstate"):
                nic["link"] = "Up" if link["operstate"] == "UP" else link["operstate"].capitalize()
            if link["ifname"] in seen:
                nic["lldp"] = dict((k, v) for k, v in seen[link["ifname"]].items() if k != "port_descr")
                nic["lldp_source"] = "lldpd"
        nics.append(nic)
    macs = dict((v["ifname"], mac) for mac, v in by_mac.items())
    for ifname in sorted(set(seen) - named):
        nics.append(dict(id=ifname, mac=macs.get(ifname), speed_mbps=None, link="Up", lldp_source="lldpd",
                         lldp=dict((k, v) for k, v in seen[ifname].items() if k != "port_descr")))
    return nics
