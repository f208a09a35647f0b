# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wave planner: which VMs move together, in what order, warm or cold, and how long each is down.

Inputs are plain data (per VM: tier, RTO/RPO, dependencies, bytes, measured
change rate) so operators can edit the resulting YAML and re-plan. A VM never
moves before what it depends on (database before application): a dependency is
in an earlier wave, or earlier in the same wave's cutover order.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import MigrationError

DEFAULTS = {
    "throughput_mb_s": 100.0,        # sustained copy rate of the final delta
    "shutdown_seconds": 120,          # guest shutdown before the final sync
    "boot_seconds": 120,              # define + boot + alive check on the target
    "incremental_interval_hours": 1.0,
    "max_vms_per_wave": 10,
    "max_bytes_per_wave": None,
    "batch_tiers": ["tier3"],         # cold: power off, one sync, cutover
    "default_change_rate_bytes_per_hour": 1 << 30,
}


PLAN_FIELDS = ("name", "tier", "mode", "depends_on", "rto_minutes", "rpo_minutes", "estimate", "fits_rto", "fits_rpo")


def change_rate(syncs: List[Dict[str, Any]]) -> Optional[float]:
    """Bytes changed per hour from a journal's incremental syncs (changed bytes / time since the previous sync)."""
    rates = []
    for prev, cur in zip(syncs, syncs[1:]):
        if cur.get("kind") != "incremental":
            continue
        hours = (cur["finished_at"] - prev["finished_at"]) / 3600.0
        if hours > 0:
            rates.append(cur.get("bytes_areas", 0) / hours)
    return max(rates) if rates else None  # the worst observed rate: downtime estimates must not be optimistic


def _order(vms: Dict[str, Dict[str, Any]]) -> List[str]:
    """Topological order (dependencies first); ties by tier then name; cycles are an error."""
    state: Dict[str, int] = {}
    out: List[str] = []

    def visit(name: str, path: List[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise MigrationError("dependency cycle: %s" % " -> ".join(path + [name]))
        state[name] = 1
        for dep in sorted(vms[name].get("depends_on") or []):
            if dep not in vms:
                raise MigrationError("%s depends on %s, which is not in the plan" % (name, dep))
            visit(dep, path + [name])
        state[name] = 2
        out.append(name)

    for name in sorted(vms, key=lambda n: (str(vms[n].get("tier") or "tier9"), n)):
        visit(name, [])
    return out


def estimate_downtime(vm: Dict[str, Any], settings: Dict[str, Any]) -> Dict[str, Any]:
    rate = vm.get("change_rate_bytes_per_hour") or settings["default_change_rate_bytes_per_hour"]
    mode = vm["mode"]
    if mode == "batch":
        delta = vm.get("bytes_allocated") or vm.get("bytes_capacity") or 0  # cold: the whole copy is downtime
    else:
        delta = rate * settings["incremental_interval_hours"]
    copy_seconds = delta / (settings["throughput_mb_s"] * 1e6)
    total = settings["shutdown_seconds"] + copy_seconds + settings["boot_seconds"]
    return {"final_delta_bytes": int(delta), "copy_seconds": round(copy_seconds, 1),
            "downtime_seconds": round(total, 1), "change_rate_bytes_per_hour": int(rate)}


def plan(vms: List[Dict[str, Any]], settings: Optional[Dict[str, Any]] = None,
         windows: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Build waves; each wave gets the next maintenance window (cycled) and a cutover order."""
    conf = dict(DEFAULTS)
    conf.update(settings or {})
    by_name = {vm["name"]: dict(vm) for vm in vms}
    for vm in by_name.values():
        vm["mode"] = vm.get("mode") or ("batch" if vm.get("tier") in conf["batch_tiers"] else "warm")
        vm["estimate"] = estimate_downtime(vm, conf)
        rto = vm.get("rto_minutes")
        vm["fits_rto"] = rto is None or vm["estimate"]["downtime_seconds"] <= rto * 60
        rpo = vm.get("rpo_minutes")
        vm["fits_rpo"] = rpo is None or vm["mode"] == "batch" or conf["incremental_interval_hours"] * 60 <= rpo
    order = _order(by_name)
    waves: List[Dict[str, Any]] = []
    placed: Dict[str, int] = {}
    for name in order:
        vm = by_name[name]
        earliest = max([placed[d] for d in vm.get("depends_on") or []] or [0])
        size = vm.get("bytes_allocated") or vm.get("bytes_capacity") or 0
        index = earliest
        while True:
            if index == len(waves):
                waves.append({"vms": [], "bytes": 0, "tiers": set()})
            wave = waves[index]
            full = len(wave["vms"]) >= conf["max_vms_per_wave"]
            too_big = conf["max_bytes_per_wave"] and wave["vms"] and wave["bytes"] + size > conf["max_bytes_per_wave"]
            # tier-1 VMs do not share a window with the low-priority batch: different risk, different people
            mixed = wave["tiers"] and (vm["mode"] == "batch") != ("batch" in wave["tiers"])
            if not (full or too_big or mixed):
                break
            index += 1
        wave["vms"].append(name)
        wave["bytes"] += size
        wave["tiers"].add("batch" if vm["mode"] == "batch" else "warm")
        placed[name] = index
    out_waves = []
    for number, wave in enumerate(waves, start=1):
        window = windows[(number - 1) % len(windows)] if windows else None
        members = [by_name[n] for n in wave["vms"]]
        out_waves.append({
            "name": "wave%d" % number,
            "window": window,
            "bytes": wave["bytes"],
            "cutover_order": wave["vms"],
            "estimated_downtime_seconds": max(m["estimate"]["downtime_seconds"] for m in members),
            "vms": [{k: m.get(k) for k in PLAN_FIELDS} for m in members],
        })
    problems = []
    for vm in by_name.values():
        if not vm["fits_rto"]:
            problems.append("%s: estimated downtime %ss exceeds RTO %s min"
                            % (vm["name"], vm["estimate"]["downtime_seconds"], vm["rto_minutes"]))
        if not vm["fits_rpo"]:
            problems.append("%s: incremental interval %sh exceeds RPO %s min"
                            % (vm["name"], conf["incremental_interval_hours"], vm["rpo_minutes"]))
    return {"settings": conf, "waves": out_waves, "problems": problems}


def report_text(wave_plan: Dict[str, Any]) -> str:
    lines = []
    for wave in wave_plan["waves"]:
        window = wave["window"]
        lines.append("%s  window=%s  bytes=%d  est. downtime<=%ss" % (
            wave["name"], "%s..%s" % (window.get("start"), window.get("end")) if window else "-",
            wave["bytes"], wave["estimated_downtime_seconds"]))
        for vm in wave["vms"]:
            lines.append("    %-20s %-6s %-5s downtime~%6ss  rto=%s%s" % (
                vm["name"], vm["tier"], vm["mode"], vm["estimate"]["downtime_seconds"], vm["rto_minutes"],
                "" if vm["fits_rto"] else "  EXCEEDS RTO"))
    for problem in wave_plan["problems"]:
        lines.append("PROBLEM: " + problem)
    return "\n".join(lines)
