"""Cluster build-out on the lab nodes with real daemons: Ceph, libvirt/QEMU (TCG), Corosync/Pacemaker.

The tests run in file order and share one lab: bad input first (on whatever
state the nodes are in, nothing may change), then the 3-node build, data
path, HA VM, migration, reruns, expansion to 4 nodes and finally fencing,
which powers a node off.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import ssl
import struct

import pytest
import yaml

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from integration.cluster.helpers import (LAB_DIR, NODE_ADDR, REPO_ROOT, bmc_log_cursors, bmc_writes_since, boot_sector,
                                         ceph_json, cluster_fingerprint, mark_nodes, node_fingerprint, playbook,
                                         resource_node, ssh, vcenter_writes, wait_domain_running, wait_for)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

VM = "hatest"
MARKER = b"REFORGE-RBD-BOOT-OK"
VM_VARS = json.dumps({"ha_cluster_vms": [
    {"name": VM, "rbd_image": f"{VM}-disk", "memory_mib": 64, "vcpus": 1, "prefer": "node1"}]})
MEASURED: dict[str, float] = {}
# The stage's own health gate (roles/ceph/defaults): the checks it treats as load signals, not faults.
WARN_ONLY = set(yaml.safe_load((REPO_ROOT / "roles" / "ceph" / "defaults" / "main.yml").read_text())
                ["ceph_health_warn_only"])


def _healthy(node: str = "node1") -> bool:
    """HEALTH_OK, or HEALTH_WARN for load signals only (slow OSD heartbeats on a loaded 2-core
    machine), which is what the ceph role's health gate lets through."""
    health = ceph_json(node, "health")
    if health["status"] == "HEALTH_OK":
        return True
    assert health["status"] == "HEALTH_WARN" and set(health.get("checks", {})) <= WARN_ONLY, health
    return True


# By default (make test, CI) every stage: libvirt (TCG), Corosync/Pacemaker with
# Redfish fencing, a VM on RBD, live migration, expansion with the VM running, the
# lab migration wave into the cluster, fencing and rejoin (~31 min on an idle
# 2-core machine). REFORGE_CLUSTER_SCOPE=ceph runs the Ceph stages only (~12 min),
# for quick work on the ceph role.
FULL = os.environ.get("REFORGE_CLUSTER_SCOPE", "full") != "ceph"
CEPH_TAGS = ["-t", "ceph_preflight,ceph_install,ceph_configure,ceph_run"]
SCOPE = [] if FULL else CEPH_TAGS
needs_full_stack = pytest.mark.skipif(not FULL, reason="REFORGE_CLUSTER_SCOPE=ceph: the Ceph stages only")


@pytest.fixture(scope="module")
def cluster_lab(lab):
    # The nodes component runs the uplink (tests/lab/nodes/uplink.py) that lets
    # fence_redfish inside the nodes reach the BMC simulators.
    redfish = lab.get("redfish")
    nodes = lab.get("nodes")
    yield {"redfish": redfish, "nodes": nodes}
    if MEASURED:
        (LAB_DIR / "cluster-measurements.json").write_text(json.dumps(MEASURED, indent=1))


def _assert_refused(run, needle: str, reports: bool = False, proves=None) -> None:
    """Refused with this message, nothing changed (but the wave's reports of the refusal, with reports)."""
    assert run.rc != 0, run.output[-3000:]
    assert needle in run.output, run.output[-3000:]
    if proves is not None:
        proves(run.output)
    # (the wave's report files and history on the controller: "TASK [...] changed: [localhost]"; the nodes'
    # own state is compared by the callers)
    changed = [t for t in run.changed_tasks() if not (reports and t.endswith("changed: [localhost]"))]
    assert not changed, changed
    if not reports:
        assert run.changed == 0, run.recap


@pytest.mark.refusal(area="cluster (ceph role)", field="ceph_pools[].size",
                     message="needs at least 4 distinct 'host' failure domains",
                     fix="a size no larger than the number of hosts with OSDs, or more nodes first (expand.yml)")
def test_too_few_nodes_for_replica_size_is_refused(cluster_lab, proves_refusal):
    pools = json.dumps({"ceph_pools": [{"name": "vms", "size": 4, "min_size": 2}]})
    _assert_refused(playbook("cluster.yml", *SCOPE, "-e", pools), "needs at least 4 distinct 'host' failure domains",
                    proves=proves_refusal)


@pytest.mark.refusal(area="cluster (ceph role)", field="ceph_public_network, ceph_public_address, ceph_osd_devices",
                     message="is not in the plan: ceph_public_address",
                     fix="every node's storage address inside ceph_public_network, OSD disks by /dev/disk/by-id, each once")
def test_node_missing_from_the_address_plan_is_refused(cluster_lab, proves_refusal):
    _assert_refused(playbook("cluster.yml", *SCOPE, "-e", "ceph_public_network=10.99.0.0/24"), "is not in the plan",
                    proves=proves_refusal)


@pytest.mark.refusal(area="cluster (ceph role)", field="ceph_osd_devices",
                     message="refusing OSD device(s) that hold a partition table or a filesystem",
                     fix="check it is the right disk, then wipe it (wipefs) or set ceph_osd_wipe: true")
def test_osd_disk_with_a_filesystem_is_refused(cluster_lab, tmp_path, proves_refusal):
    img = tmp_path / "fs.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img), "4M"], check=True)
    disk = _osd_devices("node2")[-1]
    if b"ceph_bluestore" in ssh("node2", f"blkid -p {disk}", check=False).stdout:
        pytest.skip("node2's disks already hold this cluster's OSDs")
    ssh("node2", f"dd of={disk} bs=64k count=1 conv=notrunc status=none", stdin=img.read_bytes()[:65536])
    try:
        _assert_refused(playbook("cluster.yml", *SCOPE), "refusing OSD device(s) that hold a partition table or a filesystem",
                        proves=proves_refusal)
    finally:
        ssh("node2", f"wipefs --all --quiet {disk}")


def _node_state(node: str) -> str:
    return ssh(node, "dpkg -l | md5sum; ls /etc/ceph /var/lib/ceph /etc/libvirt /etc/reforge 2>/dev/null | md5sum").stdout


FOREIGN_COROSYNC = """totem {
    version: 2
    cluster_name: payroll
    transport: knet
}
nodelist {
    node {
        ring0_addr: 10.9.9.1
        name: payroll1
        nodeid: 1
    }
}
"""


@needs_full_stack
@pytest.mark.refusal(area="cluster (ha_cluster role)", field="the node's /etc/corosync/corosync.conf",
                     message="already has a corosync.conf of another cluster",
                     fix="remove the node from that cluster first")
def test_node_of_another_corosync_cluster_is_refused_before_any_change(cluster_lab, proves_refusal):
    # A fresh node has none, or Debian's placeholder (a node with the packages: the baked lab nodes).
    had = ssh("node3", "cat /etc/corosync/corosync.conf", check=False)
    if had.returncode == 0 and b"cluster_name: debian" not in had.stdout:
        pytest.skip("node3 already belongs to a cluster")
    before = {n: _node_state(n) for n in ("node1", "node2", "node3")}
    ssh("node3", "mkdir -p /etc/corosync && cat > /etc/corosync/corosync.conf", stdin=FOREIGN_COROSYNC.encode())
    try:
        _assert_refused(playbook("cluster.yml"), "node3 already has a corosync.conf of another cluster", proves=proves_refusal)
    finally:
        if had.returncode == 0:
            ssh("node3", "cat > /etc/corosync/corosync.conf", stdin=had.stdout)
        else:
            ssh("node3", "rm -f /etc/corosync/corosync.conf; rmdir /etc/corosync")
    assert {n: _node_state(n) for n in before} == before


@needs_full_stack
@pytest.mark.refusal(area="migration (migration_wave role)", field="migration_wave_sync_host, migration_wave_rbd_auth",
                     message="VMs on RBD need libvirt's Ceph secret on node1",
                     fix="run the hypervisor role on the sync host first, or set migration_wave_rbd_auth")
