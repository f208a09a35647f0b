# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host network as the kernel has it, against the node's plan: what the host_network stage verifies after a change
(and reports on every run) - each bond's mode, members and LACP partner, each planned link's MTU, operstate and
addresses, and the LLDP neighbour of each member.

Pure: the caller reads ``/proc/net/bonding/<bond>``, ``ip -j -d addr show`` and ``lldpcli -f json show neighbors
details`` on the node and passes them in."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import re

from ansible_collections.reforge.hci.plugins.module_utils.microseg.lldp import neighbor_list

NO_PARTNER = "00:00:00:00:00:00"
MODES = {"IEEE 802.3ad Dynamic link aggregation": "802.3ad", "fault-tolerance (active-backup)": "active-backup",
         "load balancing (round-robin)": "balance-rr", "load balancing (xor)": "balance-xor",
         "fault-tolerance (broadcast)": "broadcast", "transmit load balancing": "balance-tlb",
         "adaptive load balancing": "balance-alb"}


def _fields(lines):
    out = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def parse_bonding(text):
    """One ``/proc/net/bonding/<bond>`` file: {mode, lacp_rate, hash_policy, mii_status, active_slave,
    aggregator: {id, partner_mac} (802.3ad), members: [{name, mii_status, speed, perm_mac, aggregator_id,
    partner_mac}]}. A member's partner is the system MAC of the last LACPDU it received (NO_PARTNER: none)."""
    if "Bonding Mode:" not in text:
        raise ValueError("not a /proc/net/bonding file (no 'Bonding Mode:')")
    head, *slaves = re.split(r"^Slave Interface: ", text, flags=re.M)
    h = _fields(head.splitlines())
    mode = h.get("Bonding Mode", "")
    aggregator = None
    active = re.search(r"Active Aggregator Info:\s*\n\s*Aggregator ID: (\d+)(.*?)(?:\n\s*\n|\Z)", head, re.S)
    if active:
        partner = re.search(r"Partner Mac Address: (\S+)", active.group(2))
        aggregator = dict(id=active.group(1), partner_mac=(partner.group(1).lower() if partner else None))
    members = []
    for block in slaves:
        name, _nl, rest = block.partition("\n")
        top = _fields(rest.split("details actor lacp pdu:")[0].splitlines())
        partner = re.search(r"details partner lacp pdu:.*?system mac address: (\S+)", rest, re.S)
        members.append(dict(name=name.strip(), mii_status=top.get("MII Status"), speed=top.get("Speed"),
                            perm_mac=(top.get("Permanent HW addr") or "").lower() or None,
                            aggregator_id=top.get("Aggregator ID"),
                            partner_mac=(partner.group(1).lower() if partner else None)))
    return dict(mode=MODES.get(mode, mode), lacp_rate=h.get("LACP rate"), hash_policy=h.get("Transmit Hash Policy"),
                mii_status=h.get("MII Status"), active_slave=h.get("Currently Active Slave"), aggregator=aggregator,
                members=members)


def links(ip_addr_json):
    """{ifname: {mtu, operstate, kind, addresses: [cidr]}} from ``ip -j -d addr show``."""
    data = json.loads(ip_addr_json) if isinstance(ip_addr_json, str) else ip_addr_json
    if not isinstance(data, list):
        raise ValueError("ip -j -d addr show: not a list of links")
    out = {}
    for link in data:
        out[link["ifname"]] = dict(
            mtu=link.get("mtu"), operstate=link.get("operstate"),
            kind=(link.get("linkinfo") or {}).get("info_kind"), master=link.get("master"),
            addresses=["%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info") or []
                       if a.get("family") in ("inet", "inet6") and a.get("scope") == "global"])
    return out


