# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Following a firmware update to its real end, per vendor.

A BMC accepting an update is not the update being done. Done is what the BMC itself says once the
work is over: the task monitor or the iDRAC job, then (where the service keeps one) the update
service's own state (iLO: ``Oem.Hpe.State``, ``FlashProgressPercent``, ``Result``), then the
component in FirmwareInventory: no longer ``Updating``, at the new version, or staged for the next
host reset. The same code finds an update already in flight (an earlier run that timed out or was
interrupted) so that a rerun waits on it instead of sending the image again.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishTaskFailed, RedfishTimeoutError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.firmware import UncomparableVersion, compare_versions
from ansible_collections.reforge.hci.plugins.module_utils.redfish.tasks import (
    Silence, polled, wait_dell_job, wait_task,
)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import link, odata_id

# DMTF TaskState values of work not yet over.
TASK_ACTIVE = ("New", "Starting", "Running", "Pending", "Suspended", "Stopping", "Service")
# iDRAC JobState values of a firmware job not yet downloaded/flashed ("Scheduled" = staged, awaiting reboot).
JOB_ACTIVE = ("New", "Downloading", "Downloaded", "Running", "Waiting", "ReadyForExecution", "Scheduling",
              "Paused", "RebootPending")
# iLO UpdateService.Oem.Hpe.State values.
HPE_BUSY = ("Uploading", "Progressing", "Verifying", "Writing", "Updating", "Flashing", "InProgress", "Activating")
HPE_FAILED = ("Error",)
STAGED_MESSAGES = ("AwaitingActivation", "ResetRequired")
# The BMC's own firmware: updating it restarts the BMC (its silence is then expected for a while).
BMC_NAMES = re.compile(r"iDRAC|Remote Access Controller|\biLO\b|\bBMC\b|iBMC|XClarity Controller|\bXCC\b", re.I)


def image_name(uri):
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _mentions(task, name):
    """Whether a task is about this image: its name, its DMTF Payload or its message arguments say so."""
    texts = [task.get("Name") or "", (task.get("Payload") or {}).get("JsonBody") or ""]
    for msg in task.get("Messages") or []:
        texts.extend(str(a) for a in (msg.get("MessageArgs") or []) if isinstance(msg, dict))
    return any(name in t for t in texts)


def staged(result):
    """The update finished its part and waits for a host reset (DMTF AwaitingActivation, an iDRAC job Scheduled)."""
    result = result or {}
    if result.get("JobState") == "Scheduled":
        return True
    return any((m.get("MessageId") or "").rsplit(".", 1)[-1] in STAGED_MESSAGES
               for m in result.get("Messages") or [] if isinstance(m, dict))


class UpdateMonitor(object):
    """DMTF services: the task monitor, then the inventory."""

    def __init__(self, bmc):
        self.bmc = bmc
        self.client = bmc.client
        self.poller = bmc.poller
        self.active = {}
        self._reads = {}

    def is_bmc_firmware(self, item):
        return bool(BMC_NAMES.search(item.get("component") or "") or BMC_NAMES.search(item.get("inventory_id") or ""))

    # -- an update already in flight ------------------------------------------------------------
    def snapshot(self, plan):
        """Note the updates the BMC is working on for these plan items. ``in_flight`` reads the inventory
        after this: an update that ends in between shows there as done, never as neither running nor done."""
        self.active, self._reads = {}, {}
        for item in plan:
            handle = self.active_work(item)
            if handle:
                self.active[item["inventory_id"]] = handle

    def names(self, item):
        """What names this item's update in a task: the image's file name."""
        return [image_name(item["image_uri"])]

    def active_work(self, item):
        for task in self._cached("tasks", self.tasks):
            if task.get("TaskState") in TASK_ACTIVE and any(_mentions(task, n) for n in self.names(item)):
                return dict(kind="task", uri=task.get("TaskMonitor") or odata_id(task), state=task.get("TaskState"))
        return None

    def _cached(self, key, read):
        if key not in self._reads:
            self._reads[key] = read()
        return self._reads[key]

    def in_flight(self, item):
        """A handle (kind, uri, state) on this item's update if the BMC is already working on it (or has just
        finished it: the component reached the version since the plan was made), else None. After ``snapshot``."""
        handle = self.active.get(item["inventory_id"])
        if handle is None:
            entries = self.entries(item)
            if any(self._updating(e) for e in entries):
                handle = dict(kind="inventory", uri=item.get("uri"), state="Updating")
            elif any(self._at(e, item["to"]) for e in entries):
                handle = dict(kind="inventory", uri=item.get("uri"), state="Completed")
        return handle

    @staticmethod
    def _at(entry, version):
        try:
            return compare_versions(entry.get("Version") or "", version) == 0
        except UncomparableVersion:
            return False

    def tasks(self):
        service = link(self.client.root, "Tasks")   # the root's "Tasks" links the TaskService
        uri = link(self.client.try_get(service) if service else None, "Tasks")
        return self.client.members(uri, optional=True) if uri else []

    def wait(self, handle, item):
        if handle["kind"] == "task":
            return wait_task(self.client, handle["uri"], item["component"], self.poller)
        if handle["kind"] == "job":
            return wait_dell_job(self.client, handle["uri"], item["component"], self.poller, accept_staged=True)
        return {}

    # -- after the task: is it really done? -----------------------------------------------------
    def finish(self, item, result):
        """'updated' (the inventory shows the new version), 'staged' (active after the next host reset)
        or 'unconfirmed' (the BMC says done, the inventory still shows the old version)."""
        if staged(result):
            return "staged"
        self.wait_service(item)
        if any(self._at(e, item["to"]) for e in self.settle_inventory(item)):
            return "updated"
        return "unconfirmed"

    def wait_service(self, item):
        """Vendor update services with a state of their own (iLO) are followed here."""
        return None

    def entries(self, item):
        """The inventory entries of this item's component (an iDRAC entry's id changes with its version)."""
        uri = link(self.bmc.update_service, "FirmwareInventory")
        found = []
        for entry in self.client.members(uri, optional=True) if uri else []:
            if (entry.get("Id") or "").startswith("Previous"):
                continue
            if odata_id(entry) == item.get("uri") or (entry.get("Name") and entry.get("Name") == item["component"]):
                found.append(entry)
        return found

    @staticmethod
    def _updating(entry):
        return ((entry.get("Status") or {}).get("State") or "") == "Updating"

    def settle_inventory(self, item):
        """The component's entries once none reads Updating (bounded by task_timeout and unreachable_timeout)."""
        silence = Silence(self.client, self.poller, "the firmware inventory of %s" % item["component"], item.get("uri"))
        for entries in polled(self.poller, silence, lambda: self.entries(item), lambda: ("Updating", None)):
            if not any(self._updating(e) for e in entries):
                return entries
        raise RedfishTimeoutError("%s still reads Updating after %s s" % (item["component"], self.poller.timeout),
                                  component=item["component"])


