"""The lab's hosts: Debian 13 nodes reachable by Ansible over SSH, running
systemd services, with their own spare disks and NICs, a power switch for the
BMC simulators, and an offline apt repository.

node1..N may be in use by other tests (the cluster roles), so everything that
changes a node (power, packages, services) runs on a scratch node added for
this module and removed afterwards.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow]

CTL = Path(__file__).resolve().parent / "ctl.sh"
REPO = Path(__file__).resolve().parents[3]
LAB_DIR = Path(os.environ.get("REFORGE_LAB_DIR", REPO / ".lab"))


def run(*cmd: str, timeout: int = 300, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def ssh(node: dict, command: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ssh", "-q", "-i", node["ssh_key"], "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               f"root@{node['address']}", command, check=check, timeout=120)


def ansible(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Ansible from the project's venv with the project's config (scripts/env.sh)."""
    quoted = " ".join(subprocess.list2cmdline([a]) for a in args)
    return run("bash", "-c", f"source {REPO}/scripts/env.sh && {quoted}", timeout=timeout)


def wait_for(predicate, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - t0


def power(node: dict, action: str = "status") -> str:
    return run(str(CTL), "power", node["name"], action, timeout=180).stdout.strip()


def tcp_open(address: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def write_inventory(path: Path, nodes: list[dict]) -> Path:
    lines = ["[lab_nodes]"]
    for n in nodes:
        lines.append(f"{n['name']} ansible_host={n['address']} ansible_user=root "
                     f"ansible_ssh_private_key_file={n['ssh_key']} ansible_python_interpreter=/usr/bin/python3")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def nodes(lab) -> dict:
    return lab.get("nodes")


@pytest.fixture(scope="module")
def scratch(nodes) -> dict:
    """A node of its own for this module (the next free index from 9 up)."""
    taken = {n["name"] for n in nodes["nodes"]}
    name = [f"node{i}" for i in range(9, 100) if f"node{i}" not in taken][0]
    run(str(CTL), "add", name, timeout=600)
    info = json.loads((LAB_DIR / "nodes.json").read_text())
    yield [n for n in info["nodes"] if n["name"] == name][0]
    run(str(CTL), "remove", name, timeout=120)


def test_nodes_json_describes_every_node(nodes):
    names = [n["name"] for n in nodes["nodes"]]
    assert names[:4] == ["node1", "node2", "node3", "node4"]
    for i, n in enumerate(nodes["nodes"][:4], start=1):
        assert n["address"] == f"10.250.0.{10 + i}"
        assert [d["id"] for d in n["disks"]] == [f"/dev/disk/by-id/lab-{n['name']}-disk{k}" for k in (1, 2)]
        assert [nic["name"] for nic in n["nics"]] == ["eth0", "eth1", "eth2"]
        assert Path(n["netns"]).exists()
    assert nodes["bridge"]["management"]["host_address"] == "10.250.0.1/24"
    assert run(str(CTL), "status").returncode == 0


def test_lab_inventory_answers_ansible_ping(nodes):
    """The project's own lab inventory reaches every lab host over SSH."""
    res = ansible("ansible", "-i", str(REPO / "inventories/lab"), "hci_nodes:hci_expansion",
                  "-m", "ansible.builtin.ping", "-o", "-e", "ansible_ssh_retries=3")
    assert res.stdout.count("SUCCESS") == 4, res.stdout


def test_playbook_runs_a_systemd_service(scratch, tmp_path):
    """A unit installed by a playbook starts under the node's systemd and serves the host."""
    inv = write_inventory(tmp_path / "hosts.ini", [scratch])
    play = tmp_path / "service.yml"
    play.write_text(textwrap.dedent(f"""\
        - hosts: lab_nodes
          gather_facts: true
          tasks:
            - ansible.builtin.assert:
                that:
                  - ansible_hostname == inventory_hostname
                  - ansible_distribution == 'Debian'
                  - ansible_distribution_major_version == '13'
                  - ansible_default_ipv4.address == '{scratch['address']}'
                  - ansible_service_mgr == 'systemd'
            - ansible.builtin.copy:
                dest: /etc/systemd/system/lab-probe.service
                content: |
                  [Service]
                  ExecStart=/usr/bin/python3 -m http.server 8099 --bind {scratch['address']} --directory /etc
            - ansible.builtin.systemd_service:
                name: lab-probe
                state: started
                daemon_reload: true
        """))
    ansible("ansible-playbook", "-i", str(inv), str(play))
    assert ssh(scratch, "systemctl is-active lab-probe").stdout.strip() == "active"
    body = urllib.request.urlopen(f"http://{scratch['address']}:8099/hostname", timeout=10).read()
    assert body.decode().strip() == scratch["name"]
    # Nothing failed at boot either: the image masks what cannot run here.
    assert ssh(scratch, "systemctl is-system-running", check=False).stdout.strip() == "running"


def test_spare_disks_are_the_nodes_own(scratch):
    """by-id names point at this node's loop devices, backed by the files in nodes.json."""
    for disk in scratch["disks"]:
        size = ssh(scratch, f"blockdev --getsize64 {disk['id']}").stdout.strip()
        assert int(size) == 8 * 1024**3
        marker = f"lab-{scratch['name']}-{Path(disk['file']).stem}"
        ssh(scratch, f"python3 -c 'import os; fd = os.open(\"{disk['id']}\", os.O_WRONLY); "
                     f"os.write(fd, b\"{marker}\".ljust(512)); os.fsync(fd)'")
        with open(disk["file"], "rb") as f:
            assert f.read(len(marker)).decode() == marker
    # The host's disks and the other nodes' loops are not visible as devices.
    listing = ssh(scratch, "ls /dev").stdout.split()
    own = {Path(d["device"]).name for d in scratch["disks"]}
    assert {n for n in listing if n.startswith("loop")} == own
    assert not [n for n in listing if n.startswith(("vd", "sd", "nvme", "kvm"))]


def test_nics_and_bridges(scratch, nodes):
    links = json.loads(ssh(scratch, "ip -j link show").stdout)
    by_name = {link["ifname"]: link for link in links}
    for nic in scratch["nics"]:
        assert by_name[nic["name"]]["address"] == nic["mac"]
        assert "UP" in by_name[nic["name"]]["flags"]
    addrs = json.loads(ssh(scratch, "ip -j -4 addr show dev eth0").stdout)
    assert addrs[0]["addr_info"][0]["local"] == scratch["address"]
    # eth1/eth2 sit on the storage bridge, unconfigured (the network role bonds them).
    members = run("ip", "-o", "link", "show", "master", "rlab-stor").stdout
    assert f"rl-{scratch['name']}-e1" in members and f"rl-{scratch['name']}-e2" in members
    assert not any(e.get("addr_info") for e in json.loads(ssh(scratch, "ip -j -4 addr show dev eth1").stdout))
    hosts = ssh(scratch, "cat /etc/hosts").stdout
    assert "10.250.0.11\tnode1" in hosts and f"{scratch['address']}\t{scratch['name']}" in hosts
    # node1 existed before the scratch node and has learnt its name.
    node1 = nodes["nodes"][0]
    assert ssh(node1, f"getent hosts {scratch['name']}").stdout.split()[0] == scratch["address"]


def test_apt_installs_offline_from_the_local_repo(scratch, tmp_path):
    sources = ssh(scratch, "cat /etc/apt/sources.list.d/*; ls /etc/apt/sources.list 2>&1 || true").stdout
    assert "file:/srv/reforge-lab-apt" in sources and "http" not in sources
    inv = write_inventory(tmp_path / "hosts.ini", [scratch])
    ansible("ansible", "-i", str(inv), "all", "-m", "ansible.builtin.apt",
            "-a", "name=jq update_cache=true", timeout=300)
    assert ssh(scratch, "echo '{\"a\": 7}' | jq .a").stdout.strip() == "7"
    policy = ssh(scratch, "apt-cache policy jq").stdout
    assert "file:/srv/reforge-lab-apt" in policy


def test_power_off_and_on_keeps_disks_addresses_and_state(scratch):
    ssh(scratch, "echo survived > /root/power-marker")
    # What the OS made at run time (libvirt's bridge, a VLAN address) must not survive the power cycle.
    ssh(scratch, "ip link add br-vm type bridge && ip link set eth1 master br-vm && ip addr add 10.250.1.99/24 dev eth2")
    assert power(scratch) == "on"
    power(scratch, "off")
    assert power(scratch) == "off"
    # A node switched off is still part of a running lab.
    status = run(str(CTL), "status")
    assert f"{scratch['name']}: off" in status.stdout.splitlines()
    assert not tcp_open(scratch["address"], 22)
    t0 = time.monotonic()
    power(scratch, "on")
    boot = time.monotonic() - t0
    assert power(scratch) == "on"
    assert ssh(scratch, "cat /root/power-marker").stdout.strip() == "survived"
    # A power cycle leaves the NICs and the management address, as on a real server.
    links = ssh(scratch, "ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1").stdout.split()
    assert sorted(links) == ["eth0", "eth1", "eth2", "lo"], links
    assert "10.250.1.99" not in ssh(scratch, "ip -o addr show").stdout
    assert scratch["address"] in ssh(scratch, "ip -o addr show dev eth0").stdout
    for disk in scratch["disks"]:
        assert ssh(scratch, f"test -b {disk['id']} && echo ok").stdout.strip() == "ok"
    assert boot < 60, f"power on took {boot:.1f}s"
    # `up` on a running lab changes nothing: the node is the same container.
    # (PID 1's start time: all nodes share the host kernel's boot_id.)
    before = ssh(scratch, "ps -o lstart= -p 1; cat /etc/machine-id").stdout
    run(str(CTL), "up", timeout=600)
    assert ssh(scratch, "ps -o lstart= -p 1; cat /etc/machine-id").stdout == before


def test_poweroff_inside_takes_the_node_off_the_network(scratch):
    """A host that shuts itself down stops answering (its namespace outlives it)."""
    ssh(scratch, "systemctl poweroff", check=False)
    wait_for(lambda: power(scratch) == "off", 30, "the node to stop")
    assert not tcp_open(scratch["address"], 22)
    power(scratch, "on")
    assert ssh(scratch, "hostname").stdout.strip() == scratch["name"]


def test_reboot_inside_comes_back(scratch):
    started = ssh(scratch, "ps -o lstart= -p 1").stdout
    ssh(scratch, "systemctl reboot", check=False)
    took = wait_for(lambda: tcp_open(scratch["address"], 22)
                    and ssh(scratch, "ps -o lstart= -p 1", check=False).stdout not in ("", started),
                    60, "the node to come back from reboot")
    assert power(scratch) == "on", f"back after {took:.1f}s"


def test_up_down_cycle_in_a_private_network_namespace(tmp_path):
    """A whole second lab (1 node) in its own network and mount namespace, so
    the shared one is left alone: cold up, idempotent up, down leaves no
    links, namespaces, loops or nodes behind, and up works again after down."""
    script = textwrap.dedent(f"""\
        set -euo pipefail
        mount -t tmpfs tmpfs /run/netns 2>/dev/null || {{ mkdir -p /run/netns; mount -t tmpfs tmpfs /run/netns; }}
        ip link set lo up
        export REFORGE_LAB_DIR={tmp_path}/lab REFORGE_LAB_NODES=1
        ctl={CTL}
        trap '$ctl down >/dev/null 2>&1 || true' EXIT   # a failed check leaves nothing running
        $ctl up
        id1=$(jq -r .podman $REFORGE_LAB_DIR/nodes.json)
        before=$(eval "$id1 inspect -f '{{{{.Id}}}} {{{{.State.StartedAt}}}}' node1")
        $ctl up
        [ "$(eval "$id1 inspect -f '{{{{.Id}}}} {{{{.State.StartedAt}}}}' node1")" = "$before" ] || {{ echo "up recreated node1"; exit 1; }}
        ssh -q -i $REFORGE_LAB_DIR/ssh/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \\
            root@10.250.0.11 systemctl is-system-running --wait
        $ctl down
        if $ctl status; then echo "status says up after down"; exit 1; fi
        [ -z "$(ip -o link show | grep -v ': lo:')" ] || {{ echo "links left"; ip -o link; exit 1; }}
        [ -z "$(ls /run/netns)" ] || {{ echo "netns left"; exit 1; }}
        ! losetup -a | grep -q "$REFORGE_LAB_DIR" || {{ echo "loops left"; exit 1; }}
        [ ! -e $REFORGE_LAB_DIR/nodes.json ]
        $ctl up
        $ctl down
        echo cycle-ok
        """)
    res = run("unshare", "--net", "--mount", "--propagation", "private", "bash", "-c", script, timeout=900)
    assert res.stdout.strip().splitlines()[-1] == "cycle-ok"
    assert "running" in res.stdout
