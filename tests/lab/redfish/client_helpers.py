"""Helpers tests use against a simulated BMC: a verified HTTPS client, the /_lab/ API,
and write counting (check mode must leave the count at zero)."""
from __future__ import annotations

import re
from typing import Any

import requests

SESSION_PATH = re.compile(r"^/redfish/v1/(SessionService/)?Sessions(/[^/?]+)?/?(\?.*)?$", re.I)
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


def is_write(entry: dict) -> bool:
    """A state-changing request (iLO's HttpPushUri lives outside /redfish); logging in and out does not count."""
    if entry["method"] not in WRITE_METHODS or entry["path"].startswith("/_lab/"):
        return False
    m = SESSION_PATH.match(entry["path"])
    if m and ((entry["method"] == "POST" and not m.group(2)) or (entry["method"] == "DELETE" and m.group(2))):
        return False
    return True


class LabBMC:
    """One simulated BMC (an entry of .lab/redfish.json, or a fleet member in-process)."""

    def __init__(self, endpoint: str, ca: str, username: str = "root", password: str = "calvin") -> None:
        self.endpoint = endpoint.rstrip("/")
        self.http = requests.Session()
        # REQUESTS_CA_BUNDLE in the environment would silently replace Session.verify.
        self.http.trust_env = False
        self.http.verify = ca
        self.auth = (username, password)

    # -- Redfish, basic auth ---------------------------------------------
    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("auth", self.auth)
        kw.setdefault("timeout", 30)
        return self.http.request(method, self.endpoint + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def json(self, path: str) -> dict:
        r = self.get(path)
        r.raise_for_status()
        return r.json()

    def patch(self, path: str, body: dict, etag: bool = True, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if etag and "If-Match" not in headers:
            headers["If-Match"] = self.get(path).headers["ETag"]
        return self.request("PATCH", path, json=body, headers=headers, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kw)

    def wait_task(self, location: str, max_polls: int = 50) -> dict:
        for _poll in range(max_polls):
            r = self.get(location)
            body = r.json()
            state = body.get("TaskState") or body.get("JobState")
            if state not in ("Running", "New", "Starting", "Pending", "Scheduled", "Scheduling"):
                return body
        raise AssertionError(f"task {location} still {state} after {max_polls} polls")

    # -- lab control -------------------------------------------------------
    def lab(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, f"{self.endpoint}/_lab/{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json() if r.content else None

    def state(self) -> dict:
        return self.lab("GET", "state")

    def reset(self) -> dict:
        return self.lab("POST", "reset")

    def config(self, **values: Any) -> dict:
        return self.lab("POST", "config", values)

    def fault(self, kind: str, **spec: Any) -> dict:
        return self.lab("POST", "faults", {"kind": kind, **spec})

    def cursor(self) -> int:
        return self.lab("GET", "log?since=999999999")["cursor"]

    def log_since(self, cursor: int) -> list[dict]:
        return self.lab("GET", f"log?since={cursor}")["entries"]

    def writes_since(self, cursor: int) -> list[dict]:
        return [e for e in self.log_since(cursor) if is_write(e)]


def count_writes(endpoint: str, ca: str, cursor: int) -> int:
    return len(LabBMC(endpoint, ca).writes_since(cursor))
