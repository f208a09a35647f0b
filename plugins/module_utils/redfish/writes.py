# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writes on a bad network: the one place that decides what to do after a write's answer was lost,
and the order in which a multi-step change reports a failure.

The client never re-sends a write whose answer was lost (``RedfishWriteUncertain``): it may have
taken effect. The operation that sent it knows how to read the state back; ``settle_write`` runs
that check and decides: the state shows the write (done: its result stands in for the lost answer),
the state provably does not show it (sent once more), or the state cannot tell (reported, not sent).
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError, RedfishWriteUncertain

LANDED = "landed"      # the state shows the write: done
ABSENT = "absent"      # the state provably does not show it: it may be sent again
UNKNOWN = "unknown"    # the state cannot tell: report, never re-send

_SENDS = 2             # the first send and at most one more after a read-back that shows nothing


def settle_write(send, check, what):
    """Run ``send()`` (one write and whatever follows it, e.g. a task wait) and return its result.

    When the write's answer is lost, ``check()`` reads the state back and returns ``(LANDED, result)``,
    ``(ABSENT, None)`` or ``(UNKNOWN, reason)``. A landed write returns ``result``; an absent one is sent
    once more; an unknown one (or an absent one after the second send) raises ``RedfishWriteUncertain``
    that says what was read back. ``what`` names the operation in that message."""
    for attempt in range(1, _SENDS + 1):
        try:
            return send()
        except RedfishWriteUncertain as lost:
            try:
                verdict, value = check()
            except RedfishError as exc:
                verdict, value = UNKNOWN, "the state could not be read back: %s" % exc.message
            record = getattr(lost, "record", None)
            if record is not None:
                record["read_back"] = verdict
            if verdict == LANDED:
                return value
            if verdict == ABSENT and attempt < _SENDS:
                continue
            if verdict == ABSENT:
                why = "reading the state back shows it did not take effect, after %d sends" % attempt
            else:
                why = value or "reading the state back cannot tell whether it took effect"
            exc = RedfishWriteUncertain("%s: the answer was lost and %s; it was not sent again. %s"
                                        % (what, why, lost.message), **lost.details)
            exc.record = record
            raise exc


class Step(object):
    """One step of a planned change: a callable with a name, and whether it destroys data."""

    def __init__(self, run, what, destroys=False):
        self.run = run
        self.what = what
        self.destroys = destroys

    def __call__(self):
        return self.run()


def run_steps(steps, state_now):
    """Run the steps in order. When one fails after a destructive step already ran (volumes deleted
    before a mode switch), the error says that first, then the state read back now (``state_now()``
    returns a text), then the failure itself; ``destroyed`` and ``state_now`` join its details."""
    done = []
    for step in steps:
        try:
            step()
        except RedfishError as exc:
            destroyed = [s.what for s in done if getattr(s, "destroys", False)]
            if getattr(step, "destroys", False) and isinstance(exc, RedfishWriteUncertain):
                destroyed.append("%s (perhaps: its answer was lost)" % step.what)
            if destroyed:
                try:
                    now = state_now()
                except RedfishError as read_exc:
                    now = "unknown (it could not be read back: %s)" % read_exc.message
                verb = "were" if len(destroyed) > 1 else "was"
                exc.message = ("DATA ALREADY DESTROYED: %s %s deleted before this step failed, and this is not undone. "
                               "State now: %s. Failure: %s" % (", ".join(destroyed), verb, now, exc.message))
                exc.args = (exc.message,)
                exc.details.update(destroyed=destroyed, state_now=now)
            raise
        done.append(step)
