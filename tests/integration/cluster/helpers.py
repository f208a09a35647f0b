"""Run the cluster playbooks against the lab and look inside the lab nodes."""
from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
LAB_DIR = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
VENV_BIN = REPO_ROOT / ".venv" / "bin"
ANSIBLE_LOG = LAB_DIR / "ansible.log"
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
    # Every run appends to one log in the lab dir: the secrets proof scans it (test_cluster.py, last test).
    env.setdefault("ANSIBLE_LOG_PATH", str(ANSIBLE_LOG))
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


# ---------------------------------------------------------------- what the simulators saw

# Requests that change nothing on a BMC: a session's login and logout.
_BMC_SESSION = re.compile(r"^/redfish/v1/SessionService/Sessions(/[^/?]+)?/?(\?.*)?$")


def bmc_log_cursors(bmcs: list[dict], ca: str) -> dict[str, int]:
    """Each BMC simulator's request-log cursor (tests/lab/redfish/server.py, GET /_lab/log)."""
    return {b["endpoint"]: _bmc_log(b["endpoint"], ca)["cursor"] for b in bmcs}


def bmc_writes_since(cursors: dict[str, int], ca: str) -> tuple[dict[str, list[str]], int]:
    """Every request since the cursors that could change a BMC (POST/PATCH/PUT/DELETE other than
    a session's login and logout), per BMC, and the number of requests read. The log keeps its
    last entries only: a gap after the cursor is an error, not an empty answer."""
    writes, seen = {}, 0
    for endpoint, cursor in cursors.items():
        entries = _bmc_log(endpoint, ca, since=cursor)["entries"]
        assert not entries or entries[0]["seq"] == cursor + 1, f"{endpoint}: request log trimmed after {cursor}"
        seen += len(entries)
        bad = [f'{e["method"]} {e["path"]} -> {e["status"]}' for e in entries
               if e["method"] not in ("GET", "HEAD", "OPTIONS")
               and not (e["method"] in ("POST", "DELETE") and _BMC_SESSION.match(e["path"]))]
        if bad:
            writes[endpoint] = bad
    return writes, seen


def _bmc_log(endpoint: str, ca: str, since: int = 0) -> dict:
    ctx = ssl.create_default_context(cafile=ca)
    with urllib.request.urlopen(f"{endpoint}/_lab/log?since={since}", context=ctx, timeout=30) as resp:
        return json.loads(resp.read())


# SOAP methods that read vCenter or manage the caller's own session and views; anything else the
# lab vCenter counts (tests/lab/vcsim: soap_<Method>, folder_<METHOD>, http_<METHOD>) is a write.
VCENTER_READS = frozenset({
    "RetrieveServiceContent", "Login", "Logout", "SessionIsActive", "CurrentTime",
    "RetrieveProperties", "RetrievePropertiesEx", "ContinueRetrievePropertiesEx", "CancelRetrievePropertiesEx",
    "Fetch", "CreateContainerView", "CreateListView", "DestroyView", "CreateFilter", "DestroyPropertyFilter",
    "CreatePropertyCollector", "DestroyPropertyCollector", "WaitForUpdates", "WaitForUpdatesEx", "CheckForUpdates",
    "QueryChangedDiskAreas", "FindByInventoryPath", "FindByUuid", "FindByIp", "FindByDnsName", "FindChild",
    "AcquireGenericServiceTicket", "QueryPerf", "QueryAvailablePerfMetric", "QueryEvents", "ReadNextEvents",
    "ReadPreviousEvents", "CreateCollectorForEvents", "DestroyCollector", "RetrieveUserGroups", "HasPrivilegeOnEntities",
    "FetchUserPrivilegeOnEntities", "QueryVirtualDiskUuid", "SearchDatastore_Task", "SearchDatastoreSubFolders_Task",
})


def vcenter_writes(moved: dict[str, int]) -> dict[str, int]:
    """The counters (a LabVC.counters_since result) that name a request which is not a read."""
    out = {}
    for name, n in moved.items():
        if name.startswith("soap_") and name[5:] not in VCENTER_READS:
            out[name] = n
        elif name.startswith("folder_") or (name.startswith("http_") and name not in ("http_GET", "http_HEAD")):
            out[name] = n
    return out


# ---------------------------------------------------------------- what a node holds

CHECK_MARKER = "/run/reforge-check-mode.marker"
# Where the pipeline writes on a node (configuration, Ceph's and Pacemaker's state, libvirt, the
# migration's journals and domain files, the hardware stage's /srv), searched for files newer
# than a marker. -xdev: the OSDs' block devices and /proc are not files the pipeline writes.
CHECK_PATHS = ("/etc", "/var/lib/ceph", "/var/lib/pacemaker", "/var/lib/libvirt", "/var/lib/pcsd",
               "/var/lib/corosync", "/srv", "/var/lib/reforge", "/usr/local", "/root", "/var/lib/prometheus")
