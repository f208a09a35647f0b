"""A stand-in for RedfishClient that serves recorded resource trees.

Adapters only call get/try_get/members/patch/post/put/delete and read root,
system_uri, manager_uri and endpoint; this class answers those from recorded
JSON so vendor parsing can be tested on the payloads real BMCs publish.
Writes are recorded, not applied.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ansible_collections.reforge.hci.plugins.module_utils.redfish.client import Response
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishNotFound


@lru_cache(maxsize=None)
def _load_mockup(folder: Path) -> dict[str, dict]:
    resources = {}
    for index in folder.rglob("index.json"):
        rel = index.parent.relative_to(folder).as_posix()
        resources["/redfish/v1" + ("" if rel == "." else "/" + rel)] = json.loads(index.read_text())
    return resources


def _key(uri: str) -> str:
    return uri.split("?", 1)[0].rstrip("/").lower() or "/"


class FixtureClient:
    endpoint = "https://recorded.invalid"

    def __init__(self, resources: dict[str, dict]):
        self.resources = {_key(k): v for k, v in resources.items()}
        self.writes: list[tuple[str, str, object]] = []

    @classmethod
    def from_mockup(cls, folder: Path) -> "FixtureClient":
        # Writes are recorded, never applied, so tests can share the parsed tree.
        return cls(_load_mockup(folder))

    def get(self, uri: str, cached: bool = False) -> dict:
        body = self.resources.get(_key(uri))
        if body is None:
            raise RedfishNotFound("recorded tree has no %s" % uri, status=404, uri=uri, method="GET")
        return body

    def try_get(self, uri):
        return self.resources.get(_key(uri))

    def members(self, uri, optional=False):
        coll = self.try_get(uri) if optional else self.get(uri)
        return [self.get(m["@odata.id"]) for m in (coll or {}).get("Members", [])]

    def _write(self, method, uri, body=None, **_kw):
        self.writes.append((method, uri, body))
        return Response(204, {}, {}, uri, method)

    def patch(self, uri, body, etag=None):
        return self._write("PATCH", uri, body)

    def post(self, uri, body=None, headers=None):
        return self._write("POST", uri, body)

    def put(self, uri, body, headers=None):
        return self._write("PUT", uri, body)

    def delete(self, uri):
        return self._write("DELETE", uri)

    def request(self, method, uri, body=None, headers=None, allow_status=()):
        return self._write(method, uri, body)

    @property
    def root(self):
        return self.get("/redfish/v1")

    def _first(self, key):
        return self.get(self.root[key]["@odata.id"])["Members"][0]["@odata.id"]

    @property
    def system_uri(self):
        return self._first("Systems")

    @property
    def manager_uri(self):
        return self._first("Managers")
