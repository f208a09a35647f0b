"""The lab vCenter, driven by real pyvmomi over TLS verified with the lab CA.

Each test that changes disks creates its own VM through the API, so tests do
not depend on each other or disturb the lab inventory other suites use.
"""
from __future__ import annotations

import http.client
import os
import re
import ssl
import time
import urllib.parse
import uuid

import pytest
from pyVim.connect import SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from lab.vcsim.labclient import (BLOCK, VcsimLab, blocks_in, blocks_of, changed_areas, create_vm,
                                 destroy_vm, disk_by_key, flat_name, session_cookie, snapshot)

GiB = 1 << 30
MiB = 1 << 20
TiB = 1 << 40


@pytest.fixture(scope="module")
def vc(lab) -> VcsimLab:
    return VcsimLab(lab.get("vcsim"))


@pytest.fixture()
def si(vc):
    si = vc.connect()
    yield si
    try:
        vc.disconnect(si)
    except Exception:  # pylint: disable=broad-except
        pass  # the session may have been dropped on purpose


@pytest.fixture()
def new_vm(si):
    made = []

    def make(capacities, **kw):
        vm = create_vm(si, f"t-{uuid.uuid4().hex[:8]}", capacities, **kw)
        made.append(vm)
        return vm

    yield make
    for vm in made:
        destroy_vm(vm)


def find_vm(si, name):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return next(v for v in view.view if v.name == name)
    finally:
        view.Destroy()


def snap_disk(snap, key):
    return disk_by_key(snap.config.hardware.device, key)


# ---- TLS and login ----

def test_tls_verifies_against_lab_ca_only(vc):
    si = vc.connect()
    assert si.content.about.apiType == "VirtualCenter"
    vc.disconnect(si)
    with pytest.raises(ssl.SSLError):
        SmartConnect(host=vc.host, port=vc.port, user="user", pwd="pass",
                     sslContext=ssl.create_default_context())


def test_wrong_password_is_refused(vc):
    with pytest.raises(vim.fault.InvalidLogin):
        vc.connect(password="not-the-password")


# ---- the lab inventory ----

def test_inventory_tiers_dependencies_and_networks(si):
    db01, app01 = find_vm(si, "db01"), find_vm(si, "app01")
    fields = {f.key: f.name for f in si.content.customFieldsManager.field}
    attrs = {fields[v.key]: v.value for v in app01.customValue}
    assert attrs == {"reforge.tier": "tier1", "reforge.depends_on": "db01"}
    caps = sorted(d.capacityInBytes for d in db01.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    assert caps == [20 * GiB, 2 * TiB]
    assert db01.config.firmware == "efi" and db01.config.changeTrackingEnabled
    nic = next(d for d in db01.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard))
    assert nic.macAddress == "00:50:56:8a:10:01"
    assert db01.guest.ipAddress == "10.110.0.11"
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.Network], True)
    vlans = {n.name: n.config.defaultPortConfig.vlan.vlanId for n in view.view
             if isinstance(n, vim.dvs.DistributedVirtualPortgroup) and n.name.startswith("prod-")}
    assert vlans == {"prod-db": 110, "prod-app": 120}
    assert "VM Network" in {n.name for n in view.view}


