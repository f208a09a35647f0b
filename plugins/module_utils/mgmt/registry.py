# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapters by name, and one registration run over a list of campuses.

A third adapter (e.g. Proxmox Datacenter Manager) is one file with an ``Adapter`` class (base.py
says what it has) plus one line here.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.mgmt.base import MgmtError, Refusal, check_campuses  # noqa: F401 pylint: disable=unused-import
from ansible_collections.reforge.hci.plugins.module_utils.mgmt import cloudtower, prometheus

ADAPTERS = {"prometheus": prometheus.Adapter, "cloudtower": cloudtower.Adapter}


def run(campuses, state, plane_options, check_mode):
    """Plan every campus first (refusing before any change), then apply. Returns (changed, per-campus results, diffs)."""
    check_campuses(campuses, ADAPTERS)
    adapters = {}
    work = []
    for campus in campuses:
        name = campus.get("adapter", "prometheus")
        if name not in adapters:
            adapters[name] = ADAPTERS[name](plane_options.get(name) or {})
        if state == "present":
            adapters[name].check(campus)
    for campus in campuses:
        adapter = adapters[campus.get("adapter", "prometheus")]
        current = adapter.read(campus)
        if state == "present":
            text = adapter.refuse(campus, current)
            if text:
                raise Refusal(text)
        work.append((campus, adapter, adapter.plan(campus, current, state)))
    results, diffs = [], []
    for campus, adapter, changes in work:
        if changes and not check_mode:
            adapter.apply(campus, changes)
        results.append({"campus": campus["name"], "cluster": campus["cluster"], "adapter": campus.get("adapter", "prometheus"),
                        "changes": [c["what"] for c in changes]})
        for change in changes:
            diffs.append({"before_header": change["what"], "after_header": change["what"],
                          "before": change.get("before") or "", "after": change.get("after") or ""})
    return any(r["changes"] for r in results), results, diffs
