# -*- coding: utf-8 -*-
# Copyright: reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Adapter 2: SmartX CloudTower, through the ``cloudtower-sdk`` package.

Registration: log in, find the campus datacenter (create it in the organization if missing),
connect the cluster by its management address into it, and follow every returned task to its
end. Deregistration removes the cluster from CloudTower (the datacenter stays: it may hold
other clusters). A create or connect whose answer was lost is not sent again: the adapter reads
the datacenter or cluster back and fails, listing what may have landed, when it is not there.

Tested against a contract fake serving the SDK's own request/response shapes
(tests/unit/mgmt/test_cloudtower_contract.py); the real service was not run.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time

from ansible_collections.reforge.hci.plugins.module_utils.mgmt.base import MgmtError, Refusal

try:
    import urllib3
    from cloudtower import ApiClient, Configuration
    from cloudtower.api.cluster_api import ClusterApi
    from cloudtower.api.datacenter_api import DatacenterApi
    from cloudtower.api.organization_api import OrganizationApi
    from cloudtower.api.task_api import TaskApi
    from cloudtower.api.user_api import UserApi
    from cloudtower.exceptions import ApiException
    from cloudtower.models import (ClusterCreationParams, ClusterDeletionParams, ClusterWhereInput, DatacenterCreationParams,
                                   DatacenterWhereInput, GetClustersRequestBody, GetDatacentersRequestBody,
                                   GetOrganizationsRequestBody, GetTasksRequestBody, LoginInput, OrganizationWhereInput,
                                   TaskStatus, TaskWhereInput, UserSource)
    HAS_SDK = True
except ImportError:  # pragma: no cover - reported by the adapter
    HAS_SDK = False


