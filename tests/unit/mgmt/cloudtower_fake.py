"""A contract fake of SmartX CloudTower for the calls the cloudtower adapter makes.

Every request body is parsed with the SDK's own models (client-side validation on, so a missing
required field or a wrong type fails the call with 400, as the request would be wrong for the real
service too), and every response is built from the SDK's models and serialized by the SDK. It is a
stand-in for the contract, not for the service: the real CloudTower was not run.
Tasks advance one state per ``/get-tasks`` read (PENDING -> EXECUTING -> SUCCESSED), so tests wait
on events, not on time."""
from __future__ import annotations

import http.server
import json
import threading
import uuid

from cloudtower import ApiClient, models as m

# path -> the SDK type of the request body
REQUESTS = {
    "/v2/api/login": "LoginInput",
    "/v2/api/get-organizations": "GetOrganizationsRequestBody",
    "/v2/api/get-datacenters": "GetDatacentersRequestBody",
    "/v2/api/create-datacenter": "list[DatacenterCreationParams]",
    "/v2/api/get-clusters": "GetClustersRequestBody",
    "/v2/api/connect-cluster": "list[ClusterCreationParams]",
    "/v2/api/delete-cluster": "ClusterDeletionParams",
    "/v2/api/get-tasks": "GetTasksRequestBody",
}
# path -> the SDK type the SDK expects back (from its response_types_map)
RESPONSES = {
    "/v2/api/login": "WithTaskLoginResponse",
    "/v2/api/get-organizations": "list[Organization]",
    "/v2/api/get-datacenters": "list[Datacenter]",
    "/v2/api/create-datacenter": "list[WithTaskDatacenter]",
    "/v2/api/get-clusters": "list[Cluster]",
    "/v2/api/connect-cluster": "list[WithTaskCluster]",
    "/v2/api/delete-cluster": "list[WithTaskDeleteCluster]",
    "/v2/api/get-tasks": "list[Task]",
}
TOKEN = "fake-token-" + uuid.uuid4().hex


