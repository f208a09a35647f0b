"""Print where the time of a `make test` run went, and one closing line for all lanes.

Reads what scripts/test.sh and tests/conftest.py wrote into the timings folder:
``phases.jsonl`` (setup, lab up, each lane's tests, lab down), ``lab-up.jsonl``
(lab components started from inside pytest) and ``tests-<lane>.json`` (every test:
area, lane, seconds, outcome).

    scripts/test_times.py build/test-times --wall 2534.2
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

CI_LIMIT = 5400.0   # CI stops a run after 90 minutes
BUDGET = 2700.0     # what the suite may take on a warm machine (issue 11: 45 minutes)
AREA_ORDER = ["setup", "lab up", "unit", "sanity and lint", "Redfish", "migration", "cluster", "Molecule", "perf",
              "EE", "other", "lab down"]


def mmss(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--wall", type=float, required=True, help="wall seconds of the whole run")
    args = ap.parse_args()

    # area -> lane -> [seconds, tests, passed, failed, skipped]
    rows: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0, 0, 0, 0]))
    lanes: dict[str, float] = {}
    for entry in _lines(args.folder / "phases.jsonl"):
        if entry["phase"] == "tests":
            lanes[entry["lane"]] = lanes.get(entry["lane"], 0.0) + entry["seconds"]
            continue
        row = rows[entry["phase"]][entry["lane"]]
        row[0] += entry["seconds"]
        if entry["phase"] == "lab up" and entry["lane"] != "all":
            lanes[entry["lane"]] = lanes.get(entry["lane"], 0.0) + entry["seconds"]
    for entry in _lines(args.folder / "lab-up.jsonl"):
        rows["lab up"][entry["lane"] + " (in tests)"][0] += entry["seconds"]
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for path in sorted(args.folder.glob("tests-*.json")):
        for test in json.loads(path.read_text()).values():
            row = rows[test["area"]][test["lane"]]
            row[0] += test["seconds"]
            row[1] += 1
            row[2 + ["passed", "failed", "skipped"].index(test["outcome"])] += 1
            totals[test["outcome"]] += 1

    print()
    print("time per area (seconds of each lane; the lanes run at the same time)")
    print(f"  {'area':<16} {'lane':<16} {'tests':>5} {'pass':>5} {'fail':>5} {'skip':>5} {'m:ss':>7}")
    for area in sorted(rows, key=lambda a: AREA_ORDER.index(a) if a in AREA_ORDER else len(AREA_ORDER)):
        for lane, (seconds, count, passed, failed, skipped) in sorted(rows[area].items()):
            counts = f"{count:>5} {passed:>5} {failed:>5} {skipped:>5}" if count else f"{'':>5} {'':>5} {'':>5} {'':>5}"
            print(f"  {area:<16} {lane:<16} {counts} {mmss(seconds):>7}")
    for lane, seconds in sorted(lanes.items()):
        print(f"  lane {lane:<11} wall (lab up + tests)                {mmss(seconds):>7}")
    share = 100 * args.wall / CI_LIMIT
    flag = "" if args.wall <= BUDGET else f"  OVER the {mmss(BUDGET)} budget"
    print(f"  total wall {mmss(args.wall)} of the CI limit {mmss(CI_LIMIT)} ({share:.0f} %){flag}")
    if any(path.exists() for path in args.folder.glob("tests-*.json")):
        print(f"total: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
