# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HPE iLO 5 (Smart Array through the SmartStorageConfig OEM resource) and iLO 6/7 (DMTF storage model)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishUnsupported
from ansible_collections.reforge.hci.plugins.module_utils.redfish.update_monitor import HPE_BUSY
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import (
    PASSTHROUGH_MODES, VIRTUALIZATION_PROFILE, GenericAdapter, already_passthrough, controller_label, link, odata_id,
)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.writes import LANDED

HPE_PROFILE = dict(VIRTUALIZATION_PROFILE,
                   performance_profile=(("WorkloadProfile", "Virtualization-MaxPerformance"),))

# SmartStorageConfig port modes -> our controller modes. "Mixed" passes unconfigured drives
# to the OS while keeping logical drives: with no logical drive left every drive is passed
# through (nonraid); with some it is reported as "mixed".
PORT_MODES = {"HBA": "hba", "RAID": "raid"}
SMART_MODES = {"hba": "HBA", "raid": "RAID", "nonraid": "Mixed", "jbod": "Mixed"}


def smart_mode(port_mode, logical_drives):
    if port_mode == "Mixed":
        return "mixed" if logical_drives else "nonraid"
    return PORT_MODES.get(port_mode)


def _hpe(resource):
    oem = (resource or {}).get("Oem") or {}
    return oem.get("Hpe") or oem.get("Hp") or {}


class HpeAdapter(GenericAdapter):
    vendor = "hpe"
    profile = HPE_PROFILE

    @classmethod
    def matches(cls, root, manager):
        oem = root.get("Oem") or {}
        return "Hpe" in oem or "Hp" in oem or (root.get("Vendor") or "") in ("HPE", "Hpe") \
            or "iLO" in (manager.get("Model") or "")

    def update_started(self):
        # iLO 5 before 2.30 creates no task for SimpleUpdate: its update service's own state shows the work.
        service = self.client.get(link(self.client.root, "UpdateService"))
        if _hpe(service).get("State") in HPE_BUSY:
            return LANDED, {}
        return super(HpeAdapter, self).update_started()

    # -- iLO 5 Smart Array ------------------------------------------------------------------
    def _smart_config_uri(self):
        links = _hpe(self.system).get("SmartStorageConfig") or []
        return odata_id(links[0]) if links else None

    def _smart_config(self):
        uri = self._smart_config_uri()
        # iLO 6 still links SmartStorageConfig from the system but no longer serves it.
        config = self.client.try_get(uri) if uri else None
        if config is None:
            return None, None
        settings_uri = odata_id((config.get("@Redfish.Settings") or {}).get("SettingsObject")) \
            or uri.rstrip("/") + "/settings/"
        return config, settings_uri

    def _array_controller(self):
        links = (_hpe(self.system).get("Links") or {}).get("SmartStorage")
        if not links:
            return {}
        smart = self.client.get(odata_id(links))
        uri = odata_id((smart.get("Links") or {}).get("ArrayControllers"))
        members = self.client.members(uri) if uri else []
        return members[0] if members else {}

    def storage_facts(self):
        config, settings_uri = self._smart_config()
        if config is None:
            return super(HpeAdapter, self).storage_facts()
        array = self._array_controller()
        pending = self.client.try_get(settings_uri) or {}
        current = smart_mode(array.get("CurrentOperatingMode"), config.get("LogicalDrives"))
        after = set(p.get("OperatingModeAfterReboot") for p in pending.get("Ports") or config.get("Ports") or [])
        pending_mode = smart_mode(after.pop(), pending.get("LogicalDrives", config.get("LogicalDrives"))) \
            if len(after) == 1 else None
        supported = self._smart_supported(array, config)
        result = [dict(
            id=config.get("Location"), uri=self._smart_config_uri(), controller_id=array.get("Id"),
            model=array.get("Model"), firmware_version=((array.get("FirmwareVersion") or {}).get("Current") or {})
            .get("VersionString"), mode=current, pending_mode=pending_mode if pending_mode != current else None,
            supported_modes=supported, hba_capable="hba" in supported or "nonraid" in supported,
            attachment="controller", passthrough=current in PASSTHROUGH_MODES, drives=[],
            volumes=[dict(id=str(ld.get("LogicalDriveNumber")), raid_type=ld.get("Raid"),
                          capacity_bytes=(ld.get("CapacityGiB") or 0) * 2 ** 30)
                     for ld in config.get("LogicalDrives") or []],
        )]
        # Drives (with wear) come from the DMTF Storage view iLO 5 also publishes.
        for storage in self.storage_resources():
            result[0]["drives"].extend(self.drive_facts(self.client.get(odata_id(d))) for d in storage.get("Drives", []))
        return result

    def _smart_supported(self, array, config):
        modes = ["raid"]
        if config.get("Ports") is not None:
            modes.extend(["nonraid", "jbod"])
            if array.get("DualModeControllerSupported", True):
                modes.append("hba")
        return modes

    def find_storage(self, controller):
        config, _settings = self._smart_config()
        if config is None:
            return super(HpeAdapter, self).find_storage(controller)
        return {"@odata.id": self._smart_config_uri(), "Id": config.get("Location")}, self._array_controller()

    def plan_controller_mode(self, storage, ctrl, mode, allow_data_loss):
        config, settings_uri = self._smart_config()
        if config is None:
            return super(HpeAdapter, self).plan_controller_mode(storage, ctrl, mode, allow_data_loss)
        facts = self.storage_facts()[0]
        current, pending = facts["mode"], facts["pending_mode"]
        equivalent = {"jbod": "nonraid"}.get(mode, mode)
        if equivalent in (current, pending) or already_passthrough(mode, current, pending, facts["supported_modes"]):
            return current, pending, []
        if mode not in facts["supported_modes"]:
            raise self.smart_array_unsupported(ctrl, mode, facts["supported_modes"])
        drop_volumes = mode != "raid" and facts["volumes"]
        if drop_volumes and not allow_data_loss:
            from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishDataLossRefused
            raise RedfishDataLossRefused(
                "switching %s to %s would destroy %d logical drive(s); set allow_data_loss: true to proceed"
                % (ctrl.get("Model"), mode, len(facts["volumes"])))
        body = {"DataGuard": "Disabled" if drop_volumes else "Strict",
                "Ports": [{"PortIndex": p.get("PortIndex"), "OperatingModeAfterReboot": SMART_MODES[mode]}
                          for p in config.get("Ports") or []]}
        if drop_volumes:
            body["LogicalDrives"] = []
            body["Actions"] = [{"Action": "ClearConfigurationMetadata"}]
        # SmartStorageConfig takes a whole-document PUT to its settings object, applied at next POST.
        return current, pending, self.settled_mode_steps(storage, ctrl, mode, [lambda: self.client.put(settings_uri, body)])

    def smart_array_unsupported(self, ctrl, mode, supported):
        return RedfishUnsupported(
            "%s cannot be switched to %s over Redfish (iLO offers: %s)."
            % (controller_label(self.vendor, ctrl.get("Model") or "Smart Array"), mode, ", ".join(supported)),
            vendor=self.vendor, operation="storage_controller",
            advice="Older Smart Array (P4xx without dual mode) needs HBA mode set in SSA/ssacli offline, "
                   "or use mode nonraid (Mixed: unconfigured drives are passed to the OS).")
