# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is in which tier: the inventory's ``microseg_vms`` plus what each migration wave put there.

A migration wave puts each VM it migrates into its tier *before* the VM first starts on the cluster
(its MACs come with it from vSphere), and records that in a membership file per wave, so a later run of
the segment stage keeps the VM in its tier instead of dropping it from the table. Pure functions:
:func:`wave_members` builds a wave's entries from the wave and its preflight, :func:`merge` joins the
inventory and the membership files, refusing a VM given two different tiers.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class MembersError(ValueError):
    """A membership refused before any change; the message names the VM and where it comes from."""


def _macs(values):
    return sorted(set(str(mac).lower() for mac in values or []))


def wave_members(wave_vms, preflight_results, wave="wave"):
    """``[{name, tier, macs}]`` for the wave's VMs that passed the preflight and have a NIC.

    ``preflight_results`` are ``migration_preflight``'s ``results`` (``vm``, ``ok``, ``macs``). A wave VM
    without a tier is refused: with segmentation on, every migrated VM lands in a tier, none unprotected.
    """
    found = dict((r.get("vm"), r) for r in preflight_results or [])
    out = []
    for index, vm in enumerate(wave_vms or []):
        name = vm.get("name")
        result = found.get(name)
        if result is None or not result.get("ok"):
            continue  # blocked or not found: it is not migrated, so not placed
        if not vm.get("tier"):
            raise MembersError("migration_wave_vms[%d] (%s): no tier; with segmentation on every VM of the wave needs its "
                               "tier (one of microseg_tiers), so that it never runs on the cluster outside one. "
                               "Nothing was changed." % (index, name))
        macs = _macs(result.get("macs"))
        if macs:
            out.append({"name": name, "tier": vm["tier"], "macs": macs, "source": "wave %s" % wave})
    return out


def merge(inventory_vms, member_lists=()):
    """The inventory's VMs, then each membership list's (a list of lists): one entry per VM, MACs joined.

    A VM that two sources put in different tiers is refused, naming both. Inventory entries keep their other
    keys (``interfaces``); the ``source`` key of membership entries is dropped from the result.
    """
    merged, order, source_of = {}, [], {}
    sources = [("microseg_vms", inventory_vms or [])] + [(None, members or []) for members in member_lists]
    for default_source, entries in sources:
        for entry in entries:
            name = entry.get("name")
            where = entry.get("source") or default_source or "a membership file"
            if name not in merged:
                merged[name] = dict((k, v) for k, v in entry.items() if k != "source")
                source_of[name] = where
                order.append(name)
                continue
            known = merged[name]
            if entry.get("tier") != known.get("tier"):
                raise MembersError("VM %s is in tier %s (%s) and in tier %s (%s): a VM belongs to one tier; move it in one "
                                   "place. Nothing was changed." % (name, known.get("tier"), source_of[name],
                                                                    entry.get("tier"), where))
            known["macs"] = _macs(list(known.get("macs") or []) + list(entry.get("macs") or []))
    return [merged[name] for name in order]
