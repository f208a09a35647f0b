# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pass/fail of a burn-in against the inventory's thresholds, and the comparison with the old platform."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.burnin.fio import Refusal

# threshold key -> (summary key, "min" or "max", what it means)
LIMITS = {
    "min_iops": ("iops", "min", "IOPS"),
    "min_bw_mib": ("bw_mib", "min", "bandwidth MiB/s"),
    "max_p50_ms": ("p50_ms", "max", "p50 latency ms"),
    "max_p99_ms": ("p99_ms", "max", "p99 latency ms"),
    "max_p999_ms": ("p999_ms", "max", "p99.9 latency ms"),
    "max_iops_cv": ("iops_cv", "max", "IOPS volatility (CV)"),
    "max_bw_cv": ("bw_cv", "max", "bandwidth volatility (CV)"),
    "max_p99_cv": ("p99_cv", "max", "p99 volatility (CV)"),
}
BASELINE = {"iops": "higher", "bw_mib": "higher", "p99_ms": "lower"}


def check_thresholds(thresholds, job_names):
    """Refuse thresholds that cannot be judged: unknown jobs or keys, non-numbers, CVs outside (0, 10]."""
    for scope, limits in (thresholds or {}).items():
        if scope != "all" and scope not in job_names:
            raise Refusal("burn-in thresholds name job '%s', which is not in the job mix (%s, or 'all')"
                          % (scope, ", ".join(sorted(job_names))))
        for key, value in (limits or {}).items():
            if key not in LIMITS:
                raise Refusal("burn-in threshold %s.%s is unknown (known: %s)" % (scope, key, ", ".join(sorted(LIMITS))))
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = -1.0
            if number <= 0 or (key.endswith("_cv") and number > 10):
                raise Refusal("burn-in threshold %s.%s '%s' must be a positive number%s"
                              % (scope, key, value, " (a coefficient of variation, e.g. 0.2)" if key.endswith("_cv") else ""))


def check_baseline(baseline, job_names):
    for scope, figures in (baseline or {}).items():
        if scope not in job_names:
            raise Refusal("burn-in baseline names job '%s', which is not in the job mix" % scope)
        for key, value in (figures or {}).items():
            if key not in BASELINE:
                raise Refusal("burn-in baseline %s.%s is unknown (known: %s)" % (scope, key, ", ".join(sorted(BASELINE))))
            try:
                ok = float(value) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise Refusal("burn-in baseline %s.%s '%s' must be a positive number" % (scope, key, value))


def judge(jobs, thresholds):
    """Every check made: job, direction, metric, measured, limit, ok. A missing measurement fails its check."""
    checks = []
    for job in jobs:
        limits = dict((thresholds or {}).get("all") or {}, **((thresholds or {}).get(job["name"]) or {}))
        for direction, data in sorted(job["directions"].items()):
            for key, limit in sorted(limits.items()):
                field, kind, label = LIMITS[key]
                value = data["summary"].get(field)
                ok = value is not None and (value >= float(limit) if kind == "min" else value <= float(limit))
                checks.append({"job": job["name"], "direction": direction, "metric": label, "key": key,
                               "value": value, "limit": float(limit), "ok": ok})
    return checks


def compare(jobs, baseline):
    """Ratios against the old platform: >1 is better for every ratio (latency is old/new)."""
    rows = []
    for job in jobs:
        figures = (baseline or {}).get(job["name"])
        if not figures:
            continue
        summary = {}
        for data in job["directions"].values():  # a mixed job: the sum of both directions, latency the worse one
            for key in ("iops", "bw_mib"):
                summary[key] = summary.get(key, 0) + (data["summary"].get(key) or 0)
            summary["p99_ms"] = max(summary.get("p99_ms") or 0, data["summary"].get("p99_ms") or 0)
        for key, value in sorted(figures.items()):
            new = summary.get(key)
            if not new:
                continue
            ratio = new / float(value) if BASELINE[key] == "higher" else float(value) / new
            rows.append({"job": job["name"], "metric": key, "old": float(value), "new": round(new, 3), "ratio": round(ratio, 3),
                         "better": BASELINE[key]})
    return rows