def test_rdm_independent_and_snapshotted_vms(si):
    rdm = find_vm(si, "legacy-rdm")
    backings = [d.backing for d in rdm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    raw = [b for b in backings if isinstance(b, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)]
    assert len(raw) == 1 and raw[0].compatibilityMode == "physicalMode" and raw[0].lunUuid
    indep = find_vm(si, "indep01")
    modes = sorted(d.backing.diskMode for d in indep.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    assert modes == ["independent_persistent", "persistent"]
    snapped = find_vm(si, "snapped01")
    assert snapped.snapshot.rootSnapshotList[0].name == "before-patch"
    assert find_vm(si, "batch01").snapshot is None  # unset property reads as None, no server panic


def test_sparse_two_tib_disk_costs_what_is_written(vc, new_vm):
    # A VM of its own: the shared lab VMs (db01 …) are migrated and written to by
    # other tests of the same session.
    vm = new_vm([2 * TiB])
    for off in (0, 1 * TiB, 2 * TiB - MiB):
        vc.write(vm.name, 2000, off, os.urandom(MiB))
    info = vc.disk_info(vm.name, 2000)
    assert info["capacity"] == 2 * TiB
    flat = os.path.join(vc.info["datastore_dir"], info["levels"][0]["data"])
    st = os.stat(flat)
    assert st.st_size == 2 * TiB
    assert 3 * MiB <= st.st_blocks * 512 < 64 * MiB  # three written MiB, not 2 TiB


# ---- CBT ----

def test_changed_areas_three_extents_with_window_loop(vc, si, new_vm):
    cap = 20 * GiB
    vm = new_vm([cap], cbt=True)
    vc.set_window(vm.name, 2000, 4 * GiB)
    s1 = snapshot(vm, "sync-1")
    c1 = snap_disk(s1, 2000).backing.changeId
    assert re.fullmatch(r"52( [0-9a-f]{2}){15}/\d+", c1), c1

    writes = [(1 * MiB, 128 * 1024), (5 * GiB + 100, 10), (17 * GiB + 4096, 300 * 1024)]
    for off, n in writes:
        vc.write(vm.name, 2000, off, os.urandom(n))
    s2 = snapshot(vm, "sync-2")
    c2 = snap_disk(s2, 2000).backing.changeId
    assert c2 != c1 and c2.split("/")[0] == c1.split("/")[0]

    extents, calls = changed_areas(vm, s2, 2000, c1, cap)
    expected = set().union(*(blocks_of(o, n) for o, n in writes))
    assert blocks_in(extents) == expected
    assert calls == 5  # 20 GiB in 4 GiB windows
    assert sorted(extents) == [(1 * MiB, 128 * 1024), (5 * GiB, BLOCK), (17 * GiB, 5 * BLOCK)]

    # A client that calls once from offset 0 misses the write in the late window.
    single, dummy = changed_areas(vm, s2, 2000, c1, cap, loop=False)
    assert blocks_of(17 * GiB + 4096, 300 * 1024).isdisjoint(blocks_in(single))
    assert blocks_in(single) < expected

    # Nothing changed between s2 and itself; "*" = allocated = the writes (new disk).
    assert changed_areas(vm, s2, 2000, c2, cap)[0] == []
    assert blocks_in(changed_areas(vm, s2, 2000, "*", cap)[0]) == expected
    # s1 saw nothing allocated yet.
    assert changed_areas(vm, s1, 2000, "*", cap)[0] == []


def test_star_on_sparse_two_tib_disk_returns_only_written_extents(vc, si, new_vm):
    cap = 2 * TiB
    vm = new_vm([cap], cbt=True)
    vc.set_window(vm.name, 2000, 256 * GiB)
    writes = [(0, MiB), (700 * GiB + 3 * BLOCK, 2 * BLOCK), (2 * TiB - BLOCK, BLOCK)]
    for off, n in writes:
        vc.write(vm.name, 2000, off, b"\xa5" * n)
    s1 = snapshot(vm, "full")
    extents, calls = changed_areas(vm, s1, 2000, "*", cap)
    assert calls == 8
    assert extents == [(0, MiB), (700 * GiB + 3 * BLOCK, 2 * BLOCK), (2 * TiB - BLOCK, BLOCK)]


def test_max_extents_cuts_answer_short(vc, si, new_vm):
    cap = 4 * GiB
    vm = new_vm([cap], cbt=True)
    vc.api("PUT", f"disk/{vm.name}/2000/config", {"cbt_window": cap, "cbt_max_extents": 2})
    offsets = [0, 10 * BLOCK, 20 * BLOCK, 30 * BLOCK, 3 * GiB]
    for off in offsets:
        vc.write(vm.name, 2000, off, b"\x01" * BLOCK)
    s1 = snapshot(vm, "many")
    # Like ESXi, a long answer stops after the last extent it returns.
    info = vm.QueryChangedDiskAreas(snapshot=s1, deviceKey=2000, startOffset=0, changeId="*")
    assert [(a.start, a.length) for a in info.changedArea] == [(0, BLOCK), (10 * BLOCK, BLOCK)]
    assert info.length == 11 * BLOCK
    extents, calls = changed_areas(vm, s1, 2000, "*", cap)
    assert [e[0] for e in extents] == offsets and calls == 3


def test_invalid_changeid_faults(vc, si, new_vm):
    cap = 8 * GiB
    vm = new_vm([cap], cbt=True)
    s1 = snapshot(vm, "a")
    c1 = snap_disk(s1, 2000).backing.changeId
    vc.write(vm.name, 2000, 0, b"x" * 10)
    with pytest.raises(vmodl.fault.InvalidArgument):
        vm.QueryChangedDiskAreas(snapshot=s1, deviceKey=2000, startOffset=0, changeId="garbage")
    with pytest.raises(vmodl.fault.InvalidArgument):
        vm.QueryChangedDiskAreas(snapshot=s1, deviceKey=2999, startOffset=0, changeId="*")
    unknown = "52 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00/1"
    with pytest.raises(vim.fault.FileFault):
        vm.QueryChangedDiskAreas(snapshot=s1, deviceKey=2000, startOffset=0, changeId=unknown)
    # CBT reset (what Storage vMotion or disk growth does): old changeIds fault, "*" still works.
    vc.invalidate_cbt(vm.name, 2000)
    s2 = snapshot(vm, "b")
    c2 = snap_disk(s2, 2000).backing.changeId
    assert c2.split("/")[0] != c1.split("/")[0]
    with pytest.raises(vim.fault.FileFault):
        vm.QueryChangedDiskAreas(snapshot=s2, deviceKey=2000, startOffset=0, changeId=c1)
    assert blocks_in(changed_areas(vm, s2, 2000, "*", cap)[0]) == {0}


def test_disk_growth_resets_cbt(vc, si, new_vm):
    vm = new_vm([4 * GiB], cbt=True, power_on=False)
    s1 = snapshot(vm, "a")
    c1 = snap_disk(s1, 2000).backing.changeId
    WaitForTask(s1.RemoveSnapshot_Task(removeChildren=False))
    disk = disk_by_key(vm.config.hardware.device, 2000)
    disk.capacityInKB = 8 * GiB // 1024
    disk.capacityInBytes = 8 * GiB
    WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=[
        vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)])))
    assert vc.disk_info(vm.name, 2000)["capacity"] == 8 * GiB
    s2 = snapshot(vm, "b")
    with pytest.raises(vim.fault.FileFault):
        vm.QueryChangedDiskAreas(snapshot=s2, deviceKey=2000, startOffset=0, changeId=c1)


