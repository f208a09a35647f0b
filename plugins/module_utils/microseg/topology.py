# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology view of a campus: one HTML page with an inline SVG made by Graphviz (``dot``).

Three steps, each testable alone:

- :func:`model` - plain data in, the graph model out (pure): switches (from the NICs' LLDP neighbours; a NIC
  without one goes to an "unknown switch"), nodes with their NICs, bonds, addresses per network (VLAN) and
  Ceph OSDs (from ``ceph osd tree -f json``), the VMs grouped by tier, and the flows between tiers with their
  volumes (from :func:`.flows.window`): allowed flows as solid edges whose width follows the bytes, denied
  traffic as dashed red edges with the drop counts, only where something was dropped.
- :func:`dot_source` - the model as DOT text (pure, deterministic: the same model gives the same bytes).
- :func:`render_svg` / :func:`render_html` - ``dot -Tsvg`` (run through the caller's ``run``) and the page.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import math
import re

try:
    from html import escape
except ImportError:  # pragma: no cover - Python 2 controllers are not supported by the collection
    from cgi import escape  # pylint: disable=deprecated-module

from ..reports.history import human_bytes

UNKNOWN_SWITCH = "unknown switch"
TIER_COLOURS = ["#e3f2fd", "#e8f5e9", "#fff3e0", "#f3e5f5", "#e0f7fa", "#fbe9e7", "#f1f8e9", "#ede7f6"]
ALLOW_COLOUR = "#2e7d32"
IDLE_COLOUR = "#9e9e9e"
DROP_COLOUR = "#c62828"


class TopologyError(ValueError):
    """Inputs that cannot be drawn (a VM on a node the campus does not have, an OSD tree that is not one)."""


class DotError(Exception):
    def __init__(self, argv, rc, stderr):
        self.rc = rc
        super(DotError, self).__init__("%s failed (rc=%s): %s" % (" ".join(argv), rc, (stderr or "").strip()))


def lldp_text(value):
    """LLDP ids travel as octets; Redfish gives them as colon-separated hex. Printable ones are shown as text
    (``45:74:68`` -> ``Eth``), MAC-like ones stay as they are."""
    if not value:
        return value
    value = str(value)
    if re.match(r"^([0-9A-Fa-f]{2}:)+[0-9A-Fa-f]{2}$", value):
        raw = bytes(bytearray(int(x, 16) for x in value.split(":")))
        if len(raw) != 6 and all(32 <= b < 127 for b in bytearray(raw)):
            return raw.decode("ascii")
    return value


def osds_by_host(osd_tree):
    """{host: [dict(name, status, device_class)]} from the JSON of ``ceph osd tree -f json``."""
    if not osd_tree:
        return {}
    if not isinstance(osd_tree, dict) or not isinstance(osd_tree.get("nodes"), list):
        raise TopologyError("osd_tree is not the output of 'ceph osd tree -f json' (no 'nodes' list)")
    by_id = dict((n["id"], n) for n in osd_tree["nodes"])
    out = {}
    for n in osd_tree["nodes"]:
        if n.get("type") != "host":
            continue
        osds = [by_id[c] for c in n.get("children", []) if c in by_id and by_id[c].get("type") == "osd"]
        out[n["name"]] = [dict(name=o["name"], status=o.get("status", "unknown"), device_class=o.get("device_class"))
                          for o in sorted(osds, key=lambda o: o["id"])]
    return out


def _switch_key(lldp):
    return lldp.get("system_name") or lldp.get("chassis_id")


def _by_vlan(networks):
    """Network names in VLAN order (untagged first), then by name."""
    return sorted(networks or {}, key=lambda n: (int(((networks or {})[n] or {}).get("vlan") or 0), n))


def model(campus, policy, nodes, networks=None, osd_tree=None, flows=None):
    """The graph model. ``policy``: dict(tiers, vms, flows) as the policy module validates it (VMs may say the
    ``node`` they run on); ``nodes``: [dict(name, nics=[dict(id, mac, speed_mbps, link, lldp)], bonds=[dict(name,
    mode, members)], addresses={network: address})]; ``networks``: {name: dict(cidr, vlan, mtu)} (the address
    plan's input); ``osd_tree``: ``ceph osd tree -f json``; ``flows``: a :func:`.flows.window`."""
    osds = osds_by_host(osd_tree)
    names = [n["name"] for n in nodes]
    switches = {}
    links = []
    hosts = []
    for node in sorted(nodes, key=lambda n: n["name"]):
        bond_of = {}
        bonds = []
        for bond in sorted(node.get("bonds") or [], key=lambda b: b["name"]):
            bonds.append(dict(name=bond["name"], mode=bond.get("mode") or "", members=list(bond.get("members") or [])))
            for member in bond.get("members") or []:
                bond_of[member] = bond["name"]
        nics = []
        for nic in sorted(node.get("nics") or [], key=lambda x: str(x.get("id"))):
            lldp = nic.get("lldp") or {}
            key = _switch_key(lldp) if lldp else None
            switch = key or UNKNOWN_SWITCH
            sw = switches.setdefault(switch, dict(name=switch, chassis_id=lldp.get("chassis_id") if key else None,
                                                  known=bool(key)))
            if key and not sw.get("chassis_id"):
                sw["chassis_id"] = lldp.get("chassis_id")
            nics.append(dict(id=str(nic.get("id")), mac=nic.get("mac"), speed_mbps=nic.get("speed_mbps"), link=nic.get("link"),
                             bond=bond_of.get(str(nic.get("id"))), switch=switch,
                             switch_port=lldp_text(lldp.get("port_id")) if key else None))
            links.append(dict(host=node["name"], nic=str(nic.get("id")), switch=switch,
                              switch_port=lldp_text(lldp.get("port_id")) if key else None, link=nic.get("link"),
                              speed_mbps=nic.get("speed_mbps")))
        addresses = []
        for net in _by_vlan(networks):
            spec = (networks or {})[net] or {}
            addresses.append(dict(network=net, vlan=spec.get("vlan"), cidr=spec.get("cidr"),
                                  address=(node.get("addresses") or {}).get(net)))
        hosts.append(dict(name=node["name"], nics=nics, bonds=bonds, addresses=addresses, osds=osds.get(node["name"], [])))
    stray_osd_hosts = sorted(set(osds) - set(names))
    tiers = []
    for i, tier in enumerate(policy["tiers"]):
        vms = sorted((v for v in policy["vms"] if v["tier"] == tier["name"]), key=lambda v: v["name"])
        for vm in vms:
            if vm.get("node") and vm["node"] not in names:
                raise TopologyError("VM %s runs on %s, which is not a node of campus %s (nodes: %s)"
                                    % (vm["name"], vm["node"], campus, ", ".join(names)))
        tiers.append(dict(name=tier["name"], description=tier.get("description") or "", colour=TIER_COLOURS[i % len(TIER_COLOURS)],
                          vms=[dict(name=v["name"], node=v.get("node")) for v in vms],
                          within=next((w for w in (flows or {}).get("within", []) if w["tier"] == tier["name"]), None)))
    allowed, denied = [], []
    by_pair = dict(((p["src"], p["dst"]), p) for p in (flows or {}).get("pairs", []))
    services = {}
    for f in policy.get("flows", []):
        services.setdefault((f["from"], f["to"]), []).append(
            f["proto"] + (" " + ",".join(str(p) for p in f.get("ports") or []) if f.get("ports") else ""))
    for (src, dst), svc in sorted(services.items()):
        p = by_pair.get((src, dst), {})
        allowed.append(dict(src=src, dst=dst, services=svc, packets=p.get("allow_packets", 0), bytes=p.get("allow_bytes", 0),
                            pps=p.get("allow_pps"), bps=p.get("allow_bps")))
    for (src, dst), p in sorted(by_pair.items()):
        if p.get("drop_packets"):
            denied.append(dict(src=src, dst=dst, packets=p["drop_packets"], bytes=p["drop_bytes"], pps=p.get("drop_pps")))
    switch_list = sorted(switches.values(), key=lambda s: (not s["known"], s["name"]))
    return dict(campus=campus, switches=switch_list, hosts=hosts, links=links, tiers=tiers, allowed=allowed, denied=denied,
                networks=[dict(name=n, **dict((k, (networks or {})[n].get(k)) for k in ("cidr", "vlan", "mtu")))
                          for n in _by_vlan(networks)],
                stray_osd_hosts=stray_osd_hosts,
                window=dict((k, (flows or {}).get(k)) for k in ("start", "end", "seconds", "resets", "gone", "complete")) if flows else None)


def _h(text):
    return escape(str(text), quote=True)


def _q(text):
    """A DOT string; a newline in the text is a line break of the label."""
    return '"%s"' % str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _ident(prefix, name):
    return prefix + re.sub(r"[^A-Za-z0-9_]", "_", str(name))


def _speed(mbps):
    if not mbps:
        return ""
    return "%g Gb/s" % (mbps / 1000.0) if mbps >= 1000 else "%d Mb/s" % mbps


def _rate(bps):
    if bps is None:
        return ""
    for unit, div in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= div:
            return "%.1f %s" % (bps / div, unit)
    return "%.0f bit/s" % bps


def _count(n):
    return "{:,}".format(int(n))


def _host_label(host):
    rows = ['<TR><TD COLSPAN="3" BGCOLOR="#37474f"><FONT COLOR="white"><B>%s</B></FONT></TD></TR>' % _h(host["name"])]
    for nic in host["nics"]:
        down = nic["link"] and str(nic["link"]).lower() not in ("up", "linkup")
        where = "%s %s" % (nic["switch"], nic["switch_port"]) if nic["switch_port"] else (
            "no LLDP neighbour" if nic["switch"] == UNKNOWN_SWITCH else nic["switch"])
        rows.append('<TR><TD PORT="%s" ALIGN="LEFT"><FONT COLOR="%s">%s%s</FONT></TD><TD ALIGN="LEFT">%s</TD>'
                    '<TD ALIGN="LEFT"><FONT COLOR="#607d8b">%s</FONT></TD></TR>'
                    % (_h(_ident("p_", nic["id"])), "#c62828" if down else "#222222", _h(nic["id"]), " DOWN" if down else "",
                       _h(" ".join(x for x in (_speed(nic["speed_mbps"]), nic["bond"] or "") if x) or " "), _h(where)))
    for bond in host["bonds"]:
        rows.append('<TR><TD ALIGN="LEFT" BGCOLOR="#eceff1"><B>%s</B></TD><TD COLSPAN="2" ALIGN="LEFT" BGCOLOR="#eceff1">%s</TD></TR>'
                    % (_h(bond["name"]), _h(" ".join(x for x in (bond["mode"], " + ".join(bond["members"])) if x))))
    for addr in host["addresses"]:
        rows.append('<TR><TD ALIGN="LEFT">%s</TD><TD ALIGN="LEFT">%s</TD><TD ALIGN="LEFT">%s</TD></TR>'
                    % (_h(addr["network"]), _h("VLAN %s" % addr["vlan"]) if addr["vlan"] else "untagged", _h(addr["address"] or "-")))
    if host["osds"]:
        cells = " ".join('<FONT COLOR="%s">%s%s</FONT>' % (("#2e7d32", _h(o["name"]), "") if o["status"] == "up" else
                                                           ("#c62828", _h(o["name"]), " " + _h(o["status"]).upper()))
                         for o in host["osds"])
    else:
        cells = "none"
    rows.append('<TR><TD ALIGN="LEFT">Ceph OSDs</TD><TD COLSPAN="2" ALIGN="LEFT">%s</TD></TR>' % cells)
    return '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">%s</TABLE>>' % "".join(rows)


def _tier_label(tier):
    rows = []
    vms = tier["vms"]
    per_row = 2 if len(vms) > 6 else 1
    for i in range(0, len(vms), per_row):
        cells = "".join('<TD ALIGN="LEFT">%s%s</TD>' % (_h(v["name"]), ' <FONT COLOR="#607d8b">%s</FONT>' % _h(v["node"]) if v["node"] else "")
                        for v in vms[i:i + per_row])
        if len(vms[i:i + per_row]) < per_row:
            cells += "<TD></TD>"
        rows.append("<TR>%s</TR>" % cells)
    if not rows:
        rows.append("<TR><TD>no VMs</TD></TR>")
    if tier["within"] and tier["within"]["packets"]:
        rows.append('<TR><TD COLSPAN="%d" ALIGN="LEFT"><FONT COLOR="#607d8b">within: %s pkts, %s</FONT></TD></TR>'
                    % (per_row, _count(tier["within"]["packets"]), _h(human_bytes(tier["within"]["bytes"]))))
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">%s</TABLE>>' % "".join(rows)


def dot_source(m):
    """DOT text of the model: the physical campus (switches above the nodes) and beside it the tiers and their flows."""
    out = ['digraph topology {',
           '  graph [fontname="Helvetica", fontsize=12, rankdir=TB, nodesep=0.3, ranksep=0.7, newrank=true, compound=true, remincross=false, '
           'bgcolor="white", pad=0.3];',
           '  node [fontname="Helvetica", fontsize=11, shape=plaintext];',
           '  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7];']
    out.append('  subgraph cluster_physical {')
    out.append('    label=<<B>Switches, nodes, bonds, networks and Ceph OSDs</B>>; style="rounded"; color="#90a4ae";')
    for sw in m["switches"]:
        label = sw["name"] + ("\n" + sw["chassis_id"] if sw.get("chassis_id") else "")
        style = 'style="filled", fillcolor="#fffde7"' if sw["known"] else 'style="filled,dashed", fillcolor="#f5f5f5"'
        out.append('    %s [id=%s, class="switch", shape=box, %s, label=%s];'
                   % (_ident("sw_", sw["name"]), _q(_ident("sw_", sw["name"])), style, _q(label)))
    for host in m["hosts"]:
        ident = _ident("host_", host["name"])
        out.append('    %s [id=%s, class="host", label=%s];' % (ident, _q(ident), _host_label(host)))
    if len(m["hosts"]) > 1:  # the nodes side by side in name order, the switches above them
        out.append('    { rank=same; %s; }' % "; ".join(_ident("host_", h["name"]) for h in m["hosts"]))
        out.append('    %s [style=invis];' % " -> ".join(_ident("host_", h["name"]) for h in m["hosts"]))
    if m["switches"]:
        out.append('    { rank=same; %s; }' % "; ".join(_ident("sw_", sw["name"]) for sw in m["switches"]))
    for link in m["links"]:
        down = link["link"] and str(link["link"]).lower() not in ("up", "linkup")
        attrs = ['dir=none', 'color="%s"' % ("#c62828" if down else "#546e7a")]
        if link["switch"] == UNKNOWN_SWITCH:
            attrs.append('style=dashed')
        out.append('    %s -> %s:%s:w [%s];' % (_ident("sw_", link["switch"]), _ident("host_", link["host"]), _ident("p_", link["nic"]),
                                                ", ".join(attrs)))
    out.append('  }')
    out.append('  subgraph cluster_tiers {')
    title = "VMs by tier, flows between tiers"
    # no border: the labels of edges between the tiers may lie outside a cluster's box
    out.append('    label=<<B>%s</B>>; peripheries=0;' % _h(title))
    for tier in m["tiers"]:
        cid = _ident("cluster_tier_", tier["name"])
        out.append('    subgraph %s {' % cid)
        out.append('      label=<<B>%s</B>: %s (%d VMs)>; style="rounded,filled"; fillcolor="%s"; color="#78909c";'
                   % (_h(tier["name"]), _h(tier["description"]), len(tier["vms"]), tier["colour"]))
        ident = _ident("tier_", tier["name"])
        out.append('      %s [id=%s, class="tier", label=%s];' % (ident, _q(ident), _tier_label(tier)))
        out.append('    }')
    biggest = max([f["bytes"] for f in m["allowed"]] + [1])
    for f in m["allowed"]:
        width = 1.0 + 5.0 * math.log10(f["bytes"] + 1) / math.log10(biggest + 1) if f["bytes"] else 1.0
        lines = [", ".join(f["services"])]
        if f["packets"]:
            lines.append("%s pkts, %s" % (_count(f["packets"]), human_bytes(f["bytes"])))
            lines.append("%s pkt/s, %s" % (f["pps"], _rate(f["bps"])))
        else:
            lines.append("no traffic")
        out.append('    %s -> %s [id=%s, class="flow allowed", color="%s", fontcolor="%s", penwidth=%.2f, ltail=%s, lhead=%s, label=%s];'
                   % (_ident("tier_", f["src"]), _ident("tier_", f["dst"]), _q("flow_%s__%s" % (f["src"], f["dst"])),
                      ALLOW_COLOUR if f["packets"] else IDLE_COLOUR, ALLOW_COLOUR if f["packets"] else IDLE_COLOUR, width,
                      _ident("cluster_tier_", f["src"]), _ident("cluster_tier_", f["dst"]), _q("\n".join(lines))))
    # Denied traffic: one dashed edge per pair of tiers (both directions on one edge, so a campus where every
    # pair dropped something still has at most n(n-1)/2 of them), only where something was dropped.
    order = dict((t["name"], i) for i, t in enumerate(m["tiers"]))
    merged = {}
    for f in m["denied"]:
        merged.setdefault(tuple(sorted((f["src"], f["dst"]), key=lambda t: order.get(t, 0))), []).append(f)
    for (a, b), fs in sorted(merged.items(), key=lambda kv: (order.get(kv[0][0], 0), order.get(kv[0][1], 0))):
        tail, head = (fs[0]["src"], fs[0]["dst"]) if len(fs) == 1 else (a, b)
        lines = ["denied, dropped:"]
        for f in sorted(fs, key=lambda f: (f["src"] != a,)):
            lines.append("%s \u2192 %s: %s pkts, %s" % (f["src"], f["dst"], _count(f["packets"]), human_bytes(f["bytes"])))
        out.append('    %s -> %s [id=%s, class="flow denied", color="%s", fontcolor="%s", style=dashed, penwidth=1.4, dir=%s, '
                   'ltail=%s, lhead=%s, label=%s];'
                   % (_ident("tier_", tail), _ident("tier_", head), _q("drop_%s__%s" % (tail, head)), DROP_COLOUR, DROP_COLOUR,
                      "both" if len(fs) > 1 else "forward", _ident("cluster_tier_", tail), _ident("cluster_tier_", head),
                      _q("\n".join(lines))))
    out.append('  }')
    out.append('}')
    return "\n".join(out) + "\n"


def render_svg(dot_text, run, dot="dot"):
    """SVG text from ``dot -Tsvg`` (``run(argv, data) -> (rc, out, err)``), without the XML prolog and doctype."""
    argv = [dot, "-Tsvg"]
    rc, out, err = run(argv, dot_text)
    if rc != 0 or "<svg" not in (out or ""):
        raise DotError(argv, rc, err or out)
    if isinstance(out, bytes):
        out = out.decode("utf-8")
    return out[out.index("<svg"):]


def _flow_rows(m):
    rows = []
    for f in m["allowed"]:
        rows.append("<tr class='allowed' data-pair='%s>%s'><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                    "<td>-</td><td>-</td></tr>"
                    % (_h(f["src"]), _h(f["dst"]), _h(f["src"]), _h(f["dst"]), _h(", ".join(f["services"])), _count(f["packets"]),
                       _h(human_bytes(f["bytes"])), _h(_rate(f["bps"]) or "-")))
    allowed = set((f["src"], f["dst"]) for f in m["allowed"])
    for f in m["denied"]:
        what = "traffic outside the allowed flows" if (f["src"], f["dst"]) in allowed else "none: all traffic denied"
        rows.append("<tr class='denied' data-pair='%s>%s'><td>%s</td><td>%s</td><td>%s</td><td>-</td><td>-</td>"
                    "<td>-</td><td>%s</td><td>%s</td></tr>"
                    % (_h(f["src"]), _h(f["dst"]), _h(f["src"]), _h(f["dst"]), what, _count(f["packets"]), _h(human_bytes(f["bytes"]))))
    return "\n".join(rows)


def render_html(m, svg):
    w = m["window"]
    if w:
        window = "Flows from %s to %s (UTC, %s s)" % (w["start"], w["end"], _count(w["seconds"]))
    else:
        window = "No counter readings: flows not shown"
    notes = []
    for r in (w or {}).get("resets") or []:
        notes.append("Counter reset on %s: %s. Its numbers count from the reset: what passed before it in this window is "
                     "not in them (a lower bound)." % (r["node"], r["reason"]))
    if (w or {}).get("gone"):
        notes.append("Counters gone at the end of the window (a tier pair removed): %s." % ", ".join(w["gone"]))
    if m["stray_osd_hosts"]:
        notes.append("Ceph hosts that are not nodes of this campus: %s." % ", ".join(m["stray_osd_hosts"]))
    nets = "".join("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
                   % (_h(n["name"]), _h(n["vlan"] or "untagged"), _h(n["cidr"] or "-"), _h(n["mtu"] or "-")) for n in m["networks"])
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Topology - {campus}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em 1.5em; color: #111; }}
h1 {{ margin: 0 0 .2em; font-size: 1.5em; }} .window {{ margin: 0 0 .6em; color: #37474f; }}
.note {{ background: #fff3e0; border-left: 4px solid #ef6c00; padding: .3em .6em; margin: .3em 0; }}
.legend {{ display: flex; gap: 1.6em; flex-wrap: wrap; font-size: .85em; margin: .4em 0 .8em; align-items: center; }}
.legend span.line {{ display: inline-block; width: 42px; vertical-align: middle; margin-right: .4em; }}
.svg svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; font-size: .85em; margin: .4em 0 1em; }}
th, td {{ border: 1px solid #b0bec5; padding: 2px 8px; text-align: left; }} th {{ background: #eceff1; }}
tr.denied td {{ color: #c62828; }}
</style></head><body>
<h1>Topology: {campus}</h1>
<p class="window">{window}</p>
{notes}
<div class="legend">
<div><span class="line" style="border-top: 5px solid #2e7d32"></span>allowed flow (width: bytes in the window)</div>
<div><span class="line" style="border-top: 2px solid #9e9e9e"></span>allowed, no traffic</div>
<div><span class="line" style="border-top: 2px dashed #c62828"></span>denied: dropped packets</div>
<div><span class="line" style="border-top: 2px solid #546e7a"></span>NIC to switch port (LLDP)</div>
<div><span class="line" style="border-top: 2px dashed #546e7a"></span>NIC without LLDP neighbour</div>
<div><span style="color:#2e7d32">osd.N</span> up, <span style="color:#c62828">osd.N DOWN</span></div>
</div>
<div class="svg">{svg}</div>
<h2>Flows between tiers</h2>
<table id="flows"><thead><tr><th>from tier</th><th>to tier</th><th>allowed services</th><th>packets</th><th>bytes</th><th>rate</th>
<th>dropped packets</th><th>dropped bytes</th></tr></thead><tbody>
{flows}
</tbody></table>
<h2>Networks</h2>
<table id="networks"><thead><tr><th>network</th><th>VLAN</th><th>subnet</th><th>MTU</th></tr></thead><tbody>{nets}</tbody></table>
</body></html>
""".format(campus=_h(m["campus"]), window=_h(window), notes="\n".join("<p class='note'>%s</p>" % _h(n) for n in notes),
           svg=svg, flows=_flow_rows(m), nets=nets)
