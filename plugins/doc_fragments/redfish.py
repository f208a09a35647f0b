# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    # Kept in sync with plugins/module_utils/redfish/argspec.py:redfish_argument_spec().
    DOCUMENTATION = r'''
options:
  endpoint:
    description:
      - Base URL of the BMC's Redfish service, for example C(https://10.0.0.21).
      - C(https://) is assumed when no scheme is given.
      - If not set, the environment variable E(REDFISH_ENDPOINT) is used.
    type: str
    required: true
    aliases: [baseuri]
  username:
    description:
      - BMC user name. If not set, E(REDFISH_USERNAME) is used.
    type: str
    aliases: [user]
  password:
    description:
      - BMC password. If not set, E(REDFISH_PASSWORD) is used. Never logged.
    type: str
  validate_certs:
    description:
      - Verify the BMC's TLS certificate. On by default; turn it off only in a lab.
      - Without O(ca_path) the system's CA bundle is used.
      - If not set, E(REDFISH_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificates that signed the BMC certificates.
      - If not set, E(REDFISH_CA_PATH) is used.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer.
      - If not set, E(REDFISH_TIMEOUT) is used.
    type: int
    default: 30
  auth:
    description:
      - V(session) creates a Redfish session (and always deletes it at the end);
        falls back to Basic authentication when the service has no session service.
      - V(basic) sends Basic authentication on every request.
      - If not set, E(REDFISH_AUTH) is used.
    type: str
    choices: [session, basic]
    default: session
  retries:
    description:
      - How many times a request is retried when the BMC is unreachable or busy
        (HTTP 429/503, Dell RAC0679), with exponential backoff and jitter, honouring C(Retry-After).
      - If not set, E(REDFISH_RETRIES) is used.
    type: int
    default: 5
  task_timeout:
    description:
      - Seconds to wait for a BMC task or job (firmware update, controller job) to finish.
      - If not set, E(REDFISH_TASK_TIMEOUT) is used.
    type: int
    default: 1800
requirements:
  - redfish >= 3.1.0 (DMTF python-redfish-library)
notes:
  - Every PATCH carries the resource's ETag in C(If-Match); on HTTP 412 the resource is read again and the PATCH retried once.
  - The module runs on the controller (or wherever it is delegated); it talks HTTPS to the BMC.
'''

    # The attribute every bmc_* module declares on top of reforge.hci.attributes(.info_module);
    # use together with ansible.builtin.action_common_attributes.actiongroups, which describes it.
    ACTION_GROUP = r'''
attributes:
  action_group:
    support: full
    membership: [reforge.hci.redfish]
'''
