"""bmc_info over many BMCs in one run (option bmcs, issue 12 P4): the lab's six side by side, plus BMCs that
cannot be read, each its own entry; nothing written, no secret in the result, facts as the per-host run's."""
from __future__ import annotations

import json
import socket

import pytest

from redfish_lab import run_module

pytestmark = [pytest.mark.lab]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_many_bmcs_in_one_run_each_its_own_result(fleet):
    cursors = {b.name: b.cursor() for b in fleet.bmcs}
    entries = [dict(name=b.name, endpoint=b.endpoint) for b in fleet.bmcs]
    entries += [dict(name="ghost", endpoint="https://127.0.0.1:%d" % free_port()),
                dict(name="wrong-password", endpoint=fleet.bmcs[0].endpoint, password="not-the-password"),
                dict(name="no-endpoint")]
    node1 = fleet.bmcs[0]
    shared = dict(username=node1.auth[0], password=node1.auth[1], ca_path=node1.ca)
    result = run_module("bmc_info", dict(shared, bmcs=entries, concurrency=4), check=True)

    assert not result.get("failed") and result["changed"] is False, result
    got = result["bmcs"]
    assert set(got) == {e["name"] for e in entries}
    for b in fleet.bmcs:
        assert got[b.name]["failed"] is False, got[b.name]
        assert got[b.name]["bmc"]["system"]["serial"] == b.get(b.system).get("SerialNumber"), got[b.name]
        assert got[b.name]["endpoint"] == b.endpoint
    assert got["ghost"]["failed"] and got["ghost"]["error_class"] == "RedfishEndpointError"
    assert "refused the connection" in got["ghost"]["msg"]
    assert got["wrong-password"]["failed"] and got["wrong-password"]["error_class"] == "RedfishAuthError"
    assert got["no-endpoint"]["failed"] and got["no-endpoint"]["msg"] == "no BMC endpoint given"
    assert result["read"] == 6 and result["failed_bmcs"] == ["ghost", "no-endpoint", "wrong-password"]
    # ansible-core 2.19 returns warnings as summaries with the text in event.msg, earlier ones as strings
    warnings = [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings", [])]
    assert any(w.startswith("ghost: ") for w in warnings), warnings

    text = json.dumps(result)
    assert node1.auth[1] not in text and "not-the-password" not in text, "a password reached the result"
    assert {b.name: b.writes_since(cursors[b.name]) for b in fleet.bmcs} == {b.name: [] for b in fleet.bmcs}

    # The same facts as one bmc_info run on that BMC alone.
    alone = run_module("bmc_info", node1.conn())
    assert got[node1.name]["bmc"] == alone["bmc"]


@pytest.mark.refusal(area="discovery (bmc_info)", field="bmcs[].name", message="bmcs: each name may appear once; repeated: a",
                     fix="give every BMC its own name (the inventory hostname)")
def test_a_name_given_twice_is_refused(fleet, proves_refusal):
    node1 = fleet.bmcs[0]
    result = run_module("bmc_info", dict(node1.conn(), bmcs=[dict(name="a", endpoint=node1.endpoint)] * 2))
    assert result["failed"] and "repeated: a" in result["msg"]
    proves_refusal(result["msg"])
