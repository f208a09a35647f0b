# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BIOS values checked against the service's Attribute Registry before anything is PATCHed.

The Bios resource names its registry (``AttributeRegistry``). The Registries collection lists a
MessageRegistryFile per registry whose ``Registry`` (or ``Id``) is that name, and whose ``Location``
gives the registry's URI on the BMC. Vendors differ: iLO names the file after the BIOS family
(``BiosAttributeRegistryU46.v1_2_34``) and serves it under ``/redfish/v1/RegistryStore/...``,
iDRAC lists ``BiosAttributeRegistry`` with another version than the Bios resource names and serves
it at ``.../Bios/BiosRegistry``, xFusion/Huawei serve it under ``/redfish/v1/RegistryStore/...``.

``BiosRegistry.problems(changes, current)`` says, per attribute, why the BMC would refuse a value:
not one of the enumeration's ``ValueName``s, outside ``LowerBound``/``UpperBound`` or off the
``ScalarIncrement``, a string too short, too long or not matching ``ValueExpression``, a value of the
wrong JSON type, an attribute that is ``ReadOnly``, ``Immutable`` or grayed out.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError

_VERSION = re.compile(r"\.v?\d+[._]\d+[._]\d+$")
_UNREADABLE = (RedfishError, ValueError, TypeError, AttributeError)


def _base_name(name):
    """'BiosAttributeRegistry.v1_0_3' -> 'biosattributeregistry' (a registry without its version)."""
    return _VERSION.sub("", name or "").lower()


def _odata_id(obj):
    return (obj or {}).get("@odata.id")


