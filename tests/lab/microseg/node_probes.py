"""The lab's probe matrix on a cluster node: one probe host per tier on the node's VM bridge, every tier pair
tried with each probe, the results in the shape reforge.hci.microseg_evidence takes.

Each probe host is a network namespace with a veth into the bridge, the MAC its tier's ``probe-<tier>`` VM has
in the lab policy (lab-policy.yml beside this file), an address in 10.99.1.0/24, and agent.py listening
(TCP 5432 and 22, UDP 5432). From every probe host to every other, agent.py tries TCP 5432, UDP 5432, ICMP echo
and TCP 22; the expected result is what the policy says. Everything is removed afterwards, even on failure.

    python3 tests/lab/microseg/node_probes.py NODE OUT.json   (the lab's ssh key, the lab policy; make demo)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
POLICY_FILE = Path(__file__).with_name("lab-policy.yml")
AGENT = Path(__file__).with_name("agent.py")
PROBES = [("tcp", 5432), ("udp", 5432), ("icmp", None), ("tcp", 22)]
TCP_PORTS, UDP_PORTS = [5432, 22], [5432]
NODE_ADDR = {"node1": "10.250.0.11", "node2": "10.250.0.12", "node3": "10.250.0.13", "node4": "10.250.0.14"}


def lab_ssh(node: str, command: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    lab = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
    proc = subprocess.run(["ssh", "-i", str(lab / "ssh" / "id_ed25519"), "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
                           f"root@{NODE_ADDR[node]}", command], input=stdin, capture_output=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{node}: {command[:80]!r} failed: {proc.stderr.decode(errors='replace')[-600:]}")
    return proc


def probe_hosts(policy: dict) -> list[dict]:
    """The lab policy's probe-<tier> VMs, each with its tier, MAC, namespace, veth and address."""
    hosts = []
    for i, vm in enumerate(v for v in policy["microseg_vms"] if v["name"].startswith("probe-")):
        tier = vm["tier"]
        hosts.append(dict(name=vm["name"], tier=tier, mac=vm["macs"][0], ns=f"probe-{tier}"[:15],
                          veth=f"pr-{tier}"[:12] + "-h", ip=f"10.99.1.{i + 1}"))
    return hosts


def allowed(flows: list[dict], src: str, dst: str, proto: str, port: int | None) -> bool:
    if src == dst:
        return True
    for flow in flows:
        if flow["from"] == src and flow["to"] == dst and flow["proto"] == proto:
            if proto == "icmp":
                return True
            for p in flow.get("ports", []):
                lo, _sep, hi = str(p).partition("-")
                if int(lo) <= port <= int(hi or lo):
                    return True
    return False


def probe_matrix(node: str, ssh=lab_ssh, bridge: str = "br-vm", policy_file: Path = POLICY_FILE) -> list[dict]:
    policy = yaml.safe_load(policy_file.read_text())
    hosts = probe_hosts(policy)
    ssh(node, "cat > /run/reforge-agent.py", stdin=AGENT.read_bytes())
    try:
        for h in hosts:
            ssh(node, "set -e; ip netns add {ns}; ip link add {veth} type veth peer name eth0 netns {ns};"
                      " ip link set {veth} master {br} up; ip -n {ns} link set eth0 address {mac};"
                      " ip -n {ns} addr add {ip}/24 dev eth0; ip -n {ns} link set eth0 up; ip -n {ns} link set lo up;"
                      " systemd-run -q --unit reforge-probe-{tier} ip netns exec {ns} python3 -u /run/reforge-agent.py"
                      " listen {name} {tcp} {udp}".format(br=bridge, tcp=",".join(map(str, TCP_PORTS)),
                                                          udp=",".join(map(str, UDP_PORTS)), **h))
        for h in hosts:
            ssh(node, f"for i in $(seq 50); do ip netns exec {h['ns']} ss -ltn | grep -q ':5432 ' && exit 0; sleep 0.2; done; exit 1")
        results, n = [], 0
        for src in hosts:
            probes = []
            for dst in hosts:
                if dst is src:
                    continue
                for proto, port in PROBES:
                    n += 1
                    probes.append(dict(id=n, src_vm=src["name"], src_tier=src["tier"], dst_vm=dst["name"], dst_tier=dst["tier"],
                                       proto=proto, port=port, dst=dst["ip"],
                                       expected="allow" if allowed(policy["microseg_flows"], src["tier"], dst["tier"], proto, port)
                                       else "deny"))
            out = ssh(node, f"ip netns exec {src['ns']} python3 /run/reforge-agent.py probe '{json.dumps(probes)}'").stdout
            results += [{k: r[k] for k in ("src_vm", "src_tier", "dst_vm", "dst_tier", "proto", "port", "expected", "passed")}
                        for r in json.loads(out)]
        return results
    finally:
        ssh(node, "; ".join(f"systemctl stop reforge-probe-{h['tier']} 2>/dev/null; ip link del {h['veth']} 2>/dev/null;"
                            f" ip netns del {h['ns']} 2>/dev/null" for h in hosts) + "; rm -f /run/reforge-agent.py; true",
            check=False)


if __name__ == "__main__":
    node_name, out_path = sys.argv[1], Path(sys.argv[2])
    matrix = probe_matrix(node_name)
    out_path.write_text(json.dumps(matrix, indent=1) + "\n")
    wrong = [r for r in matrix if (r["expected"] == "allow") != r["passed"]]
    print(f"{len(matrix)} probes on {node_name}, {len(wrong)} not as the policy says -> {out_path}")
    sys.exit(1 if wrong else 0)
