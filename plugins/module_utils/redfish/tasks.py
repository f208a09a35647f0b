# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for long-running BMC work: DMTF task monitors and Dell iDRAC jobs."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time

from ansible_collections.reforge.hci.plugins.module_utils.redfish.client import error_text, parse_retry_after
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import (
    RedfishConnectionError, RedfishTaskFailed, RedfishTimeoutError,
)

# How long a BMC may stay silent in the middle of a wait before it is reported unreachable.
UNREACHABLE_TIMEOUT = 300
TASK_DONE = ("Completed",)
TASK_FAILED = ("Exception", "Killed", "Cancelled", "Interrupted")
# Dell job states: "Scheduled" means staged and waiting for the host reboot.
JOB_DONE = ("Completed",)
JOB_FAILED = ("Failed", "CompletedWithErrors")
JOB_STAGED = ("Scheduled",)


class Poller(object):
    """Polls with a deadline; the interval grows but stays short enough to be responsive.

    ``unreachable_timeout`` bounds a silence: a BMC that stops answering in the middle of a wait is
    reported unreachable after that long, not after the whole ``timeout``. ``expect_reset`` is set
    while the BMC updates its own firmware: it restarts, and its silence is expected for a while."""

    def __init__(self, timeout=1800, interval=0.5, max_interval=15.0, clock=time.monotonic, sleep=time.sleep,
                 unreachable_timeout=UNREACHABLE_TIMEOUT):
        self.timeout = timeout
        self.interval = interval
        self.max_interval = max_interval
        self.clock = clock
        self.sleep = sleep
        self.unreachable_timeout = unreachable_timeout
        self.expect_reset = False

    def waits(self):
        deadline = self.clock() + self.timeout
        interval = self.interval
        while True:
            yield
            if self.clock() >= deadline:
                return
            self.sleep(interval)
            interval = min(self.max_interval, interval * 1.5)


class Silence(object):
    """Tracks how long the BMC has not answered during one wait; raises once that exceeds the bound."""

    def __init__(self, client, poller, what, uri):
        self.client = client
        self.poller = poller
        self.what = what
        self.uri = uri
        self.since = None

    def answered(self):
        self.since = None

    def failed(self, exc, last_state, percent=None):
        now = self.poller.clock()
        if self.since is None:
            self.since = now
        silent = now - self.since
        if silent < self.poller.unreachable_timeout:
            return
        state = last_state or "not read since it was accepted"
        if percent is not None:
            state = "%s, %s %%" % (state, percent)
        if self.poller.expect_reset:
            why = ("it was expected to restart into its new firmware but has not come back within %d s "
                   "(unreachable_timeout)" % silent)
        else:
            why = "it stopped answering for %d s (unreachable_timeout %s s)" % (silent, self.poller.unreachable_timeout)
        raise RedfishConnectionError(
            "%s is unreachable while waiting for %s: %s. The request was accepted (%s, last state %s); "
            "whether it finished, failed or is still running is unknown. Check the BMC (network, power, "
            "its console) and run again: the rerun finds the task and does not send the request again. "
            "Last error: %s" % (self.client.endpoint, self.what, why, self.uri, state, exc),
            accepted=True, unreachable=True, task_uri=self.uri, last_state=last_state,
            silent_seconds=int(silent))


def polled(poller, silence, read, progress):
    """Yield ``read()`` once per poll until the poller's deadline. A poll the BMC does not answer counts
    toward the silence bound (``progress()`` gives the last state and percentage for its message)."""
    for _poll in poller.waits():
        try:
            value = read()
        except (RedfishConnectionError, RedfishTimeoutError) as exc:
            silence.failed(exc, *progress())
            continue
        silence.answered()
        yield value


def _task_messages(task):
    return [m.get("Message") or m.get("MessageId") for m in task.get("Messages", []) if isinstance(m, dict)]


def wait_task(client, monitor_uri, component, poller=None):
    """Follow a task monitor until the task ends; return the final Task body.

    While running, a task monitor answers 202 (often with the Task in the body);
    when done it answers with the task or the resource the operation produced.
    A BMC that resets during the work drops off the network for a while: that is
    waited out, not reported as a failure.
    """
    poller = poller or Poller()
    last = {}
    silence = Silence(client, poller, "the task of %s" % component, monitor_uri)
    for resp in polled(poller, silence, lambda: client.request("GET", monitor_uri, allow_status=(404,)),
                       lambda: (last.get("TaskState"), last.get("PercentComplete"))):
        if resp.status == 404:
            if last:
                # Monitors may vanish once the task finished; the task itself tells.
                task_uri = last.get("@odata.id")
                if task_uri and task_uri != monitor_uri:
                    return wait_task(client, task_uri, component, poller)
            if poller.expect_reset:
                # A BMC that restarted into its own new firmware may have forgotten its tasks: the
                # caller reads the result from the inventory instead (update_monitor.finish).
                return {"TaskState": "Unknown", "Messages": []}
            raise RedfishTaskFailed("task monitor %s for %s disappeared before reporting a result"
                                    % (monitor_uri, component), component=component, task_uri=monitor_uri)
        body = resp.body or {}
        if body.get("TaskState"):
            last = body
        state = body.get("TaskState")
        if state in TASK_FAILED or body.get("TaskStatus") == "Critical":
            raise RedfishTaskFailed(
                "update/configuration task for %s failed (%s): %s"
                % (component, state, "; ".join(_task_messages(body)) or error_text(body) or "no message"),
                component=component, task_uri=monitor_uri, state=state, messages=_task_messages(body))
        if resp.status != 202 and (state in TASK_DONE or state is None):
            return body
        hint = parse_retry_after(resp.header("retry-after"))
        if hint:
            poller.sleep(min(hint, poller.max_interval))
    raise RedfishTimeoutError("task %s for %s did not finish within %s s (last state %s)"
                              % (monitor_uri, component, poller.timeout, last.get("TaskState", "unknown")))


def wait_dell_job(client, job_uri, component, poller=None, accept_staged=True):
    """Follow a Dell iDRAC job; a staged (Scheduled) job counts as done when accepted."""
    poller = poller or Poller()
    silence = Silence(client, poller, "the iDRAC job of %s" % component, job_uri)
    last = [{}]
    for job in polled(poller, silence, lambda: client.get(job_uri),
                      lambda: (last[0].get("JobState"), last[0].get("PercentComplete"))):
        last[0] = job
        state = job.get("JobState")
        if state in JOB_FAILED:
            raise RedfishTaskFailed("iDRAC job %s for %s ended %s: %s" % (job.get("Id"), component, state, job.get("Message")),
                                    component=component, task_uri=job_uri, state=state, messages=[job.get("Message")])
        if state in JOB_DONE or (accept_staged and state in JOB_STAGED):
            return job
    raise RedfishTimeoutError("iDRAC job %s for %s did not finish within %s s (last state %s)"
                              % (job_uri, component, poller.timeout, last[0].get("JobState", "unknown")))
