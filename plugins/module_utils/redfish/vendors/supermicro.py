# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Supermicro BMC: SimpleUpdate targets per component, no controller mode switch."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.lenovo import NoModeSwitchAdapter

SIMPLE_UPDATE_TARGETS = {"bios": "/redfish/v1/Systems/1", "bmc": "/redfish/v1/Managers/1"}


class SupermicroAdapter(NoModeSwitchAdapter):
    vendor = "supermicro"
    mode_advice = "Flash the controller to IT mode or set JBOD with storcli/the BIOS HII, then rerun discovery."

    @classmethod
    def matches(cls, root, manager):
        return "Supermicro" in (root.get("Oem") or {}) or (root.get("Vendor") or "") == "Supermicro"

    def update_firmware(self, component, image_uri, apply_time, targets=None):
        # Supermicro needs an explicit target; derive it from the component name when not given.
        if not targets:
            key = "bios" if "bios" in component.lower() else "bmc" if "bmc" in component.lower() else None
            targets = [SIMPLE_UPDATE_TARGETS[key]] if key else None
        return super(SupermicroAdapter, self).update_firmware(component, image_uri, apply_time, targets)