def test_wave_into_rbd_is_refused_on_a_sync_host_without_libvirts_ceph_secret(cluster_lab, lab, proves_refusal):
    # On a built cluster, hide the hypervisor stage's file for the length of the test.
    hidden = ssh("node1", "test -e /etc/libvirt/reforge-rbd.json", check=False).returncode == 0
    if hidden:
        ssh("node1", "mv /etc/libvirt/reforge-rbd.json /etc/libvirt/reforge-rbd.json.test-hidden")
    sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "migration"))
    from migration_labvc import LabVC  # pylint: disable=import-outside-toplevel
    conn = LabVC(lab.get("vcsim")).connect()
    wave = ("db01", "batch01", "batch02", "batch03")
    power = {name: vmops.find_vm(conn, name).runtime.powerState for name in wave}
    before = _node_state("node1")
    try:
        # A refused wave still writes its report on the controller (the audit trail says why).
        _assert_refused(playbook("migrate.yml"), "VMs on RBD need libvirt's Ceph secret on node1", reports=True,
                        proves=proves_refusal)
        assert _node_state("node1") == before
        assert {name: vmops.find_vm(conn, name).runtime.powerState for name in wave} == power
    finally:
        conn.close()
        if hidden:
            ssh("node1", "mv /etc/libvirt/reforge-rbd.json.test-hidden /etc/libvirt/reforge-rbd.json")


def test_check_mode_on_fresh_nodes_changes_nothing(cluster_lab):
    before = {n: ssh(n, "dpkg -l | md5sum; ls /etc/ceph /var/lib/ceph 2>/dev/null | md5sum").stdout for n in ("node1", "node2", "node3")}
    run = playbook("cluster.yml", *SCOPE, "--check", "--diff")
    assert run.rc == 0, run.output[-4000:]
    after = {n: ssh(n, "dpkg -l | md5sum; ls /etc/ceph /var/lib/ceph 2>/dev/null | md5sum").stdout for n in before}
    assert before == after
    if _baked("node1"):
        # Nodes with the packages but no cluster yet: the dry run goes as far as it can and says
        # what it would make where a step needs the one before (the monitor stores).
        assert run.output.count("would make the monitor store") == 3, run.output[-4000:]


INSTALL_TASKS = ("Install Ceph packages", "Install QEMU and libvirt", "Install the cluster stack")


def _install_changes(run) -> dict[str, list[str]]:
    """Install task -> the hosts on which it reported a change."""
    out: dict[str, list[str]] = {}
    for line in run.changed_tasks():
        task = next((t for t in INSTALL_TASKS if f": {t}]" in line), None)
        if task:
            out.setdefault(task, []).append(line.split("changed: [", 1)[1].split("]", 1)[0])
    return out


def _lab_node(node: str) -> dict:
    """The lab's description of a node (tests/lab/nodes/ctl.sh writes nodes.json)."""
    nodes = json.loads((LAB_DIR / "nodes.json").read_text())["nodes"]
    return next(n for n in nodes if n["name"] == node)


def _baked(node: str) -> bool:
    return bool(_lab_node(node).get("baked"))


def test_three_nodes_reach_health_ok(cluster_lab):
    run = playbook("cluster.yml", *SCOPE)
    assert run.rc == 0, run.output[-6000:]
    MEASURED["cluster_build_seconds"] = round(run.seconds, 1)
    # The lab's build-out nodes boot an image that already holds the roles' packages
    # (tests/lab/nodes/bake.sh): every install task ran there and found nothing to do.
    # A node booted bare installs for real (node4, in the expansion test).
    installed = _install_changes(run)
    for task in INSTALL_TASKS if FULL else INSTALL_TASKS[:1]:
        assert f": {task}]" in run.output, f"{task} did not run"
    for task, hosts in installed.items():
        assert not [h for h in hosts if _baked(h)], f"{task} changed a baked node: {hosts}"
    assert _healthy("node1")
    osd = ceph_json("node2", "osd", "stat")
    assert osd["num_osds"] == osd["num_up_osds"] == osd["num_in_osds"] == 6, osd
    quorum = ceph_json("node3", "quorum_status")
    assert sorted(quorum["quorum_names"]) == ["node1", "node2", "node3"]
    mgr = ceph_json("node1", "mgr", "module", "ls")
    assert "prometheus" in mgr["enabled_modules"]
    pool = [p for p in ceph_json("node1", "osd", "pool", "ls", "detail") if p["pool_name"] == "vms"][0]
    assert (pool["size"], pool["min_size"]) == (3, 2)
    assert "rbd" in pool["application_metadata"]
    MEASURED["lab_memory_mib_after_build"] = _host_used_mib()


def test_rbd_image_written_on_one_node_reads_back_identical_on_another(cluster_lab):
    data = os.urandom(8 << 20)
    ssh("node1", "rbd rm vms/xnode-check >/dev/null 2>&1; rbd import - vms/xnode-check", stdin=data)
    try:
        out = ssh("node3", "rbd export vms/xnode-check - | sha256sum").stdout.decode().split()[0]
        assert out == hashlib.sha256(data).hexdigest()
    finally:
        ssh("node1", "rbd rm vms/xnode-check", check=False)


@needs_full_stack
def test_tcg_vm_boots_from_rbd_under_pacemaker(cluster_lab):
    disk = boot_sector(MARKER + b"\r\n").ljust(1 << 20, b"\0")
    if ssh("node1", f"rbd info vms/{VM}-disk", check=False).returncode != 0:
        ssh("node1", f"rbd import - vms/{VM}-disk", stdin=disk)
    # Adding a VM to a built cluster is the HA stage's tag (docs/cluster.md); the next test
    # runs the whole playbook with the VM and finds nothing to change.
    run = playbook("cluster.yml", "-t", "ha_cluster_run", "-e", VM_VARS)
    assert run.rc == 0, run.output[-6000:]
    assert [t for t in run.changed_tasks() if f"Create the VirtualDomain resource - {VM}]" in t], run.changed_tasks()
    where = wait_for(lambda: resource_node("node1", f"vm-{VM}"), 120, what="VM resource started")
    assert where == "node1"
    # Pacemaker may list a start that is still in progress (a TCG guest takes a while).
    wait_domain_running(where, VM)
    # TCG here (KVM does not run guests on these machines): the probe chose it, the domain uses it.
    chosen = ssh(where, "cat /etc/libvirt/reforge-domain-type").stdout.decode().strip()
    assert chosen == "qemu"
    assert f"<domain type='{chosen}'" in ssh(where, f"virsh dumpxml {VM}").stdout.decode()
    wait_for(lambda: MARKER in ssh(where, f"cat /var/log/libvirt/qemu/{VM}-serial.log", check=False).stdout,
             60, what="guest output on the serial port")


@needs_full_stack
def test_live_migration_between_nodes(cluster_lab):
    src = resource_node("node1", f"vm-{VM}")
    dst = "node2" if src != "node2" else "node3"
    ssh(dst, f"truncate -s0 /var/log/libvirt/qemu/{VM}-serial.log", check=False)
    start = time.monotonic()
    ssh("node1", f"pcs resource move vm-{VM} {dst}")
    try:
        wait_for(lambda: resource_node("node1", f"vm-{VM}") == dst, 180, what=f"VM on {dst}")
        wait_domain_running(dst, VM)
        MEASURED["live_migration_seconds"] = round(time.monotonic() - start, 1)
        # Migrated, not rebooted: a fresh boot would have printed the marker again.
        log = ssh(dst, f"cat /var/log/libvirt/qemu/{VM}-serial.log", check=False).stdout
        assert MARKER not in log
        journal = ssh(src, "journalctl -u pacemaker --since '-5min' --no-pager | grep -c migrate_to", check=False)
        assert int(journal.stdout.decode().strip() or 0) >= 1
    finally:
        ssh("node1", f"pcs resource clear vm-{VM}", check=False)


def test_second_run_changes_nothing(cluster_lab):
    run = playbook("cluster.yml", *SCOPE, *(["-e", VM_VARS] if FULL else []))
    assert run.rc == 0, run.output[-4000:]
    assert run.changed == 0, run.changed_tasks()
    MEASURED["cluster_rerun_seconds"] = round(run.seconds, 1)  # docs/performance.md: rerun vs first run
    if FULL:
        # Minutes after the build, node3 (no VM) still has its RBD pool: libvirtd runs without
        # Debian's --timeout 120, whose idle restarts bring an RBD pool back inactive.
        for node in ("node1", "node2", "node3"):
            assert "--timeout" not in ssh(node, "ps -o args= -C libvirtd").stdout.decode()
            assert "running" in ssh(node, "virsh pool-info vms | grep '^State:'").stdout.decode()


@pytest.mark.skipif(FULL, reason="the full scope dry-runs the whole site.yml on the built lab instead (test_check_mode_of_the_whole_site_playbook_...)")
def test_check_mode_on_the_built_cluster_reports_no_change(cluster_lab):
    run = playbook("cluster.yml", *SCOPE, "--check", "--diff")
    assert run.rc == 0, run.output[-4000:]
    assert run.changed == 0, run.changed_tasks()