def test_cbt_off_faults(si, new_vm):
    vm = new_vm([GiB], cbt=False)
    s1 = snapshot(vm, "a")
    assert not snap_disk(s1, 2000).backing.changeId
    with pytest.raises(vim.fault.FileFault):
        vm.QueryChangedDiskAreas(snapshot=s1, deviceKey=2000, startOffset=0, changeId="*")


# ---- frozen base, delta, consolidation ----

def test_base_frozen_under_snapshot_and_consolidated_on_remove(vc, si, new_vm):
    vm = new_vm([4 * GiB], cbt=True)
    cookie = session_cookie(si)
    base = disk_by_key(vm.config.hardware.device, 2000).backing.fileName
    old, new = b"A" * BLOCK, b"B" * (BLOCK // 2)
    vc.write(vm.name, 2000, 3 * GiB, old)

    # Running VM without snapshot: hostd holds the file locked.
    assert vc.folder_get(flat_name(base), cookie, 0, 10)[0] == 500

    s1 = snapshot(vm, "sync")
    top = disk_by_key(vm.config.hardware.device, 2000).backing
    assert top.fileName.endswith("-000001.vmdk") and top.parent.fileName == base
    assert snap_disk(s1, 2000).backing.fileName == base

    vc.write(vm.name, 2000, 3 * GiB, new)
    status, headers, body = vc.folder_get(flat_name(base), cookie, 3 * GiB, 3 * GiB + BLOCK - 1)
    assert status == 206
    assert headers["content-range"] == f"bytes {3 * GiB}-{3 * GiB + BLOCK - 1}/{4 * GiB}"
    assert body == old  # the base is frozen at the snapshot moment
    assert vc.read(vm.name, 2000, 3 * GiB, BLOCK) == new + old[len(new):]  # guest sees the delta

    task = s1.RemoveSnapshot_Task(removeChildren=False)
    WaitForTask(task)  # vcsim 0.24 raised TypeError here (TaskInfo.entity was the snapshot)
    assert task.info.entity == vm
    assert vm.snapshot is None
    assert disk_by_key(vm.config.hardware.device, 2000).backing.fileName == base
    assert not os.path.exists(os.path.join(vc.info["datastore_dir"], top.fileName.split("] ")[1]))

    WaitForTask(vm.PowerOffVM_Task())
    status, dummy, body = vc.folder_get(flat_name(base), cookie, 3 * GiB, 3 * GiB + BLOCK - 1)
    assert status == 206 and body == new + old[len(new):]  # delta consolidated into the base


def test_remove_older_snapshot_keeps_newer_view(vc, si, new_vm):
    vm = new_vm([GiB], cbt=True, power_on=False)
    vc.write(vm.name, 2000, 0, b"1" * BLOCK)
    s1 = snapshot(vm, "one")
    vc.write(vm.name, 2000, 0, b"2" * BLOCK)
    s2 = snapshot(vm, "two")
    vc.write(vm.name, 2000, 0, b"3" * BLOCK)
    c1 = snap_disk(s1, 2000).backing.changeId
    WaitForTask(s1.RemoveSnapshot_Task(removeChildren=False))
    # s2's view is now the base itself, and still shows what it froze.
    base = snap_disk(s2, 2000).backing.fileName
    assert not base.split("/")[-1].startswith(vm.name + "-0")
    status, dummy, body = vc.folder_get(flat_name(base), session_cookie(si), 0, BLOCK - 1)
    assert status == 206 and body == b"2" * BLOCK
    assert blocks_in(changed_areas(vm, s2, 2000, c1, GiB)[0]) == {0}
    assert vc.read(vm.name, 2000, 0, BLOCK) == b"3" * BLOCK
    WaitForTask(vm.RemoveAllSnapshots_Task())
    status, dummy, body = vc.folder_get(flat_name(base), session_cookie(si), 0, BLOCK - 1)
    assert body == b"3" * BLOCK


def test_independent_disk_is_not_snapshotted(vc, si):
    vm = find_vm(si, "indep01")
    info = vc.disk_info("indep01", 2001)
    assert len(info["levels"]) == 1
    assert vm.name == "indep01"


# ---- /folder ----

def test_folder_range_head_and_auth(vc, si, new_vm):
    vm = new_vm([GiB], power_on=False)
    base = disk_by_key(vm.config.hardware.device, 2000).backing.fileName
    payload = os.urandom(3 * BLOCK)
    vc.write(vm.name, 2000, 10 * MiB, payload)
    cookie = session_cookie(si)
    status, headers, body = vc.folder_get(flat_name(base), cookie, 10 * MiB + 5, 10 * MiB + 5 + 99_999)
    assert status == 206
    assert headers["content-range"] == f"bytes {10 * MiB + 5}-{10 * MiB + 5 + 99_999}/{GiB}"
    assert body == payload[5:5 + 100_000]
    status, headers, dummy = vc.folder_get(flat_name(base), cookie, method="HEAD")
    assert status == 200 and int(headers["content-length"]) == GiB
    assert vc.request("PUT", vc.folder_path(flat_name(base)), b"x",
                      {"Cookie": f"vmware_soap_session={cookie}"})[0] == 403
    assert vc.folder_get(flat_name(base), None, 0, 9)[0] == 401
    assert vc.folder_get(flat_name(base), "not-a-session", 0, 9)[0] == 401
    # A generic service ticket for this very URL works as the cookie vmware_cgi_ticket, once.
    url = f"https://{vc.host}:{vc.port}{vc.folder_path(flat_name(base))}"
    for_url = vim.SessionManager.HttpServiceRequestSpec(method="httpGet", url=url)
    ticket = si.content.sessionManager.AcquireGenericServiceTicket(for_url)
    headers = {"Cookie": f"vmware_cgi_ticket={ticket.id}", "Range": "bytes=0-9"}
    status, dummy, body = vc.request("GET", vc.folder_path(flat_name(base)), headers=headers)
    assert status == 206 and body == b"\0" * 10
    assert vc.request("GET", vc.folder_path(flat_name(base)), headers=headers)[0] == 401, "used once"
    elsewhere = vim.SessionManager.HttpServiceRequestSpec(method="httpGet", url="https://127.0.0.1/folder")
    other = si.content.sessionManager.AcquireGenericServiceTicket(elsewhere)
    assert vc.request("GET", vc.folder_path(flat_name(base)),
                      headers={"Cookie": f"vmware_cgi_ticket={other.id}", "Range": "bytes=0-9"})[0] == 401


# ---- the ESXi hosts' own /folder (generic service tickets) ----

def _esxi_get(vc, address, path, cookie=None, first=0, last=9):
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=vc.ssl, timeout=60)
    headers = {"Range": f"bytes={first}-{last}"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _host_path(datastore_path):
    ds, rel = datastore_path[1:].split("] ", 1)
    return f"/folder/{urllib.parse.quote(rel)}?" + urllib.parse.urlencode({"dcPath": "ha-datacenter", "dsName": ds})


def _ticket(si, url, method="httpGet"):
    spec = vim.SessionManager.HttpServiceRequestSpec(method=method, url=url)
    return "vmware_cgi_ticket=" + si.content.sessionManager.AcquireGenericServiceTicket(spec).id


def _delta(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after) if after.get(k, 0) != before.get(k, 0)}


