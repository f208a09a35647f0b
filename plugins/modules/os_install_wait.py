#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: os_install_wait
short_description: Wait for a node being installed to answer SSH, and stop early when its machine powers off
version_added: "0.3.0"
description:
  - Runs O(ssh) (a command that checks the node, such as C(ssh ... root@address hostname)) every O(interval) seconds
    until it exits with 0 and prints O(hostname), for at most O(wait_timeout) seconds.
  - Meanwhile, every O(interval) seconds, also while an attempt runs, reads the system's C(PowerState) from the BMC
    over Redfish. The deploy environment of the C(reforge.hci.os_install) role powers the machine off when it refuses
    (boot disk not found, image checksum wrong) or fails, so C(Off) on O(off_reads) reads in a row, each at least
    O(off_grace) seconds after the wait began, fails the wait at once instead of at the timeout. The message says what
    the deploy may have written by then.
  - A read that fails (HTTP 5xx after the client's retries, the BMC unreachable, no session) is an unknown power state,
    never C(Off); it neither counts toward O(off_reads) nor breaks a row of C(Off) reads (an C(On) read does). The wait
    goes on and the module warns how many reads were unknown.
  - Made for the C(reforge.hci.os_install) role (its task "Wait for the installed node"); runs on the controller.
extends_documentation_fragment:
  - reforge.hci.redfish
  - reforge.hci.attributes.info_module
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    details:
      - Runs as without check mode - it only reads (the BMC's power state, and whatever O(ssh) reads), so O(ssh)
        must be a command that changes nothing.
options:
  ssh:
    description:
      - The command that checks the node, as an argument list (no shell). Success is exit code 0 and O(hostname) as its
        whole output (surrounding white space aside).
      - Each attempt is stopped after O(attempt_timeout) seconds.
    type: list
    elements: str
    required: true
  hostname:
    description: What O(ssh) prints once the node is installed (its host name); also names the node in messages.
    type: str
    required: true
  wait_timeout:
    description: Seconds to wait, from the start of the task, before failing with the last attempt's error.
    type: int
    default: 1800
  interval:
    description: Seconds between the end of an attempt and the next one, and between two reads of the power state.
    type: float
    default: 10
  attempt_timeout:
    description: Seconds one attempt of O(ssh) may run before it is stopped and counted as failed.
    type: float
    default: 60
  off_reads:
    description:
      - How many reads in a row must say C(Off) before the wait ends; at least 2, so that one read in the middle of a
        restart is not taken for a machine that stays off.
    type: int
    default: 3
  off_grace:
    description:
      - Seconds after the wait began during which C(Off) is not counted (the power-on or a restart may still be in
        progress when the wait begins).
    type: float
    default: 30
author:
  - reforge.hci contributors (@reforge-hci)
'''

EXAMPLES = r'''
- name: Wait for the installed node (SSH at its planned address with its planned host key)
  reforge.hci.os_install_wait:
    endpoint: "{{ bmc_endpoint }}"
    username: "{{ bmc_username }}"
    password: "{{ bmc_password }}"
    ca_path: "{{ bmc_ca_path }}"
    ssh: [ssh, -o, BatchMode=yes, -o, StrictHostKeyChecking=yes, -o, "UserKnownHostsFile=keys/node1/known_hosts",
          root@10.20.10.11, hostname]
    hostname: node1
    wait_timeout: 1800
  delegate_to: localhost
'''

RETURN = r'''
hostname:
  description: What the node answered (its host name).
  returned: success
  type: str
  sample: node1
waited:
  description: Seconds from the start of the wait to its end.
  returned: always
  type: float
  sample: 152.8
attempts:
  description: How many times O(ssh) was started.
  returned: always
  type: int
  sample: 9
power_state:
  description: The last C(PowerState) read from the BMC (null if none could be read).
  returned: always
  type: str
  sample: "On"
power_reads:
  description: How many reads of the power state said C(On), C(Off), something else (C(PoweringOn)...) or failed.
  returned: always
  type: dict
  sample: {"on": 15, "off": 0, "other": 0, "unknown": 1}
last_power_error:
  description: Why the last unknown read failed.
  returned: when a read failed
  type: str
last_ssh_error:
  description: How the last failed attempt of O(ssh) ended (exit code and its error output), null if none failed.
  returned: always
  type: str
  sample: "rc=255: ssh: connect to host 10.20.10.11 port 22: Connection refused"
reason:
  description: Why the wait failed - V(powered_off) or V(timeout).
  returned: failure
  type: str
'''

from ansible_collections.reforge.hci.plugins.module_utils.os_install.wait import InstallWait, PowerReader, WaitFailed
from ansible_collections.reforge.hci.plugins.module_utils.redfish.module import RedfishModule


def main():
    rm = RedfishModule(dict(ssh=dict(type="list", elements="str", required=True),
                            hostname=dict(type="str", required=True),
                            wait_timeout=dict(type="int", default=1800),
                            interval=dict(type="float", default=10),
                            attempt_timeout=dict(type="float", default=60),
                            off_reads=dict(type="int", default=3),
                            off_grace=dict(type="float", default=30)),
                       supports_check_mode=True)
    module, params = rm.module, rm.params
    bad = [what for what, wrong in (
        ("ssh: an empty command", not params["ssh"]),
        ("wait_timeout: must be more than 0", params["wait_timeout"] <= 0),
        ("interval: must be more than 0", params["interval"] <= 0),
        ("attempt_timeout: must be more than 0", params["attempt_timeout"] <= 0),
        ("off_reads: must be 2 or more (one read may fall in a restart)", params["off_reads"] < 2),
        ("off_grace: must be 0 or more", params["off_grace"] < 0)) if wrong]
    if bad:
        module.fail_json(msg="; ".join(bad))
    reader = PowerReader(params)
    wait = InstallWait(params["ssh"], params["hostname"], reader.read, timeout=params["wait_timeout"],
                       interval=params["interval"], off_reads=params["off_reads"], off_grace=params["off_grace"],
                       attempt_timeout=params["attempt_timeout"])
    try:
        result = wait.run()
        failure = None
    except WaitFailed as exc:
        result, failure = exc.result, exc.message
    finally:
        reader.close()
    for warning in reader.warnings + [w for w in [wait.unknown_warning()] if w]:
        module.warn(warning)
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
