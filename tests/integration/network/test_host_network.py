"""host_network on real kernels: the metal lab's machine 1, installed with Debian 13 by playbooks/install_os.yml as
node1 of the example campus, behind the lab's two OVS switches (LACP, 802.1Q trunks, lldpd as rm-swa/rm-swb).

Precondition, not faked: an installed machine. No lab component records one yet, so the test takes the directory
that tests/lab/metal/test_install.py installs with (its ``controller_key`` and ``hostkeys/node1/known_hosts``) from
REFORGE_METAL_INSTALLED, and the lab's description from $REFORGE_LAB_DIR/metal.json; without both it skips.

What it proves, in order: the LLDP cabling check passes on the real cabling and refuses a plan with the members
swapped (no file written); the role applies the plan, both bonds negotiate LACP with the switch pair's system id, the
storage VLAN carries traffic between the node and the switch side and an 8972-byte DF ping (jumbo path); a rerun is
changed=0; a member's switch port going down keeps the management address reachable; a change to a wrong management
VLAN cuts the controller off, the node rolls back by itself, and the role fails saying so, with the node back on its
old files."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CAMPUS = REPO / "docs" / "examples" / "campus-network.yml"
LAB_DIR = Path(os.environ.get("REFORGE_LAB_DIR", REPO / ".lab"))
INSTALLED = os.environ.get("REFORGE_METAL_INSTALLED", "")
PARTNER = "02:52:4d:00:00:01"      # the switch pair's LACP system id (tests/lab/metal/README.md)


def _precondition() -> str:
    if not (LAB_DIR / "metal.json").is_file():
        return "no metal lab (%s/metal.json): tests/lab/lab.sh up metal" % LAB_DIR
    if not INSTALLED:
        return ("no installed metal machine: set REFORGE_METAL_INSTALLED to the directory playbooks/install_os.yml "
                "installed machine 1 from (controller_key, hostkeys/node1/known_hosts; tests/lab/metal/test_install.py)")
    base = Path(INSTALLED)
    if not (base / "controller_key").is_file() or not (base / "hostkeys" / "node1" / "known_hosts").is_file():
        return "REFORGE_METAL_INSTALLED=%s has no controller_key or hostkeys/node1/known_hosts" % INSTALLED
    return ""


pytestmark = [pytest.mark.lab, pytest.mark.skipif(bool(_precondition()), reason=_precondition() or "ready")]


class Node:
    def __init__(self):
        self.metal = json.loads((LAB_DIR / "metal.json").read_text())
        self.base = Path(INSTALLED)
        self.proxy = "ProxyCommand=%s" % self.metal["controller"]["ssh_proxy_command"]
        self.ssh_opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                         "-o", "UserKnownHostsFile=%s" % (self.base / "hostkeys" / "node1" / "known_hosts"),
                         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                         "-i", str(self.base / "controller_key"), "-o", self.proxy]

    def ssh(self, command: str, check: bool = True) -> str:
        proc = subprocess.run(["ssh", *self.ssh_opts, "root@10.20.10.11", command], capture_output=True, text=True,
                              timeout=300, check=False)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def ns(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.metal["netns"], *argv], capture_output=True, text=True,
                              timeout=120, check=False)

    def play(self, campus: dict, *args: str, **extra) -> tuple[subprocess.CompletedProcess, dict]:
        inv = self.base / "network-inventory.yml"
        host = {"ansible_host": "10.20.10.11", "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.base / "controller_key"),
                "ansible_ssh_common_args": " ".join("'%s'" % a if " " in a else a for a in self.ssh_opts[:-4] + ["-o", self.proxy])}
        group = dict({"campus_network": campus, "host_network_lldp_wait": 30}, **extra)
        inv.write_text(yaml.safe_dump({"all": {"children": {"host_network": {"hosts": {"node1": host}, "vars": group}}}}))
        proc = subprocess.run(["bash", "-c", 'source scripts/env.sh >/dev/null && exec ansible-playbook "$@"', "play",
                               "-i", str(inv), "playbooks/network.yml", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=1800, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
        recap = {h: dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", s))
                 for h, s in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", proc.stdout, re.M)}
        return proc, recap

    def files(self) -> str:
        return self.ssh("cd /etc/systemd/network && for f in *; do echo \"== $f\"; cat \"$f\"; done")


def campus() -> dict:
    return yaml.safe_load(CAMPUS.read_text())["campus_network"]


@pytest.fixture(scope="module")
def node():
    return Node()


@pytest.fixture
def storage_peer(node):
    """An address on the storage VLAN at the switch side (an OVS internal port on rm-swa, VLAN 120, MTU 9000), and
    machine 1's switch ports at MTU 9000: the far end of the storage ping. Removed afterwards."""
    vsctl = ["ovs-vsctl", "--db=%s" % node.metal["ovs_db"], "--timeout=20"]
    taps = [n["tap"] for n in node.metal["machines"][0]["nics"]]
    assert node.ns(*vsctl, "add-port", "rmswa", "rmst120", "tag=120", "--", "set", "interface", "rmst120",
                   "type=internal", "mtu_request=9000").returncode == 0
    for tap in taps:
        node.ns(*vsctl, "set", "interface", tap, "mtu_request=9000")
    node.ns("ip", "addr", "add", "10.20.20.1/24", "dev", "rmst120")
    node.ns("ip", "link", "set", "rmst120", "up")
    yield "10.20.20.1"
    node.ns(*vsctl, "del-port", "rmswa", "rmst120")
    for tap in taps:
        node.ns(*vsctl, "remove", "interface", tap, "mtu_request", "9000")


