# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many BMCs at once, in one process: a bounded pool of threads, each BMC with its own client and session.

A campus discovery is latency-bound: a BMC answers in 0.2-2 s per request and a full inventory takes
30-100 requests, while the work on our side is a few milliseconds per request. One Ansible fork (a Python
process) per BMC therefore spends its life waiting, and the number of forks sets how many BMCs wait at
the same time. Threads wait for the price of a socket. Used by ``bmc_info`` (option ``bmcs``) and by the
inventory plugin: the one place where BMCs are read side by side.

A BMC that fails is that BMC's outcome (``failed``, ``msg``, ``error_class``), never an exception for the
others.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.reforge.hci.plugins.module_utils.redfish.argspec import CONNECTION_KEYS
from ansible_collections.reforge.hci.plugins.module_utils.redfish.client import RedfishClient, RetryPolicy
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.service import BMC

# BMCs read at the same time. A thread waiting on a BMC costs a socket and little memory; the goal
# (issue 12, P4) is 200 BMCs in at most twice the time of 20, which needs at least half of them in flight.
DEFAULT_CONCURRENCY = 256


def client_from_params(params):
    """A RedfishClient from module (or inventory plugin) options."""
    return RedfishClient(
        params["endpoint"], params.get("username"), params.get("password"),
        validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"),
        timeout=params.get("timeout", 30), auth=params.get("auth", "session"),
        retry_policy=RetryPolicy(retries=params.get("retries", 5)))


def entry_params(entry, defaults):
    """One BMC's connection options: its own where given (not None), else the shared ``defaults``.

    The endpoint is never shared: an entry without one has none (not the module's, not REDFISH_ENDPOINT)."""
    params = dict((key, defaults.get(key)) for key in CONNECTION_KEYS if key != "endpoint")
    params.update((key, value) for key, value in entry.items() if value is not None)
    params.setdefault("endpoint", None)
    return params


def read_one(params, read, poller=None):
    """``read(bmc)`` inside a logged-in session on one BMC; never raises.

    Returns ``dict(failed=False, result=...)`` or ``dict(failed=True, msg=..., error_class=...)`` (and
    ``exception``, the traceback, when it was not a Redfish error but a bug or an answer we cannot read),
    with the ``endpoint`` and, when there are any, the client's ``warnings`` and ``session_relogins``."""
    endpoint = params.get("endpoint")
    if not endpoint:
        return dict(failed=True, msg="no BMC endpoint given", error_class="RedfishEndpointError", endpoint=None)
    client = None
    try:
        client = client_from_params(params)
        with client:
            outcome = dict(failed=False, result=read(BMC(client, poller)))
    except RedfishError as exc:
        outcome = exc.to_dict()
        outcome.update(failed=True, msg=exc.message)
    except Exception as exc:  # noqa: BLE001 - one BMC serving something unreadable must not stop the others
        outcome = dict(failed=True, msg="%s: %s" % (type(exc).__name__, exc), error_class=type(exc).__name__,
                       exception=traceback.format_exc())
    outcome["endpoint"] = client.endpoint if client is not None else endpoint
    if client is not None and client.warnings:
        outcome["warnings"] = list(client.warnings)
    if client is not None and client.relogins:
        outcome["session_relogins"] = client.relogins
    return outcome


def read_fleet(params_list, read, concurrency=DEFAULT_CONCURRENCY):
    """``read_one`` on every BMC of ``params_list``, at most ``concurrency`` at a time; outcomes in that order."""
    if not params_list:
        return []
    workers = max(1, min(int(concurrency or 1), len(params_list)))
    if workers == 1:
        return [read_one(params, read) for params in params_list]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda params: read_one(params, read), params_list))
