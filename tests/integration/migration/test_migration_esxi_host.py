"""migration sync reading straight from the ESXi host with generic service tickets (read_via: esxi_host).

The lab vCenter gives every ESXi host an endpoint of its own that takes only a ticket issued for the
exact URL (tests/lab/vcsim/go/src/vcsimlab/esxi.go); its /_lab/counters say which path served the
bytes, so "no byte came through vCenter" is checked on the server side, not from the client's stats.
"""
import json
import os
import time
import uuid

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration.engine import CopySettings
from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import VmSync
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import VsphereError
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.host_read import DatastoreAccess

from lab.vcsim.labclient import create_vm, destroy_vm
from migration_ansible import run_tasks
from migration_labvc import assert_identical

pytestmark = pytest.mark.lab
MiB = 1 << 20
GiB = 1 << 30
BLOCK = 64 * 1024


@pytest.fixture(scope="module", autouse=True)
def esxi_endpoints(vc):
    if not vc.info.get("esxi_hosts"):
        pytest.fail("the lab vCenter serves no ESXi host endpoints (vcsim.json has no esxi_hosts): rebuild it")


@pytest.fixture
def new_vm(vc, conn):
    """A running CBT VM of our own (8 GiB + 1 GiB) with data spread over both disks."""
    made = []

    def make():
        name = "esx-%s" % uuid.uuid4().hex[:8]
        made.append(create_vm(conn.si, name, [8 * GiB, GiB], power_on=True, cbt=True))
        for i in range(6):
            vc.write(name, 2000, i * GiB + 7 * BLOCK, os.urandom(4 * MiB))
        vc.write(name, 2001, 3 * BLOCK, os.urandom(2 * MiB))
        return name

    yield make
    for vm in made:
        destroy_vm(vm)


def disks_of(conn, name):
    return vmops.vm_facts(conn, vmops.find_vm(conn, name))["disks"]


def sync(conn, name, tmp_path, **settings):
    targets = {str(d["key"]): {"format": "raw", "path": str(tmp_path / ("disk%d.raw" % d["key"]))}
               for d in disks_of(conn, name)}
    return VmSync(conn, name, targets, str(tmp_path / "journal"), CopySettings(**settings)).run()


def check_identical(vc, conn, name, tmp_path):
    for d in disks_of(conn, name):
        assert_identical(vc.base_file(name, d["key"]), str(tmp_path / ("disk%d.raw" % d["key"])))


def host_of(conn, name):
    return vmops.find_vm(conn, name).runtime.host.name


def assert_host_path_only(result, moved, host):
    """Every byte the sync read came over the host's endpoint with a ticket; vCenter's /folder served none."""
    assert not {k for k in moved if k.startswith("vcenter_")}, moved
    read = sum(d["bytes_read"] for d in result["disks"])
    requests = sum(d["reader"]["requests"] for d in result["disks"])
    assert read > 0
    assert moved["esxi_bytes"] == read and moved["esxi_bytes_%s" % host] == read
    # each request the reader sent was served by the host, or refused there and sent again with a new ticket
    assert moved["esxi_ticket_reads"] + moved.get("esxi_rejected", 0) == requests
    for disk in result["disks"]:
        assert disk["reader"]["via"] == "esxi_host" and disk["reader"]["host"] == host


def test_full_and_incremental_read_from_the_host_only(vc, conn, new_vm, tmp_path):
    name = new_vm()
    host = host_of(conn, name)
    conn.datastore_access = DatastoreAccess("esxi_host", host_addresses=vc.esxi_hosts)

    before = vc.counters()
    full = sync(conn, name, tmp_path)
    moved = vc.counters_since(before)
    assert [d["kind"] for d in full["disks"]] == ["full", "full"]
    check_identical(vc, conn, name, tmp_path)
    assert_host_path_only(full, moved, host)
    # one ticket per request (the documented contract), each used once
    tickets = sum(d["reader"]["tickets"] for d in full["disks"])
    assert tickets == sum(d["reader"]["requests"] for d in full["disks"]) == moved["tickets_issued"]
    assert not {k for k in moved if k.startswith("esxi_rejected")}

    vc.write(name, 2000, 5 * GiB + 3 * BLOCK, os.urandom(3 * MiB))
    vc.write(name, 2001, 512 * MiB, os.urandom(BLOCK))
    before = vc.counters()
    incremental = sync(conn, name, tmp_path)
    moved = vc.counters_since(before)
    assert [d["kind"] for d in incremental["disks"]] == ["incremental", "incremental"]
    assert incremental["totals"]["bytes_areas"] == 3 * MiB + BLOCK
    check_identical(vc, conn, name, tmp_path)
    assert_host_path_only(incremental, moved, host)


