"""Pure client logic: Retry-After parsing, backoff with jitter, error-body parsing, firmware planning, polling."""
from __future__ import annotations

import random

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.redfish.client import (
    Response, RetryPolicy, error_text, message_ids, parse_retry_after,
)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishTaskFailed, RedfishTimeoutError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.tasks import Poller, wait_dell_job, wait_task
from ansible_collections.reforge.hci.plugins.module_utils.redfish.firmware import (
    UncomparableVersion, applicable, compare_versions, parse_version, plan_updates, version_key)

from .conftest import payload


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_grows_is_jittered_and_capped():
    policy = RetryPolicy(backoff=1.0, max_delay=8.0, rng=random.Random(1))
    delays = [policy.delay(n) for n in range(6)]
    for n, d in enumerate(delays):
        ceiling = min(8.0, 2 ** n)
        assert ceiling / 2 <= d <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)   # jitter: no two equal
    assert policy.delay(0, retry_after=3) == 3                   # the server's hint wins
    assert policy.delay(0, retry_after=120) == 8.0               # but stays capped


def test_dell_busy_message_is_found():
    body = payload("dell_error_running_job.json")
    assert "IDRAC.2.8.RAC0679" in message_ids(body)
    assert "job operation is already running" in error_text(body)


class ScriptedClient:
    """Answers GETs from a list, one per call (a BMC whose task progresses)."""

    def __init__(self, answers):
        self.answers = list(answers)

    def request(self, method, uri, allow_status=()):
        status, body = self.answers.pop(0)
        return Response(status, body, {}, uri, method)

    def get(self, uri):
        return self.request("GET", uri).body


def fast_poller(timeout=100):
    clock = [0.0]

    def sleep(s):
        clock[0] += s
    return Poller(timeout=timeout, interval=1, clock=lambda: clock[0], sleep=sleep)


def test_task_monitor_followed_until_completed():
    client = ScriptedClient([(202, {"TaskState": "Running"}), (202, {"TaskState": "Running"}),
                             (200, {"TaskState": "Completed", "TaskStatus": "OK"})])
    assert wait_task(client, "/redfish/v1/TaskService/TaskMonitors/1", "BIOS", fast_poller())["TaskState"] == "Completed"
    assert client.answers == []


def test_failed_task_names_the_component():
    client = ScriptedClient([(202, {"TaskState": "Running"}),
                             (200, {"TaskState": "Exception", "TaskStatus": "Critical",
                                    "Messages": [{"MessageId": "Update.1.0.ApplyFailed", "Message": "Image invalid"}]})])
    with pytest.raises(RedfishTaskFailed) as err:
        wait_task(client, "/m/1", "Integrated NIC 1", fast_poller())
    assert "Integrated NIC 1" in err.value.message and "Image invalid" in err.value.message


def test_task_that_never_ends_times_out_clearly():
    client = ScriptedClient([(202, {"TaskState": "Running"})] * 200)
    with pytest.raises(RedfishTimeoutError, match="for BIOS did not finish within 10 s"):
        wait_task(client, "/m/1", "BIOS", fast_poller(timeout=10))


def test_dell_job_scheduled_counts_as_staged_and_failed_raises():
    job = payload("dell_job.json")
    staged = ScriptedClient([(200, dict(job, JobState="Running")), (200, dict(job, JobState="Scheduled"))])
    assert wait_dell_job(staged, "/j", "PERC", fast_poller())["JobState"] == "Scheduled"
    failed = ScriptedClient([(200, dict(job, JobState="Failed", Message="PR21"))])
    with pytest.raises(RedfishTaskFailed, match="for PERC ended Failed"):
        wait_dell_job(failed, "/j", "PERC", fast_poller())


def test_version_ordering():
    assert version_key("2.9.0") < version_key("2.19.1")
    assert version_key("U46 v2.34 (03/11/2025)") > version_key("U46 v1.80 (07/05/2023)")


