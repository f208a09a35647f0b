#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_bios
short_description: Set BIOS attributes (or a named profile) over Redfish, comparing with current and pending values
version_added: 0.1.0
description:
  - Compares the desired attributes with the effective value of each one, which is the pending value
    (the BIOS settings object) when one is staged, else the current value. Only differences are PATCHed
    (with C(If-Match)) to the settings object, with the requested apply time.
  - O(profile=virtualization_host) maps VT-x/AMD-V, VT-d/IOMMU, SR-IOV, UEFI boot and a performance
    power profile to this vendor's attribute names; features a BIOS does not expose are reported in
    RV(missing_features) and warned about, not invented.
  - Unknown attribute names fail the task (a typo must not look like success).
  - Values are checked against the BIOS Attribute Registry the BMC publishes (found through the Bios
    resource's C(AttributeRegistry) and the Registries collection) before anything is sent, in check
    mode too. Refused are a value outside an enumeration (listed with the allowed values), an integer out of range
    or off its increment, a string of the wrong length or pattern, a value of the wrong type (an integer
    given as a string) and a read-only, immutable or grayed-out attribute; the task fails naming the
    attribute. A BMC without a registry (or whose registry cannot be read) gets the values unchecked, as
    before, with a warning.
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.redfish.action_group
  - reforge.hci.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  attributes:
    description: Attribute name to desired value. Applied on top of O(profile).
    type: dict
    default: {}
  profile:
    description: Named set of attributes mapped per vendor.
    type: str
    choices: [virtualization_host]
  apply_time:
    description:
      - When the BIOS applies the values (C(@Redfish.SettingsApplyTime)); sent only if the service lists it.
      - BIOS settings always need a host reset; V(OnReset) stages them for the next one.
    type: str
    default: OnReset
    choices: [Immediate, OnReset, AtMaintenanceWindowStart, InMaintenanceWindowOnReset]
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Make the server a virtualization host
  reforge.hci.bmc_bios:
    endpoint: "{{ bmc_endpoint }}"
    profile: virtualization_host
  delegate_to: localhost
  register: bios
'''

RETURN = r'''
changes:
  description: Attributes that were (or in check mode would be) PATCHed.
  returned: success
  type: dict
  sample: {"ProcVirtualization": "Enabled"}
pending:
  description: Attributes pending after the run.
  returned: success
  type: dict
reboot_required:
  description: Whether desired BIOS values are still pending (they wait for a host reset).
  returned: success
  type: bool
values_checked:
  description: Whether the changed values were checked against the BMC's BIOS Attribute Registry.
  returned: success
  type: bool
missing_features:
  description: Profile features this BIOS does not expose.
  returned: when a profile is used
  type: list
  elements: str
'''

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.module import RedfishModule, change_result


def set_bios(bmc, params, check_mode, warn):
    state = bmc.bios_state()
    current, pending = state["current"], state["pending"]
    if not current and state["settings_uri"] is None:
        bmc.bios_uri()  # raises the honest "no BIOS resource" error
    desired, missing = {}, []
    if params["profile"]:
        desired, missing = bmc.profile_attributes(params["profile"], current)
        for feature in missing:
            warn("BIOS of %s exposes no attribute for %s; left as is" % (bmc.client.endpoint, feature))
    desired.update(params["attributes"])
    unknown = sorted(k for k in desired if k not in current)
    if unknown:
        raise RedfishError("unknown BIOS attribute(s) on %s: %s; nothing was sent (names are case-sensitive: "
                           "use the names this BIOS lists, see bmc_info's bios)" % (bmc.client.endpoint, ", ".join(unknown)))
    effective = dict(current, **pending)
    changes = dict((k, v) for k, v in desired.items() if effective.get(k) != v)
    unchecked = bmc.check_bios_values(changes) if changes else None
    if unchecked:
        warn(unchecked)
    before = dict((k, effective.get(k)) for k in desired)
    after = dict(before, **changes)
    new_pending = dict(pending)
    if changes:
        apply_time = params["apply_time"] if params["apply_time"] in state["apply_times"] else None
        if not check_mode:
            bmc.set_bios(state["settings_uri"], changes, apply_time)
            new_pending = bmc.bios_state()["pending"]
        else:
            new_pending.update(changes)
    # Only our desired values count: other staged attributes are someone else's business (reported in pending).
    waiting = sorted(k for k, v in desired.items() if current.get(k) != v)
    return change_result(before, after, changes=changes, pending=new_pending, reboot_required=bool(waiting),
                         missing_features=missing, values_checked=bool(changes) and not unchecked)


def main():
    rm = RedfishModule(dict(attributes=dict(type="dict", default={}),
                            profile=dict(type="str", choices=["virtualization_host"]),
                            apply_time=dict(type="str", default="OnReset",
                                            choices=["Immediate", "OnReset", "AtMaintenanceWindowStart",
                                                     "InMaintenanceWindowOnReset"])),
                       supports_check_mode=True)
    rm.run(lambda bmc: set_bios(bmc, rm.params, rm.check_mode, rm.module.warn))


if __name__ == "__main__":
    main()
