#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_storage_controller
short_description: Put a storage controller into HBA, JBOD, non-RAID or RAID mode over Redfish
version_added: 0.1.0
description:
  - Ceph wants raw disks. This module switches the controller (or its drives) so the OS sees them directly.
  - "Dell iDRAC: C(ControllerMode) HBA (PERC9) or EnhancedHBA (PERC10) through the controller's settings
    object and a configuration job; V(nonraid) converts drives with C(DellRaidService.ConvertToNonRAID).
    PERC11/12 are RAID-only: the module fails and says so."
  - "HPE iLO 5: the Smart Array's C(SmartStorageConfig) settings (port mode HBA / Mixed / RAID), applied at the next POST.
    HPE iLO 6+ and other DMTF services: C(Storage.AutoVolumeCreate) (V(nonraid))."
  - "xFusion/Huawei iBMC: the controller's OEM JBOD mode, PATCHed with C(If-Match)."
  - "Lenovo XCC and Supermicro offer no mode switch over Redfish: the module fails with what to do instead."
  - Never destroys existing RAID volumes unless O(allow_data_loss=true).
  - Drives attached without a controller (NVMe on the CPUs' PCIe lanes) are raw to the OS already, and a controller
    that already passes drives through (hba, jbod or nonraid) counts as done for any pass-through O(mode) it does not
    offer; both report no change.
  - Changes that apply at the next host reset are compared as pending, so a rerun before the reboot reports no change;
    RV(reboot_required) tells the caller to reboot.
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.redfish.action_group
  - reforge.hci.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  controller:
    description:
      - Storage resource id, controller id or model. Defaults to the first storage with a controller, else the
        first storage of directly attached drives.
    type: str
  mode:
    description: Desired mode. V(jbod) and V(nonraid) both mean that every drive is presented to the OS.
    type: str
    required: true
    choices: [hba, jbod, nonraid, raid]
  allow_data_loss:
    description: Allow the switch to delete existing RAID volumes (their data is lost).
    type: bool
    default: false
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Give Ceph the raw disks
  reforge.hci.bmc_storage_controller:
    endpoint: "{{ bmc_endpoint }}"
    mode: hba
  delegate_to: localhost
  register: controller

- name: Reboot only if the change is pending
  reforge.hci.bmc_power:
    endpoint: "{{ bmc_endpoint }}"
    state: restart
  when: controller.reboot_required
  delegate_to: localhost
'''

RETURN = r'''
mode:
  description: Current (effective) mode before the run.
  returned: success
  type: str
  sample: raid
pending_mode:
  description: Mode staged for the next reset after the run (null when nothing is staged).
  returned: success
  type: str
  sample: hba
reboot_required:
  description: Whether a host reset is needed to reach the desired mode.
  returned: success
  type: bool
vendor:
  description: Adapter that handled the controller.
  returned: success
  type: str
'''

from ansible_collections.reforge.hci.plugins.module_utils.redfish.module import RedfishModule, change_result
from ansible_collections.reforge.hci.plugins.module_utils.redfish.writes import run_steps

SAME = {"jbod": "nonraid"}


def controller_now(bmc, storage):
    """The controller's state read back now, as a sentence for a failure message."""
    for facts in bmc.storage_facts():
        if facts["uri"] == storage.get("@odata.id"):
            return "%s is in mode %s, %s pending, with %d volume(s) left%s" % (
                facts.get("model") or facts.get("id"), facts["mode"], facts["pending_mode"] or "nothing",
                len(facts["volumes"]), (" (%s)" % ", ".join(str(v["id"]) for v in facts["volumes"]))
                if facts["volumes"] else "")
    return "the controller is no longer listed"


def set_mode(bmc, params, check_mode):
    storage, ctrl = bmc.find_storage(params["controller"])
    current, pending, steps = bmc.plan_controller_mode(storage, ctrl, params["mode"], params["allow_data_loss"])
    if not steps:
        effective = pending or current
        return change_result(dict(mode=current, pending_mode=pending), dict(mode=current, pending_mode=pending),
                             mode=current, pending_mode=pending, vendor=bmc.vendor,
                             reboot_required=SAME.get(effective, effective) != SAME.get(current, current)
                             if pending else False)
    if not check_mode:
        # A failure after volumes were deleted says so first, with the controller's state now.
        run_steps(steps, lambda: controller_now(bmc, storage))
        storage, ctrl = bmc.find_storage(params["controller"])
        facts = [s for s in bmc.storage_facts() if s["uri"] == storage.get("@odata.id")]
        now, pending = (facts[0]["mode"], facts[0]["pending_mode"]) if facts else (current, params["mode"])
    else:
        now, pending = current, params["mode"]
    after_pending = None if SAME.get(now, now) == SAME.get(params["mode"], params["mode"]) else (pending or params["mode"])
    result = change_result(dict(mode=current, pending_mode=None), dict(mode=now, pending_mode=after_pending),
                           mode=current, pending_mode=after_pending, vendor=bmc.vendor,
                           reboot_required=after_pending is not None)
    result["changed"] = True
    return result


def main():
    rm = RedfishModule(dict(controller=dict(type="str"),
                            mode=dict(type="str", required=True, choices=["hba", "jbod", "nonraid", "raid"]),
                            allow_data_loss=dict(type="bool", default=False)),
                       supports_check_mode=True)
    rm.run(lambda bmc: set_mode(bmc, rm.params, rm.check_mode))


if __name__ == "__main__":
    main()