class DellUpdateMonitor(UpdateMonitor):
    """iDRAC: firmware is a job in the job queue (Downloading, Running, Scheduled for the reboot, Completed)."""

    def names(self, item):
        # Real iDRAC job names read "Firmware Update: <component>" (the lab's: the image file name).
        return [image_name(item["image_uri"]), item["component"]]

    def active_work(self, item):
        jobs = self._cached("jobs", lambda: self.client.members("%s/Jobs" % odata_id(self.bmc.manager), optional=True))
        for job in jobs:
            if job.get("JobType") == "FirmwareUpdate" and job.get("JobState") in JOB_ACTIVE and \
                    any(n in (job.get("Name") or "") for n in self.names(item)):
                return dict(kind="job", uri=odata_id(job), state=job.get("JobState"))
        return None


class HpeUpdateMonitor(UpdateMonitor):
    """iLO: progress and result are in UpdateService.Oem.Hpe (State, FlashProgressPercent, Result); iLO 5
    before 2.30 answers SimpleUpdate with 200 and no task at all, later ones add a task without a percentage."""

    def _service(self):
        return self.client.get(link(self.client.root, "UpdateService"))   # never cached: it changes

    def _oem(self):
        oem = self._service().get("Oem") or {}
        return oem.get("Hpe") or oem.get("Hp") or {}

    def in_flight(self, item):
        handle = super(HpeUpdateMonitor, self).in_flight(item)
        if handle is None and self._oem().get("State") in HPE_BUSY and \
                any(self._updating(e) for e in self.entries(item)):
            handle = dict(kind="service", uri=link(self.client.root, "UpdateService"), state=self._oem().get("State"))
        return handle

    def wait_service(self, item):
        uri = link(self.client.root, "UpdateService")
        silence = Silence(self.client, self.poller, "the iLO update of %s" % item["component"], uri)
        last = [{}]
        for oem in polled(self.poller, silence, self._oem,
                          lambda: (last[0].get("State"), last[0].get("FlashProgressPercent"))):
            last[0] = oem
            state = oem.get("State")
            if state in HPE_FAILED:
                result = oem.get("Result") or {}
                text = "; ".join(str(a) for a in result.get("MessageArgs") or []) or "no message"
                raise RedfishTaskFailed("firmware update of %s failed on %s: %s (%s)"
                                        % (item["component"], self.client.endpoint, text, result.get("MessageId")),
                                        component=item["component"], task_uri=uri, state=state,
                                        messages=[result.get("MessageId"), text])
            if state not in HPE_BUSY:
                return oem
        raise RedfishTimeoutError("the iLO update of %s did not finish within %s s (state %s, %s %%)"
                                  % (item["component"], self.poller.timeout, last[0].get("State"),
                                     last[0].get("FlashProgressPercent")), component=item["component"])


MONITORS = {"dell": DellUpdateMonitor, "hpe": HpeUpdateMonitor}


def update_monitor(bmc):
    return MONITORS.get(bmc.vendor, UpdateMonitor)(bmc)