@pytest.mark.parametrize("text, parsed", [
    ("2.19.1", ("", (2, 19, 1))),
    ("6.10.30.00", ("", (6, 10, 30, 0))),
    ("U46 v2.34 (03/11/2025)", ("u46", (2, 34))),          # HPE system ROM: platform code, version, date
    ("iLO 5 v2.72", ("ilo 5", (2, 72))),
    ("2.72 Sep 04 2022", ("", (2, 72))),                     # iLO's inventory prints the release date after it
    ("U32 v2.90 (2024-01-31)", ("u32", (2, 90))),
    ("24", ("", (24,))),
])
def test_versions_parse_per_vendor_format(text, parsed):
    assert parse_version(text) == parsed


def test_platform_code_is_not_read_as_the_version():
    # The ROM family U46 is no version number: 2.34 is older than a baseline of 2.40 (it read as 46.2.34 > 2.40).
    assert compare_versions("U46 v2.34 (03/11/2025)", "2.40") < 0
    assert compare_versions("U46 v2.40 (05/02/2025)", "U46 v2.40") == 0
    assert compare_versions("2.40", "2.40.0") == 0


@pytest.mark.parametrize("installed, wanted", [("U32 v2.90", "U46 v2.34"), ("A00", "2.1"), ("", "2.1"), (None, "1.0")])
def test_what_does_not_compare_is_refused(installed, wanted):
    with pytest.raises(UncomparableVersion):
        compare_versions(installed, wanted)


def test_plan_puts_uncomparable_versions_aside_and_plans_nothing_for_them():
    inventory = [dict(id="Current-ROM", name="System ROM", version="U46 v2.34 (03/11/2025)", uri="/rom"),
                 dict(id="Current-NIC", name="NIC", version="A07", uri="/nic")]
    baseline = [dict(component="System ROM", version="2.40", image_uri="https://r/rom.fwpkg"),
                dict(component="NIC", version="22.31.6", image_uri="https://r/nic.exe")]
    aside = []
    plan, unmatched = plan_updates(inventory, baseline, uncomparable=aside)
    assert [(p["inventory_id"], p["from"], p["to"]) for p in plan] == [("Current-ROM", "U46 v2.34 (03/11/2025)", "2.40")]
    assert unmatched == []
    assert [(u["inventory_id"], u["version"], u["baseline"]) for u in aside] == [("Current-NIC", "A07", "22.31.6")]


INVENTORY = [
    dict(id="Previous-159-2.10.0", name="BIOS", version="2.10.0", uri="/p"),
    dict(id="Installed-159-2.17.0", name="BIOS", version="2.17.0", uri="/i"),
    dict(id="Installed-25227-7.00.00", name="Integrated Dell Remote Access Controller", version="7.00.00", uri="/d"),
]


def test_firmware_plan_skips_previous_and_newer():
    baseline = [dict(component="^BIOS$", version="2.19.1", image_uri="https://r/bios.exe"),
                dict(component="Remote Access", version="6.10.30.00", image_uri="https://r/idrac.exe"),
                dict(component="NIC", version="22.31.6", image_uri="https://r/nic.exe")]
    plan, unmatched = plan_updates(INVENTORY, baseline, allow_downgrade=False)
    assert [(p["inventory_id"], p["from"], p["to"]) for p in plan] == [("Installed-159-2.17.0", "2.17.0", "2.19.1")]
    assert unmatched == ["NIC"]
    plan, _unmatched = plan_updates(INVENTORY, baseline, allow_downgrade=True)
    assert len(plan) == 2


def test_baseline_entries_filtered_by_vendor_and_model():
    baseline = [dict(component="BIOS", version="1", image_uri="u", vendor="dell"),
                dict(component="iLO", version="1", image_uri="u", vendor="hpe", model="Gen10"),
                dict(component="BMC", version="1", image_uri="u")]
    assert [b["component"] for b in applicable(baseline, "hpe", "ProLiant DL360 Gen10 Plus")] == ["iLO", "BMC"]
    assert [b["component"] for b in applicable(baseline, "hpe", "ProLiant DL380 Gen11")] == ["BMC"]