def _show(value):
    return repr(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else str(value)


class BiosRegistry(object):
    """The attribute entries of one BIOS Attribute Registry, by name."""

    def __init__(self, body, uri=None):
        entries = (body or {}).get("RegistryEntries") or {}
        self.name = (body or {}).get("Id")
        self.uri = uri
        self.attributes = dict((a.get("AttributeName"), a) for a in entries.get("Attributes") or []
                               if isinstance(a, dict) and a.get("AttributeName"))
        self.dependencies = [d for d in entries.get("Dependencies") or [] if isinstance(d, dict)]

    def _ungrayed_by(self, name, changes):
        """Attributes in the same request that a Dependency says control the gray-out of ``name``."""
        found = []
        for dep in self.dependencies:
            body = dep.get("Dependency") or {}
            if body.get("MapToAttribute") == name and body.get("MapToProperty") in ("GrayOut", "ReadOnly"):
                found.extend(m.get("MapFromAttribute") for m in body.get("MapFrom") or []
                             if m.get("MapFromAttribute") in changes)
        return found

    def problem(self, name, value, changes):
        """Why the BMC would refuse ``value`` for ``name``, or None (also None: not in the registry)."""
        entry = self.attributes.get(name)
        if entry is None:
            return None
        kind = entry.get("Type")
        if entry.get("Immutable"):
            return "%s is immutable (it reflects the hardware and cannot be set)" % name
        if entry.get("ReadOnly") and not self._ungrayed_by(name, changes):
            return "%s is read-only" % name
        if entry.get("GrayOut") and not self._ungrayed_by(name, changes):
            return "%s is grayed out (another setting controls it now; change that one first)" % name
        if kind == "Enumeration":
            allowed = [v.get("ValueName") for v in entry.get("Value") or [] if isinstance(v, dict)]
            if allowed and value not in allowed:
                return "%s: %s is not one of the allowed values: %s" % (name, _show(value), ", ".join(
                    str(a) for a in allowed))
            return None
        if kind == "Integer":
            if isinstance(value, bool) or not isinstance(value, int):
                hint = " (give it as a number, without quotes)" if isinstance(value, str) and \
                    re.match(r"^-?\d+$", value.strip()) else ""
                return "%s takes an integer, not %s%s" % (name, _show(value), hint)
            low, high, step = entry.get("LowerBound"), entry.get("UpperBound"), entry.get("ScalarIncrement")
            if (low is not None and value < low) or (high is not None and value > high):
                return "%s: %s is outside %s..%s" % (name, value, "" if low is None else low,
                                                     "" if high is None else high)
            if step and isinstance(step, int) and (value - (low or 0)) % step:
                return "%s: %s is not a multiple of %s from %s" % (name, value, step, low or 0)
            return None
        if kind == "Boolean":
            if not isinstance(value, bool):
                return "%s takes true or false, not %s" % (name, _show(value))
            return None
        if kind in ("String", "Password"):
            if not isinstance(value, str):
                return "%s takes a string, not %s" % (name, _show(value))
            low, high = entry.get("MinLength"), entry.get("MaxLength")
            if low is not None and len(value) < low:
                return "%s: %s is shorter than %s characters" % (name, "the value" if kind == "Password" else _show(value), low)
            if high is not None and len(value) > high:
                return "%s: %s is longer than %s characters" % (name, "the value" if kind == "Password" else _show(value), high)
            expression = entry.get("ValueExpression")
            # The registry's own default passes (iLO's SGX key hashes: pattern of 16 hex digits, default "").
            if expression and kind == "String" and value != entry.get("DefaultValue"):
                try:
                    matched = re.search(expression, value)
                except re.error:
                    return None     # an expression Python cannot read is not ours to judge
                if not matched:
                    return "%s: %s does not match %s" % (name, _show(value), expression)
        return None

    def problems(self, changes):
        """One text per value the BMC would refuse, in attribute order."""
        found = []
        for name in sorted(changes):
            text = self.problem(name, changes[name], changes)
            if text:
                found.append(text)
        return found


def registry_uri(client, name):
    """(uri, None) of the registry ``name`` on the BMC, or (None, why not)."""
    root = client.root or {}
    collection_uri = _odata_id(root.get("Registries")) or "/redfish/v1/Registries"
    collection = client.try_get(collection_uri)
    if collection is None:
        return None, "the service has no Registries collection"
    members = [_odata_id(m) for m in collection.get("Members") or [] if _odata_id(m)]
    wanted = _base_name(name)

    def segment(uri):
        return uri.rstrip("/").rsplit("/", 1)[-1]
    # Read the likely files first (named after the registry), then the others, until one matches.
    likely = [m for m in members if _base_name(segment(m)) == wanted or segment(m).lower() == name.lower()]
    candidates = likely + [m for m in members if m not in likely]
    fallback = None
    for uri in candidates:
        body = client.try_get(uri) or {}
        registry = body.get("Registry") or body.get("Id") or ""
        if registry != name and body.get("Id") != name:
            if fallback is None and _base_name(registry) == wanted:
                fallback = body      # iDRAC: the file carries another version than the Bios names
            continue
        fallback = body
        break
    if fallback is None:
        return None, "%s is not listed in %s" % (name, collection_uri)
    locations = fallback.get("Location") or []
    locations = sorted(locations, key=lambda loc: 0 if (loc.get("Language") or "en").lower().startswith("en") else 1)
    for loc in locations:
        if loc.get("Uri"):
            return loc["Uri"], None
        if (loc.get("PublicationUri") or "").startswith("/"):
            return loc["PublicationUri"], None
    published = [loc.get("PublicationUri") for loc in locations if loc.get("PublicationUri")]
    if published:
        return None, "%s is published only at %s, outside the BMC (not fetched)" % (name, published[0])
    return None, "%s has no Location on the BMC" % name


def load_bios_registry(client, bios):
    """(BiosRegistry, None) for a Bios resource body, or (None, why there is none)."""
    name = (bios or {}).get("AttributeRegistry")
    if not name:
        return None, "its Bios resource names no AttributeRegistry"
    try:
        uri, why = registry_uri(client, name)
        if uri is None:
            return None, why
        body = client.try_get(uri)
    except _UNREADABLE as exc:
        return None, "the attribute registry %s could not be read: %s" % (name, getattr(exc, "message", exc))
    registry = BiosRegistry(body, uri)
    if body is None or not registry.attributes:
        return None, "the attribute registry %s at %s lists no attributes" % (name, uri)
    return registry, None