def test_esxi_host_folder_takes_only_a_ticket_for_its_exact_url(vc, si, new_vm):
    vm = new_vm([GiB], power_on=False)
    base = flat_name(disk_by_key(vm.config.hardware.device, 2000).backing.fileName)
    payload = os.urandom(BLOCK)
    vc.write(vm.name, 2000, 0, payload)
    host = vm.runtime.host.name
    address = vc.info["esxi_hosts"][host]
    other_address = [a for h, a in vc.info["esxi_hosts"].items() if h != host][0]
    path = _host_path(base)
    url = f"https://{address}{path}"
    before = vc.api("GET", "counters")

    assert _esxi_get(vc, address, path)[0] == 401
    assert _esxi_get(vc, address, path, "vmware_soap_session=" + session_cookie(si))[0] == 401
    cookie = _ticket(si, url)
    status, body = _esxi_get(vc, address, path, cookie, 0, BLOCK - 1)
    assert status == 206 and body == payload
    assert _esxi_get(vc, address, path, cookie)[0] == 401, "a ticket is used once"
    assert _esxi_get(vc, address, path, _ticket(si, url.replace("dsName=datastore1", "dsName=nfs-ds01")))[0] == 403
    assert _esxi_get(vc, other_address, path, _ticket(si, url))[0] == 403, "bound to the host it was issued for"
    assert _esxi_get(vc, address, path, _ticket(si, url, method="httpPut"))[0] == 403
    # nor does a host ticket open vCenter's /folder
    status, dummy, dummy = vc.request("GET", vc.folder_path(base), headers={"Cookie": _ticket(si, url),
                                                                            "Range": "bytes=0-9"})
    assert status == 401
    # ESXi knows one datacenter, ha-datacenter
    wrong_dc = path.replace("ha-datacenter", vc.info["datacenter"])
    assert _esxi_get(vc, address, wrong_dc, _ticket(si, f"https://{address}{wrong_dc}"))[0] == 404

    delta = _delta(before, vc.api("GET", "counters"))
    assert delta["esxi_ticket_reads"] == 1 and delta["esxi_bytes"] == BLOCK
    assert delta[f"esxi_reads_{host}"] == 1
    assert delta["esxi_rejected_no_ticket"] == 1 and delta["esxi_rejected_session_cookie"] == 1
    assert delta["esxi_rejected_used"] == 1 and delta["esxi_rejected_wrong_url"] == 2
    assert delta["esxi_rejected_wrong_method"] == 1
    assert delta["vcenter_rejected"] == 1 and "vcenter_bytes" not in delta
    assert delta["tickets_issued"] == 6

    # AcquireGenericServiceTicket without a session (raw SOAP: pyvmomi always logs in)
    envelope = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
                '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
                '<soapenv:Body><AcquireGenericServiceTicket xmlns="urn:vim25"><_this type="SessionManager">'
                'SessionManager</_this><spec xsi:type="SessionManagerHttpServiceRequestSpec"><method>httpGet'
                f'</method><url>{url.replace("&", "&amp;")}</url></spec></AcquireGenericServiceTicket>'
                '</soapenv:Body></soapenv:Envelope>')
    status, dummy, body = vc.request("POST", "/sdk", envelope.encode(),
                                     {"Content-Type": "text/xml", "SOAPAction": "urn:vim25/6.7"})
    assert status == 500 and b"NotAuthenticated" in body, "tickets only for a logged-in session"


