# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
name: report_history
short_description: Reports that keep their history (dated runs, an append-only history) and the migration wave's view
version_added: 0.1.0
description:
  - C(report_history_append) appends a run (a dict with C(run_id)) to a report's history (the parsed history file,
    or an empty string when there is none yet). A history file that is not one, another subject's history or a run id
    already in it is an error, never overwritten.
  - C(report_run_id) turns a run's start (ISO 8601 or epoch seconds) into its file-name stamp, C(20261203T165210Z).
  - C(human_bytes) shows a size in binary units (C(7.0 MiB)); C(bytes_cell) the same as HTML with the exact bytes in
    its title attribute.
  - The C(wave_*) filters build the migration wave report (roles/migration_wave; docs/migration.md, The wave report).
    C(wave_sync_record), C(wave_cutover_record) and C(wave_final_sync) keep one module result with its times,
    C(wave_run) finishes a run record, C(wave_history_seed) keeps a single-run report of the old format as the first
    run, C(wave_plan) resolves each VM's RTO/RPO from its tier, C(wave_view) merges the whole history into rows per VM
    and totals, C(wave_timeline_svg) draws one run as an inline SVG chart.
options:
  _input:
    description: The history, run or result the filter works on.
    type: raw
    required: true
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Append this run to the wave's history
  ansible.builtin.set_fact:
    history: "{{ (old | default('')) | reforge.hci.report_history_append('wave1', run) }}"
'''

RETURN = r'''
_value:
  description: The new history, the record, the view or the SVG markup.
  type: raw
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.module_utils.reports import history, wave


def _checked(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except history.HistoryError as exc:
            raise AnsibleFilterError(str(exc))
    run.__name__ = func.__name__
    return run


def report_history_append(document, subject, run):
    return history.append(document, subject, run)


def wave_history_seed(document, subject, latest=None):
    return wave.seed(history.load(document, subject), latest)


def wave_cutover_record(result, vm, mode, missing=None, sync_host="", method="", ha=False):
    return wave.cutover_record(result, vm, mode, missing, sync_host, method, ha)


class FilterModule(object):
    def filters(self):
        return {name: _checked(func) for name, func in {
            "report_history_append": report_history_append,
            "report_run_id": history.run_id,
            "human_bytes": history.human_bytes,
            "human_seconds": history.human_seconds,
            "bytes_cell": wave.bytes_cell,
            "wave_sync_record": wave.sync_record,
            "wave_cutover_record": wave_cutover_record,
            "wave_final_sync": wave.final_sync_record,
            "wave_run": wave.run_record,
            "wave_history_seed": wave_history_seed,
            "wave_plan": wave.plan_vms,
            "wave_view": wave.view,
            "wave_timeline_svg": wave.timeline_svg,
        }.items()}
