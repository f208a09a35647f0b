# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""xFusion / Huawei iBMC: RAID controller JBOD mode through the controller's OEM block."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import (
    VIRTUALIZATION_PROFILE, GenericAdapter, odata_id,
)

XFUSION_PROFILE = dict(VIRTUALIZATION_PROFILE,
                       cpu_virtualization=(("VTSupport", "Enabled"),) + VIRTUALIZATION_PROFILE["cpu_virtualization"],
                       iommu=(("VTdSupport", "Enabled"),) + VIRTUALIZATION_PROFILE["iommu"],
                       sriov=(("SRIOVEnable", "Enabled"),) + VIRTUALIZATION_PROFILE["sriov"],
                       boot_mode_uefi=(("BootType", "UEFIBoot"),),
                       performance_profile=(("BenchMarkSelection", "Performance"), ("PowerPolicy", "Performance")))
OEM_KEYS = ("xFusion", "Huawei")


def _oem(resource):
    oem = (resource or {}).get("Oem") or {}
    for key in OEM_KEYS:
        if key in oem:
            return key, oem[key]
    return None, {}


class XFusionAdapter(GenericAdapter):
    vendor = "xfusion"
    profile = XFUSION_PROFILE

    @classmethod
    def matches(cls, root, manager):
        return _oem(root)[0] is not None or (root.get("Vendor") or "") in OEM_KEYS \
            or "iBMC" in (manager.get("Model") or "")

    def controller_mode(self, storage, ctrl, volumes):
        _key, oem = _oem(ctrl)
        if oem.get("Mode"):
            return {"JBOD": "jbod", "RAID": "raid", "HBA": "hba"}.get(oem["Mode"], oem["Mode"].lower())
        if "JBODState" in oem:
            return "jbod" if oem["JBODState"] else "raid"
        return super(XFusionAdapter, self).controller_mode(storage, ctrl, volumes)

    def supported_modes(self, storage, ctrl):
        _key, oem = _oem(ctrl)
        if oem.get("SupportedModes"):
            return [{"JBOD": "jbod", "RAID": "raid", "HBA": "hba"}.get(m, m.lower()) for m in oem["SupportedModes"]]
        if "JBODState" in oem or "Mode" in oem:
            return ["raid", "jbod"]
        return super(XFusionAdapter, self).supported_modes(storage, ctrl)

    def mode_steps(self, storage, ctrl, mode):
        key, oem = _oem(ctrl)
        if key is None:
            return super(XFusionAdapter, self).mode_steps(storage, ctrl, mode)
        if "Mode" in oem:
            change = {"Mode": {"jbod": "JBOD", "raid": "RAID", "hba": "HBA"}[mode]}
        else:
            change = {"JBODState": mode == "jbod"}
        # iBMC takes controller changes as a PATCH on the storage resource (If-Match required).
        body = {"StorageControllers": [{"Oem": {key: change}}]}
        return [lambda: self._wait(self.client.patch(odata_id(storage), body), ctrl.get("Model"))]
