#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: migration_plan
short_description: Plan migration waves from tiers, RTO/RPO, dependencies, windows and measured change rates
description:
  - Groups VMs into waves (dependencies such as database before application first; tier-1 warm VMs and
    low-priority batch VMs never share a wave; at most C(max_vms_per_wave) VMs and C(max_bytes_per_wave) bytes
    per wave), gives each wave a maintenance window, and estimates each VM's cutover downtime from its measured
    change rate (bytes changed per hour between incremental syncs, read from the sync journals) or a default.
  - Writes the plan as YAML the operator can edit to O(dest) and returns a readable report.
author:
  - reforge.hci contributors (!UNKNOWN)
version_added: 0.1.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - reforge.hci.attributes
options:
  vms:
    description:
      - VMs to plan, each with a unique C(name) (a name given twice fails the task) and optionally C(tier), C(depends_on) (list of names), C(rto_minutes),
        C(rpo_minutes), C(bytes_allocated), C(bytes_capacity), C(mode) (C(warm) or C(batch)),
        C(change_rate_bytes_per_hour).
    type: list
    elements: dict
    required: true
  journal_dir:
    description: Sync journals to measure change rates from (VMs with at least two syncs).
    type: path
  windows:
    description: Maintenance windows (C({name, start, end})) given to the waves in turn.
    type: list
    elements: dict
    default: []
  settings:
    description: Planner settings (C(throughput_mb_s), C(shutdown_seconds), C(boot_seconds),
      C(incremental_interval_hours), C(max_vms_per_wave), C(max_bytes_per_wave), C(batch_tiers)).
    type: dict
    default: {}
  dest:
    description: Where to write the plan as YAML; not written when the content is unchanged.
    type: path
'''

EXAMPLES = r'''
- name: Plan the west campus waves
  reforge.hci.migration_plan:
    vms:
      - {name: db01, tier: tier1, rto_minutes: 30, rpo_minutes: 60}
      - {name: app01, tier: tier1, depends_on: [db01], rto_minutes: 30}
      - {name: batch01, tier: tier3}
    windows: [{name: sat-night, start: "Sat 22:00", end: "Sun 04:00"}]
    journal_dir: /var/lib/reforge/migration/journal
    dest: "{{ playbook_dir }}/plans/west.yml"
'''

RETURN = r'''
plan:
  description: The waves with their windows, cutover order, VMs, modes and estimates, and the problems found.
  returned: always
  type: dict
report:
  description: The plan as readable text.
  returned: always
  type: str
'''

import glob
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.reforge.hci.plugins.module_utils.migration import planner
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import MigrationError

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False


def measured_rates(journal_dir):
    """Worst change rate per VM over its disks' journals (sum of disks)."""
    rates = {}
    for path in glob.glob(os.path.join(journal_dir, "*.journal.json")):
        with open(path) as handle:
            data = json.load(handle)
        rate = planner.change_rate(data.get("syncs") or [])
        if rate is not None:
            rates[data["vm"]] = rates.get(data["vm"], 0) + rate
    return rates


def main():
    module = AnsibleModule(argument_spec=dict(
        vms=dict(type="list", elements="dict", required=True),
        journal_dir=dict(type="path"),
        windows=dict(type="list", elements="dict", default=[]),
        settings=dict(type="dict", default={}),
        dest=dict(type="path"),
    ), supports_check_mode=True)
    p = module.params
    if p["dest"] and not HAS_YAML:
        module.fail_json(msg="writing dest needs PyYAML")
    vms = [dict(vm) for vm in p["vms"]]
    names = [vm.get("name") for vm in vms]
    twice = sorted({str(name) for name in names if names.count(name) > 1}) if len(set(names)) < len(names) else []
    if twice or None in names:
        # the plan is keyed by name: a second VM of the same name would silently replace the first
        module.fail_json(msg="every VM of a plan needs a unique name; %s" % (
            "named more than once: %s (rename one in vSphere, or plan them separately)" % ", ".join(twice)
            if twice else "a VM has no name"))
    if p["journal_dir"] and os.path.isdir(p["journal_dir"]):
        rates = measured_rates(p["journal_dir"])
        for vm in vms:
            if vm["name"] in rates and not vm.get("change_rate_bytes_per_hour"):
                vm["change_rate_bytes_per_hour"] = rates[vm["name"]]
                vm["change_rate_measured"] = True
    try:
        wave_plan = planner.plan(vms, p["settings"], p["windows"])
    except MigrationError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": False, "plan": wave_plan, "report": planner.report_text(wave_plan)}
    if p["dest"]:
        text = "# Migration wave plan written by reforge.hci.migration_plan; edit and re-run to re-plan.\n" + \
            yaml.safe_dump(wave_plan, default_flow_style=False, sort_keys=False)
        before = open(p["dest"]).read() if os.path.exists(p["dest"]) else ""
        if before != text:
            result["changed"] = True
            if module._diff:
                result["diff"] = {"before": before, "after": text, "before_header": p["dest"],
                                  "after_header": p["dest"]}
            if not module.check_mode:
                os.makedirs(os.path.dirname(os.path.abspath(p["dest"])), exist_ok=True)
                tmp = p["dest"] + ".tmp"
                with open(tmp, "w") as handle:
                    handle.write(text)
                module.atomic_move(tmp, p["dest"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
