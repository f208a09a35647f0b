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


@pytest.mark.refusal(area="management plane", field="campuses[].targets",
                     message="campus north has no scrape targets; set targets.node (host:port list) at least",
                     fix="list the nodes' exporters (host:port) under targets.node")
def test_a_campus_without_targets_is_refused(proves_refusal):
    proves_refusal(refused([campus(targets={})]))


@pytest.mark.refusal(area="management plane", field="campuses[].targets.<exporter>",
                     message="targets.snmp is not an exporter this plane scrapes (known: ",
                     fix="use one of the exporters the message lists")
def test_an_unknown_exporter_is_refused(proves_refusal):
    proves_refusal(refused([campus(targets={"snmp": ["10.0.0.1:9116"]})]))


@pytest.mark.refusal(area="management plane", field="campuses[].alert_for",
                     message="alert_for.osd_gone is not an alert window (known: ",
                     fix="use one of the alert names the message lists")
def test_an_unknown_alert_window_is_refused(proves_refusal):
    proves_refusal(refused([campus(alert_for={"osd_gone": "5m"})]))


@pytest.mark.refusal(area="management plane", field="campuses[].thresholds.fencing_window",
                     message="thresholds.fencing_window 'an hour' is not a Prometheus duration such as 30s, 5m or 1h",
                     fix="write the window as a Prometheus duration (30s, 5m, 1h)")
def test_a_bad_fencing_window_is_refused(proves_refusal):
    proves_refusal(refused([campus(thresholds={"fencing_window": "an hour"})]))


@pytest.mark.refusal(area="management plane", field="campuses[].thresholds.commit_latency_ms",
                     message="thresholds.commit_latency_ms 'fast' must be a positive number",
                     fix="give the OSD commit latency in milliseconds that should alert, e.g. 50")
def test_a_bad_latency_threshold_is_refused(proves_refusal):
    proves_refusal(refused([campus(thresholds={"commit_latency_ms": "fast"})]))


@pytest.mark.refusal(area="management plane", field="mgmt_prometheus.<option>",
                     message="the prometheus adapter needs mgmt_prometheus.rules_dir",
                     fix="set the management host's paths and URLs in mgmt_prometheus (see the role's defaults)")
def test_a_prometheus_plane_without_its_paths_is_refused(proves_refusal):
    with pytest.raises(base.Refusal) as exc:
        registry.run([campus()], "present", {"prometheus": dict(PLANE["prometheus"], rules_dir="")}, check_mode=False)
    proves_refusal(str(exc.value))


@pytest.mark.refusal(area="management plane", field="mgmt_cloudtower.<option>",
                     message="the cloudtower adapter needs mgmt_cloudtower.password",
                     fix="set url, username and password in mgmt_cloudtower (the password from the vault)")
def test_a_cloudtower_plane_without_credentials_is_refused(proves_refusal):
    plane = {"cloudtower": {"url": "https://192.0.2.1", "username": "root"}}
    with pytest.raises(base.Refusal) as exc:
        registry.run([campus(adapter="cloudtower")], "present", plane, check_mode=False)
    proves_refusal(str(exc.value))


@pytest.mark.refusal(area="management plane", field="campuses[].cluster_ip / cluster_username / cluster_password",
                     message="campus north uses the cloudtower adapter and needs cluster_ip",
                     fix="give the SMTX cluster's management address and its credentials for the campus")
def test_a_cloudtower_campus_without_its_cluster_address_is_refused(proves_refusal):
    plane = {"cloudtower": {"url": "https://192.0.2.1", "username": "root", "password": "x"}}
    with pytest.raises(base.Refusal) as exc:
        registry.run([campus(adapter="cloudtower")], "present", plane, check_mode=False)
    proves_refusal(str(exc.value))
