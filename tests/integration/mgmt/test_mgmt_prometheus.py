"""mgmt_register against a real Prometheus + Alertmanager (Debian's), proven through their HTTP APIs."""
from __future__ import annotations

import datetime

import pytest

from mgmt_plane import get_json, run_module, wait_for

pytestmark = pytest.mark.lab

FAST = {"osd_down": "2s", "ceph_health": "2s", "target_down": "2s"}


def campus(name: str, cluster: str, exporter, node=None) -> dict:
    """A campus whose Ceph mgr exporter is ``exporter`` (and node exporter ``node``, a separate stand-in)."""
    node = node or exporter.node
    return {"name": name, "cluster": cluster, "targets": {"node": [node.address], "ceph": [exporter.address]},
            "receiver": {}, "route": {"group_wait": "1s", "group_interval": "1s"}, "alert_for": FAST}


@pytest.fixture(scope="module")
def registered(plane, exporters):
    north, south = exporters("north"), exporters("south")
    for exp in (north, south):
        exp.metrics.update({"ceph_health_status": 0, "ceph_osd_up": 1})
        exp.node = exporters(exp.address + "-node")
        exp.node.metrics.update({"node_load1": 0.5})
    results = [run_module("mgmt_register", {"campuses": [campus("north", "hci1", north)], "prometheus": plane.options()}),
               run_module("mgmt_register", {"campuses": [campus("south", "hci2", south)], "prometheus": plane.options()})]
    return {"north": north, "south": south, "results": results}


def _targets(plane) -> list[dict]:
    return get_json(plane.prometheus_url + "/api/v1/targets")["data"]["activeTargets"]


def test_two_campuses_register_beside_each_other(plane, registered):
    for res in registered["results"]:
        assert res.get("changed") is True and not res.get("failed"), res

    def all_up():
        found = _targets(plane)
        return found if len(found) == 4 and all(x["health"] == "up" for x in found) else None

    targets = wait_for("four targets up", all_up)
    seen = sorted((t["labels"]["campus"], t["labels"]["cluster"], t["labels"]["exporter"]) for t in targets)
    assert seen == [("north", "hci1", "ceph"), ("north", "hci1", "node"), ("south", "hci2", "ceph"), ("south", "hci2", "node")]
    groups = {g["name"]: g for g in get_json(plane.prometheus_url + "/api/v1/rules")["data"]["groups"]}
    assert set(groups) == {"reforge-north", "reforge-south"}
    for name, cluster in (("north", "hci1"), ("south", "hci2")):
        rules = {r["name"]: r for r in groups["reforge-" + name]["rules"]}
        assert {"CephHealthError", "CephOSDDown", "CephPGDegraded", "PacemakerNodeOffline", "PacemakerFencingEvent",
                "PacemakerResourceFailed", "DiskWearHigh", "StorageLatencyHigh", "ReforgeTargetDown"} <= set(rules)
        assert rules["CephOSDDown"]["labels"] == {"severity": "critical", "campus": name, "cluster": cluster}
        assert f'campus="{name}"' in rules["CephOSDDown"]["query"] and rules["CephOSDDown"]["duration"] == 2
    receivers = [r["name"] for r in get_json(plane.alertmanager_url + "/api/v2/receivers")]
    assert {"campus-north", "campus-south"} <= set(receivers)


def _prom_alert(plane, name: str, campus_name: str):
    alerts = get_json(plane.prometheus_url + "/api/v1/alerts")["data"]["alerts"]
    return next((a for a in alerts if a["labels"]["alertname"] == name and a["labels"]["campus"] == campus_name), None)


def _am_alerts(plane, name: str) -> list[dict]:
    now = datetime.datetime.now(datetime.timezone.utc)
    alerts = get_json(plane.alertmanager_url + "/api/v2/alerts?filter=alertname%3D%22" + name + "%22")
    return [a for a in alerts if datetime.datetime.fromisoformat(a["endsAt"].replace("Z", "+00:00")) > now]


