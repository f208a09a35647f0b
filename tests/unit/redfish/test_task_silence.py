"""A BMC that stops answering during a task wait is unreachable after unreachable_timeout, not task_timeout."""
from __future__ import annotations

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.redfish.client import Response
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishConnectionError, RedfishTaskFailed
from ansible_collections.reforge.hci.plugins.module_utils.redfish.tasks import Poller, wait_dell_job, wait_task
from ansible_collections.reforge.hci.plugins.module_utils.redfish.update_monitor import staged

DOWN = object()


class FlakyClient:
    """Answers from a script; DOWN raises a connection error (the BMC answers nothing)."""
    endpoint = "https://bmc.example"

    def __init__(self, answers):
        self.answers = list(answers)

    def request(self, method, uri, allow_status=()):
        answer = self.answers.pop(0) if self.answers else DOWN
        if answer is DOWN:
            raise RedfishConnectionError("cannot reach https://bmc.example: connection refused")
        return Response(answer[0], answer[1], {}, uri, method)

    def get(self, uri):
        return self.request("GET", uri).body


def poller(timeout=1800, unreachable=60):
    clock = [0.0]

    def sleep(s):
        clock[0] += s
    p = Poller(timeout=timeout, interval=1, clock=lambda: clock[0], sleep=sleep, unreachable_timeout=unreachable)
    p.now = lambda: clock[0]
    return p


def test_silent_bmc_is_unreachable_after_the_bound_not_the_task_timeout():
    p = poller()
    client = FlakyClient([(202, {"TaskState": "Running", "PercentComplete": 40})])
    with pytest.raises(RedfishConnectionError) as err:
        wait_task(client, "/redfish/v1/TaskService/TaskMonitors/7", "BIOS", p)
    assert 60 <= p.now() < 120, p.now()
    msg = err.value.message
    assert "accepted" in msg and "unknown" in msg and "Running, 40 %" in msg and "TaskMonitors/7" in msg
    assert err.value.details["accepted"] and err.value.details["last_state"] == "Running"


def test_a_restart_shorter_than_the_bound_is_waited_out():
    p = poller(unreachable=60)
    # the iDRAC restarts into its new firmware: a few silent polls (under 60 s of its clock), then back
    client = FlakyClient([(200, {"JobState": "Running"})] + [DOWN] * 5 + [(200, {"JobState": "Completed"})])
    assert wait_dell_job(client, "/j/JID_1", "iDRAC", p)["JobState"] == "Completed"


def test_expected_restart_has_its_own_words():
    p = poller(unreachable=30)
    p.expect_reset = True
    with pytest.raises(RedfishConnectionError, match="expected to restart into its new firmware"):
        wait_dell_job(FlakyClient([(200, {"JobState": "Running"})]), "/j/JID_1", "iDRAC", p)


def test_staged_results():
    assert staged({"JobState": "Scheduled"})
    assert staged({"Messages": [{"MessageId": "Update.1.0.AwaitingActivation"}]})
    assert not staged({"TaskState": "Completed", "Messages": [{"MessageId": "Update.1.0.UpdateSuccessful"}]})
    assert not staged(None)


def test_a_bmc_that_forgot_its_task_after_its_own_restart_leaves_the_verdict_to_the_inventory():
    p = poller()
    p.expect_reset = True
    client = FlakyClient([(202, {"TaskState": "Running"}), DOWN, (404, {})])
    assert wait_task(client, "/redfish/v1/TaskService/TaskMonitors/3", "iLO 5", p)["TaskState"] == "Unknown"
    p.expect_reset = False
    with pytest.raises(RedfishTaskFailed, match="disappeared"):
        wait_task(FlakyClient([(404, {})]), "/m/3", "BIOS", p)
