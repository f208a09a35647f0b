"""Run the cluster playbooks against the lab and look inside the lab nodes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
LAB_DIR = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
VENV_BIN = REPO_ROOT / ".venv" / "bin"
NODE_ADDR = {"node1": "10.250.0.11", "node2": "10.250.0.12", "node3": "10.250.0.13", "node4": "10.250.0.14"}

_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class PlaybookRun:
    rc: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    def changed_tasks(self) -> list[str]:
        """Names of tasks that reported a change (for assertion messages)."""
        out, task = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                task = line
            elif line.startswith("changed:"):
                out.append(f"{task} {line[:160]}")
        return out


def playbook(name: str, *args: str, timeout: int = 1800) -> PlaybookRun:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / "build" / "collections"),
               REFORGE_LAB_DIR=str(LAB_DIR))
    # An empty ANSIBLE_CALLBACKS_ENABLED makes ansible-core 2.19 fail ("non-empty plugin
    # name required"); the lab's ansible.cfg callbacks are harmless for the recap parser.
    start = time.monotonic()
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(REPO_ROOT / "inventories" / "lab"),
                           str(REPO_ROOT / "playbooks" / name), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT, check=False)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    recap = {m[0]: {"ok": int(m[1]), "changed": int(m[2]), "unreachable": int(m[3]), "failed": int(m[4])}
             for m in _RECAP.findall(output)}
    return PlaybookRun(proc.returncode, output, seconds, recap)


def ssh(node: str, command: str, check: bool = True, timeout: int = 120, stdin: bytes | None = None
        ) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["ssh", "-i", str(LAB_DIR / "ssh" / "id_ed25519"), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
         "-o", "BatchMode=yes", f"root@{NODE_ADDR[node]}", command],
        capture_output=True, timeout=timeout, input=stdin, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{node}: {command!r} failed rc={proc.returncode}: "
                             f"{proc.stderr.decode(errors='replace')[-800:]}")
    return proc


def ceph_json(node: str, *args: str) -> dict:
    return json.loads(ssh(node, "ceph " + " ".join(args) + " --format json").stdout)


def wait_for(predicate, timeout: float, interval: float = 2.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (AssertionError, subprocess.TimeoutExpired, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def resource_node(anchor: str, resource: str) -> str | None:
    """Node a Pacemaker resource runs on (None when stopped)."""
    out = ssh(anchor, f"crm_resource --resource {resource} --locate", check=False).stdout.decode()
    m = re.search(r"is running on: (\S+)", out)
    return m.group(1) if m else None


def wait_domain_running(node: str, domain: str, timeout: float = 180) -> None:
    """Wait until libvirt on node runs the domain. Pacemaker lists a start that is still in
    progress (record-pending), and libvirt keeps a starting or incoming domain paused."""
    wait_for(lambda: ssh(node, f"virsh domstate {domain}", check=False).stdout.decode().strip() == "running",
             timeout, what=f"domain {domain} running on {node}")


def boot_sector(message: bytes) -> bytes:
    """A 512-byte MBR that prints message on COM1 and halts.

    The HA test VM boots this from its RBD disk under SeaBIOS, so text on the
    serial port proves the guest really booted from Ceph.
    """
    code = bytes([
        0xFA,                    # cli
        0x31, 0xC0,              # xor ax, ax
        0x8E, 0xD8,              # mov ds, ax
        0xBE, 0x16, 0x7C,        # mov si, 0x7c16 (message)
        0xBA, 0xF8, 0x03,        # mov dx, 0x3f8 (COM1)
        0xAC,                    # lodsb
        0x84, 0xC0,              # test al, al
        0x74, 0x03,              # jz halt
        0xEE,                    # out dx, al
        0xEB, 0xF8,              # jmp lodsb
        0xF4,                    # halt: hlt
        0xEB, 0xFD,              # jmp halt
    ])
    assert len(code) == 0x16
    sector = code + message + b"\0"
    assert len(sector) <= 510
    return sector.ljust(510, b"\0") + b"\x55\xAA"
