"""reforge.hci.network_cabling against real lldpd daemons over real kernel links: two "switches" (network namespaces,
each an lldpd named rm-swa / rm-swb that sends its port as the local id swp10, as the metal lab's switches do) and a
"node" namespace whose two veth ends are a bond's members, with lldpd receiving. The module runs in the node's
namespace as Ansible runs it. This proves the check end to end on LLDP frames - not bonds, VLANs or networkd
(tests/integration/network/test_host_network.py). Needs root, ip netns and lldpd (skips without them); leaves
no namespace or process behind."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

COLLECTIONS = Path(__file__).resolve().parents[3] / "build" / "collections"

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("lldpd") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and lldpd (Debian package lldpd)")]


def sh(*argv, check=True):
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    if check:
        assert proc.returncode == 0, "%s: %s" % (" ".join(argv), proc.stderr)
    return proc


class Wire:
    def __init__(self, tmp_path):
        tag = uuid.uuid4().hex[:6]
        # lldpd's sockets: a directory its unprivileged side can reach (pytest's tmp_path is 0700)
        self.dir = Path(tempfile.mkdtemp(prefix="reforge-lldp-"))
        self.dir.chmod(0o755)
        self.tmp = tmp_path
        self.ns = {"a": "h2a" + tag, "b": "h2b" + tag, "node": "h2n" + tag}
        self.pids = []
        try:
            self.setup(tag)
        except BaseException:
            self.close()    # a half-built wire leaves nothing either
            raise

    def setup(self, tag):
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        self.macs = {}
        for sw, nic in (("a", "n0"), ("b", "n1")):
            sh("ip", "link", "add", "h2p" + tag + sw, "type", "veth", "peer", "name", "h2q" + tag + sw)
            sh("ip", "link", "set", "h2p" + tag + sw, "netns", self.ns[sw])
            sh("ip", "link", "set", "h2q" + tag + sw, "netns", self.ns["node"])
            sh("ip", "netns", "exec", self.ns[sw], "ip", "link", "set", "h2p" + tag + sw, "name", "p10")
            sh("ip", "netns", "exec", self.ns["node"], "ip", "link", "set", "h2q" + tag + sw, "name", nic)
            sh("ip", "netns", "exec", self.ns[sw], "ip", "link", "set", "p10", "up")
            link = json.loads(sh("ip", "netns", "exec", self.ns["node"], "ip", "-j", "link", "show", nic).stdout)[0]
            self.macs[nic] = link["address"]
        sh("ip", "netns", "exec", self.ns["node"], "ip", "link", "set", "n0", "up")   # n1 stays down: the module brings it up
        for sw in ("a", "b"):
            self.lldpd(sw, "rm-sw" + sw)
        self.lldpd("node", None)
        # lldpcli of the node, talking to the node's lldpd (the default socket is the machine's)
        self.bin = self.tmp / "bin"
        self.bin.mkdir()
        (self.bin / "lldpcli").write_text('#!/bin/sh\nexec %s -u %s "$@"\n' % (shutil.which("lldpcli"), self.sock("node")))
        (self.bin / "lldpcli").chmod(0o755)

    def sock(self, who):
        return str(self.dir / ("%s.sock" % who))

    def lldpd(self, who, name):
        argv = ["ip", "netns", "exec", self.ns[who], shutil.which("lldpd"), "-d", "-u", self.sock(who),
                "-p", str(self.dir / ("%s.pid" % who))]
        if name:
            argv += ["-S", name, "-I", "p10"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.pids.append(proc)
        for _attempt in range(100):
            if os.path.exists(self.sock(who)):
                break
            time.sleep(0.1)
        if name:
            cli = ["ip", "netns", "exec", self.ns[who], shutil.which("lldpcli"), "-u", self.sock(who)]
            sh(*cli, "configure", "system", "hostname", name)
            sh(*cli, "configure", "ports", "p10", "lldp", "portidsubtype", "local", "swp10", "description", "m1 nic")
            sh(*cli, "configure", "lldp", "tx-interval", "1")

    def stop(self, who):
        proc = self.pids[["a", "b", "node"].index(who)]
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)

    def close(self):
        for proc in self.pids:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        for ns in self.ns.values():
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def plan(self, swapped=False):
        a, b = ("rm-swb", "rm-swa") if swapped else ("rm-swa", "rm-swb")
        return {"bonds": {"bond0": {"members": [
            {"nic": "n0", "mac": self.macs["n0"], "switches": [a], "port": "swp10"},
            {"nic": "n1", "mac": self.macs["n1"], "switches": [b], "port": "swp10"}]}}}

    def cabling(self, plan, wait=20, check=False):
        args = {"ANSIBLE_MODULE_ARGS": {"plan": plan, "wait": wait, "_ansible_check_mode": check}}
        (self.tmp / "args.json").write_text(json.dumps(args))
        env = dict(os.environ, PYTHONPATH=str(COLLECTIONS), PATH="%s:%s" % (self.bin, os.environ["PATH"]))
        proc = subprocess.run(["ip", "netns", "exec", self.ns["node"], os.sys.executable, "-m",
                               "ansible_collections.reforge.hci.plugins.modules.network_cabling", str(self.tmp / "args.json")],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
        assert proc.stdout.strip(), proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def wire(tmp_path):
    w = Wire(tmp_path)
    yield w
    w.close()
    assert not any(ns in sh("ip", "netns", "list").stdout for ns in w.ns.values())


def test_the_cabling_check_on_real_lldp(wire):
    # check mode: n1 is down and stays down, reported not checked; n0's neighbour is read for real
    result = wire.cabling(wire.plan(), check=True)
    assert not result.get("failed"), result.get("msg")
    assert result["brought_up"] == [] and "down, LLDP not read in check mode" in result["cabling"][1]["text"]
    assert result["cabling"][0]["text"] == "bond0 member n0 (%s): rm-swa swp10 as planned" % wire.macs["n0"]
    # a real run brings n1 up, waits for its neighbour, and finds both as planned
    result = wire.cabling(wire.plan())
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and result["brought_up"] == ["n1"]
    assert [e["text"] for e in result["cabling"]] == [
        "bond0 member n0 (%s): rm-swa swp10 as planned" % wire.macs["n0"],
        "bond0 member n1 (%s): rm-swb swp10 as planned" % wire.macs["n1"]]
    # the same cabling against a plan with the members' switches swapped
    result = wire.cabling(wire.plan(swapped=True))
    assert result["failed"] and not result["changed"]
    assert "bond0 member n0 (%s): plan says rm-swb swp10, LLDP shows rm-swa swp10 - where the plan puts n1: cables swapped?" \
        % wire.macs["n0"] in result["msg"]
    # a switch that goes silent: its neighbour ages out (TTL 4 s at tx-interval 1) and the wait is bounded
    wire.stop("b")
    time.sleep(6)
    start = time.monotonic()
    result = wire.cabling(wire.plan(), wait=5)
    assert result["failed"]
    assert "bond0 member n1 (%s): plan says rm-swb swp10, no LLDP neighbour within 5 s" % wire.macs["n1"] in result["msg"]
    assert 5 <= time.monotonic() - start < 30