class FakeCloudTower:
    def __init__(self, username: str = "admin", password: str = "secret") -> None:
        self.sdk = ApiClient()
        self.credentials = (username, password)
        self.calls: list[tuple[str, object]] = []       # (path, request parsed with the SDK's model)
        self.responses: list[tuple[str, object]] = []   # (path, the SDK-serialized answer)
        self.org = m.Organization(id="org-1", name="campus-org", datacenters=[])
        self.datacenters: dict[str, dict] = {}          # id -> {"name", "clusters": [cluster ids]}
        self.clusters: dict[str, dict] = {}             # id -> {"name", "ip", "dc"}
        self.tasks: dict[str, dict] = {}                # id -> {"status", "then", "fail"}
        self.fail_next_task: str | None = None
        self.drop_answer_to: str | None = None          # path whose answer is lost once (the write lands)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                fake._handle(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---------------------------------------------------------------- helpers
    def parse(self, path: str, body: bytes):
        return self.sdk._ApiClient__deserialize(json.loads(body or b"null"), REQUESTS[path])  # pylint: disable=protected-access

    def _task(self, then=None) -> str:
        tid = "task-" + uuid.uuid4().hex[:8]
        self.tasks[tid] = {"status": m.TaskStatus.PENDING, "then": then, "fail": self.fail_next_task}
        self.fail_next_task = None
        return tid

    def _cluster_model(self, cid: str) -> m.Cluster:
        c = self.clusters[cid]
        dc = self.datacenters.get(c["dc"])
        return m.Cluster(id=cid, name=c["name"], ip=c["ip"], architecture=m.Architecture.X86_64,
                         connect_state=m.ConnectState.CONNECTED, dns=[], ntp_servers=[], recommended_cpu_models=[],
                         total_cpu_models=[], type=m.ClusterType.SMTX_OS, version="6.1.0",
                         datacenters=[m.NestedDatacenter(id=c["dc"], name=dc["name"])] if dc else [])

    def _dc_model(self, did: str) -> m.Datacenter:
        d = self.datacenters[did]
        return m.Datacenter(id=did, name=d["name"], organization=m.NestedOrganization(id=self.org.id, name=self.org.name),
                            clusters=[m.NestedCluster(id=c, name=self.clusters[c]["name"]) for c in d["clusters"] if c in self.clusters])

    # ---------------------------------------------------------------- routes
    def _answer(self, path: str, req):  # noqa: C901 - one branch per call
        if path == "/v2/api/login":
            if (req.username, req.password) != self.credentials:
                return 400, {"message": "bad credentials"}
            return 200, m.WithTaskLoginResponse(task_id=None, data=m.LoginResponse(token=TOKEN))
        if path == "/v2/api/get-organizations":
            return 200, [self.org]
        if path == "/v2/api/get-datacenters":
            name = req.where.name if req.where else None
            return 200, [self._dc_model(d) for d, v in self.datacenters.items() if name in (None, v["name"])]
        if path == "/v2/api/create-datacenter":
            out = []
            for params in req:
                assert params.organization_id == self.org.id, params
                did = "dc-" + uuid.uuid4().hex[:6]
                self.datacenters[did] = {"name": params.name, "clusters": []}
                out.append(m.WithTaskDatacenter(task_id=self._task(), data=self._dc_model(did)))
            return 200, out
        if path == "/v2/api/get-clusters":
            ip = req.where.ip if req.where else None
            return 200, [self._cluster_model(c) for c, v in self.clusters.items() if ip in (None, v["ip"])]
        if path == "/v2/api/connect-cluster":
            out = []
            for params in req:
                if params.datacenter_id not in self.datacenters:
                    return 404, {"message": "datacenter not found"}
                cid = "cl-" + uuid.uuid4().hex[:6]
                self.clusters[cid] = {"name": "smtx-" + params.ip.replace(".", "-"), "ip": params.ip, "dc": params.datacenter_id}
                self.datacenters[params.datacenter_id]["clusters"].append(cid)
                out.append(m.WithTaskCluster(task_id=self._task(), data=self._cluster_model(cid)))
            return 200, out
        if path == "/v2/api/delete-cluster":
            cid = req.where.id
            if cid not in self.clusters:
                return 200, []
            tid = self._task(then=lambda: self.clusters.pop(cid, None))
            return 200, [m.WithTaskDeleteCluster(task_id=tid, data=m.DeleteCluster(id=cid))]
        if path == "/v2/api/get-tasks":
            out = []
            for tid in req.where.id_in:
                t = self.tasks[tid]
                if t["status"] == m.TaskStatus.PENDING:
                    t["status"] = m.TaskStatus.EXECUTING
                elif t["status"] == m.TaskStatus.EXECUTING:
                    t["status"] = m.TaskStatus.FAILED if t["fail"] else m.TaskStatus.SUCCESSED
                    if t["then"] and not t["fail"]:
                        t["then"]()
                out.append(m.Task(id=tid, args={}, description="fake task", internal=False, local_created_at="2026-12-03T00:00:00Z",
                                  progress=1.0 if t["status"] == m.TaskStatus.SUCCESSED else 0.5, snapshot="{}",
                                  status=t["status"], steps=[], error_code="E_FAKE" if t["status"] == m.TaskStatus.FAILED else None,
                                  error_message=t["fail"] if t["status"] == m.TaskStatus.FAILED else None))
            return 200, out
        return 404, {"message": "not served by the fake: " + path}

    def _handle(self, handler) -> None:
        path = handler.path
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if path != "/v2/api/login" and handler.headers.get("Authorization") != TOKEN:
            status, answer = 401, {"message": "no token"}
        elif path not in REQUESTS:
            status, answer = 404, {"message": "unknown path " + path}
        else:
            try:
                req = self.parse(path, body)
            except (ValueError, TypeError) as exc:
                status, answer = 400, {"message": "request does not fit the SDK model %s: %s" % (REQUESTS[path], exc)}
            else:
                self.calls.append((path, req))
                status, answer = self._answer(path, req)
        payload = self.sdk.sanitize_for_serialization(answer)
        self.responses.append((path, payload))
        if self.drop_answer_to == path:
            self.drop_answer_to = None
            handler.close_connection = True
            handler.connection.shutdown(2)  # the write landed; its answer is lost
            return
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