def test_esxi_tickets_expire_by_knob_lifetime_and_fault(vc, si, new_vm):
    vm = new_vm([GiB], power_on=False)
    base = flat_name(disk_by_key(vm.config.hardware.device, 2000).backing.fileName)
    address = vc.info["esxi_hosts"][vm.runtime.host.name]
    path = _host_path(base)
    url = f"https://{address}{path}"
    before = vc.api("GET", "counters")
    vc.api("PUT", "config", {"esxi_ticket_single_use": False})
    try:
        cookie = _ticket(si, url)
        assert [_esxi_get(vc, address, path, cookie)[0] for dummy in range(2)] == [206, 206], "reusable when allowed"
        assert vc.api("GET", "tickets")["outstanding"] >= 1
        assert vc.api("POST", "tickets/expire")["expired"] >= 1
        assert _esxi_get(vc, address, path, cookie)[0] == 401
        vc.api("PUT", "config", {"ticket_lifetime_s": 1})
        cookie = _ticket(si, url)
        assert _esxi_get(vc, address, path, cookie)[0] == 206
        time.sleep(1.2)
        assert _esxi_get(vc, address, path, cookie)[0] == 401
    finally:
        vc.api("PUT", "config", {"esxi_ticket_single_use": True, "ticket_lifetime_s": 600})
    vc.faults(esxi_ticket_expired=1)
    cookie = _ticket(si, url)
    assert _esxi_get(vc, address, path, cookie)[0] == 401
    assert _esxi_get(vc, address, path, cookie)[0] == 401, "the fault expired the ticket"
    assert _esxi_get(vc, address, path, _ticket(si, url))[0] == 206
    delta = _delta(before, vc.api("GET", "counters"))
    assert delta["esxi_rejected_expired"] == 4 and delta["esxi_ticket_reads"] == 4


