# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dell iDRAC 8/9: PERC controller mode, ConvertToNonRAID, the iDRAC job queue."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishUnsupported
from ansible_collections.reforge.hci.plugins.module_utils.redfish.tasks import wait_dell_job, wait_task
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import (
    VIRTUALIZATION_PROFILE, GenericAdapter, controller_label, odata_id,
)

# What each PERC generation can do (Dell's PERC user guides). ControllerMode value for "hba".
PERC_FAMILIES = (
    # (model pattern, hba ControllerMode value or None, ConvertToNonRAID works in RAID mode)
    (re.compile(r"\bH(330|730P?|830)\b", re.I), "HBA", True),                                      # PERC9
    (re.compile(r"\bH(740P|745P?|840)\b", re.I), "EnhancedHBA", False),                            # PERC10
    (re.compile(r"\bH(755N?|750|355|350|965i?|975i?)\b|PERC ?1[12]", re.I), None, False),          # PERC11/12
    (re.compile(r"HBA3[0-9]{2}|HBA4[0-9]{2}", re.I), "HBA", False),                                 # real HBAs
)

DELL_PROFILE = dict(VIRTUALIZATION_PROFILE,
                    performance_profile=(("SysProfile", "PerfOptimized"),),
                    iommu=(("ProcVirtualization", "Enabled"), ("IommuSupport", "Enabled")))


def _dell(resource, *keys):
    node = ((resource or {}).get("Oem") or {}).get("Dell") or {}
    for key in keys:
        node = node.get(key) or {}
    return node