def test_health_gate_blocks_on_a_fault_and_lets_load_signals_through(cluster_lab):
    """The stage's health gate: a raised warning blocks (and the failure names it) unless it is
    listed in ceph_health_warn_only, which a rerun on a busy machine needs for the slow OSD
    heartbeats (OSD_SLOW_PING_TIME_*). The noout flag stands in for a warning we can raise at will."""
    ssh("node1", "ceph osd set noout")
    try:
        wait_for(lambda: "OSDMAP_FLAGS" in ceph_json("node1", "health").get("checks", {}), 60,
                 what="OSDMAP_FLAGS raised")
        gate = ["-t", "ceph_health", "-e", "ceph_health_timeout=10"]
        blocked = playbook("cluster.yml", *gate)
        assert blocked.rc != 0, blocked.output[-3000:]
        assert "blocking health check(s) OSDMAP_FLAGS" in blocked.output, blocked.output[-3000:]
        assert blocked.changed == 0, blocked.changed_tasks()
        passed = playbook("cluster.yml", *gate, "-e", json.dumps({"ceph_health_warn_only": ["OSDMAP_FLAGS"]}))
        assert passed.rc == 0, passed.output[-3000:]
        assert "OSDMAP_FLAGS raised; these only warn" in passed.output, passed.output[-3000:]
        assert passed.changed == 0, passed.changed_tasks()
    finally:
        ssh("node1", "ceph osd unset noout")


@needs_full_stack
@pytest.mark.refusal(area="cluster (hypervisor role)", field="hypervisor_isolated_bridges",
                     message="already has bridge(s) br-foreign that no active libvirt network made",
                     fix="rename the bridge in hypervisor_isolated_bridges, or remove the foreign bridge")
def test_a_bridge_libvirt_did_not_make_is_refused_not_taken_over(cluster_lab, proves_refusal):
    """A VM bridge of the same name that no active libvirt network made (the network stage's, an
    operator's) stops the run: libvirt's failed start would delete it."""
    ssh("node3", "ip link add br-foreign type bridge")
    try:
        run = playbook("cluster.yml", "-t", "hypervisor_configure",
                       "-e", json.dumps({"hypervisor_isolated_bridges": ["br-vm", "br-foreign"]}))
        _assert_refused(run, "node3 already has bridge(s) br-foreign that no active libvirt network made", proves=proves_refusal)
        assert ssh("node3", "ip link show br-foreign", check=False).returncode == 0, "the bridge was deleted"
        for node in ("node1", "node2", "node3"):
            assert ssh(node, "test -e /etc/libvirt/reforge-net-br-foreign.xml", check=False).returncode != 0
    finally:
        ssh("node3", "ip link del br-foreign", check=False)


def test_raw_osds_of_an_older_build_are_moved_to_disk_by_a_rerun(cluster_lab):
    """Builds before 0.3 prepared raw OSDs on a tmpfs data dir that a reboot empties.

    Rebuild that state on node2 (one OSD still running from tmpfs, one whose tmpfs a
    reboot emptied); a rerun moves both to disk, one at a time, and they run again.
    """
    osds = sorted(int(i) for i in ssh("node2", "ls /var/lib/ceph/osd | sed -n 's/^ceph-//p'").stdout.decode().split())
    assert len(osds) == 2, osds
    on_tmpfs, emptied = osds
    total = ceph_json("node1", "osd", "stat")["num_osds"]
    for osd in osds:
        ssh("node2", f"set -e; d=/var/lib/ceph/osd/ceph-{osd}; readlink -f $d/block > /run/reforge-test-osd-{osd};"
                     f" systemctl stop ceph-osd@{osd}; find $d -mindepth 1 -delete")
    # What 0.x did: activate with ceph-volume's default tmpfs data dir.
    ssh("node2", f"set -e; ceph-volume raw activate --no-systemd --device $(cat /run/reforge-test-osd-{on_tmpfs});"
                 f" systemctl start ceph-osd@{on_tmpfs}")
    assert _data_dir_fs("node2", on_tmpfs) == "tmpfs"

    # The Ceph stages only, in every scope: the repair is the ceph role's.
    run = playbook("cluster.yml", *CEPH_TAGS)
    assert run.rc == 0, run.output[-4000:]
    repaired = [t for t in run.changed_tasks() if "Activate raw OSDs into persistent data dirs" in t]
    assert len(repaired) == 2 and all("node2" in t for t in repaired), run.changed_tasks()
    stable = _osd_stable_paths("node2")
    for osd in osds:
        assert _data_dir_fs("node2", osd) != "tmpfs"
        listing = ssh("node2", f"ls /var/lib/ceph/osd/ceph-{osd}").stdout.decode().split()
        assert {"keyring", "whoami", "block"} <= set(listing), listing
        link = ssh("node2", f"readlink /var/lib/ceph/osd/ceph-{osd}/block").stdout.decode().strip()
        device = ssh("node2", f"cat /run/reforge-test-osd-{osd}").stdout.decode().strip()
        assert link == stable[device], (osd, link, device)
    wait_for(lambda: ceph_json("node1", "osd", "stat")["num_up_osds"] == total, 180, what="all OSDs up")
    wait_for(lambda: _healthy("node1"), 300, interval=5, what="HEALTH_OK after the repair")
    again = playbook("cluster.yml", *CEPH_TAGS)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()


def _data_dir_fs(node: str, osd: int) -> str:
    return ssh(node, f"stat -f -c %T /var/lib/ceph/osd/ceph-{osd}").stdout.decode().strip()


def _osd_stable_paths(node: str) -> dict[str, str]:
    """Kernel device name -> the stable path the inventory names it by."""
    out = ssh(node, "for p in " + " ".join(_osd_devices(node)) + '; do echo "$(readlink -f $p) $p"; done')
    return dict(line.split() for line in out.stdout.decode().splitlines())


def test_expansion_to_four_nodes_keeps_the_vm_running(cluster_lab):
    vm_vars = ["-e", VM_VARS] if FULL else []
    if FULL:
        where = resource_node("node1", f"vm-{VM}")
        domid = ssh(where, f"virsh domid {VM}").stdout.decode().strip()
    size_before = ceph_json("node1", "df")["stats"]["total_bytes"]
    run = playbook("expand.yml", *SCOPE, *vm_vars)
    assert run.rc == 0, run.output[-6000:]
    MEASURED["expand_seconds"] = round(run.seconds, 1)
    if not _baked("node4"):
        # The install path from a bare Debian: every role's install task put its packages on node4.
        installed = _install_changes(run)
        for task in INSTALL_TASKS if FULL else INSTALL_TASKS[:1]:
            assert installed.get(task) == ["node4"], (task, installed)
    osd = ceph_json("node1", "osd", "stat")
    assert osd["num_osds"] == osd["num_up_osds"] == 8, osd
    assert ceph_json("node1", "df")["stats"]["total_bytes"] > size_before
    assert _healthy("node1")
    if FULL:
        online = ssh("node1", "crm_node -l").stdout.decode()
        assert "node4" in online and "member" in online
        # Same node, same domain id: never stopped or moved.
        assert resource_node("node1", f"vm-{VM}") == where
        assert ssh(where, f"virsh domid {VM}").stdout.decode().strip() == domid
    rerun = playbook("expand.yml", *SCOPE, *vm_vars)
    assert rerun.rc == 0 and rerun.changed == 0, rerun.changed_tasks()
    MEASURED["lab_memory_mib_after_expand"] = _host_used_mib()


RBD_READ = r"""
import hashlib, json, sys, rados, rbd
spec = json.load(sys.stdin)
with rados.Rados(conffile="/etc/ceph/ceph.conf") as cluster, cluster.open_ioctx(spec["pool"]) as ioctx:
    with rbd.Image(ioctx, spec["image"], read_only=True) as image:
        out = {"size": image.size(), "extents": []}
        for offset, length in spec["extents"]:
            digest, pos = hashlib.sha256(), offset
            while pos < offset + length:
                n = min(4 << 20, offset + length - pos)
                digest.update(image.read(pos, n))
                pos += n
            out["extents"].append(digest.hexdigest())
print(json.dumps(out))
"""


def _source_extent_hashes(path: str, extents: list) -> list[str]:
    out = []
    with open(path, "rb") as fh:
        for offset, length in extents:
            digest = hashlib.sha256()
            fh.seek(offset)
            left = length
            while left:
                chunk = fh.read(min(4 << 20, left))
                digest.update(chunk)
                left -= len(chunk)
            out.append(digest.hexdigest())
    return out


