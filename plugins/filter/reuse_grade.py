# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
name: reuse_grade
short_description: Grade a server's fitness for reuse as an HCI node from its bmc_info facts
version_added: 0.1.0
description:
  - Returns C(grade) (reusable, reusable_with_changes, retire), C(reasons) (each with the grade it implies
    and, for reusable_with_changes, the C(change) it needs), C(changes) and C(measured) values, from CPU
    generation (a data table; an unknown model is "check by hand", never a guess) and virtualization
    features, RAM, disk count and wear, the storage plan the prepare stage follows
    (C(reforge.hci.storage_plan)), Ethernet ports at the storage network's speed (Fibre Channel and
    InfiniBand never count) and the firmware gap to a baseline.
  - The companion filter C(reforge.hci.reuse_summary) turns a dict of graded hosts into a campus summary.
options:
  _input:
    description: The C(bmc) dict returned by M(reforge.hci.bmc_info).
    type: dict
    required: true
  criteria:
    description: Thresholds overriding the defaults (oldest_cpu_generation, min_cpu_year, min_ram_gib, retire_ram_gib,
      min_data_disks, min_disk_life_left_percent, min_nic_speed_mbps, min_fast_ports, controller_modes); see
      docs/redfish.md.
    type: dict
  baseline:
    description: Firmware baseline (list of component/version dicts as M(reforge.hci.bmc_firmware) takes).
    type: list
    elements: dict
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Grade
  ansible.builtin.set_fact:
    reuse: "{{ bmc.bmc | reforge.hci.reuse_grade(criteria={'min_ram_gib': 256}, baseline=firmware_baseline) }}"
'''

RETURN = r'''
_value:
  description: C(grade), C(reasons), C(server), C(measured).
  type: dict
'''

from ansible_collections.reforge.hci.plugins.module_utils.redfish.reuse import grade, storage_plan, summary


def reuse_grade(facts, criteria=None, baseline=None):
    return grade(facts, criteria, baseline)


def reuse_summary(graded):
    return summary(graded)


def reuse_storage_plan(storage, modes=None, allow_data_loss=False):
    return storage_plan(storage, modes, allow_data_loss)


class FilterModule(object):
    def filters(self):
        return {"reuse_grade": reuse_grade, "reuse_summary": reuse_summary, "storage_plan": reuse_storage_plan}
