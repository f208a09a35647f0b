"""Fixtures and helpers for the Redfish integration tests: the lab simulator, its /_lab/ API and module runs.

Modules run the way Ansible runs them (a separate Python process reading its
arguments from a JSON file), so check mode, diff and no_log behave as in a play.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

# the tests import run_module from here
from lab.module_run import run_module  # noqa: F401 pylint: disable=unused-import

REPO_ROOT = Path(__file__).resolve().parents[3]
SESSION_PATH = "/SessionService/Sessions"
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


class SimBMC:
    """One simulated BMC and its lab control API."""

    def __init__(self, desc: dict, lab: dict) -> None:
        self.name = desc["name"]
        self.endpoint = desc["endpoint"]
        self.vendor = desc["vendor"]
        self.model = desc["model"]
        self.system = desc["system"]
        self.ca = lab["ca"]
        self.auth = (lab["username"], lab["password"])
        self.http = requests.Session()
        self.http.trust_env = False   # REQUESTS_CA_BUNDLE would override the lab CA
        self.http.verify = self.ca

    def lab(self, method: str, path: str, body=None) -> dict:
        resp = self.http.request(method, self.endpoint + "/_lab/" + path, json=body, timeout=30)
        resp.raise_for_status()
        return resp.json() if resp.content else {}

    def reset(self, **config) -> None:
        self.lab("POST", "reset", {"clear_log": True})
        if config:
            self.lab("POST", "config", config)

    def cursor(self) -> int:
        return self.lab("GET", "log?since=0")["cursor"]

    def requests_since(self, cursor: int) -> list[dict]:
        return self.lab("GET", f"log?since={cursor}")["entries"]

    def writes_since(self, cursor: int) -> list[tuple[str, str]]:
        """State-changing requests (session login/logout is bookkeeping, not a change)."""
        return [(e["method"], e["path"]) for e in self.requests_since(cursor)
                if e["method"] in WRITE_METHODS and SESSION_PATH not in e["path"]]

    def fault(self, **fault) -> None:
        self.lab("POST", "faults", fault)

    def state(self) -> dict:
        return self.lab("GET", "state")

    def get(self, path: str) -> dict:
        resp = self.http.get(self.endpoint + path, auth=self.auth, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def conn(self, **extra) -> dict:
        args = dict(endpoint=self.endpoint, username=self.auth[0], password=self.auth[1], ca_path=self.ca)
        args.update(extra)
        return args


class Fleet:
    def __init__(self, lab: dict) -> None:
        self.info = lab
        self.bmcs = [SimBMC(d, lab) for d in lab["bmcs"]]

    def __getitem__(self, name: str) -> SimBMC:
        return next(b for b in self.bmcs if b.name == name)


@pytest.fixture(scope="session")
def fleet(lab) -> Fleet:
    return Fleet(lab.get("redfish"))


@pytest.fixture
def module():
    return run_module


FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"


@pytest.fixture(scope="session")
def image_server(lab):
    """A loopback HTTPS server with the lab firmware images (what a campus repo server is)."""
    import functools
    import http.server
    import ssl
    import threading

    pki = Path(lab.get("pki")["ca"]).parent
    handler = functools.partial(_QuietHandler, directory=str(FIRMWARE_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "https://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


class _QuietHandler(__import__("http.server").server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


FAST = dict(power_delay=0.2, task_polls=2)


def lifecycle(bmc, name: str, args: dict) -> tuple[dict, dict, dict]:
    cursor = bmc.cursor()
    checked = run_module(name, args, check=True)
    assert checked.get("changed") is True and not checked.get("failed"), checked
    assert bmc.writes_since(cursor) == [], "check mode must not write"
    applied = run_module(name, args)
    assert applied.get("changed") is True and not applied.get("failed"), applied
    again = run_module(name, args)
    assert again.get("changed") is False and not again.get("failed"), again
    return checked, applied, again


@pytest.fixture
def bmc(fleet, request):
    sim = fleet[request.param]
    sim.reset(**FAST)
    yield sim
    sim.reset()


def wait_power(bmc, wanted: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while bmc.state()["power_state"] != wanted:
        assert time.monotonic() < deadline, f"{bmc.name} never reached {wanted}"
        time.sleep(0.1)


def reboot(bmc) -> None:
    boots = bmc.state()["boot_count"]
    result = run_module("bmc_power", bmc.conn(state="restart"))
    assert result["changed"] and result["power_state"] == "On", result
    deadline = time.monotonic() + 10
    while bmc.state()["boot_count"] == boots:
        assert time.monotonic() < deadline
        time.sleep(0.1)
