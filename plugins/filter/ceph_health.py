# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Ceph health checks block a stage: every HEALTH_ERR, and every HEALTH_WARN
that is neither muted nor named as warn-only (signals of load, not faults)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six import string_types


def ceph_blocking_checks(health, warn_only=None):
    """Sorted names of the blocking checks in `ceph health --format json` (text or parsed)."""
    if isinstance(health, string_types):
        try:
            health = json.loads(health) if health.strip() else {}
        except ValueError as exc:
            raise AnsibleFilterError("ceph_blocking_checks: not the JSON of 'ceph health': %s" % to_native(exc))
    if not isinstance(health, dict):
        raise AnsibleFilterError("ceph_blocking_checks: expected the JSON object of 'ceph health'")
    warn_only = set(warn_only or [])
    blocking = []
    for name, check in (health.get("checks") or {}).items():
        check = check if isinstance(check, dict) else {}
        severity = check.get("severity", "HEALTH_ERR")
        if check.get("muted"):
            continue
        if severity == "HEALTH_WARN" and name in warn_only:
            continue
        blocking.append(name)
    # A status other than OK with no check listed (an older or odd reply) blocks too.
    if not blocking and not health.get("checks") and health.get("status", "HEALTH_OK") != "HEALTH_OK":
        blocking.append(health["status"])
    return sorted(blocking)


class FilterModule(object):
    def filters(self):
        return {"ceph_blocking_checks": ceph_blocking_checks}