def test_fault_injection_503_range_and_sessions(vc, si):
    name = f"t-{uuid.uuid4().hex[:8]}"
    vm = create_vm(si, name, [GiB], power_on=False)
    base = flat_name(disk_by_key(vm.config.hardware.device, 2000).backing.fileName)
    cookie = session_cookie(si)
    vc.faults(folder_503=2)
    assert [vc.folder_get(base, cookie, 0, 9)[0] for dummy in range(3)] == [503, 503, 206]
    vc.faults(folder_ignore_range=1)
    status, dummy, dummy = vc.folder_get(base, cookie, 0, 9, method="HEAD")
    assert status == 200  # Range ignored: a client must treat this as fatal
    vc.faults(folder_bad_content_range=1)
    status, headers, dummy = vc.folder_get(base, cookie, 0, 9)
    assert status == 206 and headers["content-range"] != f"bytes 0-9/{GiB}"
    assert vc.folder_get(base, cookie, 0, 9)[1]["content-range"] == f"bytes 0-9/{GiB}"

    vc.faults(drop_sessions=True)
    with pytest.raises(vim.fault.NotAuthenticated):
        si.content.rootFolder.childEntity  # pylint: disable=pointless-statement
    assert vc.folder_get(base, cookie, 0, 9)[0] == 401
    fresh = vc.connect()  # logging in again works
    try:
        destroy_vm(find_vm(fresh, name))
    finally:
        vc.disconnect(fresh)


