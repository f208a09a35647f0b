#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: burnin_run
short_description: One storage burn-in round with fio, judged against thresholds, reported in HTML and JSON
description:
  - Runs a fio job mix (by default 4k random read/write, 64k and 1M sequential) one job after another, each with
    C(--output-format=json+) and per-interval bandwidth, IOPS, latency and latency-histogram logs.
  - Computes per interval IOPS, bandwidth, p50/p99/p99.9 latency and their coefficient of variation, judges them against
    C(thresholds), compares with the old platform's figures (C(baseline)) as ratios, and writes C(report.html)
    (inline SVG charts, no scripts) and C(report.json) under C(out_dir/name).
  - An optional failure-injection command runs once during one job; the report marks the moment on every chart of that job.
  - A rerun with the same specification finds the finished report and changes nothing unless C(force=true).
  - Check mode writes nothing and returns the fio job files it would run as the diff.
version_added: "0.2.0"
author: reforge.hci contributors (!UNKNOWN)
options:
  name:
    description: Name of the round (a directory under C(out_dir)).
    type: str
    required: true
  out_dir:
    description: Where rounds are kept.
    type: path
    required: true
  engine:
    description: fio I/O engine; C(rbd) against the cluster pool, C(libaio)/C(psync) against a file or device.
    type: str
    choices: [rbd, libaio, psync]
    default: rbd
  target:
    description: "C(rbd): C(pool), C(rbdname) (an existing image), C(clientname). Other engines: C(filename), C(size)."
    type: dict
    required: true
  runtime:
    description: Seconds each job of the mix runs.
    type: int
    required: true
  ramp_time:
    description: Seconds of each job not measured at its start.
    type: int
    default: 0
  log_avg_msec:
    description: Interval of the per-interval logs, in milliseconds.
    type: int
    default: 1000
  jobs:
    description: The job mix (C(name), C(rw), C(bs), optional C(rwmixread), C(iodepth), C(numjobs)); empty for the default mix.
    type: list
    elements: dict
    default: []
  thresholds:
    description:
      - Per job name (or C(all)), limits among C(min_iops), C(min_bw_mib), C(max_p50_ms), C(max_p99_ms), C(max_p999_ms),
        C(max_iops_cv), C(max_bw_cv), C(max_p99_cv).
    type: dict
    default: {}
  baseline:
    description: Per job name, the old platform's C(iops), C(bw_mib), C(p99_ms); shown as ratios (above 1 is better).
    type: dict
    default: {}
  inject:
    description: "Failure injection: C(command) (run with a shell on the host running fio), C(at_seconds) into C(job) (default the first), C(label)."
    type: dict
  force:
    description: Run again even when a finished report with the same specification exists.
    type: bool
    default: false
  fio:
    description: The fio executable.
    type: str
    default: fio
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
requirements:
  - fio (Debian package fio; its RBD engine for C(engine=rbd))
'''

EXAMPLES = r'''
- name: Twelve hours of the default mix against the cluster pool, an OSD stopped after six
  reforge.hci.burnin_run:
    name: campus-north-osd-stop
    out_dir: /var/lib/reforge/burnin
    engine: rbd
    target: {pool: vms, rbdname: burnin, clientname: admin}
    runtime: 14400
    inject: {command: "systemctl stop ceph-osd@3", at_seconds: 7200, label: "osd.3 stopped"}
    thresholds:
      rand-4k: {min_iops: 20000, max_p99_ms: 10, max_iops_cv: 0.2}
    baseline:
      rand-4k: {iops: 15000, p99_ms: 12}
'''

RETURN = r'''
verdict:
  description: PASS or FAIL (absent in check mode).
  returned: when the round ran or was found
  type: str
report:
  description: Paths of report.html and report.json.
  returned: when the round ran or was found
  type: dict
checks:
  description: Every check made (job, direction, metric, value, limit, ok).
  returned: when the round ran or was found
  type: list
  elements: dict
commands:
  description: The fio commands that would run (check mode).
  returned: in check mode
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.reforge.hci.plugins.module_utils.burnin import run
from ansible_collections.reforge.hci.plugins.module_utils.burnin.fio import Refusal


def main():
    module = AnsibleModule(
        argument_spec=dict(name=dict(type="str", required=True), out_dir=dict(type="path", required=True),
                           engine=dict(type="str", choices=["rbd", "libaio", "psync"], default="rbd"),
                           target=dict(type="dict", required=True), runtime=dict(type="int", required=True),
                           ramp_time=dict(type="int", default=0), log_avg_msec=dict(type="int", default=1000),
                           jobs=dict(type="list", elements="dict", default=[]), thresholds=dict(type="dict", default={}),
                           baseline=dict(type="dict", default={}), inject=dict(type="dict"), force=dict(type="bool", default=False),
                           fio=dict(type="str", default="fio")),
        supports_check_mode=True)
    p = module.params
    spec = {k: p[k] for k in ("name", "engine", "target", "runtime", "ramp_time", "log_avg_msec", "jobs", "thresholds", "baseline", "inject")}
    try:
        changed, report, diff = run.run_round(spec, p["out_dir"], check_mode=module.check_mode, force=p["force"], fio=p["fio"])
    except Refusal as exc:
        module.fail_json(msg="refused before any run: %s" % exc)
    except (RuntimeError, OSError, ValueError) as exc:
        module.fail_json(msg="burn-in %s failed: %s" % (p["name"], exc))
    if module.check_mode and changed:
        module.exit_json(changed=True, commands=report["commands"], diff=diff)
    folder = os.path.join(p["out_dir"], p["name"])
    module.exit_json(changed=changed, verdict=report["verdict"], checks=report["checks"], events=report["events"],
                     comparison=report["comparison"], failed_checks=report["failed_checks"],
                     report={"html": os.path.join(folder, "report.html"), "json": os.path.join(folder, "report.json")}, diff=diff)


if __name__ == "__main__":
    main()
