"""Many BMCs read side by side (module_utils/redfish/fleet.py): bounded threads, outcomes in order, and a BMC
that fails is its own outcome, never the others'."""
from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.redfish import fleet
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishAuthError


class FakeClient:
    """Stands in for RedfishClient: a context manager that records the sessions open at once."""
    open_now = 0
    most = 0
    lock = threading.Lock()

    def __init__(self, params):
        self.params = params
        self.endpoint = params["endpoint"]
        self.warnings = ["%s said something" % self.endpoint] if "warn" in self.endpoint else []
        self.relogins = 0

    def __enter__(self):
        with FakeClient.lock:
            FakeClient.open_now += 1
            FakeClient.most = max(FakeClient.most, FakeClient.open_now)
        return self

    def __exit__(self, *exc):
        with FakeClient.lock:
            FakeClient.open_now -= 1


@pytest.fixture
def fake(monkeypatch):
    FakeClient.open_now = FakeClient.most = 0
    monkeypatch.setattr(fleet, "client_from_params", FakeClient)
    monkeypatch.setattr(fleet, "BMC", lambda client, poller=None: client)
    return FakeClient


def slow_read(bmc):
    time.sleep(0.2)    # a BMC's answer time: waiting, not work
    if "refuses" in bmc.endpoint:
        raise RedfishAuthError("%s rejected the credentials of user 'root'" % bmc.endpoint, status=401)
    if "odd" in bmc.endpoint:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    return dict(endpoint=bmc.endpoint, user=bmc.params.get("username"))


def test_bmcs_are_read_side_by_side_within_the_bound(fake):
    params = [dict(endpoint="https://bmc%02d" % i) for i in range(40)]
    start = time.monotonic()
    outcomes = fleet.read_fleet(params, slow_read, concurrency=20)
    elapsed = time.monotonic() - start
    assert [o["result"]["endpoint"] for o in outcomes] == [p["endpoint"] for p in params]
    assert fake.most == 20, "at most `concurrency` BMCs in flight, and that many"
    # Two waits of 0.2 s, not forty (8 s): the threads wait side by side (bound loose for a loaded machine).
    assert elapsed < 4.0, elapsed


def test_a_bmc_that_fails_is_its_own_outcome(fake):
    params = [dict(endpoint="https://good"), dict(endpoint="https://refuses"), dict(endpoint="https://odd"),
              dict(endpoint=None), dict(endpoint="https://warn")]
    good, refused, odd, nowhere, warned = fleet.read_fleet(params, slow_read, concurrency=8)
    assert good["failed"] is False and good["endpoint"] == "https://good"
    assert refused["failed"] and refused["error_class"] == "RedfishAuthError" and refused["status"] == 401
    assert "rejected the credentials" in refused["msg"]
    assert odd["failed"] and odd["msg"].startswith("TypeError: ") and "Traceback" in odd["exception"]
    assert nowhere["failed"] and nowhere["msg"] == "no BMC endpoint given"
    assert warned["failed"] is False and warned["warnings"] == ["https://warn said something"]


def test_entry_options_fall_back_to_the_shared_ones():
    shared = dict(endpoint=None, username="root", password="calvin", validate_certs=True, ca_path="/ca.pem",
                  timeout=30, auth="session", retries=5, task_timeout=1800, gather=["system"])
    params = fleet.entry_params(dict(name="node1", endpoint="https://bmc1", username=None, timeout=5), shared)
    assert params["endpoint"] == "https://bmc1" and params["username"] == "root" and params["timeout"] == 5
    assert params["password"] == "calvin" and "gather" not in params
    # The endpoint is never shared: an entry without one must fail, not read the module's (REDFISH_ENDPOINT).
    assert fleet.entry_params(dict(name="node2"), dict(shared, endpoint="https://env-bmc"))["endpoint"] is None


def test_one_at_a_time_and_empty(fake):
    assert fleet.read_fleet([], slow_read) == []
    outcomes = fleet.read_fleet([dict(endpoint="https://a"), dict(endpoint="https://b")], slow_read, concurrency=1)
    assert [o["result"]["endpoint"] for o in outcomes] == ["https://a", "https://b"] and fake.most == 1