def test_revert_to_latest_snapshot_discards_guest_writes(vc, si, new_vm):
    vm = new_vm([GiB], cbt=True, power_on=False)
    vc.write(vm.name, 2000, 0, b"A" * BLOCK)
    snapshot(vm, "good")
    vc.write(vm.name, 2000, 0, b"B" * BLOCK)
    vc.write(vm.name, 2000, 5 * BLOCK, b"B" * BLOCK)
    WaitForTask(vm.RevertToCurrentSnapshot_Task())
    assert vc.read(vm.name, 2000, 0, BLOCK) == b"A" * BLOCK
    assert vc.read(vm.name, 2000, 5 * BLOCK, BLOCK) == b"\0" * BLOCK


def test_storage_summary_reports_allocated_not_apparent_size(vc, new_vm):
    vm = new_vm([2 * TiB])
    vc.write(vm.name, 2000, 1 * TiB, os.urandom(MiB))
    storage = vm.summary.storage
    assert storage.committed < 64 * MiB  # written data, not 2 TiB of sparse file
    assert storage.committed + storage.uncommitted >= 2 * TiB


def test_tier_tags_through_the_rest_api(vc, si):
    """vSphere tags (vAPI /rest): category reforge.tier, one tag per VM."""
    import base64  # pylint: disable=import-outside-toplevel
    import json  # pylint: disable=import-outside-toplevel
    auth = base64.b64encode(b"user:pass").decode()
    status, dummy, body = vc.request("POST", "/rest/com/vmware/cis/session", headers={"Authorization": "Basic " + auth})
    assert status == 200
    token = {"vmware-api-session-id": json.loads(body)["value"], "Content-Type": "application/json"}
    db01 = find_vm(si, "db01")._moId  # pylint: disable=protected-access
    status, dummy, body = vc.request(
        "POST", "/rest/com/vmware/cis/tagging/tag-association?~action=list-attached-tags",
        json.dumps({"object_id": {"id": db01, "type": "VirtualMachine"}}).encode(), token)
    assert status == 200
    tag_ids = json.loads(body)["value"]
    assert len(tag_ids) == 1
    status, dummy, body = vc.request("GET", f"/rest/com/vmware/cis/tagging/tag/id:{tag_ids[0]}", headers=token)
    tag = json.loads(body)["value"]
    status, dummy, body = vc.request("GET", f"/rest/com/vmware/cis/tagging/category/id:{tag['category_id']}", headers=token)
    assert (json.loads(body)["value"]["name"], tag["name"]) == ("reforge.tier", "tier1")


def test_clone_carries_the_guest_data(vc, si, new_vm):
    vm = new_vm([GiB], power_on=False)
    vc.write(vm.name, 2000, 5 * BLOCK, b"Z" * BLOCK)
    task = vm.CloneVM_Task(folder=vm.parent, name=vm.name + "-clone",
                           spec=vim.vm.CloneSpec(location=vim.vm.RelocateSpec(), powerOn=False))
    WaitForTask(task)
    clone = task.info.result
    try:
        assert vc.read(clone.name, 2000, 5 * BLOCK, BLOCK) == b"Z" * BLOCK
        assert vc.disk_info(clone.name, 2000)["allocated_blocks"] == 1
    finally:
        destroy_vm(clone)


