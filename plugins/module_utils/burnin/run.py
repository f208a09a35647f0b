# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One burn-in round: check the input, run the job mix, inject the failure, judge, write the report.

A round is kept under ``out_dir/<name>/``. Its JSON records a digest of the specification; a rerun
with the same specification finds the finished report and does nothing (``changed`` false) unless
``force`` is set, so rerunning the playbook does not start another 12 hours of load by accident.
Check mode writes nothing and returns the job files it would run.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import hashlib
import json
import os
import shlex
import subprocess
import threading
import time

from ansible_collections.reforge.hci.plugins.module_utils.burnin import fio as fiomod
from ansible_collections.reforge.hci.plugins.module_utils.burnin.fio import Refusal
from ansible_collections.reforge.hci.plugins.module_utils.burnin.judge import check_baseline, check_thresholds, compare, judge
from ansible_collections.reforge.hci.plugins.module_utils.burnin.report import render_html


def digest(spec):
    keep = {k: spec.get(k) for k in ("engine", "target", "jobs", "runtime", "ramp_time", "log_avg_msec", "inject", "thresholds", "baseline")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check(spec):
    names = fiomod.check_spec(spec)
    check_thresholds(spec.get("thresholds"), names)
    check_baseline(spec.get("baseline"), names)
    inject = spec.get("inject") or {}
    if inject:
        if not inject.get("command"):
            raise Refusal("burn-in inject needs a command (e.g. 'systemctl stop ceph-osd@3')")
        if inject.get("job") and inject["job"] not in names:
            raise Refusal("burn-in inject.job '%s' is not in the job mix" % inject["job"])
        try:
            at = float(inject.get("at_seconds", 0))
        except (TypeError, ValueError):
            at = -1
        if at < 0 or at >= int(spec["runtime"]):
            raise Refusal("burn-in inject.at_seconds '%s' must fall inside the job's runtime (0 to %s s)"
                          % (inject.get("at_seconds"), spec["runtime"]))
    return names


class _Injector(threading.Thread):
    """Runs the failure-injection command once, ``at_seconds`` after its job started; records when."""

    def __init__(self, inject, start_event):
        threading.Thread.__init__(self, daemon=True)
        self.inject, self.start_event, self.cancel = inject, start_event, threading.Event()
        self.event = None

    def run(self):
        self.start_event.wait()
        if self.cancel.wait(float(self.inject.get("at_seconds", 0))):
            return
        started = int(time.time() * 1000)
        proc = subprocess.run(self.inject["command"], shell=True, capture_output=True, text=True, check=False,
                              timeout=float(self.inject.get("timeout", 600)))
        self.event = {"label": self.inject.get("label") or self.inject["command"], "command": self.inject["command"],
                      "started_ms": started, "ended_ms": int(time.time() * 1000), "rc": proc.returncode,
                      "output": (proc.stdout + proc.stderr)[-2000:]}


def run_round(spec, out_dir, check_mode=False, force=False, fio="fio"):
    names = check(spec)
    jobs = [dict(j) for j in (spec.get("jobs") or fiomod.DEFAULT_JOBS)]
    round_dir = os.path.join(out_dir, spec["name"])
    report_json = os.path.join(round_dir, "report.json")
    key = digest(spec)
    if os.path.exists(report_json) and not force:
        with open(report_json, encoding="utf-8") as fh:
            old = json.load(fh)
        if old.get("digest") == key:
            return False, old, []
    files = [(os.path.join(round_dir, j["name"] + ".fio"), fiomod.jobfile(spec, j)) for j in jobs]
    diff = [{"before_header": p, "after_header": p, "before": "", "after": text} for p, text in files]
    if check_mode:
        commands = [" ".join(fiomod.command(spec, j, round_dir, fio)) for j in jobs]
        return True, {"name": spec["name"], "jobs": sorted(names), "commands": commands}, diff
    os.makedirs(round_dir, exist_ok=True)
    for path, text in files:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    inject = spec.get("inject") or {}
    inject_job = inject.get("job") or (jobs[0]["name"] if inject else None)
    started = datetime.datetime.now(datetime.timezone.utc)
    events, parsed = [], []
    for job in jobs:
        injector = None
        if job["name"] == inject_job:
            go = threading.Event()
            injector = _Injector(inject, go)
            injector.start()
        cmd = fiomod.command(spec, job, round_dir, fio)
        if (spec.get("engine") or "rbd") != "rbd":
            # Lay the file out first, so the job's clock (and at_seconds) starts with its I/O, not with the layout.
            layout = subprocess.run([fio, "--create_only=1", "--output=/dev/null", cmd[-1]], capture_output=True, text=True, check=False)
            if layout.returncode != 0:
                raise RuntimeError("fio could not lay out %s: %s" % ((spec.get("target") or {}).get("filename"), layout.stderr.strip()[-800:]))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if injector is not None:
            go.set()
        out, err = proc.communicate()
        if injector is not None:
            injector.cancel.set()
            injector.join()
            if injector.event:
                events.append(dict(injector.event, job=job["name"]))
        if proc.returncode != 0:
            raise RuntimeError("fio failed for job %s (rc %s): %s\ncommand: %s"
                               % (job["name"], proc.returncode, (err or out).strip()[-1500:], " ".join(shlex.quote(c) for c in cmd)))
        parsed.append(fiomod.parse_job(round_dir, job["name"]))
    checks = judge(parsed, spec.get("thresholds"))
    failed = sum(1 for c in checks if not c["ok"])
    target = spec.get("target") or {}
    report = {"name": spec["name"], "digest": key, "engine": spec.get("engine") or "rbd", "runtime": int(spec["runtime"]),
              "log_avg_msec": int(spec.get("log_avg_msec") or 1000), "started": started.strftime("%Y-%m-%d %H:%M:%S"),
              "started_ms": int(started.timestamp() * 1000),
              "target_label": ("pool %s, image %s" % (target.get("pool"), target.get("rbdname"))) if target.get("pool")
              else "file %s" % target.get("filename"),
              "jobs": parsed, "events": events, "checks": checks, "failed_checks": failed,
              "verdict": "PASS" if failed == 0 else "FAIL", "comparison": compare(parsed, spec.get("baseline"))}
    html_path = os.path.join(round_dir, "report.html")
    with open(html_path, "w", encoding="utf-8") as fh:
        fh.write(render_html(report))
    with open(report_json + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1)
    os.replace(report_json + ".tmp", report_json)
    return True, report, diff
