# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The burn-in report: one self-contained HTML page (inline SVG charts, no scripts) and its JSON."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import html

COLORS = {"read": "#1f77b4", "write": "#e6550d"}
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 560, 220, 62, 34, 26, 12


def _fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float) and value < 10 and digits == 1:
        return "%.3g" % value
    return "{:,.{d}f}".format(value, d=digits) if isinstance(value, float) else "{:,}".format(value)


def _nice_max(value):
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    return float((int(value / step) + 1) * step)


def _elapsed(ms, span_ms):
    """An axis label for time into the job, in the unit that suits the run's length."""
    if span_ms > 2 * 3600 * 1000:
        return "%.1f h" % (ms / 3600000.0)
    if span_ms > 120 * 1000:
        return "%.0f min" % (ms / 60000.0)
    return "%.1f s" % (ms / 1000.0)


def chart(title, unit, job, key, events, interval_ms=0):
    """A line chart of one per-interval metric, read and write, with the injected events marked."""
    lines = []
    points = {d: [(p["t_ms"], p.get(key)) for p in data["intervals"] if p.get(key) is not None]
              for d, data in job["directions"].items()}
    all_t = [t for pts in points.values() for t, dummy in pts]
    if not all_t:
        return "<p>no %s samples</p>" % html.escape(title)
    t0, t1 = min(all_t) - interval_ms, max(all_t)   # a sample's time is the end of its interval
    span = max(t1 - t0, 1)
    ymax = _nice_max(max(v for pts in points.values() for dummy, v in pts))
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(t):
        return PAD_L + (t - t0) * pw / span

    def y(v):
        return PAD_T + ph - v * ph / ymax
    out = ['<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img">' % (W, H, W, H),
           '<title>%s</title>' % html.escape(title),
           '<text x="%d" y="16" class="ct">%s</text>' % (PAD_L, html.escape(title))]
    for i in range(5):
        v = ymax * i / 4
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>' % (PAD_L, W - PAD_R, y(v), y(v)))
        out.append('<text x="%d" y="%.1f" class="ax" text-anchor="end">%s</text>' % (PAD_L - 6, y(v) + 4, _fmt(v, 0)))
    for i in range(5):
        t = t0 + span * i / 4
        out.append('<text x="%.1f" y="%d" class="ax" text-anchor="middle">%s</text>' % (x(t), H - PAD_B + 16, _elapsed(t - t0, span)))
    out.append('<text x="%d" y="%d" class="ax">%s</text>' % (W - PAD_R - 120, H - 4, html.escape(unit)))
    for ev in events:
        if t0 <= ev["t_ms"] <= t1:
            out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="event"/>' % (x(ev["t_ms"]), x(ev["t_ms"]), PAD_T, PAD_T + ph))
            out.append('<text x="%.1f" y="%d" class="evt">%s</text>' % (x(ev["t_ms"]) + 4, PAD_T + 12, html.escape(ev["label"])))
    for direction, pts in sorted(points.items()):
        if pts:
            path = " ".join("%.1f,%.1f" % (x(t), y(v)) for t, v in pts)
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (COLORS[direction], path))
        lines.append('<tspan fill="%s">■ %s</tspan>' % (COLORS[direction], direction))
    out.append('<text x="%d" y="16" class="ax" text-anchor="end">%s</text>' % (W - PAD_R, " ".join(lines)))
    out.append("</svg>")
    return "\n".join(out)


CSS = """
body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
.verdict{font-size:30px;font-weight:bold;padding:14px 20px;border-radius:6px;color:#fff;display:inline-block;margin:12px 0}
.pass{background:#2e7d32}.fail{background:#c62828}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}.bad{color:#c62828;font-weight:bold}.ok{color:#2e7d32}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #ddd;background:#fff}
.grid{stroke:#e3e3e3}.ax{font-size:11px;fill:#555}.ct{font-size:13px;font-weight:bold;fill:#222}
.event{stroke:#c62828;stroke-width:2;stroke-dasharray:5,3}.evt{font-size:11px;fill:#c62828;font-weight:bold}
.meta{color:#555;font-size:13px}
"""