class DellAdapter(GenericAdapter):
    vendor = "dell"
    profile = DELL_PROFILE

    @classmethod
    def matches(cls, root, manager):
        return "Dell" in (root.get("Oem") or {}) or (root.get("Vendor") or "").startswith("Dell") \
            or "iDRAC" in (manager.get("Model") or "") or "iDRAC" in (root.get("Product") or "")

    def _family(self, model):
        for pattern, hba_value, nonraid_in_raid in PERC_FAMILIES:
            if pattern.search(model or ""):
                return hba_value, nonraid_in_raid
        return "HBA", True  # older/unknown PERC: let the iDRAC decide and report its answer

    def drive_raid_status(self, drive):
        status = _dell(drive, "DellPhysicalDisk").get("RaidStatus")
        return status or super(DellAdapter, self).drive_raid_status(drive)

    def _controller_mode_value(self, ctrl):
        return _dell(ctrl, "DellStorageController").get("ControllerMode")

    def _drives(self, storage):
        return [self.client.get(odata_id(d)) for d in storage.get("Drives", [])]

    def controller_mode(self, storage, ctrl, volumes):
        value = self._controller_mode_value(ctrl)
        if value in ("HBA", "EnhancedHBA"):
            return "hba"
        drives = self._drives(storage)
        if drives and all(_dell(d, "DellPhysicalDisk").get("RaidStatus") == "NonRAID" for d in drives):
            return "nonraid"
        return "raid" if value or drives else None

    def _settings_uri(self, storage, ctrl):
        settings = odata_id((ctrl.get("@Redfish.Settings") or {}).get("SettingsObject"))
        if settings:
            return settings
        return "%s/Controllers/%s/Settings" % (odata_id(storage), ctrl.get("Id") or storage.get("Id"))

    def pending_controller_mode(self, storage, ctrl):
        body = self.client.try_get(self._settings_uri(storage, ctrl)) or {}
        value = _dell(body, "DellStorageController").get("ControllerMode")
        if value and value != self._controller_mode_value(ctrl):
            return "hba" if value in ("HBA", "EnhancedHBA") else "raid"
        # A staged ConvertToNonRAID shows only as a scheduled job on this controller.
        ctrl_id = storage.get("Id") or ""
        if any(j.get("Name", "").startswith("ConvertToNonRAID") and ctrl_id in j.get("Name", "")
               for j in self.scheduled_jobs()):
            return "nonraid"
        return None

    def supported_modes(self, storage, ctrl):
        allowed = _dell(ctrl, "DellStorageController").get("ControllerMode@Redfish.AllowableValues")
        hba_value, nonraid_in_raid = self._family(ctrl.get("Model"))
        if allowed is not None:
            hba_value = next((v for v in allowed if v in ("HBA", "EnhancedHBA")), None)
        modes = ["raid"]
        if hba_value:
            modes.append("hba")
        if nonraid_in_raid or hba_value == "EnhancedHBA":
            modes.extend(["nonraid", "jbod"])
        return modes

    def unsupported_mode(self, ctrl, mode, supported):
        return RedfishUnsupported(
            "%s supports only %s; it cannot be switched to %s mode over Redfish or any other interface."
            % (controller_label(self.vendor, ctrl.get("Model") or "PERC"), " and ".join(supported), mode),
            vendor=self.vendor, operation="storage_controller",
            advice="Replace it with an HBA (e.g. Dell HBA355i) for Ceph, or keep RAID mode and grade the server "
                   "'reusable with changes'.")

    def mode_steps(self, storage, ctrl, mode):
        hba_value = self._family(ctrl.get("Model"))[0]
        allowed = _dell(ctrl, "DellStorageController").get("ControllerMode@Redfish.AllowableValues")
        if allowed is not None:
            hba_value = next((v for v in allowed if v in ("HBA", "EnhancedHBA")), hba_value)
        if mode == "hba" or (mode in ("nonraid", "jbod") and hba_value == "EnhancedHBA"):
            return [lambda: self._set_controller_mode(storage, ctrl, hba_value)]
        if mode == "raid":
            return [lambda: self._set_controller_mode(storage, ctrl, "RAID")]
        return [lambda: self._convert_to_nonraid(storage, ctrl)]

    def _set_controller_mode(self, storage, ctrl, value):
        # iDRAC rejects ControllerMode combined with any other property in one PATCH.
        body = {"@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"},
                "Oem": {"Dell": {"DellStorageController": {"ControllerMode": value}}}}
        resp = self.client.patch(self._settings_uri(storage, ctrl), body)
        return self._wait(resp, ctrl.get("Model") or ctrl.get("Id"))

    def _raid_service(self):
        return "%s/Oem/Dell/DellRaidService/Actions/DellRaidService.ConvertToNonRAID" % odata_id(self.system)

    def _convert_to_nonraid(self, storage, ctrl):
        disks = [d.get("Id") for d in self._drives(storage)
                 if _dell(d, "DellPhysicalDisk").get("RaidStatus") not in ("NonRAID",)]
        body = {"PDArray": disks}
        # Real-time capable PERCs convert without a host reboot.
        if _dell(ctrl, "DellStorageController").get("RealtimeCapability") == "Capable":
            body["@Redfish.OperationApplyTime"] = "Immediate"
        resp = self.client.post(self._raid_service(), body)
        return self._wait(resp, ctrl.get("Model") or ctrl.get("Id"))

    def _wait(self, resp, component):
        location = resp.location or ""
        if resp.status == 202 and "/Jobs/" in location:
            # Configuration jobs stay Scheduled until the host reboots: that is success here.
            return wait_dell_job(self.client, location, component, self.poller, accept_staged=True)
        if resp.status == 202 and location:
            return wait_task(self.client, location, component, self.poller)
        return resp.body

    def task_uris(self):
        # iDRAC's work (configuration, volume deletes, firmware) is in its job queue.
        jobs = self.client.try_get("%s/Jobs" % odata_id(self.manager))
        return [odata_id(m) for m in (jobs or {}).get("Members", [])]

    def scheduled_jobs(self, job_type=None):
        """iDRAC jobs waiting for the next host reset (BIOS, RAID and firmware work is staged as jobs)."""
        jobs = self.client.members("%s/Jobs" % odata_id(self.manager), optional=True)
        return [j for j in jobs if j.get("JobState") == "Scheduled" and (job_type is None or j.get("JobType") == job_type)]

    def staged_firmware_images(self):
        # Job names read "Firmware Update: <image file name>".
        return set(j.get("Name", "").split(": ", 1)[-1] for j in self.scheduled_jobs("FirmwareUpdate"))