@needs_full_stack
def test_wave_migrates_from_vcenter_into_the_cluster_and_pacemaker_runs_the_vms(cluster_lab, lab):
    """The lab inventory's own wave (what `make demo` runs): copies on node1 into RBD, libvirt boot, Pacemaker."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "migration"))
    from migration_labvc import LabVC, data_extents  # pylint: disable=import-outside-toplevel
    vc = LabVC(lab.get("vcsim"))
    conn = vc.connect()
    wave = ("db01", "batch01", "batch02", "batch03")
    power = {name: vmops.find_vm(conn, name).runtime.powerState for name in wave}
    try:
        _wave_into_the_cluster(vc, data_extents)
    finally:
        # Later test modules use the same vCenter: give the sources their power state back.
        for name, state in power.items():
            if state == "poweredOn":
                vmops.power_on(conn, vmops.find_vm(conn, name))
        conn.close()


def _wave_into_the_cluster(vc, data_extents) -> None:
    report_dir = LAB_DIR / "migration" / "reports"
    before = vc.counters()
    # With the lab campus's policy: the wave puts its VMs into their tiers on every node first.
    run = playbook("migrate.yml", "-e", POLICY, timeout=2400)
    assert run.rc == 0, run.output[-8000:]
    MEASURED["wave_seconds"] = round(run.seconds, 1)
    report = json.loads((report_dir / "lab-wave1.json").read_text())
    # node1 read every byte from the ESXi hosts (through the lab uplink), none through vCenter.
    moved = vc.counters_since(before)
    assert moved.get("vcenter_bytes", 0) == 0, moved
    assert moved.get("esxi_bytes", 0) >= sum(s["bytes_read"] for s in report["syncs"]) > 0, moved
    cut = {c["vm"]: c for c in report["cutovers"]}
    assert sorted(cut) == ["batch01", "batch02", "batch03", "db01"] and all(c["cut_over"] for c in cut.values()), cut
    db01 = [s for s in report["syncs"] if s["vm"] == "db01"]
    assert [s["phase"] for s in db01][:3] == ["full", "incremental1", "incremental2"]
    for sync in db01[1:3]:
        assert sync["bytes_areas"] == 513 * 65536 and sync["bytes_read"] == sync["bytes_areas"]
    MEASURED["wave_syncs"] = [{k: s[k] for k in ("vm", "phase", "bytes_areas", "bytes_read", "read_mb_per_s")}
                              for s in report["syncs"]]
    for name in cut:
        # Target equals source: the source's data extents (read from the simulator's file,
        # not from what the engine believes) hash the same in the RBD image on the cluster.
        key = vc.disk(name, 2000)["key"]
        base = vc.base_file(name, key)
        extents = data_extents(base)
        spec = json.dumps({"pool": "vms", "image": f"{name}-disk{key}", "extents": extents}).encode()
        got = json.loads(ssh("node2", "python3 -c '%s'" % RBD_READ.replace("'", "'\\''"), stdin=spec).stdout)
        assert got["size"] == os.path.getsize(base)
        assert got["extents"] == _source_extent_hashes(base, extents), name
        # Pacemaker runs it, and it booted from Ceph under libvirt.
        where = wait_for(lambda n=name: resource_node("node1", f"vm-{n}"), 120, what=f"vm-{name} started")
        wait_domain_running(where, name)
        xml = ssh(where, f"virsh dumpxml {name}").stdout.decode()
        assert f"vms/{name}-disk{key}" in xml and "protocol='rbd'" in xml
    # Rerun: the wave is done, nothing is copied or cut over again.
    rerun = playbook("migrate.yml", "-e", POLICY, timeout=1200)
    assert rerun.rc == 0, rerun.output[-6000:]


def _boot_sector_that_writes(marker: bytes = b"REFORGE-OK") -> bytes:
    """An MBR boot sector that writes to its disk as a real boot does (its own 512 bytes into sector 2,
    through BIOS INT 13h), then prints ``marker`` on COM1 and halts."""
    msg = marker + b"\r\n\x00"
    code = bytearray(b"\xfa\x31\xc0\x8e\xd8\x8e\xc0\xfc\xfb")  # cli; xor ax,ax; mov ds/es,ax; cld; sti
    code += b"\xb8\x01\x03\xb9\x02\x00\xb6\x00"  # mov ax,0x0301 (write 1); mov cx,2 (C0 S2); mov dh,0 (H0)
    code += b"\xbb\x00\x7c\xcd\x13"  # mov bx,0x7c00 (ES:BX = this sector); int 13h (dl: the BIOS's drive)
    mov_si_at = len(code)
    code += b"\xbe\x00\x00\xba\xf8\x03"  # mov si,msg; mov dx,0x3f8 (COM1)
    loop = len(code)
    code += b"\xac\x84\xc0\x74\x03\xee"  # lodsb; test al,al; jz halt; out dx,al
    code += bytes([0xeb, (loop - (len(code) + 2)) & 0xff])
    halt = len(code)
    code += b"\xfa\xf4" + bytes([0xeb, (halt - (len(code) + 4)) & 0xff])  # cli; hlt; jmp hlt
    struct.pack_into("<H", code, mov_si_at + 1, 0x7C00 + len(code))
    code += msg
    return bytes(code) + bytes(510 - len(code)) + b"\x55\xaa"


@needs_full_stack
def test_failed_libvirt_boot_check_leaves_the_rbd_image_as_synced_and_the_source_on(cluster_lab, lab):
    """Issue 13 item 1: the libvirt cutover boots the RBD image itself; a guest that writes while it boots and
    never passes the alive check must leave the image equal to the source, no snapshot, no running domain."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "migration"))
    from migration_labvc import LabVC, data_extents  # pylint: disable=import-outside-toplevel
    name, key = "web01", 2000  # BIOS, not in the lab wave
    image = f"vms/{name}-disk{key}"
    # a fresh target each run: no journal, image, domain or record of an earlier attempt
    ssh("node1", f"virsh destroy {name}; virsh undefine {name}; rbd snap purge {image}; rbd rm {image}; "
                 f"rm -f /var/lib/reforge/migration/journal/{name}[.-]*", check=False)
    vc = LabVC(lab.get("vcsim"))
    conn = vc.connect()
    vc.write(name, key, 0, _boot_sector_that_writes())
    vmops.power_on(conn, vmops.find_vm(conn, name))
    wave = {"migration_wave_name": "lab-bootcheck-rollback", "migration_wave_ha": False,
            "migration_wave_pre_tasks": "", "migration_wave_alive_timeout": 120,
            "migration_wave_vms": [{"name": name, "tier": "tier2", "mode": "batch",
                                    "alive_pattern": "REFORGE-NEVER-SEEN"}]}
    run = playbook("migrate.yml", "-e", json.dumps(wave), timeout=1800)
    # the guest booted on the image and wrote to it before it printed this (then the check timed out)
    assert b"REFORGE-OK" in ssh("node1", f"cat /var/log/libvirt/qemu/{name}-serial.log").stdout
    assert vmops.find_vm(conn, name).runtime.powerState == "poweredOn"
    conn.close()
    assert ssh("node1", f"virsh domstate {name}").stdout.decode().strip() == "shut off"
    snaps = [s["name"] for s in json.loads(ssh("node1", f"rbd snap ls --format json {image}").stdout)]
    assert not [s for s in snaps if s.startswith("reforge-bootcheck-")], snaps  # the sync's own may stay
    assert ssh("node1", f"test -e /var/lib/reforge/migration/journal/{name}.cutover.json", check=False).returncode
    base = vc.base_file(name, key)
    extents = data_extents(base)
    spec = json.dumps({"pool": "vms", "image": f"{name}-disk{key}", "extents": extents}).encode()
    got = json.loads(ssh("node2", "python3 -c '%s'" % RBD_READ.replace("'", "'\\''"), stdin=spec).stdout)
    assert got["size"] == os.path.getsize(base)
    assert got["extents"] == _source_extent_hashes(base, extents), "the boot's writes stayed on the target"
    assert "rollback_base_restored" in run.output, run.output[-6000:]


WAVE_RECORD_TASKS = tuple(f"TASK [reforge.hci.migration_wave : {t}]" for t in (
    "Write this run's dated record", "Write this run's dated HTML report",
    "Write the wave's history (atomic replace, this run appended)", "Write the latest JSON report (the whole history)",
    "Write the latest HTML report (the whole history)"))


# Stage 6 on the cluster: the lab campus's policy (tests/lab/microseg/lab-policy.yml), a traffic guest
# (tests/lab/guest: a Linux VM sending UDP from its own e1000 NIC every 100 ms) in tier app, and on each node's
# br-vm two hosts it sends to: seg-db (tier db, allowed udp/5432) and seg-training (tier training, denied).
POLICY = f"@{REPO_ROOT / 'tests' / 'lab' / 'microseg' / 'lab-policy.yml'}"
SEG_VM = "segvm"
SEG_PEERS = {"db": ("02:99:00:00:00:20", "10.99.0.20"), "training": ("02:99:00:00:00:30", "10.99.0.30")}
SEG_PARAMS = " ".join(["seg.name=segvm", "seg.ip=10.99.0.10", "seg.mask=255.255.255.0"]
                      + [f"seg.peer={ip},{mac},5432" for mac, ip in SEG_PEERS.values()])