# What the daemons write there on their own while the cluster runs (no task of the pipeline
# writes these), each with the reason; everything else newer than the marker is a change.
DAEMON_WRITES = {
    r"^/var/lib/prometheus/node-exporter(/reforge_fencing\.prom)?$":
        "stage 5's timer rewrites the fencing history metric every interval (a rename in the directory)",
    r"^/var/lib/ceph/mon/[^/]+(/store\.db(/.*)?)?$": "the monitor's RocksDB and its directories: every map, health and log update",
    r"^/var/lib/ceph/mon/[^/]+/external_log_to$": "the monitor notes where its log goes at every log rotation/start",
    r"^/var/lib/ceph/crash(/posted)?/?": "ceph-crash moves crash reports it has posted",
    r"^/var/lib/ceph/mgr/[^/]+$": "the manager's data directory (its modules keep state in the monitor store)",
    r"^/var/lib/pacemaker/(pengine|schedulerd)/": "the scheduler saves its inputs at every transition (status changes too)",
    r"^/var/lib/pacemaker/cib/cib(\.xml|\.xml\.sig|-\d+\.raw(\.sig)?|\.last)?$": "the CIB's files, rewritten on "
                                                                                 "status updates; its configuration is compared by content",
    r"^/var/lib/pacemaker/cib$": "the CIB directory (the files above)",
    r"^/var/lib/pacemaker/(pengine|schedulerd)$": "the scheduler directory (the files above)",
    r"^/var/lib/libvirt/qemu/(domain-[^/]+(/.*)?|channel/.*|[^/]+\.monitor)$": "a running domain's monitor and agent sockets",
    r"^/root/\.ansible(/.*)?$": "Ansible's remote temporary directory of the ssh sessions (removed after each task)",
    r"^/root(/\.cache(/.*)?)?$": "the ssh sessions' home directory (Ansible's remote tmp is created and removed in it)",
    r"^/var/lib/corosync$": "corosync's ring-id files, rewritten at every membership change",
    r"^/var/lib/corosync/ringid_": "corosync's ring-id files, rewritten at every membership change",
}
_DAEMON_WRITES = [re.compile(p) for p in DAEMON_WRITES]

_NODE_FINGERPRINT = r"""
set -u
echo "== packages $(dpkg-query -W -f '${Package} ${Version}\n' | sha256sum | cut -c1-16)"
echo "== enabled units $(systemctl list-unit-files --state=enabled --no-legend 2>/dev/null | sort | sha256sum | cut -c1-16)"
if command -v virsh >/dev/null; then
  for d in $(virsh list --all --name | sort); do
    echo "== domain $d $(virsh domstate $d) $(virsh dumpxml --inactive --security-info $d | sha256sum | cut -c1-16)"
  done
  echo "== pools $(virsh pool-list --all --name | sort | tr '\n' ' ')"
  echo "== nets $(virsh net-list --all --name | sort | tr '\n' ' ')"
  echo "== secrets $(virsh secret-list | tail -n +3 | sort | tr -s ' \n' ' ')"
fi
echo "== files"
find %(paths)s -xdev -newer %(marker)s -print 2>/dev/null | sort
"""


def node_fingerprint(node: str) -> tuple[list[str], list[str]]:
    """(what a node holds, the files changed since the marker that no daemon explains).

    Call mark_nodes() first: the files are those newer than its marker."""
    paths = " ".join(CHECK_PATHS)
    out = ssh(node, _NODE_FINGERPRINT % {"paths": paths, "marker": CHECK_MARKER}).stdout.decode()
    state, files = out.split("== files\n", 1)
    changed = [f for f in files.splitlines() if f and not any(p.search(f) for p in _DAEMON_WRITES)]
    return state.splitlines(), changed


def mark_nodes(nodes) -> None:
    for node in nodes:
        ssh(node, f"touch {CHECK_MARKER}")


def cluster_fingerprint(node: str) -> dict:
    """What the cluster as a whole holds (one node asked): Pacemaker's configuration and its
    epochs, Ceph's maps, configuration, keys and pools, and every RBD image with its snapshots.

    Not compared: the osdmap epoch (the manager's balancer and PG autoscaler and the OSDs' peering
    bump it on their own); its parts the pipeline writes are (pools, flags, OSDs, CRUSH)."""
    cib_head = ssh(node, "cibadmin --query | head -1").stdout.decode()
    epochs = dict(re.findall(r'\b(admin_epoch|epoch)="(\d+)"', cib_head))
    sha = "sha256sum | cut -c1-16"
    osd = ceph_json(node, "osd", "dump")
    return {
        "cib_epochs": epochs,
        "cib_configuration": ssh(node, f"cibadmin --query --scope configuration | {sha}").stdout.decode().strip(),
        "monmap_epoch": ceph_json(node, "mon", "dump")["epoch"],
        "ceph_config": ssh(node, f"ceph config dump --format json | {sha}").stdout.decode().strip(),
        "ceph_auth": ssh(node, f"ceph auth ls --format json 2>/dev/null | {sha}").stdout.decode().strip(),
        "crush": ssh(node, f"ceph osd crush dump --format json | {sha}").stdout.decode().strip(),
        "osd_flags": osd.get("flags"),
        "osds": sorted((o["osd"], o["up"], o["in"], o.get("uuid")) for o in osd["osds"]),
        "pools": sorted((p["pool_name"], p["size"], p["min_size"], p["crush_rule"], json.dumps(p.get("application_metadata"),
                         sort_keys=True)) for p in osd["pools"]),
        "mgr_modules": sorted(ceph_json(node, "mgr", "module", "ls")["enabled_modules"]),
        "rbd": ssh(node, "for p in $(ceph osd pool ls); do rbd ls -l --format json $p 2>/dev/null "
                         "| python3 -c 'import json,sys; d=json.loads(sys.stdin.read() or \"[]\"); print(sys.argv[1], "
                         "sorted((i[\"image\"], i.get(\"snapshot\") or \"\", i[\"size\"]) for i in d))' $p; done"
                   ).stdout.decode().splitlines(),
    }
