"""A real campus plane for the registration tests: Debian's Prometheus and Alertmanager on
127.0.0.1, on free ports, in a temp dir (not system services), plus stand-in exporters.

Helpers live here, not in conftest.py: a test importing ``conftest`` gets whichever conftest
module pytest loaded first when several test directories run in one session."""
from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

# the tests import run_module from here
from lab.module_run import run_module  # noqa: F401 pylint: disable=unused-import

REPO_ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def wait_for(what: str, probe, timeout: float = 60.0, step: float = 0.25):
    """Poll ``probe`` until it returns something true; fail with ``what`` after ``timeout`` (a guard, not a threshold)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}; last answer: {last!r}")


class StandInExporter:
    """A tiny metrics page on 127.0.0.1, like a textfile collector's output; the test edits ``metrics``."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        self.node: "StandInExporter | None" = None   # a campus's node exporter, when this one is its Ceph mgr
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = "".join(f"{k} {v}\n" for k, v in sorted(outer.metrics.items())).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Plane:
    def __init__(self, root: Path, interval: str = "1s", timeout: str = "1s") -> None:
        self.root = root
        self.prom_port, self.am_port = free_port(), free_port()
        self.prometheus_url = f"http://127.0.0.1:{self.prom_port}"
        self.alertmanager_url = f"http://127.0.0.1:{self.am_port}"
        self.sd_dir, self.rules_dir, self.routes_dir = root / "targets", root / "rules", root / "routes"
        for d in (self.sd_dir, self.rules_dir, self.routes_dir, root / "tsdb", root / "am-data"):
            d.mkdir(parents=True)
        self.am_config = root / "alertmanager.yml"
        # What roles/mgmt_register puts on a management host: a base Alertmanager config, and a
        # Prometheus config that globs the per-campus files (1 s intervals for these tests; the
        # cluster lane's real exporters take longer).
        self.am_config.write_text("route:\n  receiver: reforge-default\nreceivers:\n  - name: reforge-default\n")
        (root / "prometheus.yml").write_text(f"""
global: {{scrape_interval: {interval}, evaluation_interval: {interval}, scrape_timeout: {timeout}}}
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{self.am_port}"]}}]}}]
rule_files: ["{self.rules_dir}/*.rules.yml"]
scrape_configs:
  - job_name: reforge
    file_sd_configs: [{{files: ["{self.sd_dir}/*.yml"], refresh_interval: 1s}}]
""")
        self.logs = [open(root / "prometheus.log", "w"), open(root / "alertmanager.log", "w")]
        self.procs = [
            subprocess.Popen(["prometheus", f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'tsdb'}",
                              f"--web.listen-address=127.0.0.1:{self.prom_port}", "--web.enable-lifecycle"],
                             stdout=self.logs[0], stderr=subprocess.STDOUT),
            subprocess.Popen(["prometheus-alertmanager", f"--config.file={self.am_config}", f"--storage.path={root / 'am-data'}",
                              f"--web.listen-address=127.0.0.1:{self.am_port}", "--cluster.listen-address="],
                             stdout=self.logs[1], stderr=subprocess.STDOUT)]
        wait_for("prometheus ready", lambda: self._ready(self.prometheus_url))
        wait_for("alertmanager ready", lambda: self._ready(self.alertmanager_url))

    @staticmethod
    def _ready(url: str) -> bool:
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def options(self, **extra) -> dict:
        return dict(sd_dir=str(self.sd_dir), rules_dir=str(self.rules_dir), routes_dir=str(self.routes_dir),
                    alertmanager_config=str(self.am_config), prometheus_url=self.prometheus_url,
                    alertmanager_url=self.alertmanager_url, **extra)

    def snapshot(self) -> dict:
        """Every config file the plane has, path -> bytes (to prove zero writes and exact removals)."""
        return {str(p.relative_to(self.root)): p.read_bytes() for d in (self.sd_dir, self.rules_dir, self.routes_dir)
                for p in sorted(d.iterdir())} | {"alertmanager.yml": self.am_config.read_bytes()}

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for fh in self.logs:
            fh.close()