SEG_RX = """import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 5432))
with open(sys.argv[1], "a") as log:
    while True:
        log.write("%.3f %s\\n" % (time.time(), sock.recv(256).decode(errors="replace").strip()))
        log.flush()
"""


def _seg_peers(node: str) -> None:
    """seg-db and seg-training on the node's br-vm (a namespace each, a veth into the bridge), each receiving
    UDP 5432 into /run/reforge-segrx-<tier>.log; idempotent."""
    script = ["set -e"]
    for tier, (mac, ip) in SEG_PEERS.items():
        ns, host = f"seg-{tier}", f"seg-{tier}-h"
        script += [f"ip netns add {ns} 2>/dev/null || true",
                   f"if ! ip link show {host} >/dev/null 2>&1; then ip link add {host} type veth peer name eth0 netns {ns};"
                   f" ip link set {host} master br-vm up; ip -n {ns} link set eth0 address {mac};"
                   f" ip -n {ns} addr add {ip}/24 dev eth0; ip -n {ns} link set eth0 up; fi",
                   f"systemctl is-active -q reforge-segrx-{tier} || systemd-run -q --unit reforge-segrx-{tier} "
                   f"ip netns exec {ns} python3 -u /run/reforge-segrx.py /run/reforge-segrx-{tier}.log"]
    ssh(node, "cat > /run/reforge-segrx.py", stdin=SEG_RX.encode())
    ssh(node, "\n".join(script))


def _seg_rx(node: str, tier: str) -> list[int]:
    """The guest's sequence numbers the node's seg-<tier> received (empty when none)."""
    out = ssh(node, f"cat /run/reforge-segrx-{tier}.log 2>/dev/null", check=False).stdout.decode()
    return [int(line.split()[-1]) for line in out.splitlines() if line.split()[1:3] == ["seg", SEG_VM]]


def _seg_counter(node: str, name: str) -> int:
    out = ssh(node, f"nft -j list counter bridge reforge_microseg {name}").stdout
    return next(o["counter"]["packets"] for o in json.loads(out)["nftables"] if "counter" in o)


def _seg_vm_vars(prefer: str) -> str:
    vms = json.loads(VM_VARS)["ha_cluster_vms"] + [
        {"name": SEG_VM, "rbd_image": f"{SEG_VM}-disk", "memory_mib": 160, "vcpus": 1, "prefer": prefer,
         "interfaces": [{"bridge": "br-vm", "mac": "52:54:00:99:00:10", "model": "e1000"}]}]
    return json.dumps({"ha_cluster_vms": vms})


@needs_full_stack
def test_segmentation_follows_a_vm_through_live_migration_and_a_policy_change(cluster_lab):
    """Issue 16: segment.yml puts the lab policy on all four nodes (with the wave's VMs in their tiers); a real
    VM sends to an allowed and a denied peer while Pacemaker live-migrates it: the allowed stream goes on from
    the new node, the denied one never arrives anywhere, and its drops are counted on both nodes. A policy
    change takes effect without restarting anything; check mode shows it and writes nothing."""
    nodes = ("node1", "node2", "node3", "node4")
    run = playbook("segment.yml", "-e", POLICY)
    assert run.rc == 0, run.output[-6000:]
    MEASURED["segment_seconds"] = round(run.seconds, 1)
    wave = json.loads((LAB_DIR / "microseg" / "members" / "lab-wave1.members.json").read_text())
    db01 = next(v for v in wave["vms"] if v["name"] == "db01")
    for node in nodes:
        sets = {o["set"]["name"]: o["set"].get("elem", []) for o in json.loads(
            ssh(node, "nft -j list sets bridge").stdout)["nftables"] if "set" in o}
        assert "52:54:00:99:00:10" in sets["tier_app"] and set(db01["macs"]) <= set(sets["tier_tier1"]), (node, sets)
        assert ssh(node, "systemctl is-enabled reforge-microseg.service").returncode == 0
    rerun = playbook("segment.yml", "-e", POLICY)
    assert rerun.rc == 0 and rerun.changed == 0, rerun.changed_tasks()

    for node in nodes:
        _seg_peers(node)
    image = subprocess.run([str(REPO_ROOT / "tests" / "lab" / "guest" / "build.sh"), SEG_PARAMS], check=True,
                           capture_output=True, text=True, timeout=300).stdout.strip()
    if ssh("node1", f"rbd info vms/{SEG_VM}-disk", check=False).returncode != 0:
        with open(image, "rb") as fh:
            ssh("node1", f"rbd import - vms/{SEG_VM}-disk", stdin=fh.read(), timeout=300)
    # It starts away from the HA test VM's node and live-migrates there: the fencing test (below)
    # then fails that node over with both VMs on it.
    home = resource_node("node1", f"vm-{VM}")
    start_on = next(n for n in nodes if n != home)
    run = playbook("cluster.yml", "-t", "ha_cluster_run", "-e", _seg_vm_vars(start_on))
    assert run.rc == 0, run.output[-6000:]
    src = wait_for(lambda: resource_node("node1", f"vm-{SEG_VM}"), 120, what="segvm started")
    wait_domain_running(src, SEG_VM)
    wait_for(lambda: b"REFORGE-SEG up" in ssh(src, f"cat /var/log/libvirt/qemu/{SEG_VM}-serial.log", check=False).stdout,
             180, what="the traffic guest up")
    wait_for(lambda: len(_seg_rx(src, "db")) >= 20, 60, what="the allowed stream (app -> db udp/5432)")
    dst = home if home != src else next(n for n in nodes if n != src)
    drops = {n: _seg_counter(n, "drop_app__training") for n in (src, dst)}
    assert drops[src] > 0, "the denied stream is dropped and counted on the VM's node"
    last_on_src = max(_seg_rx(src, "db"))
    start = time.monotonic()
    ssh("node1", f"pcs resource move vm-{SEG_VM} {dst}")
    try:
        wait_for(lambda: resource_node("node1", f"vm-{SEG_VM}") == dst, 180, what=f"segvm on {dst}")
        wait_domain_running(dst, SEG_VM)
        # The guest's own counter goes on from where it was: migrated live, not rebooted, and sending from dst.
        got = wait_for(lambda: [q for q in _seg_rx(dst, "db") if q > last_on_src + 20], 120, what="the stream from dst")
        MEASURED["segvm_migration_seconds"] = round(time.monotonic() - start, 1)
        assert min(got) > last_on_src - 50, (last_on_src, min(got))
    finally:
        ssh("node1", f"pcs resource clear vm-{SEG_VM}", check=False)
    assert _seg_counter(dst, "drop_app__training") > drops[dst], "dropped on the new node too"
    # Denied throughout, on every node: not one datagram of the denied stream ever arrived.
    assert all(_seg_rx(n, "training") == [] for n in nodes), {n: len(_seg_rx(n, "training")) for n in nodes}

    # A policy change: check mode shows it and changes nothing; applied, it takes effect with the VM running.
    domid = ssh(dst, f"virsh domid {SEG_VM}").stdout.decode().strip()
    opened = json.dumps({"microseg_flows": yaml.safe_load((REPO_ROOT / "tests" / "lab" / "microseg" / "lab-policy.yml")
                                                          .read_text())["microseg_flows"]
                         + [{"from": "app", "to": "training", "proto": "udp", "ports": [5432]}]})
    table = ssh(dst, "nft --stateless list table bridge reforge_microseg").stdout
    dry = playbook("segment.yml", "--check", "--diff", "-e", POLICY, "-e", opened)
    assert dry.rc == 0 and dry.changed >= 4 and "counter name allow_app__training accept" in dry.output, dry.output[-3000:]
    assert ssh(dst, "nft --stateless list table bridge reforge_microseg").stdout == table
    run = playbook("segment.yml", "-e", POLICY, "-e", opened)
    assert run.rc == 0, run.output[-4000:]
    wait_for(lambda: len(_seg_rx(dst, "training")) >= 10, 60, what="the newly allowed stream")
    back = playbook("segment.yml", "-e", POLICY)
    assert back.rc == 0, back.output[-4000:]
    closed = len(_seg_rx(dst, "training"))
    time.sleep(3)
    assert len(_seg_rx(dst, "training")) == closed, "denied again as soon as the policy says so"
    assert ssh(dst, f"virsh domid {SEG_VM}").stdout.decode().strip() == domid, "nothing was restarted"
    ssh(dst, "truncate -s0 /run/reforge-segrx-training.log")

    # The campus's evidence and topology page from the cluster: the probe matrix on node1's br-vm (every tier
    # pair, allowed and denied), the table in force on all four nodes, the counters of a 5 s window in which
    # segvm's denied stream is dropped, the Ceph OSD tree.
    sys.path.insert(0, str(REPO_ROOT / "tests" / "lab" / "microseg"))
    from node_probes import probe_matrix  # pylint: disable=import-outside-toplevel
    probes = probe_matrix("node1", ssh=lambda n, c, stdin=None, check=True: ssh(n, c, stdin=stdin, check=check))
    wrong = [p for p in probes if (p["expected"] == "allow") != p["passed"]]
    assert len(probes) == 80 and not wrong, wrong
    out = LAB_DIR / "microseg" / "evidence"
    (LAB_DIR / "microseg").mkdir(exist_ok=True)
    (LAB_DIR / "microseg" / "probes.json").write_text(json.dumps(probes))
    run = playbook("segment.yml", "-e", POLICY, "-e", json.dumps({
        "microseg_evidence_dir": str(out), "microseg_evidence_probes": str(LAB_DIR / "microseg" / "probes.json"),
        "microseg_topology_dir": str(out), "microseg_topology_campus": "lab", "microseg_topology_window": 5,
        "microseg_topology_ceph": True}))
    assert run.rc == 0, run.output[-6000:]
    doc = json.loads((out / "lab-segmentation-evidence.json").read_text())
    assert doc["verdict"] == "PASS" and doc["nodes"] == list(nodes) and doc["summary"]["probes"] == 80, doc["summary"]
    assert all("tier_app" in r["rules_in_force"] for r in doc["rules_in_force"])
    pairs = {(p["src"], p["dst"]): p for p in doc["tier_pairs"]}
    assert len(pairs) == 20 and pairs[("app", "training")]["dropped_packets"] > 0, pairs[("app", "training")]
    assert pairs[("app", "db")]["allowed_packets"] > 0
    page = (out / "lab-topology.html").read_text()
    assert "segvm" in page and "osd." in page


