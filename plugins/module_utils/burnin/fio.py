# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The burn-in's fio side: the job mix, its job files, running it, and reading what it wrote.

Each job of the mix runs as its own fio process (one after the other) with
``--output-format=json+`` and per-interval logs (bw, iops, lat and latency histograms averaged
over ``log_avg_msec``, timestamps in Unix epoch ms so an injected failure can be placed on the
same time axis). Per-interval percentiles come from fio's histogram log (the delta of each
interval), decoded with fio's own bucket formula (``plat_idx_to_val`` in fio's stat.c).
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import math
import os
import re


class Refusal(Exception):
    """Bad burn-in input found before anything runs."""


DEFAULT_JOBS = (
    {"name": "rand-4k", "rw": "randrw", "bs": "4k", "rwmixread": 70, "iodepth": 32},
    {"name": "seq-64k", "rw": "rw", "bs": "64k", "rwmixread": 50, "iodepth": 16},
    {"name": "seq-1m", "rw": "rw", "bs": "1m", "rwmixread": 50, "iodepth": 8},
)
ENGINES = ("rbd", "libaio", "psync")
RW = ("read", "write", "randread", "randwrite", "rw", "readwrite", "randrw")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
BS_RE = re.compile(r"^[0-9]+[kKmM]?$")
DIRS = {0: "read", 1: "write"}
PLAT_BITS, PLAT_VAL = 6, 64


def check_spec(spec):
    """Refuse a bad burn-in specification before anything runs."""
    engine = spec.get("engine") or "rbd"
    if engine not in ENGINES:
        raise Refusal("burn-in engine '%s' is not one of %s" % (engine, ", ".join(ENGINES)))
    target = spec.get("target") or {}
    if engine == "rbd":
        for key in ("pool", "rbdname"):
            if not target.get(key):
                raise Refusal("the rbd engine needs target.%s (the cluster pool and a test image in it)" % key)
    elif not target.get("filename"):
        raise Refusal("the %s engine needs target.filename (a file or device to test)" % engine)
    try:
        runtime = int(spec.get("runtime"))
    except (TypeError, ValueError):
        runtime = 0
    if runtime < 1:
        raise Refusal("burn-in runtime '%s' must be a whole number of seconds per job, at least 1" % spec.get("runtime"))
    names = set()
    for job in spec.get("jobs") or DEFAULT_JOBS:
        if not NAME_RE.match(str(job.get("name") or "")):
            raise Refusal("burn-in job name '%s' is not a job name: lower-case letters, digits, '-' and '_', "
                          "starting with a letter or digit, at most 41 characters" % job.get("name"))
        if job["name"] in names:
            raise Refusal("burn-in job name '%s' is used twice; each job of the mix needs its own name" % job["name"])
        names.add(job["name"])
        if job.get("rw") not in RW:
            raise Refusal("burn-in job %s: rw '%s' is not one of %s" % (job["name"], job.get("rw"), ", ".join(RW)))
        if not BS_RE.match(str(job.get("bs") or "")):
            raise Refusal("burn-in job %s: bs '%s' is not a block size such as 4k or 1m" % (job["name"], job.get("bs")))
    return names


def jobfile(spec, job):
    """The fio job file for one job of the mix."""
    engine = spec.get("engine") or "rbd"
    target = spec.get("target") or {}
    lines = ["[global]", "ioengine=%s" % engine, "time_based=1", "runtime=%d" % int(spec["runtime"]),
             "ramp_time=%d" % int(spec.get("ramp_time") or 0), "group_reporting=1", "log_unix_epoch=1",
             "log_hist_msec=%d" % int(spec.get("log_avg_msec") or 1000), "numjobs=%d" % int(job.get("numjobs") or 1)]
    if engine == "rbd":
        lines += ["clientname=%s" % (target.get("clientname") or "admin"), "pool=%s" % target["pool"],
                  "rbdname=%s" % target["rbdname"]]
    else:
        lines += ["filename=%s" % target["filename"], "size=%s" % (target.get("size") or "1g"), "direct=1"]
    lines += ["", "[%s]" % job["name"], "rw=%s" % job["rw"], "bs=%s" % job["bs"], "iodepth=%d" % int(job.get("iodepth") or 16)]
    if job.get("rwmixread") is not None and "rw" in job["rw"] and job["rw"] not in ("read", "write"):
        lines.append("rwmixread=%d" % int(job["rwmixread"]))
    return "\n".join(lines) + "\n"


