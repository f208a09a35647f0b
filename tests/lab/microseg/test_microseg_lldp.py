"""The topology's switches from real LLDP: lldpd (Debian's) runs in a "switch" namespace and in a "node" namespace
joined by a veth pair; the node's second NIC goes to a namespace without lldpd. What lldpcli and ip print on the
node is merged with the discovery facts (a stale neighbour from the BMC for the first NIC, none for the second) by
reforge.hci.microseg_topology, and the page draws the live neighbour and the unknown switch.

Needs root and lldpd. Namespaces are named rs<pid>l* (the prefix from $REFORGE_MICROSEG_NS_PREFIX if set); the
daemons and namespaces are stopped and removed at the end, also on failure.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from lab.module_run import run_module

from ansible_collections.reforge.hci.plugins.module_utils.microseg import lldp

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("lldpd"), reason="needs root and lldpd")]

TAG = "%s%dl" % (os.environ.get("REFORGE_MICROSEG_NS_PREFIX", "rs"), os.getpid() % 100000)
SWITCH, NODE, VOID = TAG + "s", TAG + "n", TAG + "v"
MAC1, MAC2 = "52:54:00:4c:00:01", "52:54:00:4c:00:02"


def sh(*argv):
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "%s: rc=%s %s" % (" ".join(argv), proc.returncode, proc.stderr.strip())
    return proc.stdout


def cleanup():
    for ns in (SWITCH, NODE, VOID):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture(scope="module")
def lldp_lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("lldp")
    daemons = []
    rundir = None
    cleanup()
    try:
        for ns in (SWITCH, NODE, VOID):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", SWITCH, "link", "add", "Ethernet1-7", "type", "veth", "peer", "name", "eno1", "netns", NODE)
        sh("ip", "-n", NODE, "link", "add", "eno2", "type", "veth", "peer", "name", "x0", "netns", VOID)
        sh("ip", "-n", NODE, "link", "set", "eno1", "address", MAC1)
        sh("ip", "-n", NODE, "link", "set", "eno2", "address", MAC2)
        for ns, dev in ((SWITCH, "Ethernet1-7"), (NODE, "eno1"), (NODE, "eno2"), (VOID, "x0")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        # lldpcli drops its privileges to lldpd's user before it connects: the sockets live in a directory that
        # user can enter (pytest's tmp directories are root's only)
        rundir = tempfile.mkdtemp(prefix=TAG + "-")
        os.chmod(rundir, 0o755)
        sockets = {}
        for ns in (SWITCH, NODE):
            sockets[ns] = os.path.join(rundir, "%s.sock" % ns)
            daemons.append(subprocess.Popen(["ip", "netns", "exec", ns, "lldpd", "-d", "-u", sockets[ns]],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def cli(ns, *args):
            return sh("ip", "netns", "exec", ns, "lldpcli", "-u", sockets[ns], *args)

        # wait until each daemon answers on its socket; then the switch is named and names its ports
        deadline = time.monotonic() + 60
        for ns in (SWITCH, NODE):
            while subprocess.run(["ip", "netns", "exec", ns, "lldpcli", "-u", sockets[ns], "show", "configuration"],
                                 capture_output=True, check=False).returncode != 0:
                assert time.monotonic() < deadline and all(d.poll() is None for d in daemons), "lldpd did not start"
                time.sleep(0.1)
        cli(SWITCH, "configure", "system", "hostname", "tor-lab")
        cli(SWITCH, "configure", "lldp", "portidsubtype", "ifname")
        cli(SWITCH, "update")
        # wait for the event: the node's lldpd has the switch as eno1's neighbour, under its new name
        while "tor-lab" not in cli(NODE, "-f", "json", "show", "neighbors"):
            assert time.monotonic() < deadline, "no LLDP neighbour on eno1: %s" % cli(NODE, "show", "neighbors")
            time.sleep(0.2)
        yield dict(work=work, lldpcli=cli(NODE, "-f", "json", "show", "neighbors"),
                   ip_link=sh("ip", "-n", NODE, "-j", "link", "show"))
    finally:
        for d in daemons:
            stop(d)
        cleanup()
        if rundir:
            shutil.rmtree(rundir, ignore_errors=True)


def stop(daemon):
    """lldpd runs as a monitor (our child) and its privilege-separated child: stop the child first, so the monitor
    reaps it (stopped first, the monitor leaves the child to init, which does not reap it in a container)."""
    try:
        with open("/proc/%d/task/%d/children" % (daemon.pid, daemon.pid)) as handle:
            children = [int(pid) for pid in handle.read().split()]
    except OSError:
        children = []
    for pid in children:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.terminate()
        daemon.wait(timeout=30)


FACTS = [{"id": "NIC.Integrated.1-1", "mac": MAC1.upper(), "speed_mbps": 25000, "link": "Up",
          "lldp": {"chassis_id": "00:11:22:33:44:55", "port_id": "45:74:68:31:2F:31", "system_name": "old-switch"}},
         {"id": "NIC.Integrated.1-2", "mac": MAC2.upper(), "speed_mbps": 25000, "link": "Up", "lldp": None}]


def test_lldpd_neighbours_name_the_switch_and_its_port(lldp_lab):
    seen = lldp.neighbors(lldp_lab["lldpcli"])
    assert list(seen) == ["eno1"], seen
    assert seen["eno1"]["system_name"] == "tor-lab" and seen["eno1"]["port_id"] == "Ethernet1-7"
    assert re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", seen["eno1"]["chassis_id"])
    nics = lldp.node_nics(FACTS, lldp_lab["lldpcli"], lldp_lab["ip_link"])
    assert [(n["id"], (n["lldp"] or {}).get("system_name")) for n in nics] == [("eno1", "tor-lab"), ("eno2", None)]


def test_the_page_draws_the_live_neighbour_and_the_unknown_switch(lldp_lab):
    out = lldp_lab["work"] / "page"
    args = dict(campus="lldp", dest=str(out), tiers=[{"name": "tier1", "description": "HIS/EMR"}],
                vms=[{"name": "his-db", "tier": "tier1", "macs": ["52:54:00:10:00:01"], "node": "node1"}],
                nodes=[{"name": "node1", "nics": FACTS, "lldpcli": lldp_lab["lldpcli"], "ip_link": lldp_lab["ip_link"],
                        "bonds": [{"name": "bond0", "mode": "active-backup", "members": ["eno1", "eno2"]}]}])
    result = run_module("microseg_topology", args)
    assert result["changed"] and not result.get("failed"), result
    graph = json.loads((out / "lldp-flows.json").read_text())["model"]
    assert [s["name"] for s in graph["switches"]] == ["tor-lab", "unknown switch"]  # not the BMC's stale old-switch
    assert [(n["id"], n["bond"], n["switch"], n["switch_port"]) for n in graph["hosts"][0]["nics"]] == [
        ("eno1", "bond0", "tor-lab", "Ethernet1-7"), ("eno2", "bond0", "unknown switch", None)]
    page = html.unescape((out / "lldp-topology.html").read_text())
    assert "tor-lab Ethernet1-7" in page and "no LLDP neighbour" in page