@pytest.fixture(scope="module")
def mgmt_plane():
    """A campus plane on this host: Debian's Prometheus and Alertmanager (tests/integration/mgmt),
    5 s scrape and evaluation, kept in the lab dir (the secrets proof scans it) until the module ends."""
    from integration.mgmt.mgmt_plane import Plane  # pylint: disable=import-outside-toplevel
    root = LAB_DIR / "mgmt-plane"
    subprocess.run(["rm", "-rf", str(root)], check=True)
    plane = Plane(root, interval="5s", timeout="4s")
    yield plane
    plane.stop()


def _plane_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _am_alerts(plane, name: str, **labels) -> list[dict]:
    return [a for a in _plane_json(plane.alertmanager_url + "/api/v2/alerts")
            if a["labels"].get("alertname") == name and all(a["labels"].get(k) == v for k, v in labels.items())]


def _register_vars(plane, **extra) -> str:
    reuse = sorted((LAB_DIR / "reports").glob("*-reuse.json"))
    return json.dumps(dict({
        "reforge_mgmt_hosts": "localhost", "mgmt_register_install": False, "mgmt_register_prometheus": plane.options(),
        "mgmt_register_campus_name": "lab", "mgmt_register_campus_cluster": "lab-hci",
        "mgmt_register_campus_extra": {"alert_for": {"osd_down": "15s", "target_down": "1m"}},
        "mgmt_register_reuse_report": str(reuse[0]) if reuse else ""}, **extra))


@needs_full_stack
def test_campus_registers_with_the_plane_and_every_exporter_target_is_up(cluster_lab, mgmt_plane):
    """Issue 15: register.yml puts Debian's exporters on the four nodes (the Ceph mgr's prometheus
    module is the ceph role's) and enrols the lab campus, its targets taken from the inventory:
    every target up with its campus/cluster labels (of the Ceph mgrs, the active one), real metrics from each exporter, the drive wear
    from the reuse report and the fencing history on the node exporter. Rerun changed=0; check mode
    changes nothing."""
    discover = playbook("discover.yml")   # the reuse report the wear metrics come from
    assert discover.rc == 0, discover.output[-4000:]
    extra = _register_vars(mgmt_plane)
    run = playbook("register.yml", "-e", extra)
    assert run.rc == 0, run.output[-6000:]
    MEASURED["register_seconds"] = round(run.seconds, 1)
    nodes = ("node1", "node2", "node3", "node4")
    expected = {(f"{NODE_ADDR[n]}:{port}", exporter) for n in nodes
                for exporter, port in (("node", 9100), ("libvirt", 9177), ("pacemaker", 9664))}
    expected |= {(f"{NODE_ADDR[n]}:9283", "ceph") for n in ("node1", "node2", "node3")}

    def all_up():
        active = _plane_json(mgmt_plane.prometheus_url + "/api/v1/targets")["data"]["activeTargets"]
        seen = {(t["labels"]["instance"], t["labels"]["exporter"]): t for t in active
                if t["labels"].get("campus") == "lab" and t["labels"].get("cluster") == "lab-hci"}
        assert set(seen) == expected, sorted(set(seen) ^ expected)
        # Every exporter up; of the Ceph mgr hosts the active one (a standby's prometheus module may not
        # answer: the plane alerts only when none does, CephExporterDown).
        active = NODE_ADDR[json.loads(ssh("node1", "ceph mgr stat --format json").stdout)["active_name"]]
        down = {k: (t["health"], t.get("lastError")) for k, t in seen.items()
                if t["health"] != "up" and (k[1] != "ceph" or k[0].startswith(active + ":"))}
        assert not down, down
        return seen
    wait_for(all_up, 180, interval=5, what="every exporter target of the lab campus up")

    def query(expr: str) -> list[dict]:
        url = mgmt_plane.prometheus_url + "/api/v1/query?query=" + urllib.request.quote(expr)
        return _plane_json(url)["data"]["result"]
    # Each exporter answers with its own metrics, not only an empty page: Ceph's OSDs (the active
    # mgr), Pacemaker's nodes, libvirt's connection, the node exporter's textfile metrics.
    wait_for(lambda: len(query('ceph_osd_up{campus="lab"} == 1')) >= 6, 120, interval=5, what="OSDs in ceph_osd_up")
    assert {r["metric"].get("node") for r in query('ha_cluster_pacemaker_nodes{campus="lab",status="online"}')} >= set(nodes)
    assert len(query('libvirt_up{campus="lab"} == 1')) == 4, query('libvirt_up{campus="lab"}')
    wait_for(lambda: len(query('reforge_pacemaker_fencing_history_ok{campus="lab"} == 1')) == 4, 120, interval=5,
             what="the fencing history on every node exporter")
    wear = query('reforge_disk_wear_percent{campus="lab"}')
    assert wear and all(0 <= float(r["value"][1]) <= 100 for r in wear), wear
    rerun = playbook("register.yml", "-e", extra)
    assert rerun.rc == 0 and rerun.changed == 0, rerun.changed_tasks()
    # A second campus registers beside it with the same plane (its own files, route and rule group; the
    # lab campus's files stay byte for byte): here node4's node exporter stands for the annex's cluster.
    lab_files = {k: v for k, v in mgmt_plane.snapshot().items() if "reforge_lab" in k}
    annex = json.loads(extra)
    annex.update(reforge_agent_hosts="none", mgmt_register_campuses=[
        {"name": "annex", "cluster": "annex-hci", "targets": {"node": [f"{NODE_ADDR['node4']}:9100"]}}])
    run = playbook("register.yml", "-e", json.dumps(annex))
    assert run.rc == 0 and run.changed == 1, run.output[-4000:]
    assert {k: v for k, v in mgmt_plane.snapshot().items() if "reforge_lab" in k} == lab_files
    wait_for(lambda: query('up{campus="annex",cluster="annex-hci"} == 1'), 60, interval=5, what="the annex campus's target up")
    groups = [g["name"] for g in _plane_json(mgmt_plane.prometheus_url + "/api/v1/rules")["data"]["groups"]]
    assert {"reforge-lab", "reforge-annex"} <= set(groups), groups
    before = mgmt_plane.snapshot()
    dry = playbook("register.yml", "--check", "--diff", "-e", extra)
    assert dry.rc == 0 and dry.changed == 0, dry.changed_tasks()
    assert mgmt_plane.snapshot() == before