def test_a_swapped_plan_is_refused_before_any_file(node):
    before = node.files()
    c = campus()
    m = c["nodes"]["node1"]["bonds"]["bond0"]["members"]
    m[0]["port"], m[1]["port"] = m[1]["port"], m[0]["port"]
    m[0]["switch"], m[1]["switch"] = m[1]["switch"], m[0]["switch"]
    proc, _recap = node.play(c)
    assert proc.returncode != 0
    assert "cables swapped?" in proc.stdout
    assert node.files() == before


def test_apply_lacp_vlans_jumbo_and_rerun(node, storage_peer):
    proc, recap = node.play(campus())
    assert proc.returncode == 0, proc.stdout[-6000:]
    for bond in ("bond0", "bond1"):
        state = node.ssh("cat /proc/net/bonding/%s" % bond)
        assert "Bonding Mode: IEEE 802.3ad Dynamic link aggregation" in state
        assert state.count("system mac address: %s" % PARTNER) >= 2, state     # both members, one partner
        assert state.count("MII Status: up") == 3, state                      # the bond and its two members
    addrs = node.ssh("ip -br addr")
    for cidr in ("10.20.10.11/24", "10.20.20.11/24", "10.20.30.11/24"):
        assert cidr in addrs
    # storage VLAN traffic and the jumbo path, to the switch side's address on VLAN 120
    node.ssh("ping -c 3 -W 2 %s" % storage_peer)
    node.ssh("ping -c 3 -W 2 -M do -s 8972 %s" % storage_peer)
    proc, recap = node.play(campus())
    assert proc.returncode == 0 and recap["node1"]["changed"] == 0, proc.stdout[-4000:]


def test_a_member_port_down_keeps_the_node_reachable(node):
    tap = node.metal["machines"][0]["nics"][0]["tap"]
    assert node.ns("ovs-vsctl", "--db=%s" % node.metal["ovs_db"], "set", "interface", tap, "admin_state=down").returncode == 0
    try:
        time.sleep(3)
        assert "10.20.10.11" in node.ssh("ip -br addr show bond0")
        assert "MII Status: down" in node.ssh("cat /proc/net/bonding/bond0")
    finally:
        node.ns("ovs-vsctl", "--db=%s" % node.metal["ovs_db"], "set", "interface", tap, "admin_state=up")


def test_a_change_that_cuts_the_controller_off_rolls_back_by_itself(node):
    before = node.files()
    c = campus()
    c["networks"]["management"]["vlan"] = 999          # the switch side has nothing on it: the controller loses the node
    c["nodes"]["node1"]["bonds"]["bond0"]["networks"]["management"] = "tagged"
    proc, _recap = node.play(c, "-e", "host_network_rollback_seconds=60", "-e", "host_network_connect_timeout=30")
    assert proc.returncode != 0
    assert "the change was not confirmed" in proc.stdout and "It was rolled back at" in proc.stdout, proc.stdout[-4000:]
    assert node.files() == before
