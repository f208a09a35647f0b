"""HTTPS front-end: one listening socket per BMC, one accept loop for all of them,
a thread per connection; request dispatch, the /_lab/ control API and fault injection."""
from __future__ import annotations

import copy
import json
import re
import selectors
import socket
import socketserver
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from . import vendor_ops
from .bmc import BMC, UNAUTHENTICATED, Response
from .errors import RedfishError, fail
from .tree import norm

FAULT_KINDS = {"status", "delay", "drop", "expire_sessions", "task_fail", "task_polls", "precondition", "silence"}


# Faults on the answer (issue 12): the request is served, then its answer is lost or altered.
ANSWER_FAULTS = {"lose_answer", "session_no_location", "extended_error"}
FAULT_KINDS = FAULT_KINDS | ANSWER_FAULTS


class _Drop(Exception):
    """Close the connection without an answer (fault 'drop')."""


def dispatch(bmc: BMC, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> Response:
    path = bmc.profile.dealias(raw_path.split("?", 1)[0])
    key = norm(path)
    bmc.advance()
    if key == "/redfish":
        return Response(200, {"v1": "/redfish/v1/"})
    body: Any = None
    ctype = headers.get("content-type", "")
    if raw and method in ("POST", "PATCH", "PUT") and "multipart" not in ctype:
        try:
            body = json.loads(raw.decode())
        except (ValueError, UnicodeDecodeError):
            raise fail(400, "MalformedJSON")
    sessions_keys = {norm(bmc.sessions_collection()), "/redfish/v1/sessions"}
    if method == "POST" and key in sessions_keys:
        return bmc.create_session(body or {})
    if key not in UNAUTHENTICATED:
        bmc.authenticate(headers)
    if method in ("GET", "HEAD"):
        return _get(bmc, key, headers)
    if method == "POST":
        if "/actions/" in key:
            owner = re.split(r"/actions/", path.rstrip("/"), maxsplit=1, flags=re.I)[0]
            return vendor_ops.action(bmc, owner, key, body or {})
        return vendor_ops.post_collection(bmc, key, body, ctype, raw)
    if method == "DELETE":
        task = _task_at(bmc, key)
        if task is not None:
            return vendor_ops.delete_task(bmc, key, task)
    resource = bmc.get(key)
    if resource is None:
        raise fail(404, "ResourceNotFound", "Resource", path)
    if method in ("PATCH", "PUT"):
        _precondition(bmc, resource, headers)
        if not isinstance(body, dict):
            raise fail(400, "MalformedJSON")
        handled = (vendor_ops.put(bmc, key, resource, body) if method == "PUT"
                   else vendor_ops.patch(bmc, key, resource, body))
        if handled is not None:
            return handled
        return _resource_response(bmc, key, 200)
    if method == "DELETE":
        return vendor_ops.delete(bmc, key, resource)
    raise fail(405, "OperationNotAllowed", headers={"Allow": "GET, HEAD, POST, PATCH, PUT, DELETE"})


def _precondition(bmc: BMC, resource: dict, headers: dict[str, str]) -> None:
    match = headers.get("if-match")
    if match is None:
        if bmc.profile.require_if_match:
            raise fail(428, "PreconditionRequired")
        return
    current = bmc.etag(resource)
    tags = [t.strip() for t in match.split(",")]
    # Weak comparison (RFC 9110 §13.1.1 is strong, but BMCs hand out weak tags and accept them back).
    if "*" not in tags and current not in tags and current.removeprefix("W/") not in tags:
        raise fail(412, "PreconditionFailed")


def _task_prefixes(bmc: BMC) -> tuple[str, str, str]:
    return ("/redfish/v1/taskservice/tasks/", "/redfish/v1/taskservice/taskmonitors/",
            norm(bmc.profile.manager) + "/jobs/")


def _task_at(bmc: BMC, key: str) -> tuple[str, Any] | None:
    """(prefix, task) when `key` is a task, task monitor or Dell job URI of a live task."""
    for prefix in _task_prefixes(bmc):
        if key.startswith(prefix):
            tid = key[len(prefix):]
            task = next((t for t in bmc.tasks.values() if t.id.lower() == tid), None)
            # a task the service never linked (iLO 5 < 2.30 SimpleUpdate) has no URI either
            if task is not None and not (task.hidden and prefix != _task_prefixes(bmc)[2]):
                return prefix, task
    return None


def _get(bmc: BMC, key: str, headers: dict[str, str]) -> Response:
    found = _task_at(bmc, key)
    if found is not None:
        prefix, task = found
        _tasks, monitor_prefix, jobs_prefix = _task_prefixes(bmc)
        bmc.poll_task(task)
        if prefix == jobs_prefix:
            return Response(200, bmc.render_job(task))
        body = bmc.render_task(task)
        running = task.state in ("Running", "Scheduled")
        status = 202 if prefix == monitor_prefix and running else 200
        return Response(status, body, {"Location": bmc.monitor_path(task)} if status == 202 else {})
    if key == "/redfish/v1/updateservice":
        vendor_ops.update_service_state(bmc)
    if key == "/redfish/v1/$metadata":
        return _metadata(bmc)
    resp = _resource_response(bmc, key, 200)
    if headers.get("if-none-match") and headers["if-none-match"] == resp.headers.get("ETag"):
        return Response(304, None, {"ETag": resp.headers["ETag"]})
    return resp


def _metadata(bmc: BMC) -> Response:
    xml = bmc.tree.metadata()
    if xml is None:
        raise fail(404, "ResourceNotFound", "Metadata", "$metadata")
    return Response(200, xml, {"Content-Type": "application/xml"})


def _resource_response(bmc: BMC, key: str, status: int) -> Response:
    resource = bmc.get(key)
    if resource is None:
        raise fail(404, "ResourceNotFound", "Resource", key)
    body = copy.deepcopy(resource)
    tag = bmc.etag(resource)
    body["@odata.etag"] = tag
    return Response(status, body, {"ETag": tag})


# --------------------------------------------------------------- lab API
def lab_api(bmc: BMC, method: str, raw_path: str, raw: bytes) -> Response:
    path, _sep, query = raw_path.partition("?")
    params = dict(p.partition("=")[::2] for p in query.split("&") if p)
    body = json.loads(raw.decode() or "{}") if raw else {}
    if path == "/_lab/log" and method == "GET":
        since = int(params.get("since", 0))
        entries = [e for e in bmc.log if e["seq"] > since]
        cursor = bmc.log[-1]["seq"] if bmc.log else 0
        return Response(200, {"cursor": cursor, "entries": entries})
    if path == "/_lab/log" and method == "DELETE":
        bmc.log.clear()
        return Response(204)
    if path == "/_lab/reset" and method == "POST":
        bmc.reset_state()
        bmc.faults.clear()
        if body.get("clear_log"):
            bmc.log.clear()
        return Response(200, bmc.lab_state())
    if path == "/_lab/state" and method == "GET":
        return Response(200, bmc.lab_state())
    if path == "/_lab/faults":
        if method == "GET":
            return Response(200, {"faults": bmc.faults})
        if method == "DELETE":
            bmc.faults.clear()
            return Response(204)
        if method == "POST":
            faults = body if isinstance(body, list) else [body]
            for f in faults:
                if f.get("kind") not in FAULT_KINDS:
                    return Response(400, {"error": f"kind must be one of {sorted(FAULT_KINDS)}"})
                f.setdefault("method", ".*")
                f.setdefault("path", ".*")
                f.setdefault("count", 1)
                bmc.faults.append(f)
            return Response(200, {"faults": bmc.faults})
    if path == "/_lab/config" and method == "POST":
        for k, v in body.items():
            if not hasattr(bmc.config, k):
                return Response(400, {"error": f"unknown config {k}"})
            setattr(bmc.config, k, type(getattr(bmc.config, k))(v))
        return Response(200, vars(bmc.config))
    if path == "/_lab/clock" and method == "POST":
        # Time passes on the BMC: running tasks move on by this many seconds at once, so a test
        # decides when a long update ends instead of racing the machine's load.
        seconds = float(body.get("advance", 0))
        for task in bmc.tasks.values():
            task.t0 -= seconds
        bmc.advance()
        return Response(200, bmc.lab_state())
    if path == "/_lab/power" and method == "POST":
        # Lets the nodes component (or a test) tell the BMC the host changed state by itself.
        bmc.system()["PowerState"] = body["state"]
        return Response(200, bmc.lab_state())
    return Response(404, {"error": "unknown lab API"})


def _take_fault(bmc: BMC, method: str, path: str) -> dict | None:
    for f in bmc.faults:
        if f["count"] != 0 and re.fullmatch(f["method"], method) and re.search(f["path"], path):
            if f["count"] > 0:
                f["count"] -= 1
            return f
    return None


def _answer_fault(serve, fault: dict) -> Response:
    """Serve the request (`serve()`), then lose or alter its answer.

    lose_answer: the write is applied, then the connection closes without an answer (after `seconds`,
    to stall past the client's timeout), or a gateway answers `status` (502/504) instead of the BMC.
    session_no_location: a session answer without `Location` (`body_id: false` drops `@odata.id` too).
    extended_error: answer `status` with an iLO-style body: a generic `error.message`, the real text
    (`message`, optional) and `message_id` only in `@Message.ExtendedInfo`; nothing is applied."""
    kind = fault["kind"]
    if kind == "extended_error":
        info = {"MessageId": fault.get("message_id", "Base.1.4.PropertyValueNotInList"),
                "MessageArgs": fault.get("args", [])}
        if fault.get("message"):
            info["Message"] = fault["message"]
        return Response(int(fault.get("status", 400)), {"error": {
            "code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo for more information.",
            "@Message.ExtendedInfo": [info]}})
    resp = serve()
    if kind == "session_no_location":
        resp.headers.pop("Location", None)
        if fault.get("body_id") is False and isinstance(resp.body, dict):
            resp.body = {k: v for k, v in resp.body.items() if k != "@odata.id"}
        return resp
    if fault.get("status"):
        return Response(int(fault["status"]), f"<html><body>{fault['status']} Gateway error</body></html>".encode(),
                        {"Content-Type": "text/html"})
    time.sleep(float(fault.get("seconds", 0)))
    raise _Drop()


# ------------------------------------------------------------ HTTP layer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "reforge-lab-bmc/1.0"
    # Headers and body leave in two writes: with Nagle on, each answer waited for the client's delayed
    # ACK (~40 ms a request, more than the whole work of serving it).
    disable_nagle_algorithm = True
    server: "BMCServer"

    def setup(self) -> None:
        self.request.settimeout(30)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            raise
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, socket.timeout):
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, resp: Response) -> None:
        payload = resp.body
        ctype = resp.headers.pop("Content-Type", "application/json; charset=utf-8")
        if payload is None:
            data = b""
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload, indent=1).encode()
        self.send_response(resp.status)
        if data or resp.status not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("OData-Version", "4.0")
        self.send_header("Cache-Control", "no-cache")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _serve(self) -> None:
        bmc = self.server.bmc
        raw = self._body()
        method, path = self.command, self.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        start = time.monotonic()
        if path.startswith("/_lab/"):
            with bmc.lock:
                self._send(lab_api(bmc, method, path, raw))
            return
        if bmc.config.latency > 0:
            # A real BMC's answer time (0.2-2 s a request): slept outside the lock, in this connection's own
            # thread, so requests to many BMCs (or several to one) wait side by side, not in a queue.
            time.sleep(bmc.config.latency)
        with bmc.lock:
            bmc.advance()       # work finished meanwhile (an update that restarts the BMC) shows first
            down = bmc.is_down()
            fault = None if down else _take_fault(bmc, method, path)
        if down:
            # Restarting (or silent): the connection closes with no answer at all.
            self.close_connection = True
            self._log(bmc, method, path, 0, start, headers, "down")
            return
        try:
            resp = self._faulted(bmc, fault, method, path, headers, raw)
        except _Drop:
            self.close_connection = True
            self._log(bmc, method, path, 0, start, headers, "drop")
            return
        self._log(bmc, method, path, resp.status, start, headers, fault["kind"] if fault else None)
        self._send(resp)
        if fault and fault["kind"] == "silence":
            # The write landed and was answered; then the BMC stops answering (hung, cabled off).
            with bmc.lock:
                bmc.down_until = max(bmc.down_until, time.monotonic() + float(fault.get("seconds", 600)))
            self.close_connection = True

    def _faulted(self, bmc: BMC, fault: dict | None, method: str, path: str,
                 headers: dict[str, str], raw: bytes) -> Response:
        kind = fault["kind"] if fault else None
        if kind in ANSWER_FAULTS:
            return _answer_fault(lambda: self._faulted(bmc, None, method, path, headers, raw), fault)
        if kind == "drop":
            raise _Drop()
        if kind == "delay":
            time.sleep(float(fault.get("seconds", 30)))   # outside the lock: other requests go on
        with bmc.lock:
            if kind == "status":
                code = int(fault.get("status", 503))
                err = fail(code, "ServiceTemporarilyUnavailable" if code == 503 else "InternalError",
                           *([fault.get("retry_after", 1)] if code == 503 else []))
                hdrs = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
                return Response(code, err.body(), hdrs)
            if kind == "precondition":
                return Response(412, fail(412, "PreconditionFailed").body())
            if kind == "expire_sessions":
                bmc.expire_sessions()
            if kind == "task_fail":
                bmc.next_task["fail"] = fault.get("message", "Injected failure: the operation failed on the device.")
            if kind == "task_polls":
                bmc.next_task["polls"] = int(fault.get("polls", 10))
            try:
                return dispatch(bmc, method, path, headers, raw)
            except RedfishError as exc:
                return Response(exc.status, exc.body(), dict(exc.headers))
            except Exception as exc:   # a simulator bug must show as 500, not kill the connection
                err = fail(500, "InternalError")
                err.messages[0]["Message"] += f" ({type(exc).__name__}: {exc})"
                return Response(500, err.body())

    def _log(self, bmc: BMC, method: str, path: str, status: int, start: float,
             headers: dict[str, str], fault: str | None) -> None:
        auth = "session" if "x-auth-token" in headers else ("basic" if "authorization" in headers else "none")
        entry = {"method": method, "path": path, "status": status, "time": time.time(),
                 "ms": round((time.monotonic() - start) * 1000, 1), "auth": auth}
        if fault:
            entry["fault"] = fault
        with bmc.lock:
            entry["seq"] = next(bmc.log_seq)
            bmc.log.append(entry)
            if len(bmc.log) > 20000:
                del bmc.log[:5000]

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


class BMCServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-handshake (port probes, curl -k checks) are routine, not tracebacks.
        import sys
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)

    def __init__(self, bmc: BMC, ctx: ssl.SSLContext) -> None:
        self.bmc = bmc
        super().__init__(("127.0.0.1", bmc.port), Handler)
        # Handshake in the connection thread, not in the shared accept loop.
        self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)


class Fleet:
    """All BMC servers of the process, served by one selector loop."""

    def __init__(self, bmcs: list[BMC], cert: str, key: str) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        self.bmcs = bmcs
        self.servers = [BMCServer(b, ctx) for b in bmcs]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        sel = selectors.DefaultSelector()
        for srv in self.servers:
            sel.register(srv.socket, selectors.EVENT_READ, srv)
        while not self._stop.is_set():
            for sk, _events in sel.select(timeout=0.5):
                sk.data._handle_request_noblock()
        sel.close()

    def start(self) -> "Fleet":
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        for srv in self.servers:
            srv.server_close()
