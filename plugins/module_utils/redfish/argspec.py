# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one argument spec for Redfish connection options (doc fragment: reforge.hci.redfish)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.module_utils.basic import env_fallback


def redfish_argument_spec():
    """Connection options shared by every bmc_* module; keep in sync with doc_fragments/redfish.py."""
    return dict(
        endpoint=dict(type="str", required=True, aliases=["baseuri"], fallback=(env_fallback, ["REDFISH_ENDPOINT"])),
        username=dict(type="str", aliases=["user"], fallback=(env_fallback, ["REDFISH_USERNAME"])),
        password=dict(type="str", no_log=True, fallback=(env_fallback, ["REDFISH_PASSWORD"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["REDFISH_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["REDFISH_CA_PATH"])),
        timeout=dict(type="int", default=30, fallback=(env_fallback, ["REDFISH_TIMEOUT"])),
        auth=dict(type="str", default="session", choices=["session", "basic"], fallback=(env_fallback, ["REDFISH_AUTH"])),
        retries=dict(type="int", default=5, fallback=(env_fallback, ["REDFISH_RETRIES"])),
        task_timeout=dict(type="int", default=1800, fallback=(env_fallback, ["REDFISH_TASK_TIMEOUT"])),
    )


CONNECTION_KEYS = tuple(redfish_argument_spec())