def verify(plan, bonds, link_state, lldpcli_json=None):
    """The node's state against its plan: (state, findings). ``bonds`` maps each bond to its parsed
    /proc/net/bonding file (None: the bond does not exist). Findings are one line each, naming the link."""
    findings = []
    seen = {}
    for ifname, n in neighbor_list(lldpcli_json) if lldpcli_json else []:
        seen.setdefault(ifname, []).append("%s %s" % (n.get("system_name") or n.get("chassis_id"), n.get("port_id")))
    report = dict(bonds={}, links={})
    for name, planned in sorted((plan.get("bonds") or {}).items()):
        state = bonds.get(name)
        if state is None:
            findings.append("%s: no such bond on the node" % name)
            continue
        entry = dict(mode=state["mode"], lacp_rate=state["lacp_rate"], hash_policy=state["hash_policy"],
                     partner=(state["aggregator"] or {}).get("partner_mac"), active_slave=state["active_slave"],
                     members=[])
        if state["mode"] != planned["mode"]:
            findings.append("%s: mode %s, the plan says %s" % (name, state["mode"], planned["mode"]))
        by_mac = dict((m["perm_mac"], m) for m in state["members"])
        active_id = (state["aggregator"] or {}).get("id")
        for pm in planned.get("members") or []:
            m = by_mac.get(pm["mac"].lower())
            if m is None:
                findings.append("%s: member %s (%s) is not in the bond" % (name, pm["nic"], pm["mac"]))
                continue
            line = dict(name=m["name"], mac=pm["mac"], mii_status=m["mii_status"], speed=m["speed"],
                        lldp=seen.get(m["name"], []))
            if m["mii_status"] != "up":
                findings.append("%s: member %s has no link (MII %s)" % (name, m["name"], m["mii_status"]))
            if state["mode"] == "802.3ad":
                line.update(aggregator_id=m["aggregator_id"], partner=m["partner_mac"],
                            in_active_aggregator=m["aggregator_id"] is not None and m["aggregator_id"] == active_id)
                if not m["partner_mac"] or m["partner_mac"] == NO_PARTNER:
                    findings.append("%s: member %s has no LACP partner (no LACPDU from the switch port)" % (name, m["name"]))
                elif not line["in_active_aggregator"]:
                    findings.append("%s: member %s is in aggregator %s, not the active one (%s): it carries no traffic"
                                    % (name, m["name"], m["aggregator_id"], active_id))
            entry["members"].append(line)
        if state["mode"] == "802.3ad":
            partners = sorted(set(m.get("partner") for m in entry["members"] if m.get("in_active_aggregator")))
            if len(partners) > 1:
                findings.append("%s: the active aggregator's members see different partners (%s)" % (name, ", ".join(partners)))
        report["bonds"][name] = entry
    wanted = {}
    for kind in ("bonds", "vlans", "bridges"):
        for name, item in (plan.get(kind) or {}).items():
            wanted[name] = dict(mtu=item.get("mtu"), addresses=[])
    for network, item in sorted((plan.get("networks") or {}).items()):
        if item.get("cidr"):
            wanted.setdefault(item["interface"], dict(mtu=item.get("link_mtu"), addresses=[]))["addresses"].append(item["cidr"])
    for name, want in sorted(wanted.items()):
        have = link_state.get(name)
        if have is None:
            findings.append("%s: no such link on the node" % name)
            continue
        report["links"][name] = dict(have, planned_mtu=want["mtu"], planned_addresses=want["addresses"])
        if want["mtu"] and have["mtu"] != want["mtu"]:
            findings.append("%s: MTU %s, the plan says %s" % (name, have["mtu"], want["mtu"]))
        if have["operstate"] not in ("UP", "UNKNOWN"):
            findings.append("%s: %s" % (name, have["operstate"]))
        for cidr in want["addresses"]:
            if cidr not in have["addresses"]:
                findings.append("%s: %s is not on it" % (name, cidr))
    return report, findings


def summary(report):
    """One line per bond and per planned link, for the play's output."""
    lines = []
    for name, b in sorted(report["bonds"].items()):
        members = []
        for m in b["members"]:
            where = ", LLDP " + " / ".join(m["lldp"]) if m["lldp"] else ""
            if "in_active_aggregator" in m:
                agg = "in the active aggregator" if m["in_active_aggregator"] else "NOT in the active aggregator"
                members.append("%s %s %s%s" % (m["name"], m["speed"] or "speed ?", agg, where))
            else:
                members.append("%s %s MII %s%s" % (m["name"], m["speed"] or "speed ?", m["mii_status"], where))
        head = "%s %s" % (name, b["mode"])
        if b["mode"] == "802.3ad":
            head += " (LACP rate %s, hash %s, partner %s)" % (b["lacp_rate"], b["hash_policy"], b["partner"])
        elif b["active_slave"]:
            head += " (active %s)" % b["active_slave"]
        lines.append("%s: %s" % (head, "; ".join(members)))
    for name, link in sorted(report["links"].items()):
        lines.append("%s: %s, MTU %s, %s" % (name, link["operstate"], link["mtu"],
                                             ", ".join(link["addresses"]) if link["addresses"] else "no address"))
    return lines


def report_plan(plan):
    """The plan as a report keeps it: without the member speeds the plan read from the node's NICs when it was made.
    A member that was down then (a freshly installed node's NICs other than the install NIC) had no speed, and the
    same plan made after the apply has 25000 - the report would change on the first rerun though nothing did. The
    speed each member runs at is in the report's state."""
    kept = dict(plan)
    kept["bonds"] = {}
    for name, bond in plan.get("bonds", {}).items():
        members = [dict((k, v) for k, v in m.items() if k != "speed_mbps") for m in bond.get("members", [])]
        kept["bonds"][name] = dict(bond, members=members)
    return kept