def test_virtual_disk_manager_tasks_can_be_waited_on(si):
    """vcsim 0.24 set the VirtualDiskManager as TaskInfo.entity; pyvmomi could not decode it."""
    dc = si.content.rootFolder.childEntity[0]
    vdm = si.content.virtualDiskManager
    name = f"[datastore1] batch01/t-{uuid.uuid4().hex[:8]}.vmdk"
    spec = vim.VirtualDiskManager.FileBackedVirtualDiskSpec(diskType="thin", adapterType="lsiLogic", capacityKb=1024)
    task = vdm.CreateVirtualDisk_Task(name=name, datacenter=dc, spec=spec)
    WaitForTask(task)
    assert task.info.state == "success" and task.info.entity is None
    WaitForTask(vdm.DeleteVirtualDisk_Task(name=name, datacenter=dc))


def test_extra_vms_for_scale_tests(vc, repo_root, tmp_path):
    """VCSIM_EXTRA_VMS adds low-priority batch VMs; a second server on a free port."""
    import json  # pylint: disable=import-outside-toplevel
    import socket  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel
    binary = subprocess.run([str(repo_root / "tests/lab/vcsim/ctl.sh"), "build"], check=True,
                            capture_output=True, text=True).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pki = os.path.dirname(vc.info["ca"])
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([binary, "-listen", f"127.0.0.1:{port}", "-tlscert", f"{pki}/server.pem",
                             "-tlskey", f"{pki}/server.key", "-datastore-dir", str(tmp_path / "ds"),
                             "-ready-file", str(ready), "-extra-vms", "40"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        info = dict(vc.info, **json.loads(ready.read_text()))
        info["port"] = port
        other = VcsimLab(info)
        si = other.connect()
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        names = {v.name for v in view.view}
        assert len(names) == 12 + 40 and "batch43" in names
        assert other.disk_info("batch43", 2000)["allocated_blocks"] == 1
        other.disconnect(si)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_shared_disk_nfs_and_unsupported_guest_vms(vc, si):
    shared = find_vm(si, "shared01")
    ctrl = next(d for d in shared.config.hardware.device if isinstance(d, vim.vm.device.VirtualSCSIController))
    assert ctrl.sharedBus == "physicalSharing"
    assert {d.backing.sharing for d in shared.config.hardware.device
            if isinstance(d, vim.vm.device.VirtualDisk)} == {"sharingMultiWriter"}
    assert find_vm(si, "sol01").config.guestId == "solaris11_64Guest"

    nfs = find_vm(si, "nfs01")
    disk = disk_by_key(nfs.config.hardware.device, 2000)
    assert disk.backing.fileName.startswith("[nfs-ds01] ")
    assert disk.backing.datastore.summary.type == "NFS"
    snap = snapshot(nfs, "t-nfs")
    try:
        # Thin on NFS: ESXi cannot tell allocated areas, "*" is the whole disk.
        assert changed_areas(nfs, snap, 2000, "*", 2 * GiB)[0] == [(0, 2 * GiB)]
    finally:
        WaitForTask(snap.RemoveSnapshot_Task(removeChildren=False))


def test_folder_stream_rate_limit(vc, si, new_vm):
    import time  # pylint: disable=import-outside-toplevel
    vm = new_vm([GiB], power_on=False)
    base = flat_name(disk_by_key(vm.config.hardware.device, 2000).backing.fileName)
    cookie = session_cookie(si)
    vc.api("PUT", "config", {"folder_stream_bytes_per_s": 20_000_000})
    try:
        start = time.monotonic()
        status, dummy, body = vc.folder_get(base, cookie, 0, 8 * MiB - 1)
        elapsed = time.monotonic() - start
    finally:
        vc.api("PUT", "config", {"folder_stream_bytes_per_s": 0})
    assert status == 206 and len(body) == 8 * MiB
    assert elapsed >= 8 * MiB / 20_000_000 * 0.9
