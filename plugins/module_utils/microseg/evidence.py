# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance evidence of the segmentation: the policy, the rules in force, the probe matrix with expected and
actual results, the per-tier-pair counters and the time range, as JSON and as one HTML page an auditor can read.
Pure: the caller runs the probes and reads the counters.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

try:
    from html import escape
except ImportError:  # pragma: no cover - Python 2 controllers are not supported by the collection
    from cgi import escape  # pylint: disable=deprecated-module

from .ruleset import pair_name

VERDICT_NOTES = {
    "PASS": "Every probe behaved as the policy says.",
    "FAIL": "At least one probe did not behave as the policy says (highlighted below).",
    "INCOMPLETE": "No probe matrix was run with this evidence: the rules in force and the counters are shown, "
                  "not tested. Run the probes and build the evidence again for a verdict.",
}


def build(policy, campus, node, ruleset_text, probes, counters_before, counters_after, started, finished):
    """The evidence of one node (one bridge holder). ``probes``: dicts with src_vm, src_tier, dst_vm, dst_tier, proto,
    port, expected ('allow'/'deny') and passed (bool). Counters are the table's named counters before and after."""
    pairs = []
    for src, dst in _tier_pairs(policy):
        name = pair_name(src, dst)

        def delta(kind, field, name=name):
            key = "%s_%s" % (kind, name)
            return counters_after.get(key, {}).get(field, 0) - counters_before.get(key, {}).get(field, 0)

        pairs.append(dict(src=src, dst=dst, allowed_packets=delta("allow", "packets"), allowed_bytes=delta("allow", "bytes"),
                          dropped_packets=delta("drop", "packets"), dropped_bytes=delta("drop", "bytes")))
    return _doc(policy, campus, [dict(node=node, rules_in_force=ruleset_text)], probes, pairs, started, finished, [])


def build_campus(policy, campus, rules, probes, flow_window):
    """The evidence of a campus: ``rules`` the table in force on each node (dicts node, rules_in_force), the
    counters of ``flow_window`` (:func:`.flows.window` over every node's readings: summed per tier pair, counter
    resets found and reported), and the probe matrix, if one was run (without, the verdict is INCOMPLETE)."""
    by_pair = dict(((p["src"], p["dst"]), p) for p in flow_window["pairs"])
    pairs = []
    for src, dst in _tier_pairs(policy):
        p = by_pair.get((src, dst), {})
        pairs.append(dict(src=src, dst=dst, allowed_packets=p.get("allow_packets", 0), allowed_bytes=p.get("allow_bytes", 0),
                          dropped_packets=p.get("drop_packets", 0), dropped_bytes=p.get("drop_bytes", 0)))
    return _doc(policy, campus, sorted(rules, key=lambda r: r["node"]), probes, pairs, flow_window["start"],
                flow_window["end"], flow_window.get("resets") or [])


def _tier_pairs(policy):
    tiers = policy.tier_names()
    return [(src, dst) for src in tiers for dst in tiers if src != dst]


def _doc(policy, campus, rules, probes, pairs, started, finished, resets):
    rows = []
    for p in probes:
        actual = "allow" if p["passed"] else "deny"
        rows.append(dict(p, actual=actual, ok=(actual == p["expected"])))
    for pair in pairs:
        pair["flows"] = [f.as_dict() for f in policy.flows_between(pair["src"], pair["dst"])]
    failures = [r for r in rows if not r["ok"]]
    verdict = "FAIL" if failures else ("PASS" if rows else "INCOMPLETE")
    return dict(campus=campus, nodes=[r["node"] for r in rules], started=started, finished=finished, verdict=verdict,
                summary=dict(probes=len(rows), as_expected=len(rows) - len(failures), not_as_expected=len(failures),
                             allowed=sum(1 for r in rows if r["actual"] == "allow"),
                             denied=sum(1 for r in rows if r["actual"] == "deny")),
                counter_resets=resets, policy=policy.as_dict(), rules_in_force=rules, probes=rows, tier_pairs=pairs)


