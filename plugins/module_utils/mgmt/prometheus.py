# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Adapter 1: a campus-wide Prometheus + Alertmanager (Debian packages) on a management host.

Per campus it owns three files, all named after the campus so two campuses never touch each
other's files:

- ``<sd_dir>/reforge_<campus>.yml``: file_sd target groups, one per exporter, labelled
  ``campus``, ``cluster`` and ``exporter`` (Prometheus watches this directory: no reload needed);
- ``<rules_dir>/reforge_<campus>.rules.yml``: one rule group ``reforge-<campus>`` with the HCI alerts;
- ``<routes_dir>/reforge_<campus>.yml``: the campus's Alertmanager route and receiver.

Alertmanager has no include, so ``alertmanager_config`` is assembled from ``alertmanager_base``
and every campus fragment in ``routes_dir`` (sorted); it is validated with ``amtool check-config``
and the rules with ``promtool check rules`` before anything is written, then both daemons are
reloaded through ``POST /-/reload``. A reload whose answer was lost is not re-sent: the adapter
reads the loaded state back (``/api/v1/rules``, ``/api/v2/status``) and the next run plans a
reload again if the state is not there.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re
import subprocess
import tempfile

try:
    import yaml
except ImportError:  # the adapter says so when it is used (Debian python3-yaml)
    yaml = None

from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible_collections.reforge.hci.plugins.module_utils.mgmt.base import MgmtError, Refusal

EXPORTERS = ("node", "libvirt", "ceph", "pacemaker")
DURATION_RE = re.compile(r"^[0-9]+(ms|s|m|h|d|w)$")

# name, expression (with {sel} for the campus selector and {threshold names}), for-window key, severity, summary
ALERTS = (
    ("ReforgeTargetDown", 'up{{{sel},exporter!="ceph"}} == 0', "target_down", "critical",
     "exporter {{{{ $labels.exporter }}}} on {{{{ $labels.instance }}}} is not answering"),
    # Ceph's metrics come from the active mgr's prometheus module; a standby mgr may not answer at all (Debian's
    # Ceph 18.2.7 starts no standby page), so every mgr host is a target and the alert is on none answering.
    ("CephExporterDown", 'max by (campus, cluster) (up{{{sel},exporter="ceph"}}) == 0', "target_down", "critical",
     "no Ceph mgr answers with metrics (the active mgr's prometheus module)"),
    ("CephHealthWarning", 'ceph_health_status{{{sel}}} == 1', "ceph_health", "warning", "Ceph reports HEALTH_WARN"),
    ("CephHealthError", 'ceph_health_status{{{sel}}} == 2', "ceph_health", "critical", "Ceph reports HEALTH_ERR"),
    ("CephOSDDown", 'ceph_osd_up{{{sel}}} == 0', "osd_down", "critical", "OSD {{{{ $labels.ceph_daemon }}}} is down"),
    ("CephPGDegraded", 'ceph_pg_degraded{{{sel}}} > 0', "pg_degraded", "warning", "placement groups are degraded"),
    ("PacemakerNodeOffline", 'ha_cluster_pacemaker_nodes{{{sel},status="online"}} == 0', "node_offline", "critical",
     "cluster node {{{{ $labels.node }}}} is offline"),
    ("PacemakerFencingEvent", 'increase(reforge_pacemaker_fencing_events_total{{{sel}}}[{fencing_window}]) > 0', "fencing",
     "critical", "a node was fenced"),
    ("PacemakerResourceFailed", 'ha_cluster_pacemaker_resources{{{sel},status="failed"}} > 0', "resource_failed", "critical",
     "resource {{{{ $labels.resource }}}} failed"),
    ("DiskWearHigh", 'reforge_disk_wear_percent{{{sel}}} >= {disk_wear_percent}', "disk_wear", "warning",
     "disk {{{{ $labels.device }}}} has used {{{{ $value }}}} % of its rated endurance"),
    ("StorageLatencyHigh", 'ceph_osd_commit_latency_ms{{{sel}}} > {commit_latency_ms}', "storage_latency", "warning",
     "OSD {{{{ $labels.ceph_daemon }}}} commit latency {{{{ $value }}}} ms"),
)
DEFAULT_FOR = {"target_down": "5m", "ceph_health": "5m", "osd_down": "2m", "pg_degraded": "10m", "node_offline": "1m",
               "fencing": "0s", "resource_failed": "1m", "disk_wear": "1h", "storage_latency": "15m"}
DEFAULT_THRESHOLDS = {"disk_wear_percent": 80, "commit_latency_ms": 50, "fencing_window": "1h"}
DEFAULT_BASE = {"route": {"receiver": "reforge-default", "group_by": ["alertname", "campus", "cluster"]},
                "receivers": [{"name": "reforge-default"}]}


def _dump(data):
    return "# Managed by reforge.hci.mgmt_register: changes here are overwritten.\n" + yaml.safe_dump(data, sort_keys=False)


