# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firmware baseline logic shared by bmc_firmware and the reuse grading: which entries apply
to a server, how versions compare, and what an update plan is."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re


def version_key(version):
    """Order versions like '2.19.1', '6.10.30.00', 'U46 v2.34 (03/11/2025)' by their numbers."""
    return [int(n) for n in re.findall(r"\d+", re.sub(r"\(.*?\)", "", version or ""))]


def applicable(baseline, vendor, model):
    """Baseline entries meant for this vendor and model (entries without filters apply to all)."""
    return [b for b in baseline or [] if (not b.get("vendor") or b["vendor"] == vendor)
            and (not b.get("model") or re.search(b["model"], model or "", re.I))]


def installed_matches(inventory, component):
    """Inventory entries matching a baseline component regex; Dell's 'Previous-' images do not count."""
    pattern = re.compile(component, re.I)
    return [f for f in inventory if not (f.get("id") or "").startswith("Previous")
            and (pattern.search(f.get("id") or "") or pattern.search(f.get("name") or ""))]


def plan_updates(inventory, baseline, allow_downgrade=False):
    """(plan, unmatched components): one update per baseline entry whose installed version differs."""
    plan, unmatched = [], []
    for wanted in baseline:
        matches = installed_matches(inventory, wanted["component"])
        if not matches:
            unmatched.append(wanted["component"])
            continue
        for entry in matches:
            if entry.get("version") == wanted["version"]:
                continue
            older = version_key(entry.get("version")) < version_key(wanted["version"])
            if older or allow_downgrade:
                plan.append(dict(component=entry.get("name") or entry.get("id"), inventory_id=entry.get("id"),
                                 uri=entry.get("uri"), image_uri=wanted["image_uri"], targets=wanted.get("targets"),
                                 **{"from": entry.get("version"), "to": wanted["version"]}))
                break  # one image per baseline entry, even if several devices match
    return plan, unmatched
