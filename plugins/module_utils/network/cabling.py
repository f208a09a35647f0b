# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cabling check of the host network stage: every bond member NIC of a node's plan must see, over LLDP, the
switch (system name) and switch port (port id) the plan names for it, before any file is written.

Pure: the caller reads ``lldpcli -f json show neighbors details`` and ``ip -j -d link show`` on the node (and,
optionally, the BMC's LLDP receive data) and passes them in; the result is a report per member and the list of
refusals, one line each, naming the bond, the member, its MAC, what the plan says and what was seen."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.microseg.lldp import LldpError, _load, neighbor_list

__all__ = ["LldpError", "members", "interfaces_by_mac", "seen_by_interface", "compare"]


def members(plan):
    """The bond members of one node's plan (an entry of reforge.hci.network_plan's result), in plan order."""
    if not isinstance(plan, dict) or not isinstance(plan.get("bonds"), dict):
        raise ValueError("plan: give one node's plan (an entry of reforge.hci.network_plan's result)")
    out = []
    for bond_name, bond in sorted(plan["bonds"].items()):
        for m in bond.get("members") or []:
            out.append(dict(bond=bond_name, nic=m["nic"], mac=(m.get("mac") or "").lower(),
                            switches=list(m.get("switches") or []), port=m.get("port")))
    return out


STACKED = ("bond", "team", "vlan", "bridge", "macvlan", "macvtap", "ipvlan", "vrf")


def interfaces_by_mac(ip_link_json):
    """{permanent MAC: dict(ifname, up)} of the node's Ethernet interfaces in ``ip -j -d link show``.

    A bond member carries the bond's MAC; its own is ``permaddr``. Bonds, VLANs, bridges and the like (a
    ``linkinfo.info_kind`` of STACKED) share a NIC's MAC and are never NICs; a NIC (no info_kind) wins over any other
    link of the same MAC (a veth, a tap)."""
    data = _load(ip_link_json, "ip -j -d link show")
    if not isinstance(data, list):
        raise LldpError("ip -j -d link show: not a list of links")
    out = {}
    ether = [link for link in data if link.get("link_type") == "ether"]
    for physical in (True, False):
        for link in ether:
            kind = (link.get("linkinfo") or {}).get("info_kind")
            if (kind is None) != physical or kind in STACKED:
                continue
            mac = (link.get("permaddr") or link.get("address") or "").lower()
            if mac:
                out.setdefault(mac, dict(ifname=link["ifname"], up="UP" in (link.get("flags") or [])))
    return out


def seen_by_interface(lldpcli_json=None, bmc_nics=None, by_mac=None):
    """{interface: [neighbour + source]}: lldpd's neighbours of the node, and where lldpd has none for an interface,
    the LLDP data the BMC received for the NIC of the same MAC (bmc_info's C(nics) entries with C(lldp))."""
    seen = {}
    for ifname, n in neighbor_list(lldpcli_json) if lldpcli_json else []:
        seen.setdefault(ifname, []).append(dict(n, source="lldpd"))
    for nic in bmc_nics or []:
        lldp = nic.get("lldp") or {}
        link = (by_mac or {}).get(str(nic.get("mac") or "").lower())
        if link and (lldp.get("system_name") or lldp.get("port_id")) and link["ifname"] not in seen:
            seen[link["ifname"]] = [dict(system_name=lldp.get("system_name"), chassis_id=lldp.get("chassis_id"),
                                         port_id=lldp.get("port_id"), port_descr=None, source="BMC")]
    return seen


def _planned(member):
    where = " or ".join(member["switches"]) or "any switch"
    return "%s %s" % (where, member["port"]) if member["port"] else "%s (any port)" % where


def _shown(neighbour):
    return "%s %s" % (neighbour.get("system_name") or "chassis %s" % neighbour.get("chassis_id"), neighbour.get("port_id"))


def _matches(member, neighbour):
    return ((not member["switches"] or neighbour.get("system_name") in member["switches"])
            and (not member["port"] or neighbour.get("port_id") == member["port"]))


def compare(plan_members, seen, by_mac, waited=None, unchecked=()):
    """(report, refusals) of the plan's members against what the node sees.

    ``seen``: seen_by_interface's result; ``by_mac``: interfaces_by_mac's; ``waited``: seconds waited for LLDP (said
    in the refusal of a NIC without neighbour); ``unchecked``: interfaces not read on purpose (down in check mode)."""
    report = []
    for m in plan_members:
        entry = dict(m, interface=None, found=[], ok=False, text="")
        head = "%s member %s (%s" % (m["bond"], m["nic"], m["mac"])
        link = by_mac.get(m["mac"])
        if link is None:
            entry["text"] = "%s): no interface of this node has that MAC" % head
        else:
            ifname = entry["interface"] = link["ifname"]
            head += ", here %s)" % ifname if ifname != m["nic"] else ")"
            entry["found"] = found = seen.get(ifname, [])
            shown = ", ".join("%s (%s)" % (_shown(n), n["source"]) if n["source"] != "lldpd" else _shown(n) for n in found)
            if not m["switches"] and not m["port"]:
                entry.update(ok=True, text="%s: no switch or port in the plan, not checked (LLDP shows %s)"
                             % (head, shown or "nothing"))
            elif ifname in unchecked:
                entry.update(ok=True, text="%s: down, LLDP not read in check mode (a real run brings it up to listen)" % head)
            elif not found:
                entry["text"] = ("%s: plan says %s, no LLDP neighbour%s (cable, switch port down, or LLDP off on the "
                                 "switch?)" % (head, _planned(m), " within %d s" % waited if waited is not None else ""))
            elif any(_matches(m, n) for n in found):
                entry.update(ok=True, text="%s: %s as planned" % (head, shown))
            else:
                entry["text"] = "%s: plan says %s, LLDP shows %s" % (head, _planned(m), shown)
        report.append(entry)
    for entry in report:
        if entry["ok"] or not entry["found"]:
            continue
        for other in report:
            if other is not entry and other["bond"] == entry["bond"] and any(_matches(other, n) for n in entry["found"]):
                entry["text"] += " - where the plan puts %s: cables swapped?" % other["nic"]
                break
        else:
            for other in report:
                if other is not entry and any(_matches(other, n) for n in entry["found"]):
                    entry["text"] += " - where the plan puts %s member %s: cabled to the other bond's port?" % (
                        other["bond"], other["nic"])
                    break
    refusals = [e["text"] for e in report if not e["ok"]]
    return report, refusals
