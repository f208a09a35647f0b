#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_boot
short_description: Set a server's boot source override (one-time or continuous, UEFI or legacy)
version_added: 0.1.0
description:
  - PATCHes C(Boot) of the computer system (with C(If-Match)) when the override differs from the desired one.
  - A one-time override is consumed by the next boot; until then a rerun reports no change.
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.redfish.action_group
  - reforge.hci.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  target:
    description: Boot source, as Redfish names it (V(Cd), V(Pxe), V(Hdd), V(UefiHttp), V(BiosSetup), V(None)...).
    type: str
    required: true
  override:
    description: V(once) for the next boot only, V(continuous) until changed, V(disabled) to clear.
    type: str
    default: once
    choices: [once, continuous, disabled]
  mode:
    description: Boot mode for the override; left unchanged when not given.
    type: str
    choices: [UEFI, Legacy]
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Boot once from the virtual CD in UEFI mode
  reforge.hci.bmc_boot:
    endpoint: "{{ bmc_endpoint }}"
    target: Cd
    override: once
    mode: UEFI
  delegate_to: localhost
'''

RETURN = r'''
boot:
  description: The boot override after the run (desired one in check mode).
  returned: success
  type: dict
  sample: {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "UEFI"}
'''

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishUnsupported
from ansible_collections.reforge.hci.plugins.module_utils.redfish.module import RedfishModule, change_result

KEYS = ("BootSourceOverrideTarget", "BootSourceOverrideEnabled", "BootSourceOverrideMode")
ENABLED = dict(once="Once", continuous="Continuous", disabled="Disabled")


def set_boot(bmc, params, check_mode):
    boot = bmc.refresh_system().get("Boot") or {}
    allowed = boot.get("BootSourceOverrideTarget@Redfish.AllowableValues")
    if allowed and params["target"] not in allowed:
        raise RedfishUnsupported("%s cannot boot from %s (offers %s)"
                                 % (bmc.client.endpoint, params["target"], ", ".join(allowed)),
                                 vendor=bmc.vendor, operation="boot")
    before = dict((k, boot.get(k)) for k in KEYS if k in boot)
    desired = dict(BootSourceOverrideTarget=params["target"], BootSourceOverrideEnabled=ENABLED[params["override"]])
    if params["mode"]:
        desired["BootSourceOverrideMode"] = params["mode"]
    after = dict(before, **desired)
    if after != before and not check_mode:
        bmc.set_boot(desired)
    return change_result(before, after, boot=after)


def main():
    rm = RedfishModule(dict(target=dict(type="str", required=True),
                            override=dict(type="str", default="once", choices=list(ENABLED)),
                            mode=dict(type="str", choices=["UEFI", "Legacy"])),
                       supports_check_mode=True)
    rm.run(lambda bmc: set_boot(bmc, rm.params, rm.check_mode))


if __name__ == "__main__":
    main()