@needs_full_stack
def test_burn_in_on_the_pool_with_an_osd_stopped_mid_run_and_its_alert(cluster_lab, mgmt_plane):
    """Issue 15: burnin.yml runs fio's RBD engine on node1 against the cluster pool, a clean round
    and one with an OSD stopped mid-run; the stopped OSD raises CephOSDDown on the plane within its
    window (routed to the campus), which clears once the OSD is back. Rerun changed=0."""
    osd_tree = ceph_json("node1", "osd", "tree")
    host = next(n for n in osd_tree["nodes"] if n["type"] == "host" and n["name"] == "node1")
    osd = min(host["children"])
    extra = json.dumps({
        "reforge_burnin_hosts": "node1", "burnin_name": "lab", "burnin_out_dir": "/var/lib/reforge/burnin",
        "burnin_target": {"pool": "vms", "rbdname": "reforge-burnin", "clientname": "admin"},
        "burnin_rbd_image_size": "1G", "burnin_duration": 24, "burnin_ramp_time": 0, "burnin_log_avg_msec": 500,
        "burnin_jobs": [{"name": "rand-4k", "rw": "randrw", "bs": "4k", "iodepth": 8},
                        {"name": "seq-1m", "rw": "rw", "bs": "1m", "iodepth": 4}],
        "burnin_inject_command": f"systemctl stop ceph-osd@{osd}", "burnin_inject_label": f"osd.{osd} stopped",
        "burnin_inject_job": "rand-4k", "burnin_inject_at_fraction": 0.4})
    try:
        run = playbook("burnin.yml", "-e", extra)
        assert run.rc == 0, run.output[-6000:]
        MEASURED["burnin_seconds"] = round(run.seconds, 1)
        reports = {name: json.loads(ssh("node1", f"cat /var/lib/reforge/burnin/lab-{name}/report.json").stdout)
                   for name in ("clean", "injected")}
        for name, report in reports.items():
            assert report["verdict"] == "PASS" and report["engine"] == "rbd", (name, report.get("verdict"))
            assert bool(report["events"]) is (name == "injected"), report["events"]
        assert ssh("node1", f"systemctl is-active ceph-osd@{osd}", check=False).stdout.decode().strip() != "active"
        fired = wait_for(lambda: _am_alerts(mgmt_plane, "CephOSDDown", campus="lab", ceph_daemon=f"osd.{osd}"), 120,
                         interval=5, what=f"CephOSDDown for osd.{osd} in Alertmanager")
        assert fired[0]["receivers"][0]["name"] == "campus-lab", fired
        rerun = playbook("burnin.yml", "-e", extra)
        assert rerun.rc == 0 and rerun.changed == 0, rerun.changed_tasks()
    finally:
        ssh("node1", f"systemctl start ceph-osd@{osd}", check=False)
    wait_for(lambda: not _am_alerts(mgmt_plane, "CephOSDDown", campus="lab"), 180, interval=5,
             what="CephOSDDown resolved once the OSD is back")
    wait_for(lambda: _healthy("node1") and not ceph_json("node1", "health").get("checks", {}).get("OSD_DOWN"), 300,
             interval=5, what="every OSD up again")


