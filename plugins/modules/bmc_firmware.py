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
    for local paths; reports the versions before and after.
  - Success means the update really completed. The module follows the task monitor or the iDRAC job, then
    the service's own progress where it has one (iLO C(UpdateService.Oem.Hpe.State) and C(Result); iLO 5
    before 2.30 answers without a task), then the component in C(FirmwareInventory) until it no longer
    reads C(Updating). A component at the new version is updated; one whose update waits for a host reset
    is staged (RV(reboot_required)). A failed flash fails the host, naming the component and the BMC's message.
  - A rerun while an update is in flight (an iDRAC job, a running task for the same image, a component that
    reads C(Updating)) does not send the image again; it reports the update in RV(pending) and waits on
    the same task or job. Images staged for the next host reset are not sent again either (RV(staged)).
  - A BMC that resets itself while updating its own firmware drops the session; the client logs in again
    and finishes. A BMC that stops answering during a wait is reported unreachable after
    O(unreachable_timeout), saying that the update was accepted and that its outcome is unknown.
  - Check mode reports the plan (and updates in flight) and sends nothing.
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
  unreachable_timeout:
    description:
      - Seconds the BMC may stay silent during a wait (task, job, update service, inventory) before the
        module fails with C(RedfishConnectionError), saying the update was accepted and its state is unknown.
      - A BMC updating its own firmware restarts and is silent for a while (iDRAC and iLO take one to a few
        minutes); keep this above that. O(task_timeout) still bounds the whole wait.
    type: int
    default: 300
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
pending:
  description:
    - Updates that were already in flight when the module started (not sent again). The module waited on
      them; C(outcome) says how they ended (C(updated), C(staged), C(unconfirmed)); in check mode C(state)
      is what the BMC reported.
  returned: success
  type: list
  elements: dict
outcomes:
  description: How each update of this run ended, by component (C(updated), C(staged) for the next host
    reset, C(unconfirmed) when the BMC reported success but the inventory still shows the old version).
  returned: success
  type: dict
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
from ansible_collections.reforge.hci.plugins.module_utils.redfish.update_monitor import image_name, update_monitor


def update(bmc, params, check_mode, warn):
    baseline = applicable(params["baseline"], bmc.vendor, bmc.system.get("Model"))
    monitor = update_monitor(bmc)
    monitor.poller.unreachable_timeout = params["unreachable_timeout"]
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
    # An update an earlier run left in flight is waited on, never sent a second time.
    pending = []
    if plan:
        monitor.snapshot(plan)
    for item in plan:
        handle = monitor.in_flight(item)
        if handle:
            pending.append(dict(item, state=handle["state"], task=handle["uri"], handle=handle))
    plan = [p for p in plan if p["inventory_id"] not in set(q["inventory_id"] for q in pending)]
    if check_mode or not (plan or pending):
        after = dict(before, **dict((p["inventory_id"], p["to"]) for p in plan))
        return change_result(before, after, plan=plan, staged=staged, versions=before, outcomes={},
                             pending=[_public(p) for p in pending],
                             reboot_required=bool(staged), vendor=bmc.vendor)
    outcomes = {}
    for item in pending:
        with OwnReset(monitor, item):
            item["outcome"] = outcomes[item["component"]] = monitor.finish(item, monitor.wait(item["handle"], item))
    for item in plan:
        with OwnReset(monitor, item):
            result = bmc.update_firmware(item["component"], item["image_uri"], params["apply_time"], item["targets"])
            outcomes[item["component"]] = monitor.finish(item, result)
    for component, outcome in outcomes.items():
        if outcome == "unconfirmed":
            warn("%s: the BMC reported the update of %s done, but its inventory still shows the old version; "
                 "it may take effect at the next host reset" % (bmc.client.endpoint, component))
    now = dict((f["id"], f["version"]) for f in bmc.firmware_inventory())
    result = change_result(before, now, plan=plan, staged=staged, versions=now, outcomes=outcomes,
                           pending=[_public(p) for p in pending],
                           reboot_required=bool(staged) or any(o != "updated" for o in outcomes.values()),
                           vendor=bmc.vendor)
    result["changed"] = bool(plan) or result["changed"]
    return result


def _public(item):
    return dict((k, v) for k, v in item.items() if k != "handle")


class OwnReset(object):
    """While the BMC updates its own firmware, its silence (a restart) is expected."""

    def __init__(self, monitor, item):
        self.poller = monitor.poller
        self.expect = monitor.is_bmc_firmware(item)

    def __enter__(self):
        self.poller.expect_reset = self.expect

    def __exit__(self, *exc):
        self.poller.expect_reset = False


def main():
    rm = RedfishModule(dict(
        baseline=dict(type="list", elements="dict", required=True, options=dict(
            component=dict(type="str", required=True), version=dict(type="str", required=True),
            image_uri=dict(type="str", required=True), targets=dict(type="list", elements="str"),
            vendor=dict(type="str", choices=["dell", "hpe", "xfusion", "lenovo", "supermicro", "generic"]),
            model=dict(type="str"))),
        apply_time=dict(type="str", choices=["Immediate", "OnReset"]),
        allow_downgrade=dict(type="bool", default=False),
        unreachable_timeout=dict(type="int", default=300)), supports_check_mode=True)
    rm.run(lambda bmc: update(bmc, rm.params, rm.check_mode, rm.module.warn))


if __name__ == "__main__":
    main()
