"""Write docs/performance.md from what the benchmarks of one run measured.

Inputs (all written by the tests, each with its own baseline measured in the same run; <lab> is .lab, or
.lab-sims for the benchmarks of `make test`'s sims lane; the newest file wins):
  <lab>/perf/migration.json          tests/perf/migration/test_migration_copy_perf.py
  <lab>/perf/discover_fanout.json    tests/perf/test_discover_fanout.py
  <lab>/perf/preflight_scale.json    tests/perf/migration/test_preflight_scale.py
  <lab>/cluster-measurements.json    tests/integration/cluster/test_cluster.py (the cluster build, rerun,
                                     live migration, failover; a `make test` or a cluster test run)

`make perf` runs tests/perf against the lab and then this script. A goal whose input is missing is listed as
"not measured in this run", never with an old number. Usage: perf_page.py [--lab DIR] [--out FILE]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
NOT_MEASURED = "not measured in this run"


def _load(path: Path) -> Optional[Any]:
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _when(path: Path) -> str:
    return datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _machine(repo: Path) -> Dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal"))
        memory = "%.1f GiB" % (mem_kib / 1024 / 1024)
    except (OSError, StopIteration, ValueError):
        memory = "unknown"
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout.strip()
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory, "kernel": platform.release(),
            "python": platform.python_version(), "commit": commit or "unknown"}


def _row(goal: str, value: str, baseline: str, ratio: Optional[float], target: str, met: Optional[bool],
         source: str) -> Dict[str, Any]:
    return {"goal": goal, "value": value, "baseline": baseline,
            "ratio": "-" if ratio is None else ("%.2f" % ratio if ratio >= 0.01 else "%.4f" % ratio),
            "target": target, "met": "-" if met is None else ("yes" if met else "**no**"), "source": source}


def _missing(goal: str, target: str, source: str) -> Dict[str, Any]:
    return {"goal": goal, "value": NOT_MEASURED, "baseline": "-", "ratio": "-", "target": target, "met": "-",
            "source": source}


def copy_rows(runs: Optional[List[Dict[str, Any]]], source: str) -> List[Dict[str, Any]]:
    goals = ("bytes read / allocated (full sync)", "bytes read / changed (incremental)",
             "incremental vs plain range copy (time)", "full sync vs baseline (rate)")
    if not runs:
        return [_missing(g, "-", source) for g in goals]
    by = {r["label"]: r for r in runs}
    base = by.get("baseline_1stream_nocoalesce_nozeroskip")
    full = by.get("all_defaults")
    inc = by.get("incremental_4MiB_changed")
    rows = []
    if full and base:
        rows.append(_row(goals[0], "%.3f (%d requests)" % (full["read_vs_allocated"], full["requests"]),
                         "1.000 (%d requests, one per CBT extent)" % base["requests"],
                         full["read_vs_allocated"], "<= 1.25: coalescing may read small gaps", full["read_vs_allocated"] <= 1.25,
                         source))
    else:
        rows.append(_missing(goals[0], "<= 1.25", source))
    if inc:
        rows.append(_row(goals[1], "%.3f (%d B read for %d B changed)" % (
            inc["read_vs_changed"], inc["bytes_read"], inc["bytes_areas"]), "1.000 (exactly the changed bytes)",
            inc["read_vs_changed"], "< 2: only what CBT reports, plus coalesced gaps", inc["read_vs_changed"] < 2, source))
        rows.append(_row(goals[2], "%.2f s" % inc["seconds"], "%.2f s (plain range copy of every allocated extent)"
                         % full["seconds"] if full else "-", inc["ratio_vs_baseline"],
                         "much less than 1", inc["ratio_vs_baseline"] < 0.5, source))
    else:
        rows.extend([_missing(goals[1], "< 2", source), _missing(goals[2], "< 0.5", source)])
    if full and base:
        rows.append(_row(goals[3], "%.1f MB/s" % full["mb_per_s"], "%.1f MB/s (1 stream, no coalescing, no zero skip)"
                         % base["mb_per_s"], full["ratio_vs_baseline"], ">= 1 on a real link; on one loaded machine "
                         "the simulator, not the link, limits the rate", None, source))
    else:
        rows.append(_missing(goals[3], ">= 1", source))
    return rows


def discover_rows(data: Optional[Dict[str, Any]], source: str) -> List[Dict[str, Any]]:
    goal = "discovery: 200 BMCs vs 20"
    if not data:
        return [_missing(goal, "<= 2", source)]
    runs = data["discover"]["runs"]
    ratio = data["discover"]["ratio_200_to_20"]
    goals = data.get("goals", {})
    ratio_max = goals.get("ratio_max", 2.0)
    return [_row(goal, "%.1f s for 200 (%.0f MiB peak)" % (runs["200"]["seconds"], runs["200"]["peak_memory_mib"]),
                 "%.1f s for 20" % runs["20"]["seconds"], ratio,
                 "<= %s (each answer delayed %.1f s)" % (ratio_max, data.get("latency_seconds", 0)),
                 ratio <= ratio_max, source)]


def preflight_rows(data: Optional[Dict[str, Any]], source: str) -> List[Dict[str, Any]]:
    goals = ("preflight + plan: 2,500 VMs vs 250 (in process)", "preflight + plan through Ansible: 2,500 VMs vs 250",
             "preflight: bulk lookup vs the old per-name lookup")
    if not data:
        return [_missing(g, "<= 10, and <= 60 s for 2,500", source) for g in goals[:2]]
    small, big = data["in_process"]["250"], data["in_process"]["2500"]
    ratio = data["ratio_2500_250"]
    rows = [_row(goals[0], "%.1f s for 2,500 (%.1f ms a VM)" % (big["seconds"], big["per_vm_ms"]),
                 "%.1f s for 250" % small["seconds"], ratio, "<= 10, and <= 60 s for 2,500",
                 ratio <= 10 and big["seconds"] <= 60, source)]
    play_small, play_big = data["ansible_seconds"]["250"]["play"], data["ansible_seconds"]["2500"]["play"]
    rows.append(_row(goals[1], "%.1f s for 2,500 (whole play)" % play_big, "%.1f s for 250" % play_small,
                     data["ansible_ratio_2500_250"], "<= 10, and <= 60 s for 2,500",
                     data["ansible_ratio_2500_250"] <= 10 and play_big <= 60, source))
    old = data.get("baseline_old_lookup")
    if old:
        rows.append(_row(goals[2], "%.1f ms a VM" % big["per_vm_ms"], "%.0f ms a VM (old lookup, %d VMs, %d round trips)"
                         % (old["per_vm_ms"], old["vms"], old["round_trips"]), big["per_vm_ms"] / old["per_vm_ms"],
                         "much less than 1", big["per_vm_ms"] < old["per_vm_ms"], source))
    return rows


def cluster_rows(data: Optional[Dict[str, Any]], source: str) -> List[Dict[str, Any]]:
    goals = ("idempotent rerun vs first run", "time to a healthy cluster (3 nodes)", "failover (node fenced)")
    if not data:
        return [_missing(g, "-", source) for g in goals]
    rows = []
    build = data.get("cluster_build_seconds")
    rerun = data.get("cluster_rerun_seconds")
    if build and rerun:
        rows.append(_row(goals[0], "%.0f s, changed=0" % rerun, "%.0f s (first run)" % build, rerun / build,
                         "< 1: a rerun only reads", rerun < build, source))
    else:
        rows.append(_missing(goals[0], "< 1", source))
    if build:
        rows.append(_row(goals[1], "%.0f s" % build, "%.0f s per added node (expansion)" % data["expand_seconds"]
                         if data.get("expand_seconds") else "-",
                         build / data["expand_seconds"] if data.get("expand_seconds") else None,
                         "a campus in one maintenance window", None, source))
    else:
        rows.append(_missing(goals[1], "-", source))
    fail, live = data.get("failover_seconds"), data.get("live_migration_seconds")
    if fail:
        rows.append(_row(goals[2], "%.0f s to the VM running elsewhere" % fail,
                         "%.0f s (planned live migration)" % live if live else "-", fail / live if live else None,
                         "fencing and restart within the HA timeouts", None, source))
    else:
        rows.append(_missing(goals[2], "-", source))
    return rows


def _newest(labs: List[Path], name: str) -> Path:
    """The newest of ``name`` in the labs (`make test` runs benchmarks in both lanes' lab dirs)."""
    found = [lab / name for lab in labs if (lab / name).exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else labs[0] / name


def render(labs: List[Path]) -> str:
    sources = {
        "copy": _newest(labs, "perf/migration.json"), "discover": _newest(labs, "perf/discover_fanout.json"),
        "preflight": _newest(labs, "perf/preflight_scale.json"), "cluster": _newest(labs, "cluster-measurements.json"),
    }
    rows = (copy_rows(_load(sources["copy"]), "tests/perf/migration/test_migration_copy_perf.py")
            + discover_rows(_load(sources["discover"]), "tests/perf/test_discover_fanout.py")
            + preflight_rows(_load(sources["preflight"]), "tests/perf/migration/test_preflight_scale.py")
            + cluster_rows(_load(sources["cluster"]), "tests/integration/cluster/test_cluster.py"))
    # the commit the measurements were made on: the clone the lab dir belongs to
    machine = _machine(labs[0].resolve().parent if (labs[0].resolve().parent / ".git").exists() else REPO)
    loads = [json.loads(p.read_text()).get("load_average") for p in (sources["discover"],) if p.exists()]
    lines = [
        "# Performance",
        "",
        "Generated by `make perf` (`scripts/perf_page.py`) from the benchmarks of one run; do not edit by hand.",
        "Every figure has a baseline measured in the same run on the same machine, and the ratio between them:",
        "on a shared 2-core machine absolute times move with the load, ratios much less.",
        "",
        "| | |",
        "|---|---|",
        "| generated | %s |" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "| commit | `%s` |" % machine["commit"],
        "| machine | %s, %s cores, %s, Linux %s, Python %s |" % (
            machine["cpu"], machine["cores"], machine["memory"], machine["kernel"], machine["python"]),
    ]
    if loads and loads[0] is not None:
        lines.append("| load average during discovery | %.1f |" % loads[0])
    for name, path in sources.items():
        lines.append("| %s measured | %s |" % (name, _when(path) if path.exists() else NOT_MEASURED))
    lines += ["", "| goal | measured | baseline (same run) | ratio | target | met | benchmark |",
              "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| {goal} | {value} | {baseline} | {ratio} | {target} | {met} | `{source}` |".format(**row))
    lines += ["", "Where the lab differs from a campus: the vCenter is govmomi's simulator on the same 2 cores as the "
              "copy, so copy rates are the simulator's, not a 10 GbE link's; BMC latency is simulated (real BMCs "
              "answer in 0.2-2 s); the cluster runs in containers with QEMU under TCG. The ratios and byte counts "
              "carry over; absolute times do not.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="append",
                        help="lab dir to read (repeatable; default $REFORGE_LAB_DIR or .lab, and .lab-sims)")
    parser.add_argument("--out", default=str(REPO / "docs" / "performance.md"))
    args = parser.parse_args()
    labs = args.lab or [os.environ.get("REFORGE_LAB_DIR") or str(REPO / ".lab"), str(REPO / ".lab-sims")]
    text = render([Path(p) for p in labs])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