def command(spec, job, out_dir, fio="fio"):
    prefix = os.path.join(out_dir, job["name"])
    avg = int(spec.get("log_avg_msec") or 1000)
    return [fio, "--output-format=json+", "--output=%s.json" % prefix, "--write_bw_log=%s" % prefix,
            "--write_iops_log=%s" % prefix, "--write_lat_log=%s" % prefix, "--write_hist_log=%s" % prefix,
            "--log_avg_msec=%d" % avg, prefix + ".fio"]


# ---------------------------------------------------------------------- parsing
def plat_idx_to_val(idx):
    """fio's stat.c: the value (ns) a histogram bucket stands for (the middle of its range)."""
    if idx < (PLAT_VAL << 1):
        return idx
    error_bits = (idx >> PLAT_BITS) - 1
    base = 1 << (error_bits + PLAT_BITS)
    return base + ((idx % PLAT_VAL) + 0.5) * (1 << error_bits)


def percentiles(counts, wanted=(50.0, 99.0, 99.9)):
    """Percentiles (ns) of one histogram (bucket counts, fio's layout)."""
    total = sum(counts)
    if not total:
        return {p: None for p in wanted}
    out, seen, order = {}, 0, sorted(wanted)
    i = 0
    for idx, count in enumerate(counts):
        seen += count
        while i < len(order) and seen >= total * order[i] / 100.0:
            out[order[i]] = plat_idx_to_val(idx)
            i += 1
        if i == len(order):
            break
    return out


def _log(path, ddir_field=2):
    """Rows of a fio log: (time ms, direction, fields). Value logs carry the direction third, histogram logs second."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 3 and parts[0]:
                rows.append((int(parts[0]), int(parts[ddir_field]), parts))
    return rows


def cv(values):
    """Coefficient of variation (population standard deviation / mean); None when undefined."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    if mean == 0:
        return None
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / mean


def parse_job(out_dir, name):
    """Per-interval series and a summary for one job, from its json+ output and interval logs."""
    prefix = os.path.join(out_dir, name)
    with open(prefix + ".json", encoding="utf-8") as fh:
        text = fh.read()
    data = json.loads(text[text.index("{"):])  # fio may print notes before the JSON
    job = data["jobs"][0]
    if job.get("error"):
        raise RuntimeError("fio job %s ended with error %s" % (name, job["error"]))
    # Each log has one row per interval and direction; their timestamps differ by a few ms, so rows are
    # joined by their position in the log (the n-th interval), and the time is the IOPS log's.
    series = {}
    for kind, path in (("iops", prefix + "_iops.1.log"), ("bw_kib", prefix + "_bw.1.log")):
        for t, ddir, parts in _log(path):
            if ddir in DIRS:
                series.setdefault(DIRS[ddir], {}).setdefault(kind, []).append((t, float(parts[1])))
    for t, ddir, parts in _log(prefix + "_clat_hist.1.log", ddir_field=1):
        if ddir in DIRS:
            pct = percentiles([int(x) for x in parts[3:]])
            series.setdefault(DIRS[ddir], {}).setdefault("hist", []).append(
                (t, {key: None if pct[p] is None else round(pct[p] / 1000.0, 1)
                     for p, key in ((50.0, "p50_us"), (99.0, "p99_us"), (99.9, "p999_us"))}))
    result = {"name": name, "options": job.get("job options", {}), "directions": {}}
    for direction in ("read", "write"):
        stats = job.get(direction) or {}
        if not stats.get("total_ios"):
            continue
        logs = series.get(direction, {})
        points = []
        for i, (t, iops) in enumerate(logs.get("iops", [])):
            point = {"t_ms": t, "iops": iops}
            if i < len(logs.get("bw_kib", [])):
                point["bw_kib"] = logs["bw_kib"][i][1]
            if i < len(logs.get("hist", [])):
                point.update(logs["hist"][i][1])
            points.append(point)
        clat = stats.get("clat_ns", {}).get("percentile", {})
        summary = {"iops": round(stats["iops"], 1), "bw_mib": round(stats["bw"] / 1024.0, 2),
                   "p50_ms": _ms(clat.get("50.000000")), "p99_ms": _ms(clat.get("99.000000")), "p999_ms": _ms(clat.get("99.900000")),
                   "intervals": len(points)}
        for key in ("iops", "bw_kib", "p50_us", "p99_us", "p999_us"):
            value = cv([p.get(key) for p in points])
            summary["%s_cv" % key.split("_", maxsplit=1)[0]] = None if value is None else round(value, 4)
        result["directions"][direction] = {"summary": summary, "intervals": points}
    return result


def _ms(ns):
    return None if ns is None else round(ns / 1e6, 3)
