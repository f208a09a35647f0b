# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firmware baseline logic shared by bmc_firmware and the reuse grading: which entries apply
to a server, how versions compare, and what an update plan is."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re


class UncomparableVersion(ValueError):
    """Two firmware versions that cannot be ordered: one is not a version, or they are of different families."""


# Release dates vendors print beside a version: '(03/11/2025)', '03/11/2025', 'Sep 04 2022', '2024-01-31'.
_DATES = re.compile(r"\([^)]*\)|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b"
                    r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}\b", re.I)
# The version itself: dotted numbers, optionally after a 'v' ('v2.34', '6.10.30.00', '22.31.6').
_CORE = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)(?![\w.])", re.I)
_WHOLE_NUMBER = re.compile(r"^v?(\d+)$", re.I)


def parse_version(text):
    """(family, numbers) of a firmware version as vendors print it.

    '2.19.1' -> ('', (2, 19, 1)); 'U46 v2.34 (03/11/2025)' (HPE system ROM: platform code, version,
    date) -> ('u46', (2, 34)); 'iLO 5 v2.72' -> ('ilo 5', (2, 72)); '2.72 Sep 04 2022' -> ('', (2, 72)).
    The family is what stands before the version: a platform code is not a version number.
    Raises UncomparableVersion when there is no version in the text."""
    cleaned = " ".join(_DATES.sub(" ", text or "").split())
    match = _CORE.search(cleaned)
    if match is None:
        whole = _WHOLE_NUMBER.match(cleaned)
        if whole is None:
            raise UncomparableVersion("%r is not a version this module can compare" % (text,))
        return "", (int(whole.group(1)),)
    family = " ".join(cleaned[:match.start()].lower().split())
    return family, tuple(int(n) for n in match.group(1).split("."))


def compare_versions(installed, wanted):
    """-1, 0 or 1 as installed is older than, equal to or newer than wanted (missing parts count as 0).

    A baseline without a family ('2.40') compares with the version of any family ('U46 v2.34');
    two different families ('U32 v2.40' against 'U46 v2.34') do not compare."""
    have_family, have = parse_version(installed)
    want_family, want = parse_version(wanted)
    if have_family and want_family and have_family != want_family:
        raise UncomparableVersion("%r and %r are versions of different firmware (%s, %s)"
                                  % (installed, wanted, have_family, want_family))
    width = max(len(have), len(want))
    have, want = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
    return (have > want) - (have < want)


def version_key(version):
    """Sort key of a version within one family (see parse_version); unparsable ones sort first."""
    try:
        return parse_version(version)[1]
    except UncomparableVersion:
        return ()


def applicable(baseline, vendor, model):
    """Baseline entries meant for this vendor and model (entries without filters apply to all)."""
    return [b for b in baseline or [] if (not b.get("vendor") or b["vendor"] == vendor)
            and (not b.get("model") or re.search(b["model"], model or "", re.I))]


def installed_matches(inventory, component):
    """Inventory entries matching a baseline component regex; Dell's 'Previous-' images do not count."""
    pattern = re.compile(component, re.I)
    return [f for f in inventory if not (f.get("id") or "").startswith("Previous")
            and (pattern.search(f.get("id") or "") or pattern.search(f.get("name") or ""))]


def plan_updates(inventory, baseline, allow_downgrade=False, uncomparable=None):
    """(plan, unmatched components): one update per baseline entry whose installed version differs.

    An installed version that does not compare with the baseline's (not a version, another
    family) is never guessed at: it goes into `uncomparable` (a list the caller passes) as
    {component, inventory_id, version, baseline, reason} and plans nothing."""
    plan, unmatched = [], []
    for wanted in baseline:
        matches = installed_matches(inventory, wanted["component"])
        if not matches:
            unmatched.append(wanted["component"])
            continue
        for entry in matches:
            if entry.get("version") == wanted["version"]:
                continue
            try:
                older = compare_versions(entry.get("version"), wanted["version"]) < 0
            except UncomparableVersion as exc:
                if uncomparable is not None:
                    uncomparable.append(dict(component=entry.get("name") or entry.get("id"),
                                             inventory_id=entry.get("id"), version=entry.get("version"),
                                             baseline=wanted["version"], reason=str(exc)))
                continue
            if older or allow_downgrade:
                plan.append(dict(component=entry.get("name") or entry.get("id"), inventory_id=entry.get("id"),
                                 uri=entry.get("uri"), image_uri=wanted["image_uri"], targets=wanted.get("targets"),
                                 **{"from": entry.get("version"), "to": wanted["version"]}))
                break  # one image per baseline entry, even if several devices match
    return plan, unmatched
