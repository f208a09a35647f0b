"""The relay really carries bytes from inside a private network namespace to the host's loopback."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from lab.nodes.uplink import Relay, parse_ports

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, dummy = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"host:" + conn.recv(100))
    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_relay_reaches_host_loopback_from_a_namespace_and_rebinds_after_restart():
    srv, port = _echo_server()
    script = "ip link set lo up; exec sleep 60"
    nodes = {}

    def start_node() -> subprocess.Popen:
        proc = subprocess.Popen(["unshare", "--net", "sh", "-c", script])  # pylint: disable=consider-using-with
        time.sleep(0.3)
        nodes["n1"] = f"/proc/{proc.pid}/ns/net"
        return proc

    def ask_from_node(proc: subprocess.Popen) -> str:
        code = (f"import socket;s=socket.create_connection(('127.0.0.1',{port}),timeout=5);"
                "s.sendall(b'ping');print(s.recv(100).decode())")
        out = subprocess.run(["nsenter", f"--net=/proc/{proc.pid}/ns/net", "python3", "-c", code],
                             capture_output=True, text=True, timeout=20, check=False)
        return out.stdout.strip() + out.stderr.strip()

    relay = Relay(lambda: dict(nodes), [port])
    proc = start_node()
    try:
        relay.refresh()
        assert ask_from_node(proc) == "host:ping"
        # Power cycle: a new namespace must get a new listener.
        proc.kill()
        proc.wait()
        proc = start_node()
        relay.refresh()
        assert ask_from_node(proc) == "host:ping"
        assert relay.connections == 2
    finally:
        relay.stop()
        proc.kill()
        proc.wait()
        srv.close()


def test_parse_ports():
    assert parse_ports("18001-18003,18010") == [18001, 18002, 18003, 18010]