class Adapter(object):
    def __init__(self, options):
        if not HAS_SDK:
            raise Refusal("the cloudtower adapter needs the cloudtower-sdk Python package (requirements.txt)")
        for key in ("url", "username", "password"):
            if not options.get(key):
                raise Refusal("the cloudtower adapter needs mgmt_cloudtower.%s" % key)
        self.o = options
        self.task_timeout = float(options.get("task_timeout") or 1800)
        self.poll = float(options.get("poll_interval") or 5)
        self._client = None

    # ------------------------------------------------------------------ session
    def client(self):
        if self._client is None:
            conf = Configuration(host=self.o["url"].rstrip("/") + "/v2/api")
            conf.ssl_ca_cert = self.o.get("ca_path")
            conf.retries = urllib3.Retry(connect=2, read=0, redirect=0, status=0, other=0)  # never re-send a write
            client = ApiClient(conf)
            try:
                login = UserApi(client).login(LoginInput(username=self.o["username"], password=self.o["password"],
                                                         source=UserSource.LOCAL))
            except ApiException as exc:
                raise MgmtError("CloudTower login at %s failed: %s %s" % (self.o["url"], exc.status, exc.reason))
            except urllib3.exceptions.HTTPError as exc:
                raise MgmtError("CloudTower at %s cannot be reached: %s" % (self.o["url"], exc))
            client.set_default_header("Authorization", login.data.token)
            self._client = client
        return self._client

    def _call(self, what, fn, *args):
        try:
            return fn(*args)
        except ApiException as exc:
            raise MgmtError("CloudTower refused to %s: %s %s %s" % (what, exc.status, exc.reason, (exc.body or "")[:300]))

    # ------------------------------------------------------------------ interface
    def check(self, campus):
        for key in ("cluster_ip", "cluster_username", "cluster_password"):
            if not campus.get(key):
                raise Refusal("campus %s uses the cloudtower adapter and needs %s" % (campus["name"], key))

    def _datacenter(self, name):
        found = self._call("list datacenters", DatacenterApi(self.client()).get_datacenters,
                           GetDatacentersRequestBody(where=DatacenterWhereInput(name=name)))
        return found[0] if found else None

    def _cluster(self, ip):
        found = self._call("list clusters", ClusterApi(self.client()).get_clusters,
                           GetClustersRequestBody(where=ClusterWhereInput(ip=ip)))
        return found[0] if found else None

    def read(self, campus):
        dc_name = campus.get("datacenter") or campus["name"]
        current = {"datacenter": None, "cluster": None}
        datacenter = self._datacenter(dc_name)
        if datacenter is not None:
            current["datacenter"] = {"id": datacenter.id, "name": datacenter.name,
                                     "clusters": {c.id: c.name for c in datacenter.clusters or []}}
        if campus.get("cluster_ip"):
            cluster = self._cluster(campus["cluster_ip"])
            if cluster is not None:
                current["cluster"] = {"id": cluster.id, "name": cluster.name, "ip": cluster.ip,
                                      "datacenters": sorted(d.name for d in cluster.datacenters or [])}
        return current

    def refuse(self, campus, current):
        datacenter, cluster = current["datacenter"], current["cluster"]
        if datacenter and datacenter["clusters"] and (cluster is None or cluster["id"] not in datacenter["clusters"]):
            return ("campus %s is already registered with cluster %s, not %s (%s); deregister it first (state: absent) "
                    "or use its cluster" % (campus["name"], ", ".join(sorted(datacenter["clusters"].values())),
                                            campus["cluster"], campus["cluster_ip"]))
        dc_name = campus.get("datacenter") or campus["name"]
        if cluster and cluster["datacenters"] and dc_name not in cluster["datacenters"]:
            return ("cluster %s (%s) is already in datacenter %s, not %s; remove it there first"
                    % (campus["cluster"], campus["cluster_ip"], ", ".join(cluster["datacenters"]), dc_name))
        return None

    def plan(self, campus, current, state):
        dc_name = campus.get("datacenter") or campus["name"]
        changes = []
        if state == "present":
            if current["datacenter"] is None:
                changes.append({"what": "create datacenter %s" % dc_name, "op": "datacenter", "before": "", "after": dc_name})
            if current["cluster"] is None:
                changes.append({"what": "connect cluster %s (%s) into datacenter %s" % (campus["cluster"], campus["cluster_ip"], dc_name),
                                "op": "connect", "before": "", "after": "%s %s" % (campus["cluster"], campus["cluster_ip"])})
        elif current["cluster"] is not None:
            changes.append({"what": "remove cluster %s (%s) from CloudTower" % (current["cluster"]["name"], current["cluster"]["ip"]),
                            "op": "delete", "before": current["cluster"]["name"], "after": "", "id": current["cluster"]["id"]})
        return changes

    def apply(self, campus, changes):
        dc_name = campus.get("datacenter") or campus["name"]
        for change in changes:
            if change["op"] == "datacenter":
                org = self._organization()
                made = self._write("create datacenter %s" % dc_name, lambda: self._datacenter(dc_name),
                                   DatacenterApi(self.client()).create_datacenter,
                                   [DatacenterCreationParams(name=dc_name, organization_id=org.id)])
            elif change["op"] == "connect":
                datacenter = self._datacenter(dc_name)
                if datacenter is None:
                    raise MgmtError("datacenter %s is not in CloudTower after it was created; nothing connected" % dc_name)
                made = self._write("connect cluster %s" % campus["cluster_ip"], lambda: self._cluster(campus["cluster_ip"]),
                                   ClusterApi(self.client()).connect_cluster,
                                   [ClusterCreationParams(ip=campus["cluster_ip"], username=campus["cluster_username"],
                                                          password=campus["cluster_password"], datacenter_id=datacenter.id)])
            else:
                made = self._write("remove cluster %s" % change["before"], lambda: None,
                                   ClusterApi(self.client()).delete_cluster,
                                   ClusterDeletionParams(where=ClusterWhereInput(id=change["id"])))
            self.follow([m.task_id for m in made if m.task_id], change["what"])

    def _organization(self):
        where = OrganizationWhereInput(name=self.o["organization"]) if self.o.get("organization") else None
        orgs = self._call("list organizations", OrganizationApi(self.client()).get_organizations, GetOrganizationsRequestBody(where=where))
        if not orgs:
            raise MgmtError("CloudTower has no organization %s to create the datacenter in" % (self.o.get("organization") or ""))
        return orgs[0]

    def _write(self, what, read_back, fn, body):
        try:
            return self._call(what, fn, body)
        except urllib3.exceptions.HTTPError as exc:
            # The answer was lost: it may have landed. Read back, never send it again.
            found = read_back()
            if found is not None:
                raise MgmtError("the answer to '%s' was lost (%s) but CloudTower now has it; its task was not followed: "
                                "check CloudTower's task list, then rerun" % (what, exc))
            raise MgmtError("the answer to '%s' was lost (%s) and CloudTower does not show it (yet); it may still land. "
                            "Check CloudTower's task list before rerunning" % (what, exc))

    def follow(self, task_ids, what):
        """Poll the tasks CloudTower returned until each ends; a failed task is an error, never data."""
        deadline = time.monotonic() + self.task_timeout
        pending = list(task_ids)
        while pending:
            tasks = self._call("read tasks", TaskApi(self.client()).get_tasks,
                               GetTasksRequestBody(where=TaskWhereInput(id_in=pending)))
            for task in tasks:
                if task.status == TaskStatus.FAILED:
                    raise MgmtError("CloudTower task %s (%s) failed: %s %s" % (task.id, what, task.error_code or "", task.error_message or ""))
                if task.status == TaskStatus.SUCCESSED:
                    pending.remove(task.id)
            if pending:
                if time.monotonic() > deadline:
                    raise MgmtError("CloudTower tasks %s (%s) still running after %ss; they may still finish: check them, then rerun"
                                    % (", ".join(pending), what, int(self.task_timeout)))
                time.sleep(self.poll)
