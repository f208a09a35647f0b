# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module base: argument handling, the client's lifecycle, and the one place where
typed Redfish errors become ``fail_json``."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.reforge.hci.plugins.module_utils.redfish.argspec import redfish_argument_spec
from ansible_collections.reforge.hci.plugins.module_utils.redfish.client import REDFISH_IMP_ERR, redfish_library_problem
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.fleet import client_from_params, entry_params, read_fleet
from ansible_collections.reforge.hci.plugins.module_utils.redfish.service import BMC
from ansible_collections.reforge.hci.plugins.module_utils.redfish.tasks import Poller


class RedfishModule(object):
    """Wraps AnsibleModule; ``run(fn)`` calls ``fn(bmc)`` inside a logged-in session."""

    def __init__(self, argument_spec, **kwargs):
        spec = redfish_argument_spec()
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        problem = redfish_library_problem()
        if problem == "missing":
            self.module.fail_json(msg=missing_required_lib("redfish"), exception=REDFISH_IMP_ERR)
        elif problem:
            self.module.fail_json(msg=problem)
        self.params = self.module.params
        self.check_mode = self.module.check_mode

    def poller(self):
        return Poller(timeout=self.params["task_timeout"])

    def run(self, fn):
        client = client_from_params(self.params)
        try:
            with client:
                result = fn(BMC(client, poller=self.poller()))
        except RedfishError as exc:
            self.fail(client, exc.message, exc.to_dict())
        except Exception as exc:  # noqa: BLE001 - a bug must still report the writes it may have left behind
            self.fail(client, "internal error: %s: %s" % (type(exc).__name__, exc),
                      dict(error_class=type(exc).__name__, exception=traceback.format_exc()))
        for warning in client.warnings:
            self.module.warn(warning)
        if not self.module._diff:
            result.pop("diff", None)
        if client.relogins:
            # Worth knowing: the BMC dropped our session (reset during an update, timeout).
            result["session_relogins"] = client.relogins
        self.module.exit_json(**result)

    def run_fleet(self, entries, fn, concurrency):
        """``fn(bmc)`` on every BMC of ``entries`` at once (threads, one session each); exit with one result per name.

        Each entry is a dict with ``name`` and connection options; what it leaves out comes from the module's own
        options. A BMC that fails is that entry's result (``failed``, ``msg``, ``error_class``) and a warning,
        never the module's failure: the others are still read and returned."""
        names = [entry["name"] for entry in entries]
        repeated = sorted(set(n for n in names if names.count(n) > 1))
        if repeated:
            self.module.fail_json(msg="bmcs: each name may appear once; repeated: %s" % ", ".join(repeated))
        outcomes = read_fleet([entry_params(entry, self.params) for entry in entries], fn, concurrency)
        results = {}
        for name, outcome in zip(names, outcomes):
            for warning in outcome.pop("warnings", []):
                self.module.warn("%s: %s" % (name, warning))
            if outcome["failed"] and "exception" in outcome:
                outcome["msg"] = "internal error: " + outcome["msg"]
            if outcome["failed"]:
                self.module.warn("%s: %s" % (name, outcome["msg"]))
            else:
                result = outcome.pop("result")
                result.pop("changed", None)
                if not self.module._diff:
                    result.pop("diff", None)
                outcome.update(result)
            results[name] = outcome
        failed = sorted(name for name, outcome in results.items() if outcome["failed"])
        self.module.exit_json(changed=False, bmcs=results, read=len(results) - len(failed), failed_bmcs=failed)

    def fail(self, client, msg, details):
        """fail_json with every write that may have reached the BMC, acknowledged or not."""
        writes = [describe_write(w) for w in client.writes_sent()]
        if writes:
            shown = "; ".join("%(method)s %(uri)s: %(outcome)s" % w for w in writes[-5:])
            msg = "%s (%d write(s) may have reached the BMC%s: %s)" % (
                msg, len(writes), ", the last 5" if len(writes) > 5 else "", shown)
        for warning in client.warnings:
            self.module.warn(warning)
        self.module.fail_json(msg=msg, endpoint=client.endpoint, writes=writes, writes_count=len(writes), **details)


OUTCOMES = dict(acknowledged="acknowledged (HTTP %s)", rejected="rejected (HTTP %s)",
                lost="answer lost: may have landed", sending="sent, no answer yet: may have landed")
READ_BACK = dict(landed="read back: it landed", absent="read back: it did not land",
                 unknown="read back: cannot tell")


def describe_write(record):
    """A write record as the failure result shows it: method, uri, outcome (and what reading back found)."""
    outcome = OUTCOMES.get(record["outcome"], record["outcome"])
    if "%s" in outcome:
        outcome = outcome % record.get("status")
    if record.get("read_back"):
        outcome += ", " + READ_BACK.get(record["read_back"], record["read_back"])
    return dict(method=record["method"], uri=record["uri"], outcome=outcome, status=record.get("status"))


def change_result(before, after, **extra):
    """The standard result of a state-changing module: changed iff before != after, plus a diff."""
    result = dict(changed=before != after, diff=dict(before=before, after=after))
    result.update(extra)
    return result
