"""Every HCI alert the Prometheus adapter writes fires when it should, not before its `for:` window and not on another
campus's series: the adapter's own rule file, judged by Prometheus' rule engine (`promtool test rules`, Debian's
prometheus package).

Each case gives the series a real exporter exposes (Ceph mgr's prometheus module, Debian's
prometheus-hacluster-exporter, node_exporter's textfile collector) for the campus under test, the same failing
series for a second campus (the rule must not match them), and the healthy value before the fault.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.reforge.hci.plugins.module_utils.mgmt import prometheus

CAMPUS = {"name": "north", "cluster": "hci1"}
OTHER = {"name": "south", "cluster": "hci2"}

# alert -> (metric and its own labels, healthy value, failing value)
CASES = {
    "ReforgeTargetDown": ('up{exporter="node",instance="n1:9100",job="reforge"}', 1, 0),
    "CephHealthWarning": ("ceph_health_status", 0, 1),
    "CephHealthError": ("ceph_health_status", 0, 2),
    "CephOSDDown": ('ceph_osd_up{ceph_daemon="osd.3"}', 1, 0),
    "CephPGDegraded": ('ceph_pg_degraded{pool_id="2"}', 0, 17),
    "PacemakerNodeOffline": ('ha_cluster_pacemaker_nodes{node="node2",status="online",type="member"}', 1, 0),
    "PacemakerResourceFailed": ('ha_cluster_pacemaker_resources{resource="vm-db01",status="failed"}', 0, 1),
    "DiskWearHigh": ('reforge_disk_wear_percent{device="/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"}', 41, 85),
    "StorageLatencyHigh": ('ceph_osd_commit_latency_ms{ceph_daemon="osd.1"}', 4, 120),
}
MINUTES = re.compile(r"^([0-9]+)(s|m|h)$")


def minutes(duration: str) -> int:
    number, unit = MINUTES.match(duration).groups()
    return {"s": int(number) // 60, "m": int(number), "h": int(number) * 60}[unit]


def with_labels(metric: str, campus: dict) -> tuple[str, dict]:
    name, _brace, rest = metric.partition("{")
    labels = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    labels.update(campus=campus["name"], cluster=campus["cluster"])
    return name + "{" + ",".join('%s="%s"' % item for item in sorted(labels.items())) + "}", labels


def render(summary: str, labels: dict, value) -> str:
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], summary)
    return text.replace("{{ $value }}", "%g" % value)


def rule_test(rule: dict) -> dict:
    """A promtool test: healthy for 5 minutes, then failing; silent before `for:`, firing after."""
    metric, healthy, failing = CASES[rule["alert"]]
    wait = minutes(rule["for"])
    steps = wait + 10
    series, labels = with_labels(metric, CAMPUS)
    other, _labels = with_labels(metric, OTHER)
    values = "%s %sx%d" % (" ".join([str(healthy)] * 5), failing, steps)
    expected = dict(labels, **rule["labels"])
    checks = [{"eval_time": "4m", "alertname": rule["alert"], "exp_alerts": []}]
    if wait:
        checks.append({"eval_time": "%dm" % (5 + wait - 1), "alertname": rule["alert"], "exp_alerts": []})
    checks.append({"eval_time": "%dm" % (5 + wait + 1), "alertname": rule["alert"],
                   "exp_alerts": [{"exp_labels": expected,
                                   "exp_annotations": {"summary": render(rule["annotations"]["summary"], expected, failing)}}]})
    return {"interval": "1m", "name": rule["alert"],
            "input_series": [{"series": series, "values": values}, {"series": other, "values": values}],
            "alert_rule_test": checks}


def fencing_test(rule: dict) -> dict:
    """A counter of fencing events: an alert while the last hour saw one, none before and none an hour later."""
    series, labels = with_labels('reforge_pacemaker_fencing_events_total{node="node1"}', CAMPUS)
    other, _labels = with_labels('reforge_pacemaker_fencing_events_total{node="node1"}', OTHER)
    expected = dict(labels, **rule["labels"])
    return {"interval": "1m", "name": rule["alert"],
            "input_series": [{"series": series, "values": "0x9 1x120"}, {"series": other, "values": "0x9 1x120"}],
            "alert_rule_test": [
                {"eval_time": "8m", "alertname": rule["alert"], "exp_alerts": []},
                {"eval_time": "12m", "alertname": rule["alert"],
                 "exp_alerts": [{"exp_labels": expected, "exp_annotations": {"summary": rule["annotations"]["summary"]}}]},
                {"eval_time": "80m", "alertname": rule["alert"], "exp_alerts": []}]}


def ceph_exporter_test(rule: dict) -> dict:
    """Every mgr host is a target, and only the active mgr answers: silent while one answers (the standby is
    down all along), firing when none does, for this campus only."""
    def series(campus, instance):
        return with_labels('up{exporter="ceph",instance="%s",job="reforge"}' % instance, campus)[0]
    steps = minutes(rule["for"]) + 10
    active, standby = " ".join(["1"] * 5) + " 0x%d" % steps, "0x%d" % (steps + 5)
    return {"interval": "1m", "name": rule["alert"],
            "input_series": [{"series": series(c, i), "values": v} for c in (CAMPUS, OTHER)
                             for i, v in (("m1:9283", active), ("m2:9283", standby))],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": rule["alert"], "exp_alerts": []},
                {"eval_time": "%dm" % (5 + minutes(rule["for"]) + 1), "alertname": rule["alert"],
                 "exp_alerts": [{"exp_labels": dict(rule["labels"]),
                                 "exp_annotations": {"summary": rule["annotations"]["summary"]}}]}]}


def write_rules(tmp_path):
    adapter = prometheus.Adapter({"sd_dir": str(tmp_path), "rules_dir": str(tmp_path), "routes_dir": str(tmp_path),
                                  "alertmanager_config": str(tmp_path / "am.yml"), "prometheus_url": "http://127.0.0.1:9",
                                  "alertmanager_url": "http://127.0.0.1:9"})
    rules = adapter._rules(dict(CAMPUS, targets={"node": ["n1:9100"]}))  # pylint: disable=protected-access
    path = tmp_path / "reforge_north.rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path, rules["groups"][0]["rules"]


def promtool(tmp_path, tests: list) -> subprocess.CompletedProcess:
    spec = tmp_path / "tests.yml"
    spec.write_text(yaml.safe_dump({"rule_files": ["reforge_north.rules.yml"], "evaluation_interval": "1m",
                                    "tests": tests}, sort_keys=False))
    return subprocess.run(["promtool", "test", "rules", str(spec)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(name="rules")
def rules_fixture(tmp_path):
    if not shutil.which("promtool"):
        pytest.fail("promtool (Debian's prometheus package, scripts/apt-packages.txt) is needed")
    return write_rules(tmp_path)


def test_every_alert_fires_after_its_window_and_only_for_its_campus(rules, tmp_path):
    written = rules[1]
    special = {"PacemakerFencingEvent": fencing_test, "CephExporterDown": ceph_exporter_test}
    assert {rule["alert"] for rule in written} == set(CASES) | set(special), "a case per alert"
    tests = [special.get(rule["alert"], rule_test)(rule) for rule in written]
    run = promtool(tmp_path, tests)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_the_judge_can_fail(rules, tmp_path):
    """A rule that would never fire (or fire too early) is caught: the same cases against a broken threshold."""
    path, written = rules
    broken = [dict(rule, expr=rule["expr"].replace("== 0", "== 5")) if rule["alert"] == "CephOSDDown" else rule
              for rule in written]
    path.write_text(yaml.safe_dump({"groups": [{"name": "reforge-north", "rules": broken}]}, sort_keys=False))
    run = promtool(tmp_path, [rule_test(rule) for rule in written if rule["alert"] == "CephOSDDown"])
    assert run.returncode != 0 and "CephOSDDown" in run.stdout + run.stderr, run.stdout + run.stderr