def test_osd_down_fires_reaches_the_campus_route_and_clears(plane, registered):
    north = registered["north"]
    north.metrics["ceph_osd_up"] = 0
    states = set()

    def firing():
        alert = _prom_alert(plane, "CephOSDDown", "north")
        if alert:
            states.add(alert["state"])
        return alert if alert and alert["state"] == "firing" else None
    alert = wait_for("CephOSDDown firing for north", firing)
    assert "pending" in states or alert["state"] == "firing"  # a 2 s window: pending is usually seen first
    assert alert["labels"]["cluster"] == "hci1"
    am = wait_for("CephOSDDown in Alertmanager", lambda: _am_alerts(plane, "CephOSDDown"))
    assert [a["labels"]["campus"] for a in am] == ["north"]
    assert [r["name"] for r in am[0]["receivers"]] == ["campus-north"]
    assert _prom_alert(plane, "CephOSDDown", "south") is None
    north.metrics["ceph_osd_up"] = 1
    wait_for("CephOSDDown cleared in Prometheus", lambda: _prom_alert(plane, "CephOSDDown", "north") is None)
    wait_for("CephOSDDown resolved in Alertmanager", lambda: not _am_alerts(plane, "CephOSDDown"))


def test_rerun_is_unchanged_and_check_mode_writes_nothing(plane, registered):
    before = plane.snapshot()
    again = run_module("mgmt_register", {"campuses": [campus("north", "hci1", registered["north"])], "prometheus": plane.options()})
    assert again["changed"] is False and again["campuses"][0]["changes"] == [], again
    assert plane.snapshot() == before
    changed = campus("north", "hci1", registered["north"])
    changed["alert_for"] = dict(FAST, osd_down="3s")
    dry = run_module("mgmt_register", {"campuses": [changed], "prometheus": plane.options()}, check=True)
    assert dry["changed"] is True
    assert any("for: 3s" in d["after"] and "reforge_north.rules.yml" in d["after_header"] for d in dry["diff"]), dry["diff"]
    gone = run_module("mgmt_register", {"state": "absent", "campuses": [campus("south", "hci2", registered["south"])],
                                        "prometheus": plane.options()}, check=True)
    assert gone["changed"] is True and len(gone["campuses"][0]["changes"]) >= 3
    assert plane.snapshot() == before


@pytest.mark.refusal(area="management plane", field="campuses[].cluster",
                     message="campus north is already registered with cluster hci1, not hci9",
                     fix="deregister the campus first (state: absent) or use the cluster name it has")
def test_a_campus_already_registered_with_another_cluster_is_refused(plane, registered, proves_refusal):
    before = plane.snapshot()
    res = run_module("mgmt_register", {"campuses": [campus("north", "hci9", registered["north"])], "prometheus": plane.options()})
    assert res.get("failed") is True
    proves_refusal(res["msg"])
    assert plane.snapshot() == before


def test_deregistration_removes_exactly_that_campus(plane, registered):
    before = plane.snapshot()
    res = run_module("mgmt_register", {"state": "absent", "campuses": [campus("south", "hci2", registered["south"])],
                                       "prometheus": plane.options()})
    assert res["changed"] is True, res
    after = plane.snapshot()
    removed = sorted(set(before) - set(after))
    assert removed == ["routes/reforge_south.yml", "rules/reforge_south.rules.yml", "targets/reforge_south.yml"]
    assert {k: v for k, v in before.items() if "south" not in k and k != "alertmanager.yml"} == \
        {k: v for k, v in after.items() if k != "alertmanager.yml"}
    assert b"campus-south" not in after["alertmanager.yml"] and b"campus-north" in after["alertmanager.yml"]
    groups = [g["name"] for g in get_json(plane.prometheus_url + "/api/v1/rules")["data"]["groups"]]
    assert groups == ["reforge-north"]
    wait_for("south's targets gone", lambda: {t["labels"]["campus"] for t in _targets(plane)} == {"north"})
    again = run_module("mgmt_register", {"state": "absent", "campuses": [campus("south", "hci2", registered["south"])],
                                         "prometheus": plane.options()})
    assert again["changed"] is False, again
