# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The management-plane adapter interface and the input checks shared by every adapter.

An adapter is one file in this package with a class ``Adapter`` that has five methods:

- ``read(campus)``: what the plane holds for this campus now (a dict; empty when not registered);
- ``plan(campus, current, state)``: the list of changes (each a dict with ``what``, ``before``,
  ``after``) that brings the plane to ``state`` (``present``/``absent``); empty when nothing to do;
- ``apply(campus, changes)``: make those changes, in order;
- ``check(campus)``: raise ``Refusal`` for input this adapter cannot take (asks nothing of the plane);
- ``refuse(campus, current)``: a refusal text when the plane's state forbids the registration, else None.

Adapters are listed in ``registry.py`` (imported statically: Ansible ships a module only the
module_utils it imports by name). Deregistration is ``plan(..., state="absent")`` + ``apply``. The plan is what check mode shows as
the diff, so check mode writes nothing by construction: ``apply`` is never called.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class MgmtError(Exception):
    """A plane answered with an error or could not be reached; the message says which and what to do."""


class Refusal(Exception):
    """Bad input found before any change."""


def check_campuses(campuses, known):
    """Refuse bad campus lists before any adapter is asked anything."""
    seen = {}
    for campus in campuses:
        for key in ("name", "cluster"):
            value = campus.get(key)
            if not value or not NAME_RE.match(str(value)):
                raise Refusal("campus %s '%s' is not a valid name (lower-case letters, digits, '-' and '_', at most 63)"
                              % (key, value))
        if campus.get("adapter", "prometheus") not in known:
            raise Refusal("unknown management-plane adapter '%s' for campus %s (known: %s)"
                          % (campus.get("adapter"), campus["name"], ", ".join(sorted(known))))
        other = seen.get(campus["name"])
        if other is not None and other != campus["cluster"]:
            raise Refusal("campus %s is registered twice with different clusters (%s and %s); one campus is one cluster"
                          % (campus["name"], other, campus["cluster"]))
        seen[campus["name"]] = campus["cluster"]
