"""The cloudtower adapter against a contract fake speaking the SDK's own shapes (the real CloudTower was not run)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cloudtower_fake import REQUESTS, RESPONSES, FakeCloudTower  # noqa: E402

from ansible_collections.reforge.hci.plugins.module_utils.mgmt import base, registry  # noqa: E402

WRITES = ("/v2/api/create-datacenter", "/v2/api/connect-cluster", "/v2/api/delete-cluster")


@pytest.fixture
def tower():
    fake = FakeCloudTower()
    yield fake
    fake.close()


def plane(fake) -> dict:
    return {"cloudtower": {"url": fake.url, "username": "admin", "password": "secret", "poll_interval": 0.01, "task_timeout": 30}}


def campus(name="east", ip="10.3.0.10") -> dict:
    return {"name": name, "cluster": "hci3", "adapter": "cloudtower", "cluster_ip": ip, "cluster_username": "root",
            "cluster_password": "node-secret"}


def writes(fake) -> list[str]:
    return [call[0] for call in fake.calls if call[0] in WRITES]


def test_register_creates_the_datacenter_connects_and_follows_the_tasks(tower):
    changed, results, diffs = registry.run([campus()], "present", plane(tower), check_mode=False)
    assert changed and results[0]["changes"] == ["create datacenter east", "connect cluster hci3 (10.3.0.10) into datacenter east"]
    assert writes(tower) == ["/v2/api/create-datacenter", "/v2/api/connect-cluster"]
    # Every request was parsed by the fake with the SDK's request model; check the values the adapter sent.
    sent = dict((p, r) for p, r in tower.calls)
    create = sent["/v2/api/create-datacenter"]
    assert type(create[0]).__name__ == "DatacenterCreationParams" and (create[0].name, create[0].organization_id) == ("east", "org-1")
    connect = sent["/v2/api/connect-cluster"][0]
    assert type(connect).__name__ == "ClusterCreationParams"
    assert (connect.ip, connect.username, connect.password) == ("10.3.0.10", "root", "node-secret")
    assert connect.datacenter_id in tower.datacenters
    # Every answer the fake gave deserializes into the type the SDK expects for that call.
    for path, payload in tower.responses:
        tower.sdk._ApiClient__deserialize(payload, RESPONSES[path])  # pylint: disable=protected-access
    assert {call[0] for call in tower.calls} <= set(REQUESTS)
    # Each task was read until it ended (PENDING -> EXECUTING -> SUCCESSED).
    assert all(t["status"] == "SUCCESSED" for t in tower.tasks.values()) and len(tower.tasks) == 2
    assert diffs and all("before_header" in d for d in diffs)


def test_rerun_and_check_mode_send_no_write(tower):
    registry.run([campus()], "present", plane(tower), check_mode=False)
    count = len(writes(tower))
    changed = registry.run([campus()], "present", plane(tower), check_mode=False)[0]
    assert changed is False and len(writes(tower)) == count
    changed, results, diffs = registry.run([campus("west", "10.4.0.10")], "present", plane(tower), check_mode=True)
    assert changed is True and len(results[0]["changes"]) == 2 and len(diffs) == 2
    assert len(writes(tower)) == count and "west" not in {d["name"] for d in tower.datacenters.values()}


def test_deregistration_removes_the_cluster_once(tower):
    registry.run([campus()], "present", plane(tower), check_mode=False)
    changed, results = registry.run([campus()], "absent", plane(tower), check_mode=False)[:2]
    assert changed and results[0]["changes"] == ["remove cluster smtx-10-3-0-10 (10.3.0.10) from CloudTower"]
    assert not tower.clusters
    assert registry.run([campus()], "absent", plane(tower), check_mode=False)[0] is False
    assert writes(tower).count("/v2/api/delete-cluster") == 1


def test_a_failed_task_is_an_error_not_data(tower):
    tower.fail_next_task = "cannot reach the cluster's management address"
    with pytest.raises(base.MgmtError, match="failed: E_FAKE cannot reach"):
        registry.run([campus()], "present", plane(tower), check_mode=False)


def test_a_lost_answer_to_connect_is_not_sent_again(tower):
    tower.drop_answer_to = "/v2/api/connect-cluster"
    with pytest.raises(base.MgmtError, match="was lost .* CloudTower now has it"):
        registry.run([campus()], "present", plane(tower), check_mode=False)
    assert writes(tower).count("/v2/api/connect-cluster") == 1


@pytest.mark.refusal(area="management plane", field="campuses[].cluster_ip",
                     message="campus east is already registered with cluster smtx-10-3-0-10, not hci3 (10.3.0.99)",
                     fix="deregister the campus's cluster first (state: absent) or give the address of the cluster it has")
def test_a_campus_whose_datacenter_holds_another_cluster_is_refused(tower, proves_refusal):
    registry.run([campus()], "present", plane(tower), check_mode=False)
    count = len(writes(tower))
    with pytest.raises(base.Refusal) as exc:
        registry.run([campus(ip="10.3.0.99")], "present", plane(tower), check_mode=False)
    proves_refusal(str(exc.value))
    assert len(writes(tower)) == count
