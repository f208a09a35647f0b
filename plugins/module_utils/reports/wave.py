# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration wave report as a change board reads it, built from every run of the wave.

A run record holds what one run of ``playbooks/migrate.yml`` did (its syncs and cutovers, with
their times). The view merges the wave's whole history: per VM its tier with the planned RTO/RPO
against the downtime and data lag achieved, the verification and the bytes it covered, where it
landed, and what to do next for anything that did not go to plan; wave totals; a timeline chart
per run (inline SVG: the report opens offline).

Data lag is how far the target trailed the source: the longest gap between two successive syncs
of the VM (each sync brings the target to the source's state at its snapshot), zero after the
final sync with the source off. A batch (cold) VM is copied with its source off: no lag.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from html import escape
from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.reports.history import (
    epoch, exact_bytes, human_bytes, human_seconds, iso, run_id)

SYNC_KEYS = ("bytes_areas", "bytes_read", "bytes_written", "bytes_zero", "bytes_cleared", "duration", "read_mb_per_s")
VERIFY_KEYS = ("bytes_compared", "bytes_zero_confirmed", "bytes_checked")
FINAL_PHASE = "final (source off)"


def _verification(disks: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The verification of a sync over all its disks: the policy and the bytes it covered (it passed, or the sync failed)."""
    found = [d.get("verification") for d in disks if isinstance(d.get("verification"), dict)]
    if not found:
        return None
    out: Dict[str, Any] = {"policy": ",".join(sorted({str(v.get("policy")) for v in found})), "passed": True}
    for key in VERIFY_KEYS:
        values = [v[key] for v in found if v.get(key) is not None]
        if values:
            out[key] = sum(values)
    return out


def _disks(disks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{k: d.get(k) for k in ("key", "label", "target", "capacity_bytes", "kind", "bytes_areas")} for d in disks]


def sync_record(result: Dict[str, Any], phase: str) -> Dict[str, Any]:
    """One migration_sync result (a loop item) as the report keeps it, with its times."""
    totals = result.get("totals") or {}
    disks = result.get("disks") or []
    finished = max([d["finished_at"] for d in disks if d.get("finished_at")] or [None], key=lambda v: v or 0)
    record = {"vm": result.get("vm") or (result.get("item") or {}).get("name"), "phase": phase,
              "kind": ",".join(sorted({d.get("kind") for d in disks if d.get("kind")})) or "none"}
    record.update({k: totals.get(k) for k in SYNC_KEYS})
    record.update(started_at=iso(finished - (totals.get("duration") or 0)) if finished else None,
                  finished_at=iso(finished), warnings=list(result.get("sync_warnings") or result.get("warnings") or []),
                  verification=_verification(disks), disks=_disks(disks))
    return record


def _step(steps: List[Dict[str, Any]], name: str) -> Dict[str, Any]:
    return ([s for s in steps if s.get("step") == name] + [{}])[0]


def cutover_record(result: Dict[str, Any], vm: str, mode: str, missing: Optional[List[str]] = None,
                   sync_host: str = "", method: str = "", ha: bool = False) -> Dict[str, Any]:
    """One migration_cutover result (or the skipped task of a VM whose dependencies did not cut over)."""
    result = result or {}
    steps = result.get("steps") or []
    cut = bool(result.get("cut_over"))
    if cut:
        reason = ""
    elif result.get("reason") or result.get("msg"):
        reason = result.get("reason") or result.get("msg")
    elif result.get("skipped"):
        reason = "dependencies not cut over: " + ", ".join(missing or [])
    else:
        reason = "the cutover returned no result"
    power_off, final, alive, failed = (_step(steps, n) for n in ("power_off", "final_sync", "alive", "failed"))
    stamps = [s["at"] for s in steps if s.get("at")]
    sync = result.get("sync") or {}
    record = {"vm": vm, "mode": mode, "cut_over": cut, "rolled_back": bool(result.get("rolled_back")),
              "skipped": bool(result.get("skipped")), "reason": reason,
              "downtime_seconds": result.get("downtime_seconds") if power_off or cut else None,
              "alive_seconds": None, "source_off_at": iso(power_off.get("at")),
              "alive_at": iso(alive.get("at")), "finished_at": iso(max(stamps)) if stamps else None,
              "node": sync_host if cut else None, "method": method,
              "resource": ("vm-%s" % vm) if cut and ha and method == "libvirt" else None,
              "domain_xml": result.get("domain_xml"), "targets": [d.get("target") for d in sync.get("disks") or []],
              "verification": _verification(sync.get("disks") or []),
              "final_sync": final.get("totals") or {}, "failed_step": failed.get("reason")}
    # from the start of the boot (define, else the domain written) to the alive check
    boot = _step(steps, "define").get("at") or _step(steps, "convert").get("at")
    seconds = (result.get("alive") or {}).get("seconds_to_alive") if isinstance(result.get("alive"), dict) else None
    if seconds is None and boot and alive.get("at"):
        seconds = round(alive["at"] - boot, 2)
    record["alive_seconds"] = seconds
    return record


def final_sync_record(cutover_result: Dict[str, Any], vm: str) -> Dict[str, Any]:
    """The cutover's final sync (source off) as a sync record, or {} when it did not run."""
    steps = (cutover_result or {}).get("steps") or []
    final = _step(steps, "final_sync")
    if not final.get("totals"):
        return {}
    sync = (cutover_result or {}).get("sync") or {}
    record = sync_record({"vm": vm, "totals": final["totals"], "disks": sync.get("disks") or [],
                          "warnings": final.get("warnings") or []}, FINAL_PHASE)
    record["kind"] = final.get("kind") or record["kind"]
    if not sync.get("disks") and final.get("at"):  # a rolled-back cutover returns no sync: the step's time
        record.update(started_at=iso(final["at"] - (final["totals"].get("duration") or 0)), finished_at=iso(final["at"]))
    return record


def run_record(raw: Dict[str, Any]) -> Dict[str, Any]:
    """A run as the history keeps it: ``raw`` from the role plus its id and what it changed."""
    run = dict(raw)
    run["run_id"] = run_id(run["started"])
    # Ansible's now(utc=true) has no offset: every time the report keeps carries it (ISO 8601, +00:00)
    for key in ("started", "finished"):
        if run.get(key):
            run[key] = iso(epoch(run[key]))
    syncs, cutovers = run.get("syncs") or [], run.get("cutovers") or []
    attempted = [c for c in cutovers if not c.get("skipped")]
    run["changed"] = bool(syncs or attempted)
    if run["changed"]:
        parts = ["%d sync%s" % (len(syncs), "" if len(syncs) == 1 else "s")]
        done = [c["vm"] for c in cutovers if c.get("cut_over")]
        back = [c["vm"] for c in cutovers if c.get("rolled_back")]
        if done:
            parts.append("cut over " + ", ".join(done))
        if back:
            parts.append("rolled back " + ", ".join(back))
        run["summary"] = "; ".join(parts)
    else:
        done = run.get("already_cut_over") or []
        run["summary"] = "nothing changed" + (": %s already cut over, left alone" % ", ".join(done) if done else "")
    if run.get("blocked"):
        run["summary"] += "; blocked by preflight: " + ", ".join(run["blocked"])
    return run


def _legacy_run(report: Dict[str, Any]) -> Dict[str, Any]:
    """A single-run report written before the history existed, kept as the first run."""
    run = {k: report.get(k) for k in ("wave", "started", "finished", "preflight", "blocked", "already_cut_over")}
    run.update(syncs=report.get("syncs") or [], cutovers=report.get("cutovers") or [], imported=True,
               started=report.get("started") or report.get("finished"))
    return run_record(run)


def seed(history: Dict[str, Any], latest: Any) -> Dict[str, Any]:
    """A history with no runs yet takes over a report of the old single-run format (nothing is lost)."""
    if history.get("runs") or not isinstance(latest, dict) or "runs" in latest or "syncs" not in latest:
        return history
    if not (latest.get("started") or latest.get("finished")):
        return history
    return dict(history, runs=[_legacy_run(latest)])


def _plan(vm: Dict[str, Any], tiers: Dict[str, Any]) -> Dict[str, Any]:
    tier = tiers.get(vm.get("tier")) or {}
    return {"name": vm["name"], "tier": vm.get("tier"), "mode": vm.get("mode", "warm"),
            "rto_minutes": vm.get("rto_minutes", tier.get("rto_minutes")),
            "rpo_minutes": vm.get("rpo_minutes", tier.get("rpo_minutes"))}


def plan_vms(vms: List[Dict[str, Any]], tiers: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """The wave's VMs with the RTO/RPO each was planned for (its own, else its tier's)."""
    return [_plan(vm, tiers or {}) for vm in vms]


def _lag(syncs: List[Dict[str, Any]], mode: str) -> Optional[float]:
    if mode == "batch":
        return 0.0 if syncs else None
    times = sorted(epoch_of(s.get("finished_at")) for s in syncs if s.get("finished_at"))
    if len(times) < 2:
        return None
    return round(max(b - a for a, b in zip(times, times[1:])), 1)


def epoch_of(text: Optional[str]) -> float:
    return epoch(text) or 0.0


def _next_steps(row: Dict[str, Any]) -> List[str]:
    out = []
    last = row["cutover"] or {}
    if row["status"] == "blocked":
        out.append("Blocked by preflight (%s): fix this in vSphere, then rerun the wave." % "; ".join(row["blockers"]))
    elif row["status"] == "rolled back":
        reason = last.get("reason") or "no reason returned"
        hint = "fix the cause"
        low = reason.lower()
        if "alive" in low or "marker" in low or "timeout" in low or "timed out" in low:
            hint = "read the serial log beside %s and check the guest boots on virtio" % (last.get("domain_xml") or "the domain XML")
        elif "network" in low or "port group" in low:
            hint = "map the port group in migration_wave_network_map"
        elif "differ" in low or "not zero" in low or "verif" in low:
            hint = "do not retry blindly: the target does not match the source; resync it in full"
        elif "conversion" in low or "v2v" in low:
            hint = "read the virt-v2v log in the domain directory, or set the VM's guest_conversion"
        out.append("Rolled back (%s); the source runs again. Next: %s, then rerun the wave "
                   "(the next sync is incremental)." % (reason, hint))
    elif row["status"] == "not attempted":
        out.append("Not attempted: %s. Cut those over first, then rerun the wave." % (last.get("reason") or "no cutover"))
    elif row["status"] == "synced, not cut over":
        out.append("Synced but not cut over: rerun the wave to cut it over.")
    elif row["status"] == "not started":
        out.append("Nothing was copied yet: look at the run's output for the failed task.")
    if row["rto"] == "missed":
        out.append("Downtime %s exceeded the RTO of %s min: cut over right after an incremental (shorter final delta) "
                   "or move it to a faster window." % (human_seconds(last.get("downtime_seconds")), row["plan"]["rto_minutes"]))
    if row["rpo"] == "missed":
        out.append("Data lag %s exceeded the RPO of %s min: shorten migration_wave_incremental_interval_seconds."
                   % (human_seconds(row["lag_seconds"]), row["plan"]["rpo_minutes"]))
    for warning in row["warnings"]:
        if "FULL RESYNC" in warning.upper():
            out.append("Full resync (%s): the target was copied again in full; find out why before the next wave." % warning)
    return out


def _verdict(value: Optional[float], limit_minutes: Any) -> str:
    if limit_minutes is None:
        return "no target"
    if value is None:
        return "n/a"
    return "met" if value <= float(limit_minutes) * 60 else "missed"


def view(history: Dict[str, Any], vms: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The latest view of the wave over its whole history: rows per VM, totals, the runs' timelines."""
    runs = history.get("runs") or []
    plan: Dict[str, Dict[str, Any]] = {}
    for run in runs:  # the latest run's plan wins; VMs of earlier runs stay in the view
        for vm in run.get("vms") or []:
            plan[vm["name"]] = vm
    for vm in vms or []:
        plan[vm["name"]] = vm
    syncs, cutovers, blocked = [], [], {}
    for run in runs:
        for s in run.get("syncs") or []:
            syncs.append(dict(s, run_id=run["run_id"]))
        for c in run.get("cutovers") or []:
            cutovers.append(dict(c, run_id=run["run_id"]))
        for p in run.get("preflight") or []:
            if not p.get("ok", True):
                blocked[p.get("vm")] = ["%s: %s" % (b.get("rule"), b.get("message")) for b in p.get("blockers") or []]
            else:
                blocked.pop(p.get("vm"), None)
        for name in run.get("already_cut_over") or []:
            plan.setdefault(name, {"name": name})
    for c in cutovers + syncs:
        plan.setdefault(c["vm"], {"name": c["vm"]})
    rows = []
    for name, vm in plan.items():
        vm = dict({"tier": None, "mode": "warm", "rto_minutes": None, "rpo_minutes": None}, **vm)
        own_syncs = [s for s in syncs if s["vm"] == name]
        attempts = [c for c in cutovers if c["vm"] == name]
        done = [c for c in attempts if c.get("cut_over")]
        cut = done[-1] if done else (attempts[-1] if attempts else None)
        if done:
            status = "cut over"
            # syncs up to the run that cut it over: the lag the cutover was planned against
            lag_syncs = [s for s in own_syncs if s["run_id"] <= cut["run_id"]]
        else:
            lag_syncs = own_syncs
            if name in blocked:
                status = "blocked"
            elif cut and cut.get("rolled_back"):
                status = "rolled back"
            elif cut and cut.get("skipped"):
                status = "not attempted"
            elif own_syncs:
                status = "synced, not cut over"
            else:
                status = "not started"
        lag = _lag(lag_syncs, vm["mode"])
        last_sync = own_syncs[-1] if own_syncs else None
        verification = (cut or {}).get("verification") if done else None
        if verification is None and last_sync:
            verification = last_sync.get("verification")
        warnings = [w for s in own_syncs for w in s.get("warnings") or []]
        targets = (cut or {}).get("targets") or ([d.get("target") for d in (last_sync or {}).get("disks") or []])
        capacity = sum(d.get("capacity_bytes") or 0 for d in (last_sync or {}).get("disks") or []) or None
        row = {"vm": name, "plan": vm, "status": status, "cutover": cut, "attempts": len(attempts),
               "cut_over_run": cut["run_id"] if done else None, "syncs": len(own_syncs),
               "bytes_read": sum(s.get("bytes_read") or 0 for s in own_syncs),
               "bytes_written": sum(s.get("bytes_written") or 0 for s in own_syncs),
               "capacity_bytes": capacity, "lag_seconds": lag, "verification": verification,
               "warnings": warnings, "targets": [t for t in targets if t], "blockers": blocked.get(name, []),
               "rto": _verdict((cut or {}).get("downtime_seconds") if done else None, vm["rto_minutes"]) if done else "n/a",
               "rpo": _verdict(lag, vm["rpo_minutes"]) if done else "n/a"}
        row["next_steps"] = _next_steps(row)
        row["verdict"] = ("ok" if status == "cut over" and not row["next_steps"] else
                          "attention" if status == "cut over" else "failed")
        rows.append(row)
    totals = {
        "vms": len(rows), "cut_over": sum(r["status"] == "cut over" for r in rows),
        "rolled_back": sum(r["status"] == "rolled back" for r in rows),
        "blocked": sum(r["status"] == "blocked" for r in rows),
        "open": sum(r["status"] not in ("cut over",) for r in rows),
        "rto_missed": sum(r["rto"] == "missed" for r in rows), "rpo_missed": sum(r["rpo"] == "missed" for r in rows),
        "syncs": len(syncs), "bytes_read": sum(s.get("bytes_read") or 0 for s in syncs),
        "bytes_written": sum(s.get("bytes_written") or 0 for s in syncs),
        "bytes_verified": sum(((s.get("verification") or {}).get("bytes_checked") or 0) for s in syncs),
        "downtime_seconds": round(sum((r["cutover"] or {}).get("downtime_seconds") or 0
                                      for r in rows if r["status"] == "cut over"), 2),
        "runs": len(runs)}
    history_lines = [{"run_id": r["run_id"], "started": r.get("started"), "finished": r.get("finished"),
                      "changed": r.get("changed"), "summary": r.get("summary"), "imported": r.get("imported", False)}
                     for r in runs]
    return {"wave": history.get("subject"), "rows": rows, "totals": totals, "history": history_lines,
            "syncs": syncs, "cutovers": cutovers,
            "first_started": runs[0].get("started") if runs else None,
            "last_finished": runs[-1].get("finished") if runs else None}


# ---- the timeline chart -------------------------------------------------------------------------

COLORS = {"full": "#2f6db5", "incremental": "#6fa8dc", "final": "#e69138", "downtime": "#cc0000",
          "cutover": "#38761d", "rolled_back": "#990000"}


def _tick_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400):
        if span / step <= 8:
            return step
    return 86400 * 7


def _bar(cls: str, x: float, y: float, w: float, h: float, title: str) -> str:
    return ('<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="2" fill="%s">'
            '<title>%s</title></rect>' % (cls, x, y, max(w, 2.0), h, COLORS[cls.split()[0]], escape(title)))


def timeline_svg(run: Dict[str, Any], width: int = 980) -> str:
    """One run as an inline SVG chart: a row per VM; full syncs, incrementals, the final sync with the
    source off and the downtime up to the alive check, on a UTC time axis. Empty string: nothing happened."""
    rows: Dict[str, List[Any]] = {}
    events = []
    for s in run.get("syncs") or []:
        if not (s.get("started_at") and s.get("finished_at")):
            continue
        kind = "final" if s.get("phase") == FINAL_PHASE else ("full" if "full" in (s.get("kind") or "") else "incremental")
        start, end = epoch_of(s["started_at"]), epoch_of(s["finished_at"])
        title = "%s %s (%s): %s read in %s, %s to %s" % (
            s["vm"], s["phase"], s.get("kind"), human_bytes(s.get("bytes_read")),
            human_seconds(s.get("duration")), s["started_at"], s["finished_at"])
        events.append((s["vm"], kind, start, end, title))
    for c in run.get("cutovers") or []:
        if c.get("source_off_at"):
            start = epoch_of(c["source_off_at"])
            end = epoch_of(c.get("alive_at") or c.get("finished_at") or c["source_off_at"])
            state = "cut over" if c.get("cut_over") else "rolled back: %s" % c.get("reason")
            title = "%s downtime %s (source off %s, %s) - %s" % (
                c["vm"], human_seconds(c.get("downtime_seconds")), c["source_off_at"],
                ("alive %s" % c["alive_at"]) if c.get("alive_at") else "not alive", state)
            events.append((c["vm"], "downtime", start, end, title))
            mark = "cutover" if c.get("cut_over") else "rolled_back"
            events.append((c["vm"], mark, end, end, "%s %s at %s" % (c["vm"], state, c.get("finished_at"))))
    if not events:
        return ""
    for event in events:
        vm = event[0]
        rows.setdefault(vm, [])
    t0 = min(e[2] for e in events)
    t1 = max(e[3] for e in events)
    span = max(t1 - t0, 1.0)
    left, right, top, row_h = 110, 20, 34, 30
    plot = width - left - right
    height = top + row_h * len(rows) + 46

    def x(t: float) -> float:
        return left + (t - t0) / span * plot

    out = ['<svg xmlns="http://www.w3.org/2000/svg" class="timeline" data-run="%s" width="%d" height="%d" '
           'viewBox="0 0 %d %d" role="img" aria-label="timeline of run %s">' % (
               escape(run.get("run_id", "")), width, height, width, height, escape(run.get("run_id", ""))),
           '<style>text{font:12px sans-serif;fill:#333}.axis{stroke:#bbb}.grid{stroke:#eee}</style>']
    step = _tick_step(span)
    tick = t0 - (t0 % step) + step if t0 % step else t0
    while tick <= t1 + 0.001:
        xt = x(tick)
        out.append('<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>' % (xt, top - 6, xt, height - 40))
        label = iso(tick)[11:19]
        out.append('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>' % (xt, height - 26, label))
        tick += step
    out.append('<text x="%d" y="%d">UTC (+00:00), %s</text>' % (left, height - 8, escape(iso(t0)[:10])))
    for index, vm in enumerate(rows):
        y = top + index * row_h
        out.append('<text class="vm" x="%d" y="%.1f" text-anchor="end">%s</text>' % (left - 8, y + 19, escape(vm)))
        out.append('<line class="axis" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>' % (left, y + row_h - 2, width - right, y + row_h - 2))
    for vm, kind, start, end, title in events:
        y = top + list(rows).index(vm) * row_h
        if kind in ("cutover", "rolled_back"):
            xm = x(end)
            out.append('<path class="bar %s" d="M%.1f %.1f l6 6 l-6 6 l-6 -6 z" fill="%s"><title>%s</title></path>' % (
                kind, xm, y + 4, COLORS[kind], escape(title)))
        elif kind == "downtime":
            out.append(_bar(kind, x(start), y + 20, x(end) - x(start), 6, title))
        else:
            out.append(_bar(kind, x(start), y + 5, x(end) - x(start), 14, title))
    legend = [("full", "full sync"), ("incremental", "incremental"), ("final", "final sync (source off)"),
              ("downtime", "downtime"), ("cutover", "alive on the cluster"), ("rolled_back", "rolled back")]
    lx = left
    for cls, label in legend:
        out.append('<rect x="%d" y="8" width="12" height="12" fill="%s"/><text x="%d" y="18">%s</text>' % (
            lx, COLORS[cls], lx + 16, label))
        lx += 24 + 7 * len(label)
    out.append("</svg>")
    return "\n".join(out)


def bytes_cell(value: Any) -> str:
    """A size in human units with the exact bytes in its title: ``<span title="7,340,032 bytes">7.0 MiB</span>``."""
    return '<span class="bytes" title="%s">%s</span>' % (exact_bytes(value), human_bytes(value))