def render_html(report):
    ok = report["verdict"] == "PASS"
    events = [{"t_ms": e["started_ms"], "label": "injected: %s" % e["label"]} for e in report.get("events", [])]
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Burn-in %s</title><style>%s</style></head><body>"
             % (html.escape(report["name"]), CSS),
             "<h1>Storage burn-in: %s</h1>" % html.escape(report["name"]),
             "<div class='meta'>%s · engine %s · %s s per job · started %s UTC</div>"
             % (html.escape(report.get("target_label", "")), html.escape(report["engine"]), report["runtime"], html.escape(report["started"])),
             "<div class='verdict %s'>%s</div>" % ("pass" if ok else "fail",
                                                   "PASS" if ok else "FAIL: %d of %d checks" % (report["failed_checks"], len(report["checks"])))]
    if events:
        parts.append("<h2>Injected failures</h2><table><tr><th class='l'>what</th><th class='l'>command</th><th>at (s into the run)</th>"
                     "<th>exit</th></tr>")
        for e in report["events"]:
            parts.append("<tr><td class='l'>%s</td><td class='l'><code>%s</code></td><td>%s</td><td>%s</td></tr>"
                         % (html.escape(e["label"]), html.escape(e["command"]), _fmt((e["started_ms"] - report["started_ms"]) / 1000.0),
                            e.get("rc")))
        parts.append("</table>")
    parts.append("<h2>Summary</h2><table><tr><th class='l'>job</th><th class='l'>dir</th><th>IOPS</th><th>MiB/s</th><th>p50 ms</th>"
                 "<th>p99 ms</th><th>p99.9 ms</th><th>IOPS CV</th><th>MiB/s CV</th><th>p99 CV</th><th>intervals</th></tr>")
    for job in report["jobs"]:
        for direction, data in sorted(job["directions"].items()):
            s = data["summary"]
            parts.append("<tr><td class='l'>%s</td><td class='l'>%s</td>%s</tr>" % (
                html.escape(job["name"]), direction, "".join("<td>%s</td>" % _fmt(s.get(k), d) for k, d in (
                    ("iops", 0), ("bw_mib", 1), ("p50_ms", 3), ("p99_ms", 3), ("p999_ms", 3), ("iops_cv", 3), ("bw_cv", 3),
                    ("p99_cv", 3), ("intervals", 0)))))
    parts.append("</table>")
    if report.get("comparison"):
        parts.append("<h2>Against the old platform</h2><table><tr><th class='l'>job</th><th class='l'>metric</th><th>old</th><th>new</th>"
                     "<th>ratio (&gt;1 better)</th></tr>")
        for row in report["comparison"]:
            parts.append("<tr><td class='l'>%s</td><td class='l'>%s</td><td>%s</td><td>%s</td><td class='%s'>%.2f× (%+.0f %%)</td></tr>" % (
                html.escape(row["job"]), row["metric"], _fmt(row["old"]), _fmt(row["new"]), "ok" if row["ratio"] >= 1 else "bad",
                row["ratio"], (row["ratio"] - 1) * 100))
        parts.append("</table>")
    parts.append("<h2>Checks</h2><table><tr><th class='l'>job</th><th class='l'>dir</th><th class='l'>metric</th><th>measured</th>"
                 "<th>limit</th><th class='l'>result</th></tr>")
    for c in report["checks"]:
        parts.append("<tr><td class='l'>%s</td><td class='l'>%s</td><td class='l'>%s</td><td>%s</td><td>%s %s</td><td class='l %s'>%s</td></tr>"
                     % (html.escape(c["job"]), c["direction"], html.escape(c["metric"]), _fmt(c["value"], 3),
                        "≥" if c["key"].startswith("min") else "≤", _fmt(c["limit"], 3), "ok" if c["ok"] else "bad",
                        "pass" if c["ok"] else "FAIL"))
    parts.append("</table>")
    for job in report["jobs"]:
        parts.append("<h2>%s</h2><div class='charts'>" % html.escape(job["name"]))
        parts.append(chart("%s: IOPS per interval" % job["name"], "IOPS", job, "iops", events, report["log_avg_msec"]))
        parts.append(chart("%s: p99 latency per interval" % job["name"], "µs", job, "p99_us", events, report["log_avg_msec"]))
        parts.append(chart("%s: bandwidth per interval" % job["name"], "KiB/s", job, "bw_kib", events, report["log_avg_msec"]))
        parts.append("</div>")
    parts.append("<p class='meta'>Per-interval values from fio's logs (%d ms averages; percentiles from its latency histograms). "
                 "CV = standard deviation / mean over the intervals. The JSON beside this page holds every number.</p></body></html>"
                 % report["log_avg_msec"])
    return "\n".join(parts)
