"""Bad registration input is refused before any plane is asked anything."""
from __future__ import annotations

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.mgmt import base, registry

# Unroutable on purpose: a refusal must come before any connection is tried.
PLANE = {"prometheus": {"sd_dir": "/nonexistent/t", "rules_dir": "/nonexistent/r", "routes_dir": "/nonexistent/a",
                        "alertmanager_config": "/nonexistent/am.yml", "prometheus_url": "http://192.0.2.1:9",
                        "alertmanager_url": "http://192.0.2.1:9", "timeout": 1}}


def campus(**extra) -> dict:
    return dict({"name": "north", "cluster": "hci1", "adapter": "prometheus", "targets": {"node": ["10.0.0.1:9100"]}}, **extra)


def refused(campuses, state="present") -> str:
    with pytest.raises(base.Refusal) as exc:
        registry.run(campuses, state, PLANE, check_mode=False)
    return str(exc.value)


@pytest.mark.refusal(area="management plane", field="campuses[].adapter", message="unknown management-plane adapter 'zabbix'",
                     fix="set the campus's mgmt_adapter to prometheus or cloudtower (or add an adapter file)")
def test_unknown_adapter(proves_refusal):
    proves_refusal(refused([campus(adapter="zabbix")]))


@pytest.mark.refusal(area="management plane", field="campuses[].cluster",
                     message="campus north is registered twice with different clusters (hci1 and hci2)",
                     fix="one campus is one cluster: give the second cluster its own campus name")
def test_a_campus_twice_with_different_clusters(proves_refusal):
    proves_refusal(refused([campus(), campus(cluster="hci2")]))


@pytest.mark.refusal(area="management plane", field="campuses[].alert_for", message="is not a Prometheus duration such as 30s, 5m or 1h",
                     fix="write the window as a Prometheus duration (30s, 5m, 1h)")
def test_a_bad_alert_window(proves_refusal):
    proves_refusal(refused([campus(alert_for={"osd_down": "two minutes"})]))


@pytest.mark.refusal(area="management plane", field="campuses[].thresholds.disk_wear_percent",
                     message="thresholds.disk_wear_percent '140' must be a positive number up to 100",
                     fix="give the wear level (percent of rated endurance used) that should alert, 1-100")
def test_a_bad_threshold(proves_refusal):
    proves_refusal(refused([campus(thresholds={"disk_wear_percent": 140})]))


@pytest.mark.refusal(area="management plane", field="campuses[].name", message="campus name 'North Campus' is not a valid name",
                     fix="use lower-case letters, digits, '-' and '_' (it becomes a label and a file name)")
def test_a_campus_name_that_cannot_be_a_file_name(proves_refusal):
    proves_refusal(refused([campus(name="North Campus")]))


def test_a_campus_without_targets_is_refused():
    assert "has no scrape targets" in refused([campus(targets={})])


def test_an_unknown_exporter_is_refused():
    assert "targets.snmp is not an exporter" in refused([campus(targets={"snmp": ["10.0.0.1:9116"]})])