class Adapter(object):
    def __init__(self, options):
        if yaml is None:
            raise MgmtError("the prometheus adapter needs PyYAML on the management host (Debian package python3-yaml)")
        self.o = options
        for key in ("sd_dir", "rules_dir", "routes_dir", "alertmanager_config", "prometheus_url", "alertmanager_url"):
            if not options.get(key):
                raise Refusal("the prometheus adapter needs mgmt_prometheus.%s" % key)
        self.timeout = int(options.get("timeout") or 30)

    # ------------------------------------------------------------------ files
    def _paths(self, campus):
        name = campus["name"]
        return {"targets": os.path.join(self.o["sd_dir"], "reforge_%s.yml" % name),
                "rules": os.path.join(self.o["rules_dir"], "reforge_%s.rules.yml" % name),
                "route": os.path.join(self.o["routes_dir"], "reforge_%s.yml" % name)}

    @staticmethod
    def _text(path):
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def _settings(self, campus):
        alert_for = dict(DEFAULT_FOR, **(self.o.get("alert_for") or {}))
        alert_for.update(campus.get("alert_for") or {})
        thresholds = dict(DEFAULT_THRESHOLDS, **(self.o.get("thresholds") or {}))
        thresholds.update(campus.get("thresholds") or {})
        for key, value in alert_for.items():
            if key not in DEFAULT_FOR:
                raise Refusal("alert_for.%s is not an alert window (known: %s)" % (key, ", ".join(sorted(DEFAULT_FOR))))
            if not DURATION_RE.match(str(value)):
                raise Refusal("alert_for.%s '%s' is not a Prometheus duration such as 30s, 5m or 1h" % (key, value))
        if not DURATION_RE.match(str(thresholds["fencing_window"])):
            raise Refusal("thresholds.fencing_window '%s' is not a Prometheus duration such as 30s, 5m or 1h"
                          % thresholds["fencing_window"])
        for key in ("disk_wear_percent", "commit_latency_ms"):
            try:
                number = float(thresholds[key])
            except (TypeError, ValueError):
                number = -1
            if number <= 0 or (key == "disk_wear_percent" and number > 100):
                raise Refusal("thresholds.%s '%s' must be a positive number%s"
                              % (key, thresholds[key], " up to 100" if key == "disk_wear_percent" else ""))
        return alert_for, thresholds

    def _targets(self, campus):
        groups = []
        targets = campus.get("targets") or {}
        for exporter in sorted(targets):
            if exporter not in EXPORTERS:
                raise Refusal("targets.%s is not an exporter this plane scrapes (known: %s)" % (exporter, ", ".join(EXPORTERS)))
            if targets[exporter]:
                groups.append({"targets": sorted(targets[exporter]),
                               "labels": {"campus": campus["name"], "cluster": campus["cluster"], "exporter": exporter}})
        if not groups:
            raise Refusal("campus %s has no scrape targets; set targets.node (host:port list) at least" % campus["name"])
        return groups

    def _rules(self, campus):
        alert_for, thresholds = self._settings(campus)
        sel = 'campus="%s"' % campus["name"]
        rules = []
        for name, expr, window, severity, summary in ALERTS:
            rules.append({"alert": name, "expr": expr.format(sel=sel, **thresholds), "for": str(alert_for[window]),
                          "labels": {"severity": severity, "campus": campus["name"], "cluster": campus["cluster"]},
                          "annotations": {"summary": summary.format()}})
        return {"groups": [{"name": "reforge-%s" % campus["name"], "rules": rules}]}

    def _route(self, campus):
        receiver = dict(campus.get("receiver") or {})
        receiver["name"] = "campus-%s" % campus["name"]
        route = {"receiver": receiver["name"], "matchers": ['campus="%s"' % campus["name"]],
                 "group_by": ["alertname", "campus", "cluster"]}
        route.update(campus.get("route") or {})
        return {"campus": campus["name"], "cluster": campus["cluster"], "route": route, "receiver": receiver}

    def _assemble(self, fragments):
        base = json.loads(json.dumps(self.o.get("alertmanager_base") or DEFAULT_BASE))
        base.setdefault("route", {}).setdefault("receiver", "reforge-default")
        base["route"]["routes"] = [fragments[k]["route"] for k in sorted(fragments)]
        base["receivers"] = list(base.get("receivers") or [{"name": base["route"]["receiver"]}])
        base["receivers"] += [fragments[k]["receiver"] for k in sorted(fragments)]
        return _dump(base)

    def _fragments(self):
        found = {}
        try:
            names = sorted(os.listdir(self.o["routes_dir"]))
        except FileNotFoundError:
            names = []
        for name in names:
            if name.startswith("reforge_") and name.endswith(".yml"):
                data = yaml.safe_load(self._text(os.path.join(self.o["routes_dir"], name)) or "{}") or {}
                found[data.get("campus") or name[8:-4]] = data
        return found

    # ------------------------------------------------------------------ HTTP
    def _http(self, method, base, path):
        url = base.rstrip("/") + path
        try:
            resp = open_url(url, method=method, timeout=self.timeout, ca_path=self.o.get("ca_path"))
            return resp.read().decode("utf-8")
        except HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")[:500]
            raise MgmtError("%s %s answered %s: %s" % (method, url, exc.code, body.strip()))
        except (URLError, OSError) as exc:
            raise MgmtError("%s %s failed: %s" % (method, url, exc))

    def _loaded(self, campus):
        """What the daemons have loaded for this campus: its rule group, its receiver."""
        rules = json.loads(self._http("GET", self.o["prometheus_url"], "/api/v1/rules"))
        groups = [g["name"] for g in rules["data"]["groups"]]
        status = json.loads(self._http("GET", self.o["alertmanager_url"], "/api/v2/status"))
        loaded = yaml.safe_load(status["config"]["original"]) or {}
        receivers = [r.get("name") for r in loaded.get("receivers") or []]
        return {"rule_group": "reforge-%s" % campus["name"] in groups, "receiver": "campus-%s" % campus["name"] in receivers}

    # ------------------------------------------------------------------ interface
    def check(self, campus):
        self._settings(campus)
        self._targets(campus)

    def read(self, campus):
        paths = self._paths(campus)
        current = {key: self._text(path) for key, path in paths.items()}
        current["alertmanager_config"] = self._text(self.o["alertmanager_config"])
        current["cluster"] = None
        if current["targets"]:
            for group in yaml.safe_load(current["targets"]) or []:
                current["cluster"] = (group.get("labels") or {}).get("cluster") or current["cluster"]
        current["loaded"] = self._loaded(campus)
        return current

    def refuse(self, campus, current):
        if current["cluster"] and current["cluster"] != campus["cluster"]:
            return ("campus %s is already registered with cluster %s, not %s; deregister it first (state: absent) "
                    "or use its cluster name" % (campus["name"], current["cluster"], campus["cluster"]))
        return None

    def plan(self, campus, current, state):
        paths = self._paths(campus)
        fragments = self._fragments()
        fragments.pop(campus["name"], None)
        if state == "present":
            route = self._route(campus)
            want = {"targets": _dump(self._targets(campus)), "rules": _dump(self._rules(campus)), "route": _dump(route)}
            fragments[campus["name"]] = route
        else:
            want = {"targets": None, "rules": None, "route": None}
        want_am = self._assemble(fragments)
        changes = []
        for key in ("targets", "rules", "route"):
            if current[key] != want[key]:
                changes.append({"what": paths[key], "path": paths[key], "before": current[key], "after": want[key]})
        if current["alertmanager_config"] != want_am:
            changes.append({"what": self.o["alertmanager_config"], "path": self.o["alertmanager_config"],
                            "before": current["alertmanager_config"], "after": want_am})
        present = state == "present"
        if any(c.get("path") == paths["rules"] for c in changes) or current["loaded"]["rule_group"] != present:
            changes.append({"what": "reload prometheus", "reload": "prometheus"})
        if any(c.get("path") == self.o["alertmanager_config"] for c in changes) or current["loaded"]["receiver"] != present:
            changes.append({"what": "reload alertmanager", "reload": "alertmanager"})
        return changes

    def _check(self, tool, args, text):
        with tempfile.TemporaryDirectory(prefix="reforge-mgmt-") as tmp:
            path = os.path.join(tmp, "check.yml")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            proc = subprocess.run([self.o.get(tool) or tool] + args + [path], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise MgmtError("%s %s refused the generated file: %s" % (tool, " ".join(args), (proc.stdout + proc.stderr).strip()))

    def apply(self, campus, changes):
        # Validate everything first: nothing is written when one file would be refused.
        for change in changes:
            if change.get("after") is None or change.get("reload"):
                continue
            if change["path"].endswith(".rules.yml"):
                self._check("promtool", ["check", "rules"], change["after"])
            elif change["path"] == self.o["alertmanager_config"]:
                self._check("amtool", ["check-config"], change["after"])
        for change in changes:
            if change.get("reload"):
                continue
            if change["after"] is None:
                if os.path.exists(change["path"]):
                    os.unlink(change["path"])
                continue
            directory = os.path.dirname(change["path"])
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".reforge-", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(change["after"])
            os.chmod(tmp, 0o644)
            os.replace(tmp, change["path"])
        for change in changes:
            if change.get("reload"):
                self._reload(change["reload"])

    def _reload(self, daemon):
        base = self.o["prometheus_url"] if daemon == "prometheus" else self.o["alertmanager_url"]
        try:
            self._http("POST", base, "/-/reload")
        except MgmtError as exc:
            if "answered" in str(exc):  # the daemon answered: it refused the configuration
                raise MgmtError("%s refused the reload: %s (the files are written; fix them and rerun)" % (daemon, exc))
            # The answer was lost: do not send it again. The next run reads the loaded state and plans a reload if needed.
            raise MgmtError("the %s reload request got no answer (%s); it may or may not have happened. The files are "
                            "written; rerun: the next run reads what is loaded and reloads only if it is missing" % (daemon, exc))