def _table(headers, rows):
    out = ["<table><thead><tr>%s</tr></thead><tbody>" % "".join("<th>%s</th>" % escape(h) for h in headers)]
    for row, css in rows:
        out.append("<tr class='%s'>%s</tr>" % (css, "".join("<td>%s</td>" % escape(str(c)) for c in row)))
    out.append("</tbody></table>")
    return "\n".join(out)


def render_html(doc):
    verdict = doc["verdict"]
    s = doc["summary"]
    tier_rows = [((t["name"], t["description"], ", ".join(v["name"] for v in doc["policy"]["vms"] if v["tier"] == t["name"])), "")
                 for t in doc["policy"]["tiers"]]
    flow_rows = [((f["from"], f["to"], f["proto"], ", ".join(f.get("ports", [])) or "-"), "") for f in doc["policy"]["flows"]]
    pair_rows = [((p["src"], p["dst"], "; ".join("%s %s" % (f["proto"], ",".join(f.get("ports", []))) for f in p["flows"]) or "none (deny)",
                   p["allowed_packets"], p["allowed_bytes"], p["dropped_packets"], p["dropped_bytes"]), "") for p in doc["tier_pairs"]]
    probe_rows = [((r["src_vm"], r["src_tier"], r["dst_vm"], r["dst_tier"], r["proto"], r.get("port") or "-",
                    r["expected"], r["actual"], "as expected" if r["ok"] else "NOT AS EXPECTED"), "ok" if r["ok"] else "bad")
                  for r in doc["probes"]]
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Segmentation evidence - {campus}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #111; }}
.verdict {{ font-size: 1.6em; font-weight: bold; padding: .4em .8em; display: inline-block; color: #fff; }}
.PASS {{ background: #1b7f2a; }} .FAIL {{ background: #b00020; }} .INCOMPLETE {{ background: #8a6200; }}
table {{ border-collapse: collapse; margin: .5em 0 1.2em; font-size: .85em; }}
th, td {{ border: 1px solid #999; padding: 2px 6px; text-align: left; }}
th {{ background: #eee; }} tr.bad td {{ background: #fdd; font-weight: bold; }}
pre {{ background: #f6f6f6; padding: .6em; font-size: .75em; max-height: 30em; overflow: auto; }}
</style></head><body>
<h1>Micro-segmentation evidence: {campus}</h1>
<p class="verdict {verdict}">Verdict: {verdict}</p>
<p>{ok} of {n} probes behaved as the policy says ({allowed} allowed, {denied} denied, {bad} not as expected).
Nodes: {node}. Counters read from {started} to {finished} (UTC).{resets}</p>
<p class="note">{verdict_note}</p>
<p>Between tiers everything is denied except the flows listed; within a tier everything is allowed.
Each denied packet is dropped by the rule of its tier pair, counted on that pair's counter and logged.</p>
<h2>Tiers and their VMs</h2>{tiers}
<h2>Allowed flows between tiers</h2>{flows}
<h2>Per tier pair: packets counted from {started} to {finished} (UTC), all nodes</h2>{pairs}
<h2>Probe matrix</h2>{probes}
<h2>Rules in force</h2>{rules}
</body></html>
""".format(campus=escape(doc["campus"]), verdict=verdict, ok=s["as_expected"], n=s["probes"], allowed=s["allowed"],
           denied=s["denied"], bad=s["not_as_expected"], node=escape(", ".join(doc["nodes"])), started=escape(doc["started"]),
           finished=escape(doc["finished"]),
           resets="".join(" Counters restarted on %s (%s): their figures are lower bounds." % (escape(r["node"]), escape(r["reason"]))
                          for r in doc.get("counter_resets") or []),
           verdict_note=escape(VERDICT_NOTES[verdict]),
           tiers=_table(["tier", "description", "VMs"], tier_rows),
           flows=_table(["from", "to", "protocol", "ports"], flow_rows),
           pairs=_table(["from tier", "to tier", "allowed flows", "allowed packets", "allowed bytes", "dropped packets",
                         "dropped bytes"], pair_rows),
           probes=_table(["source VM", "source tier", "target VM", "target tier", "protocol", "port", "expected", "actual",
                          "result"], probe_rows),
           rules="\n".join("<h3>%s</h3><pre>%s</pre>" % (escape(r["node"]), escape(r["rules_in_force"]))
                           for r in doc["rules_in_force"]))
