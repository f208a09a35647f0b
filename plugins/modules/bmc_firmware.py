#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_firmware
short_description: Bring a server's firmware to a baseline over Redfish
version_added: 0.1.0
description:
  - Compares each baseline entry with the C(FirmwareInventory) entries it matches and updates the ones
    that are older (or different, with O(allow_downgrade)).
  - Updates with C(UpdateService.SimpleUpdate) for URIs, or a multipart push to C(MultipartHttpPushUri)
    for local paths; waits for the task monitor or the Dell job; reports the
    versions before and after.
  - A BMC that resets itself while updating its own firmware drops the session; the client logs in again
    and finishes.
  - Check mode reports the plan and sends nothing.
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.redfish.action_group
  - reforge.hci.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  baseline:
    description: Desired firmware, one entry per component.
    type: list
    elements: dict
    required: true
    suboptions:
      component:
        description: Regular expression matched (case-insensitive) against the inventory entry's C(Id) and C(Name).
        type: str
        required: true
      version:
        description: Desired version.
        type: str
        required: true
      image_uri:
        description:
          - URI the BMC fetches the image from (C(https://), C(http://), C(nfs://)... as the BMC supports),
            sent with C(SimpleUpdate).
          - An absolute local path (C(/srv/fw/bios.bin)) is read on the controller and pushed to the
            service's C(MultipartHttpPushUri).
        type: str
        required: true
      targets:
        description: C(Targets) for SimpleUpdate (inventory or device URIs), when the service needs them.
        type: list
        elements: str
      vendor:
        description: Apply this entry only to BMCs of this vendor (as RV(vendor) reports it). One baseline can then serve a mixed campus.
        type: str
        choices: [dell, hpe, xfusion, lenovo, supermicro, generic]
      model:
        description: Apply this entry only when the system model matches this regular expression.
        type: str
  apply_time:
    description: C(@Redfish.OperationApplyTime) for the updates; omitted when not set.
    type: str
    choices: [Immediate, OnReset]
  allow_downgrade:
    description: Also "update" components that are newer than the baseline.
    type: bool
    default: false
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Firmware baseline of the campus
  reforge.hci.bmc_firmware:
    endpoint: "{{ bmc_endpoint }}"
    baseline:
      - component: "^BIOS|System BIOS"
        version: "2.19.1"
        image_uri: "https://repo.example.org/dell/BIOS_2.19.1.EXE"
  delegate_to: localhost
  register: firmware
'''

RETURN = r'''
plan:
  description: Updates that were (or in check mode would be) made.
  returned: success
  type: list
  elements: dict
  sample: [{"component": "BIOS", "inventory_id": "Installed-159-2.17.0", "from": "2.17.0", "to": "2.19.1"}]
versions:
  description: Inventory versions after the run, by inventory id.
  returned: success
  type: dict
staged:
  description: Updates already staged on the BMC for the next host reset (not pushed again).
  returned: success
  type: list
  elements: dict
reboot_required:
  description: An update finished or is staged but its new version is not active yet (host reset needed).
  returned: success
  type: bool
vendor:
  description: Adapter that handled the BMC.
  returned: success
  type: str
'''

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.firmware import applicable, plan_updates
from ansible_collections.reforge.hci.plugins.module_utils.redfish.module import RedfishModule, change_result


def image_name(uri):
    return uri.rstrip("/").rsplit("/", 1)[-1]


def update(bmc, params, check_mode, warn):
    baseline = applicable(params["baseline"], bmc.vendor, bmc.system.get("Model"))
    inventory = bmc.firmware_inventory() if baseline else []
    if baseline and not inventory:
        raise RedfishError("%s exposes no firmware inventory; cannot compare with the baseline" % bmc.client.endpoint)
    uncomparable = []
    plan, unmatched = plan_updates(inventory, baseline, params["allow_downgrade"], uncomparable)
    for component in unmatched:
        warn("no firmware inventory entry on %s matches %r" % (bmc.client.endpoint, component))
    if uncomparable:
        # Never flash (or skip) on a guess: a platform code read as a version once skipped a needed update.
        reasons = "; ".join("%s: %s" % (u["component"], u["reason"]) for u in uncomparable)
        raise RedfishError("%s: cannot compare installed firmware with the baseline, nothing was sent: %s"
                           % (bmc.client.endpoint, reasons))
    # Images already staged for the next host reset are not pushed again (rerun before the reboot).
    staged_images = bmc.staged_firmware_images() if plan else set()
    staged = [p for p in plan if image_name(p["image_uri"]) in staged_images]
    plan = [p for p in plan if p not in staged]
    before = dict((f["id"], f["version"]) for f in inventory)
    if check_mode or not plan:
        after = dict(before, **dict((p["inventory_id"], p["to"]) for p in plan))
        return change_result(before, after, plan=plan, staged=staged, versions=before,
                             reboot_required=bool(staged), vendor=bmc.vendor)
    for item in plan:
        bmc.update_firmware(item["component"], item["image_uri"], params["apply_time"], item["targets"])
    now = dict((f["id"], f["version"]) for f in bmc.firmware_inventory())
    pending = [p for p in plan if p["to"] not in now.values()]
    result = change_result(before, now, plan=plan, staged=staged, versions=now,
                           reboot_required=bool(pending or staged), vendor=bmc.vendor)
    result["changed"] = True
    return result


def main():
    rm = RedfishModule(dict(
        baseline=dict(type="list", elements="dict", required=True, options=dict(
            component=dict(type="str", required=True), version=dict(type="str", required=True),
            image_uri=dict(type="str", required=True), targets=dict(type="list", elements="str"),
            vendor=dict(type="str", choices=["dell", "hpe", "xfusion", "lenovo", "supermicro", "generic"]),
            model=dict(type="str"))),
        apply_time=dict(type="str", choices=["Immediate", "OnReset"]),
        allow_downgrade=dict(type="bool", default=False)), supports_check_mode=True)
    rm.run(lambda bmc: update(bmc, rm.params, rm.check_mode, rm.module.warn))


if __name__ == "__main__":
    main()
