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


def build(policy, campus, node, ruleset_text, probes, counters_before, counters_after, started, finished):
    """The evidence document. ``probes``: dicts with src_vm, src_tier, dst_vm, dst_tier, proto, port,
    expected ('allow'/'deny') and passed (bool). Counters are the table's named counters before and after."""
    rows = []
    for p in probes:
        actual = "allow" if p["passed"] else "deny"
        rows.append(dict(p, actual=actual, ok=(actual == p["expected"])))
    pairs = []
    tiers = policy.tier_names()
    for src in tiers:
        for dst in tiers:
            if src == dst:
                continue
            name = pair_name(src, dst)

            def delta(kind, field, name=name):
                key = "%s_%s" % (kind, name)
                return counters_after.get(key, {}).get(field, 0) - counters_before.get(key, {}).get(field, 0)

            pairs.append(dict(src=src, dst=dst, flows=[f.as_dict() for f in policy.flows_between(src, dst)],
                              allowed_packets=delta("allow", "packets"), allowed_bytes=delta("allow", "bytes"),
                              dropped_packets=delta("drop", "packets"), dropped_bytes=delta("drop", "bytes"),
                              dropped_packets_total=counters_after.get("drop_" + name, {}).get("packets", 0)))
    failures = [r for r in rows if not r["ok"]]
    return dict(campus=campus, node=node, started=started, finished=finished,
                verdict="PASS" if rows and not failures else "FAIL",
                summary=dict(probes=len(rows), as_expected=len(rows) - len(failures), not_as_expected=len(failures),
                             allowed=sum(1 for r in rows if r["actual"] == "allow"),
                             denied=sum(1 for r in rows if r["actual"] == "deny")),
                policy=policy.as_dict(), rules_in_force=ruleset_text, probes=rows, tier_pairs=pairs)


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
.PASS {{ background: #1b7f2a; }} .FAIL {{ background: #b00020; }}
table {{ border-collapse: collapse; margin: .5em 0 1.2em; font-size: .85em; }}
th, td {{ border: 1px solid #999; padding: 2px 6px; text-align: left; }}
th {{ background: #eee; }} tr.bad td {{ background: #fdd; font-weight: bold; }}
pre {{ background: #f6f6f6; padding: .6em; font-size: .75em; max-height: 30em; overflow: auto; }}
</style></head><body>
<h1>Micro-segmentation evidence: {campus}</h1>
<p class="verdict {verdict}">Verdict: {verdict}</p>
<p>{ok} of {n} probes behaved as the policy says ({allowed} allowed, {denied} denied, {bad} not as expected).
Node (bridge holder): {node}. Probes and counters from {started} to {finished} (UTC).</p>
<p>Between tiers everything is denied except the flows listed; within a tier everything is allowed.
Each denied packet is dropped by the rule of its tier pair, counted on that pair's counter and logged.</p>
<h2>Tiers and their VMs</h2>{tiers}
<h2>Allowed flows between tiers</h2>{flows}
<h2>Per tier pair: counters during the probes</h2>{pairs}
<h2>Probe matrix</h2>{probes}
<h2>Rules in force</h2><pre>{rules}</pre>
</body></html>
""".format(campus=escape(doc["campus"]), verdict=verdict, ok=s["as_expected"], n=s["probes"], allowed=s["allowed"],
           denied=s["denied"], bad=s["not_as_expected"], node=escape(doc["node"]), started=escape(doc["started"]),
           finished=escape(doc["finished"]),
           tiers=_table(["tier", "description", "VMs"], tier_rows),
           flows=_table(["from", "to", "protocol", "ports"], flow_rows),
           pairs=_table(["from tier", "to tier", "allowed flows", "allowed packets", "allowed bytes", "dropped packets",
                         "dropped bytes"], pair_rows),
           probes=_table(["source VM", "source tier", "target VM", "target tier", "protocol", "port", "expected", "actual",
                          "result"], probe_rows),
           rules=escape(doc["rules_in_force"]))
