"""Client side of the lab vCenter: pyvmomi login with the lab CA, the /_lab
control API (guest writes, CBT resets, fault injection) and /folder reads.

Used by the lab's own tests and available to any test as ``lab.vcsim.labclient``.
"""
from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from typing import Any

from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

BLOCK = 64 * 1024


class VcsimLab:
    """One running lab vCenter, as described by ``.lab/vcsim.json``."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.host = info["host"]
        self.port = int(info["port"])
        self.ssl = ssl.create_default_context(cafile=info["ca"])

    # ---- vSphere API ----
    def connect(self, user: str | None = None, password: str | None = None) -> vim.ServiceInstance:
        return SmartConnect(host=self.host, port=self.port, user=user or self.info["username"],
                            pwd=password or self.info["password"], sslContext=self.ssl)

    @staticmethod
    def disconnect(si: vim.ServiceInstance) -> None:
        Disconnect(si)

    # ---- raw HTTPS ----
    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def api(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, dummy, data = self.request(method, "/_lab/" + path, body, {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError(f"lab API {method} {path}: {status} {data[:200]!r}")
        return json.loads(data)

    # ---- guest disks ----
    def write(self, vm: str, key: int, offset: int, data: bytes) -> None:
        status, dummy, body = self.request("PUT", f"/_lab/disk/{vm}/{key}?offset={offset}", data)
        if status != 200:
            raise RuntimeError(f"guest write failed: {status} {body!r}")

    def read(self, vm: str, key: int, offset: int, length: int) -> bytes:
        status, dummy, body = self.request("GET", f"/_lab/disk/{vm}/{key}?offset={offset}&length={length}")
        if status != 200:
            raise RuntimeError(f"guest read failed: {status} {body!r}")
        return body

    def disk_info(self, vm: str, key: int) -> dict[str, Any]:
        return self.api("GET", f"disk/{vm}/{key}/info")

    def invalidate_cbt(self, vm: str, key: int) -> dict[str, Any]:
        return self.api("POST", f"disk/{vm}/{key}/invalidate-cbt")

    def set_window(self, vm: str, key: int, window: int) -> None:
        self.api("PUT", f"disk/{vm}/{key}/config", {"cbt_window": window})

    def faults(self, **counts: Any) -> dict[str, int]:
        return self.api("POST", "faults", counts)

    # ---- datastore /folder ----
    def folder_path(self, datastore_path: str) -> str:
        """``[datastore1] vm/vm-flat.vmdk`` -> ``/folder/vm/vm-flat.vmdk?dcPath=..&dsName=..``."""
        ds, rel = datastore_path[1:].split("] ", 1)
        query = urllib.parse.urlencode({"dcPath": self.info["datacenter"], "dsName": ds})
        return f"/folder/{urllib.parse.quote(rel)}?{query}"

    def folder_get(self, datastore_path: str, session: str | None, first: int | None = None,
                   last: int | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        headers = {}
        if session:
            headers["Cookie"] = f"vmware_soap_session={session}"
        if first is not None:
            headers["Range"] = f"bytes={first}-{last}"
        return self.request(method, self.folder_path(datastore_path), headers=headers)


def session_cookie(si: vim.ServiceInstance) -> str:
    """The vmware_soap_session value of a pyvmomi connection."""
    cookie = si._stub.cookie  # pylint: disable=protected-access
    return cookie.split("=", 1)[1].split(";", 1)[0].strip('"')


def flat_name(descriptor: str) -> str:
    return descriptor[: -len(".vmdk")] + "-flat.vmdk"


def disk_by_key(devices: list, key: int) -> vim.vm.device.VirtualDisk:
    return next(d for d in devices if isinstance(d, vim.vm.device.VirtualDisk) and d.key == key)


def changed_areas(vm: vim.VirtualMachine, snapshot: vim.vm.Snapshot, key: int, change_id: str,
                  capacity: int, loop: bool = True) -> tuple[list[tuple[int, int]], int]:
    """QueryChangedDiskAreas over the whole disk (or one call when loop=False).

    Returns the extents and the number of calls made.
    """
    offset, calls, out = 0, 0, []
    while offset < capacity:
        info = vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=key, startOffset=offset, changeId=change_id)
        calls += 1
        out += [(a.start, a.length) for a in info.changedArea]
        if info.length <= 0:
            raise AssertionError("QueryChangedDiskAreas answered an empty window")
        offset = info.startOffset + info.length
        if not loop:
            break
    return out, calls


def create_vm(si: vim.ServiceInstance, name: str, capacities: list[int], power_on: bool = True,
              cbt: bool = False) -> vim.VirtualMachine:
    """A VM with thin disks (keys 2000+) on datastore1, created through the API."""
    content = si.RetrieveContent()
    dc = content.rootFolder.childEntity[0]
    cluster = dc.hostFolder.childEntity[0]
    ctrl = vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0, sharedBus="noSharing")
    changes = [vim.vm.device.VirtualDeviceSpec(operation="add", device=ctrl)]
    for i, cap in enumerate(capacities):
        disk = vim.vm.device.VirtualDisk(
            key=2000 + i, controllerKey=1000, unitNumber=i, capacityInKB=cap // 1024, capacityInBytes=cap,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName="[datastore1]", diskMode="persistent", thinProvisioned=True))
        changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk))
    spec = vim.vm.ConfigSpec(name=name, guestId="otherLinux64Guest", numCPUs=1, memoryMB=512,
                             files=vim.vm.FileInfo(vmPathName="[datastore1]"), deviceChange=changes)
    if cbt:
        spec.changeTrackingEnabled = True
    task = dc.vmFolder.CreateVM_Task(config=spec, pool=cluster.resourcePool)
    WaitForTask(task)
    vm = task.info.result
    if cbt:
        WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(changeTrackingEnabled=True)))
    if power_on:
        WaitForTask(vm.PowerOnVM_Task())
    return vm


def destroy_vm(vm: vim.VirtualMachine) -> None:
    if vm.runtime.powerState == "poweredOn":
        WaitForTask(vm.PowerOffVM_Task())
    WaitForTask(vm.Destroy_Task())


def snapshot(vm: vim.VirtualMachine, name: str) -> vim.vm.Snapshot:
    task = vm.CreateSnapshot_Task(name=name, description="", memory=False, quiesce=False)
    WaitForTask(task)
    return task.info.result


def blocks_of(offset: int, length: int) -> set[int]:
    return set(range(offset // BLOCK, (offset + length - 1) // BLOCK + 1))


def blocks_in(extents: list[tuple[int, int]]) -> set[int]:
    out: set[int] = set()
    for start, length in extents:
        assert start % BLOCK == 0 and length % BLOCK == 0, f"extent {start}+{length} not 64 KiB aligned"
        out |= blocks_of(start, length)
    return out
