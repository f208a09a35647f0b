# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lenovo XClarity Controller: volumes over Redfish, but no controller mode switch."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishUnsupported
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import (
    VIRTUALIZATION_PROFILE, GenericAdapter,
)

LENOVO_PROFILE = dict(VIRTUALIZATION_PROFILE,
                      cpu_virtualization=(("Processors_IntelVirtualizationTechnology", "Enabled"),),
                      iommu=(("Processors_IntelVTforDirectedIOVTd", "Enabled"),),
                      sriov=(("DevicesandIOPorts_SRIOV", "Enabled"),),
                      boot_mode_uefi=(("BootModes_SystemBootMode", "UEFIMode"),),
                      performance_profile=(("OperatingModes_ChooseOperatingMode", "MaximumPerformance"),))


class NoModeSwitchAdapter(GenericAdapter):
    """Vendors whose BMC has no controller mode switch over Redfish (only volume create/delete)."""

    mode_advice = ""

    def supported_modes(self, storage, ctrl):
        return ["raid"]

    def unsupported_mode(self, ctrl, mode, supported):
        return RedfishUnsupported(
            "%s BMCs offer no storage controller mode switch over Redfish; %s cannot be set to %s here."
            % (self.vendor.capitalize(), ctrl.get("Model") or "the controller", mode),
            vendor=self.vendor, operation="storage_controller", advice=self.mode_advice)


class LenovoAdapter(NoModeSwitchAdapter):
    vendor = "lenovo"
    profile = LENOVO_PROFILE
    mode_advice = ("Set JBOD/HBA mode in XClarity Provisioning Manager or with storcli, "
                   "or delete the volumes so the drives show as unconfigured good.")

    @classmethod
    def matches(cls, root, manager):
        return "Lenovo" in (root.get("Oem") or {}) or (root.get("Vendor") or "") == "Lenovo" \
            or "XClarity" in (manager.get("Model") or "")
