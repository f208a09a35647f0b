"""Lets the lab nodes reach the lab's services on the host: the BMC simulators and vcsim.

The simulators listen on the host's 127.0.0.1 only, and each lab node has its
own network namespace, so Pacemaker's fence_redfish (fencing) and a migration
sync delegated to a node (reading the datastore from vcsim) could not reach
them. This uplink opens, *inside each node's namespace*, a listener on
127.0.0.1 for every service port and forwards each connection to the same
port on the host's loopback. TLS stays end to end (only bytes are copied), so
``https://127.0.0.1:18001`` (a BMC) and ``https://127.0.0.1:18443`` (vCenter)
verify against the lab CA from inside a node exactly as from the controller.
On real campuses the nodes reach BMCs and vCenter over routed networks; this
piece only exists because the whole lab runs on one machine.

A socket stays in the namespace it was created in, so one host process serves
every node: it enters a node's namespace with setns(2), binds, and returns.
Nodes that are powered off and on come back with a new namespace; the uplink
notices (inode of the namespace changes) and re-binds. tests/lab/nodes/ctl.sh
starts it with the nodes and stops it with them:

    python -m lab.nodes.uplink --nodes-json .lab/nodes.json --ports 18001-18006,18443
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Callable

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):
        os.setns(fd, CLONE_NEWNET)
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def listen_in_netns(netns_path: str, port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port inside the namespace at netns_path."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns_path, os.O_RDONLY)
    try:
        _setns(target)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(16)
            # The node's loopback may still be down right after boot.
            return sock
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, b)
    sel.register(b, selectors.EVENT_READ, a)
    try:
        while True:
            for key, dummy in sel.select(timeout=300):
                data = key.fileobj.recv(65536)
                if not data:
                    return
                key.data.sendall(data)
    except OSError:
        return
    finally:
        sel.close()
        a.close()
        b.close()


class Relay:
    """Keeps one listener per (node, port) alive while the node's namespace exists."""

    def __init__(self, resolve: Callable[[], dict[str, str]], ports: list[int],
                 target_host: str = "127.0.0.1") -> None:
        self._resolve = resolve
        self._ports = ports
        self._target = target_host
        self._listeners: dict[tuple[str, int], tuple[int, socket.socket]] = {}
        self._stop = threading.Event()
        self.connections = 0

    def _serve(self, listener: socket.socket, port: int) -> None:
        while not self._stop.is_set():
            try:
                client, dummy = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self._target, port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self.connections += 1
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()

    def refresh(self) -> None:
        namespaces = self._resolve()
        for node, path in namespaces.items():
            try:
                inode = os.stat(path).st_ino
            except OSError:
                continue
            for port in self._ports:
                key = (node, port)
                known = self._listeners.get(key)
                if known and known[0] == inode:
                    continue
                if known:
                    known[1].close()
                try:
                    sock = listen_in_netns(path, port)
                except OSError as exc:
                    print(f"bmc_relay: {node}:{port}: {exc}", file=sys.stderr, flush=True)
                    self._listeners.pop(key, None)
                    continue
                self._listeners[key] = (inode, sock)
                threading.Thread(target=self._serve, args=(sock, port), daemon=True).start()
        for key in [k for k in self._listeners if k[0] not in namespaces]:
            self._listeners.pop(key)[1].close()

    def run(self, interval: float = 1.0) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(interval)
        for dummy, sock in self._listeners.values():
            sock.close()

    def stop(self) -> None:
        self._stop.set()


def nodes_json_resolver(path: Path) -> Callable[[], dict[str, str]]:
    """Namespaces of running lab nodes from the nodes component's description."""
    def resolve() -> dict[str, str]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        nodes = data.get("nodes", data)
        out = {}
        items = nodes.items() if isinstance(nodes, dict) else ((n.get("name"), n) for n in nodes)
        for name, node in items:
            if not isinstance(node, dict):
                continue
            netns = node.get("netns")
            pid = node.get("pid")
            if netns and os.path.exists(netns):
                out[name] = netns
            elif pid and os.path.exists(f"/proc/{pid}/ns/net"):
                out[name] = f"/proc/{pid}/ns/net"
            elif os.path.exists(f"/run/netns/reforge-{name}"):
                # tests/lab/nodes names each node's (persistent) namespace so.
                out[name] = f"/run/netns/reforge-{name}"
        return out
    return resolve


def parse_ports(spec: str) -> list[int]:
    ports: list[int] = []
    for part in spec.split(","):
        lo, dummy, hi = part.partition("-")
        ports.extend(range(int(lo), int(hi or lo) + 1))
    return ports


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes-json", type=Path, required=True)
    ap.add_argument("--ports", default="18001-18006,18443")
    ap.add_argument("--pid-file", type=Path)
    args = ap.parse_args()
    relay = Relay(nodes_json_resolver(args.nodes_json), parse_ports(args.ports))
    signal.signal(signal.SIGTERM, lambda *args: relay.stop())
    signal.signal(signal.SIGINT, lambda *args: relay.stop())
    if args.pid_file:
        args.pid_file.write_text(f"{os.getpid()}\n")
    relay.run()


if __name__ == "__main__":
    main()