def test_ticket_expired_mid_sync_is_renewed(vc, conn, new_vm, tmp_path):
    """Reused tickets (hosts that accept reuse) that expire while the copy runs: renewed, copy intact.

    The lab ends each ticket's life after it served two requests, so the third request with it is
    refused as expired - in the middle of the first disk's copy, every time, whatever the machine's
    load (an earlier version expired tickets from a watcher thread and missed the copy once in CI)."""
    name = new_vm()
    conn.datastore_access = DatastoreAccess("esxi_host", host_addresses=vc.esxi_hosts, ticket_uses=1000)
    vc.config(esxi_ticket_single_use=False, esxi_ticket_max_reads=2)
    try:
        before = vc.counters()
        result = sync(conn, name, tmp_path, streams=1, read_size=4 * MiB)
        moved = vc.counters_since(before)
    finally:
        vc.config(esxi_ticket_single_use=True, esxi_ticket_max_reads=0)
    reader = result["disks"][0]["reader"]
    assert reader["requests"] >= 3, reader   # the copy outlived its first ticket
    # Every ticket served its two requests, then one more was refused as expired and renewed.
    assert moved["esxi_rejected_expired"] >= 1 and reader["ticket_renewals"] >= 1, (moved, reader)
    assert reader["tickets"] >= 2 and reader["renewals"] >= 1, reader
    assert reader["tickets"] < reader["requests"], "a reusable ticket served several requests"
    check_identical(vc, conn, name, tmp_path)
    assert_host_path_only(result, moved, host_of(conn, name))


def test_single_use_ticket_refused_as_expired_is_renewed(vc, conn, new_vm, tmp_path):
    name = new_vm()
    conn.datastore_access = DatastoreAccess("esxi_host", host_addresses=vc.esxi_hosts)
    # The lab fails the next N requests whatever their ticket, and a read renews once: with several
    # streams a second fault could land on a retry's fresh ticket, which a real host never refuses
    # (it failed so once in 4 runs). One stream and one fault per sync: the fault hits a first attempt.
    renewed = 0
    for round_ in range(3):
        if round_:   # something for the incremental to read
            vc.write(name, 2000, round_ * GiB + 5 * BLOCK, os.urandom(2 * MiB))
        vc.faults(esxi_ticket_expired=1)
        before = vc.counters()
        result = sync(conn, name, tmp_path, streams=1)
        moved = vc.counters_since(before)
        assert moved["esxi_rejected_expired"] == 1
        renewed += sum(d["reader"]["ticket_renewals"] for d in result["disks"])
    assert renewed == 3
    check_identical(vc, conn, name, tmp_path)
    assert_host_path_only(result, moved, host_of(conn, name))


def test_refused_ticket_fails_clearly_without_showing_it(vc, conn, new_vm, tmp_path):
    name = new_vm()
    host = host_of(conn, name)
    conn.datastore_access = DatastoreAccess("esxi_host", host_addresses=vc.esxi_hosts)
    issued = []
    acquire = conn.acquire_service_ticket

    def spy(url, method="httpGet"):
        issued.append(acquire(url, method))
        return issued[-1]

    conn.acquire_service_ticket = spy
    vc.faults(esxi_ticket_rejected=1000)
    with pytest.raises(VsphereError) as caught:
        sync(conn, name, tmp_path, streams=1)
    message = str(caught.value)
    assert "HTTP 403" in message and "refused a fresh generic service ticket" in message
    assert host in message and vc.esxi_hosts[host] in message
    assert issued and not any(t in message for t in issued), "a ticket must never appear in an error"
    journals = "".join(open(os.path.join(tmp_path, "journal", f)).read()
                       for f in os.listdir(tmp_path / "journal"))
    assert not any(t in journals for t in issued)


def test_unresolvable_host_name_asks_for_an_address(vc, conn, new_vm, tmp_path):
    """vcsim's host names (DC0_C0_H0) do not resolve, like an ESXi name the sync host's DNS lacks."""
    name = new_vm()
    conn.datastore_access = DatastoreAccess("esxi_host")
    started = time.monotonic()
    with pytest.raises(VsphereError) as caught:
        sync(conn, name, tmp_path)
    assert "esxi_host_addresses" in str(caught.value) and host_of(conn, name) in str(caught.value)
    assert time.monotonic() - started < 30, "no minute of connection retries"


def test_module_reads_via_the_host(vc, conn, new_vm, tmp_path):
    """The module options (shared argspec of migration_sync and migration_cutover) reach the reader."""
    name = new_vm()
    before = vc.counters()
    proc, res = run_tasks(tmp_path, [{"reforge.hci.migration_sync": {
        "vm": name, "journal_dir": str(tmp_path / "journal"), "target_dir": str(tmp_path),
        "read_via": "esxi_host", "esxi_host_addresses": vc.esxi_hosts}, "register": "r_sync"}], vc.info,
        extra_args=("-vvv",))
    assert proc.returncode == 0, proc.stdout[-3000:]
    moved = vc.counters_since(before)
    result = res["r_sync"]
    assert_host_path_only(result, moved, host_of(conn, name))
    for disk in disks_of(conn, name):
        assert_identical(vc.base_file(name, disk["key"]), str(tmp_path / ("%s-disk%d.raw" % (name, disk["key"]))))
    assert "vmware_cgi_ticket=" not in proc.stdout + proc.stderr
    assert "vmware_cgi_ticket=" not in json.dumps(result)