@needs_full_stack
def test_check_mode_of_the_whole_site_playbook_writes_nothing_anywhere(cluster_lab, lab):
    """Issue 17: `site.yml --check --diff` on the built lab (every stage: discover, prepare, cluster,
    expand, migrate) sends no write to any BMC or to vCenter and changes nothing on any node."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "migration"))
    from migration_labvc import LabVC  # pylint: disable=import-outside-toplevel
    vc = LabVC(lab.get("vcsim"))
    bmcs, ca = cluster_lab["redfish"]["bmcs"], str(LAB_DIR / "pki" / "ca.pem")
    nodes = ("node1", "node2", "node3", "node4")
    # The lane has not assessed the hardware yet: the real discovery (which writes the reuse
    # report, read-only on the BMCs) makes the stage converged, as on a built campus.
    start = time.monotonic()
    discover = playbook("discover.yml")
    assert discover.rc == 0, discover.output[-4000:]
    mark_nodes(nodes)
    before = {n: node_fingerprint(n)[0] for n in nodes}
    cluster_before = cluster_fingerprint("node1")
    cursors = bmc_log_cursors(bmcs, ca)
    counters = vc.counters()
    report_files_before = sorted((LAB_DIR / "migration" / "reports").iterdir())
    run = playbook("site.yml", "--check", "--diff", "-e", VM_VARS, "-e", POLICY, timeout=2400)
    assert run.rc == 0, run.output[-6000:]
    MEASURED["site_check_seconds"] = round(run.seconds, 1)
    bmc_writes, bmc_requests = bmc_writes_since(cursors, ca)
    moved = vc.counters_since(counters)
    print(f"site.yml --check: {run.seconds:.0f} s, {bmc_requests} BMC requests, "
          f"vCenter: {sum(n for k, n in moved.items() if k.startswith('soap_'))} SOAP calls {moved}")
    assert not bmc_writes, bmc_writes
    assert bmc_requests > 0 and moved.get("soap_RetrievePropertiesEx", 0) + moved.get("soap_RetrieveProperties", 0) > 0, \
        "the run did not reach the simulators: an empty log proves nothing"
    assert not vcenter_writes(moved), vcenter_writes(moved)
    # Nothing changed on a node: the same state, and no file newer than the marker but the daemons' own.
    for node in nodes:
        state, changed = node_fingerprint(node)
        assert state == before[node], (node, [x for x in state if x not in before[node]])
        assert not changed, (node, changed)
    assert cluster_fingerprint("node1") == cluster_before
    # Every stage the lab has run is converged: no would-change. The hardware stage is the
    # exception the lab makes on purpose: the nodes lane never prepares its BMCs (a BIOS
    # change restarts the server, and these BMCs power-cycle the lab hosts that run the
    # cluster), so there the dry run says what it would do - and, above, sends nothing.
    # The wave keeps a dated record of every run, one that finds nothing to do too ("nothing changed:
    # ... already cut over, left alone"): its dry run says it would write that record, and writes none.
    reports = sorted((LAB_DIR / "migration" / "reports").iterdir())
    unexplained = [t for t in run.changed_tasks()
                   if not t.startswith("TASK [reforge.hci.hardware_prepare : ")
                   and not (t.startswith(WAVE_RECORD_TASKS) and t.endswith("changed: [localhost]"))]
    assert not unexplained, unexplained
    assert reports == report_files_before, "the dry run wrote a wave report"
    MEASURED["check_mode_proof_seconds"] = round(time.monotonic() - start, 1)


@needs_full_stack
def test_unresponsive_node_is_fenced_through_redfish_and_its_vm_restarts_elsewhere(cluster_lab, mgmt_plane):
    victim = resource_node("node1", f"vm-{VM}")
    anchor = next(n for n in ("node1", "node2", "node3", "node4") if n != victim)
    bmc = next(b for b in cluster_lab["redfish"]["bmcs"] if b["bound_node"] == victim)
    seg_on_victim = resource_node(anchor, f"vm-{SEG_VM}") == victim
    for node in ("node1", "node2", "node3", "node4"):
        ssh(node, "truncate -s0 /run/reforge-segrx-db.log", check=False)
    ctx = ssl.create_default_context(cafile=str(LAB_DIR / "pki" / "ca.pem"))
    urllib.request.urlopen(urllib.request.Request(bmc["endpoint"] + "/_lab/log", method="DELETE"), context=ctx)
    start = time.monotonic()
    # Corosync killed hard: the node stops answering the cluster but keeps its
    # VM running, which is exactly what fencing exists for.
    ssh(victim, "systemctl kill --signal=SIGKILL corosync.service", check=False)

    def restarted_elsewhere() -> str | None:
        node = resource_node(anchor, f"vm-{VM}")
        return node if node and node != victim else None

    new_home = wait_for(restarted_elsewhere, 300, interval=3, what="VM restarted on a surviving node")
    # Until the RBD image opens (its PGs re-peer once the fenced node's OSDs are marked down),
    # libvirt holds the new domain paused: failover ends when it runs.
    wait_domain_running(new_home, VM)
    MEASURED["failover_seconds"] = round(time.monotonic() - start, 1)
    log = json.loads(urllib.request.urlopen(bmc["endpoint"] + "/_lab/log", context=ctx).read())
    text = json.dumps(log)
    assert "ComputerSystem.Reset" in text, text[-2000:]
    assert ssh(victim, "true", check=False, timeout=15).returncode != 0, "fenced node still answers ssh"
    # Stage 5: the plane the campus registered with (above) raises the fencing alert, from the
    # surviving nodes' textfile metric of Pacemaker's fencing history.
    fenced = wait_for(lambda: _am_alerts(mgmt_plane, "PacemakerFencingEvent", campus="lab"), 120, interval=5,
                      what="PacemakerFencingEvent in Alertmanager")
    assert any(a["labels"].get("target") == victim for a in fenced), fenced
    wait_for(lambda: MARKER in ssh(new_home, f"cat /var/log/libvirt/qemu/{VM}-serial.log", check=False).stdout,
             60, what="guest booted again on the surviving node")
    # Stage 6: the traffic guest was on the fenced node too (the segmentation test put it there). Restarted
    # on a survivor, it is in its tier from its first frame: the allowed stream arrives there (its counter
    # starts again: a new boot), the denied one nowhere.
    assert seg_on_victim or not FULL, "the segmentation test leaves segvm on the HA test VM's node"

    def seg_restarted() -> str | None:
        node = resource_node(anchor, f"vm-{SEG_VM}")
        return node if node and node != victim else None

    seg_home = wait_for(seg_restarted, 300, interval=3, what="segvm restarted on a surviving node")
    wait_domain_running(seg_home, SEG_VM)
    wait_for(lambda: len(_seg_rx(seg_home, "db")) >= 10 and min(_seg_rx(seg_home, "db")) < 200, 240, interval=3,
             what="the restarted guest's allowed stream on its new node")
    survivors = [n for n in ("node1", "node2", "node3", "node4") if n != victim]
    assert all(_seg_rx(n, "training") == [] for n in survivors), {n: len(_seg_rx(n, "training")) for n in survivors}
    # The operator repairs and powers the node on: it rejoins Corosync/Pacemaker and its OSDs come
    # back, so the cluster is whole again for what runs after (the Molecule node scenarios).
    subprocess.run([str(REPO_ROOT / "tests" / "lab" / "nodes" / "ctl.sh"), "power", victim, "on"],
                   check=True, timeout=300, env=dict(os.environ, REFORGE_LAB_DIR=str(LAB_DIR)))
    start = time.monotonic()
    wait_for(lambda: f" {victim} member" in ssh(anchor, "crm_node -l").stdout.decode(), 300, interval=5,
             what=f"{victim} back in the HA cluster")
    wait_for(lambda: _healthy(anchor), 600, interval=5, what="HEALTH_OK after the fenced node came back")
    # Its segmentation table is back from the boot-time ruleset, loaded before libvirt and Pacemaker start.
    assert "52:54:00:99:00:10" in ssh(victim, "nft list set bridge reforge_microseg tier_app").stdout.decode()
    MEASURED["rejoin_seconds"] = round(time.monotonic() - start, 1)
    # As an operator would after the repair: clear the failure records the fencing left.
    ssh(anchor, "pcs resource cleanup", check=False)


# The lab's own credential inputs: they must hold the passwords (the simulators and tests log in
# with them). Everything else under the lab dir is output and is scanned.
LAB_CREDENTIAL_INPUTS = {
    "redfish.json": "the BMC simulators' account, written by tests/lab/redfish/ctl.sh for the tests",
    "vcsim.json": "the lab vCenter's account, written by tests/lab/vcsim/ctl.sh for the tests",
    "redfish/sushy.htpasswd": "sushy-tools' account (a bcrypt hash)",
}
# Lab dir entries that are not outputs of the pipeline: the nodes' container storage and disks
# (each node is scanned on the node itself, below), the apt repository, the vCenter's datastores
# (the source VMs' disk images), the CA and ssh keys.
LAB_NOT_OUTPUT = ("nodes", "vcsim/datastore", "vcsim/nfs-ds01", "pki", "ssh")
# On a node a secret is expected where it is kept - keyrings, libvirt's secret store, the
# monitors' auth database, the fence devices' root-only password files; anywhere else (plain text or any form secrets_scan.forms writes) is a hit.
NODE_KEY_STORES = ("*.keyring", "/etc/libvirt/secrets/*", "/var/lib/ceph/mon/*/store.db/*", "/etc/reforge/fence/*.password")
NODE_SEARCHED = ("/etc", "/var", "/root", "/srv", "/home", "/tmp", "/run", "/opt", "/usr/local")


@needs_full_stack
def test_no_secret_in_any_log_report_journal_or_node_file(cluster_lab, tmp_path):
    """Issue 17: the nodes lane runs with sentinel passwords (scripts/test.sh); after the whole
    pipeline - build, expansion, wave, check mode, fencing - none of them, nor the cluster's Ceph
    keys, is in the Ansible log, a report, a journal, the lab's outputs or anywhere on a node."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from lab import secrets_scan  # pylint: disable=import-outside-toplevel
    secrets = {"bmc": os.environ.get("REDFISH_PASSWORD", ""), "vcenter": os.environ.get("VMWARE_PASSWORD", ""),
               "hacluster": os.environ.get("REFORGE_HACLUSTER_PASSWORD", "")}
    if not all(v.startswith("Snt1-") for v in secrets.values()):
        pytest.skip("needs the nodes lane's sentinel secrets (scripts/test.sh sets REDFISH_PASSWORD, "
                    "VMWARE_PASSWORD, REFORGE_HACLUSTER_PASSWORD before the lab starts)")
    for client in ("admin", "libvirt"):
        secrets[f"ceph client.{client}"] = ssh("node1", f"ceph auth get-key client.{client}").stdout.decode().strip()
    assert all(secrets.values()), "a Ceph key could not be read"
    users = ("root", "user", "hacluster")
    # The controller: the Ansible log of every playbook run, the reports (reuse report, wave
    # reports and history), the lab's outputs; no fact cache is configured (ansible.cfg).
    assert (LAB_DIR / "ansible.log").stat().st_size > 0
    assert list((LAB_DIR / "reports").glob("*.json")), "no reuse report: the check-mode test runs discover.yml"
    assert list((LAB_DIR / "migration" / "reports").glob("lab-wave1*.json"))
    roots = [p for p in sorted(LAB_DIR.rglob("*")) if p.is_file() and not p.is_symlink()
             and str(p.relative_to(LAB_DIR)) not in LAB_CREDENTIAL_INPUTS
             and not any(p.relative_to(LAB_DIR).as_posix().startswith(d + "/") for d in LAB_NOT_OUTPUT)]
    result = secrets_scan.scan(roots, secrets, users)
    total = {"files": result["files"], "bytes": result["bytes"]}
    hits = list(result["hits"])
    # Each node: its logs and its whole journal (journalctl's export: a journal file compresses
    # fields, so the journal is read through journalctl), scanned by the same scanner ...
    for node in ("node1", "node2", "node3", "node4"):
        dest = tmp_path / node
        dest.mkdir()
        tar = ssh(node, "journalctl --no-pager -o export > /tmp/journal.export && "
                        "tar -C / -czf - --exclude=var/log/journal var/log tmp/journal.export; rm -f /tmp/journal.export",
                  timeout=600).stdout
        subprocess.run(["tar", "-C", str(dest), "-xzf", "-"], input=tar, check=True)
        result = secrets_scan.scan([dest], secrets, users)
        total["files"] += result["files"]
        total["bytes"] += result["bytes"]
        hits += [dict(h, path=f"{node}:{h['path'].removeprefix(str(dest))}") for h in result["hits"]]
        # ... and every file on it outside its key stores, searched on the node for every form.
        # (the needles go in on stdin: nothing is written on the node)
        needles = {v: name for name, secret in secrets.items() for v in secrets_scan.forms(secret, users).values()}
        # (/run/netns holds network namespace handles, nsfs mounts that are no files to read)
        excludes = " ".join(f"--exclude='{g}'" for g in NODE_KEY_STORES if "/" not in g) + " --exclude-dir=netns"
        found = ssh(node, f"grep -roF -D skip -f - {excludes} {' '.join(NODE_SEARCHED)} | sort -u", check=False,
                    stdin=b"\n".join(sorted(needles)), timeout=600)
        # (a file a daemon removed while grep walked is no error)
        errors = [e for e in found.stderr.decode().splitlines() if not e.endswith("No such file or directory")]
        assert not errors, errors[-20:]
        stores = [g for g in NODE_KEY_STORES if "/" in g]
        for line in found.stdout.decode().splitlines():
            path, _sep, match = line.rpartition(":")
            if not any(fnmatch.fnmatch(path, g) for g in stores):
                hits.append({"path": f"{node}:{path}", "secret": needles.get(match.encode(), "?"), "form": "on the node"})
    print(f"secrets scan: {total['files']} files, {total['bytes']} bytes, {len(secrets)} secrets "
          f"in {len(secrets_scan.forms('x', users))} forms each; hits: {len(hits)}")
    assert not hits, hits


def _osd_devices(node: str) -> list[str]:
    return [d["id"] for d in _lab_node(node)["disks"]]


def _host_used_mib() -> float:
    with open("/proc/meminfo", encoding="ascii") as handle:
        info = {key: int(value.split()[0]) for key, value in (line.split(":", 1) for line in handle)}
    return round((info["MemTotal"] - info["MemAvailable"]) / 1024, 1)
