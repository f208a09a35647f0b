#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_power
short_description: Power a server on, off or restart it through its BMC, and wait for the state
version_added: 0.1.0
description:
  - Sends C(ComputerSystem.Reset) with the reset type the service offers for the requested state,
    then waits until C(PowerState) reaches it.
  - V(on), V(off) and V(graceful_off) are idempotent; V(restart) and V(graceful_restart) always act
    (a restart is an event, not a state), except that a restart of a server that is off powers it on.
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.redfish.action_group
  - reforge.hci.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
options:
  state:
    description: Desired power state or action.
    type: str
    required: true
    choices: ['on', 'off', graceful_off, restart, graceful_restart]
  wait:
    description: Wait until the system reports the resulting power state.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the power state.
    type: int
    default: 300
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Restart to apply pending BIOS and controller settings
  reforge.hci.bmc_power:
    endpoint: "{{ bmc_endpoint }}"
    state: restart
  delegate_to: localhost
'''

RETURN = r'''
power_state:
  description: C(PowerState) after the operation (or the expected one in check mode).
  returned: success
  type: str
  sample: "On"
reset_type:
  description: The C(ResetType) sent, if any.
  returned: changed
  type: str
  sample: ForceRestart
'''

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishTimeoutError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.module import RedfishModule, change_result
from ansible_collections.reforge.hci.plugins.module_utils.redfish.tasks import Poller

TARGET = dict(on="On", off="Off", graceful_off="Off", restart="On", graceful_restart="On")


def wait_power(bmc, wanted, timeout):
    state = None
    for _poll in Poller(timeout=timeout, interval=0.5, max_interval=5).waits():
        state = bmc.refresh_system().get("PowerState")
        if state == wanted:
            return state
    raise RedfishTimeoutError("%s stayed %s, not %s, for %s s" % (bmc.client.endpoint, state, wanted, timeout))


def set_power(bmc, params, check_mode):
    state = params["state"]
    before = bmc.refresh_system().get("PowerState")
    wanted = TARGET[state]
    if state in ("restart", "graceful_restart") and before == "Off":
        state = "on"
    acts = state in ("restart", "graceful_restart") or before != wanted
    if not acts:
        return change_result(dict(power_state=before), dict(power_state=before), power_state=before)
    result = dict(power_state=wanted)
    if not check_mode:
        result["reset_type"] = bmc.reset(state)
        if params["wait"]:
            # A restart may pass through Off faster than we poll: only the end state is checked.
            result["power_state"] = wait_power(bmc, wanted, params["wait_timeout"])
    out = change_result(dict(power_state=before, event=None),
                        dict(power_state=wanted, event=state if state.endswith("restart") else None), **result)
    out["changed"] = True
    return out


def main():
    rm = RedfishModule(dict(state=dict(type="str", required=True,
                                       choices=["on", "off", "graceful_off", "restart", "graceful_restart"]),
                            wait=dict(type="bool", default=True), wait_timeout=dict(type="int", default=300)),
                       supports_check_mode=True)
    rm.run(lambda bmc: set_power(bmc, rm.params, rm.check_mode))


if __name__ == "__main__":
    main()
