# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
name: microseg_members
short_description: Tier membership of migrated VMs for micro-segmentation
version_added: 0.1.0
description:
  - C(microseg_wave_members) builds a migration wave's tier membership, C([{name, tier, macs, source}]), from the
    wave's VMs (C(migration_wave_vms), each with its C(tier)) and C(migration_preflight)'s C(results) (their
    C(macs)). VMs the preflight blocked are left out; a VM of the wave without a tier is an error.
  - C(microseg_merge) joins the inventory's C(microseg_vms) with a list of membership lists (one per wave file), one entry
    per VM with its MACs joined; a VM put in two different tiers is an error naming both places.
options:
  _input:
    description: The wave's VMs (C(microseg_wave_members)) or the inventory's C(microseg_vms) (C(microseg_merge)).
    type: list
    elements: dict
    required: true
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: The wave's VMs in their tiers
  ansible.builtin.set_fact:
    members: "{{ migration_wave_vms | reforge.hci.microseg_wave_members(preflight.results, 'wave1') }}"

- name: Everything the segment stage applies
  ansible.builtin.set_fact:
    vms: "{{ microseg_vms | reforge.hci.microseg_merge([wave1_members, wave2_members]) }}"
'''

RETURN = r'''
_value:
  description: The membership list.
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.reforge.hci.plugins.module_utils.microseg import members


def microseg_wave_members(wave_vms, preflight_results, wave="wave"):
    try:
        return members.wave_members(wave_vms, preflight_results, wave)
    except members.MembersError as exc:
        raise AnsibleFilterError(str(exc))


def microseg_merge(inventory_vms, member_lists=None):
    try:
        return members.merge(inventory_vms, member_lists or [])
    except members.MembersError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"microseg_wave_members": microseg_wave_members, "microseg_merge": microseg_merge}
