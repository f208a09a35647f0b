# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vSphere VM definition, converted for KVM: libvirt domain XML and the equivalent QEMU command line.

Kept from the source: CPU count, memory, firmware (BIOS stays BIOS, EFI becomes
OVMF; switching firmware would leave the guest unbootable), MAC addresses (a new
MAC leaves a ghost adapter and breaks DHCP reservations and licences). Changed:
disks become virtio-blk, NICs virtio-net on the bridge/VLAN the port group maps to.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


def map_nics(nics: List[Dict[str, Any]], network_map: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Port group → ``{bridge, vlan}``; an unmapped port group is an error, not a silent default bridge."""
    out = []
    for nic in nics:
        target = network_map.get(nic.get("network") or "")
        if target is None:
            raise CutoverError("no network_map entry for port group %r (NIC %s, MAC %s)"
                               % (nic.get("network"), nic.get("label"), nic.get("mac")))
        out.append({"mac": nic["mac"], "bridge": target["bridge"], "vlan": target.get("vlan"),
                    "ovs": bool(target.get("ovs")), "source_network": nic.get("network")})
    return out


def check_libvirt_nics(nics: List[Dict[str, Any]]) -> None:
    """libvirt tags a NIC's VLAN only on an Open vSwitch bridge; on a Linux bridge the domain would not start.

    Checked before the source is touched: map such port groups to a per-VLAN Linux
    bridge (e.g. ``br110`` over ``bond0.110``) or mark the bridge ``ovs: true``.
    """
    for nic in nics:
        if nic.get("vlan") and not nic.get("ovs"):
            raise CutoverError("port group %r maps to VLAN %s on Linux bridge %r: libvirt tags VLANs only on Open "
                               "vSwitch bridges (set ovs: true) - map it to a per-VLAN bridge instead"
                               % (nic.get("source_network"), nic["vlan"], nic["bridge"]))


def domain_xml(facts: Dict[str, Any], disks: List[Dict[str, Any]], nics: List[Dict[str, Any]],
               serial_log: Optional[str] = None, nvram_dir: str = "/var/lib/libvirt/qemu/nvram",
               domain_type: str = "kvm") -> str:
    """libvirt domain for the converted VM; ``disks`` are ``{format: raw|qcow2|rbd, path | pool+image, ...}``.

    ``domain_type`` is ``kvm`` on real nodes, ``qemu`` (TCG) where KVM does not work.
    """
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = facts["name"]
    if facts.get("uuid"):
        ET.SubElement(dom, "uuid").text = facts["uuid"]
    ET.SubElement(dom, "memory", unit="MiB").text = str(facts.get("memory_mb") or 1024)
    ET.SubElement(dom, "vcpu").text = str(facts.get("num_cpu") or 1)
    meta = ET.SubElement(ET.SubElement(dom, "metadata"), "reforge:migration",
                         {"xmlns:reforge": "https://reforge.example/hci/migration/1"})
    ET.SubElement(meta, "reforge:source").text = facts.get("moref") or facts["name"]
    if facts.get("tier"):
        ET.SubElement(meta, "reforge:tier").text = facts["tier"]
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="q35").text = "hvm"
    if facts.get("firmware") == "efi":
        ET.SubElement(os_el, "loader", readonly="yes", type="pflash").text = OVMF_CODE
        ET.SubElement(os_el, "nvram", template=OVMF_VARS).text = "%s/%s_VARS.fd" % (nvram_dir, facts["name"])
    ET.SubElement(os_el, "boot", dev="hd")
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    if domain_type == "kvm":
        ET.SubElement(dom, "cpu", mode="host-model")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_crash").text = "restart"
    devices = ET.SubElement(dom, "devices")
    for index, disk in enumerate(disks):
        dev = "vd" + chr(ord("a") + index)
        if disk["format"] == "rbd":
            el = ET.SubElement(devices, "disk", type="network", device="disk")
            ET.SubElement(el, "driver", name="qemu", type="raw", cache="writeback", discard="unmap")
            src = ET.SubElement(el, "source", protocol="rbd", name="%s/%s" % (disk["pool"], disk["image"]))
            for mon in disk.get("monitors") or []:
                host, dummy, port = mon.partition(":")
                ET.SubElement(src, "host", name=host, port=port or "6789")
            if disk.get("secret_uuid"):
                auth = ET.SubElement(el, "auth", username=disk.get("ceph_user", "libvirt"))
                ET.SubElement(auth, "secret", type="ceph", uuid=disk["secret_uuid"])
        else:
            el = ET.SubElement(devices, "disk", type="file", device="disk")
            ET.SubElement(el, "driver", name="qemu", type=disk["format"], discard="unmap")
            ET.SubElement(el, "source", file=disk["path"])
        ET.SubElement(el, "target", dev=dev, bus="virtio")
    for nic in nics:
        el = ET.SubElement(devices, "interface", type="bridge")
        ET.SubElement(el, "mac", address=nic["mac"])
        ET.SubElement(el, "source", bridge=nic["bridge"])
        if nic.get("ovs"):
            ET.SubElement(el, "virtualport", type="openvswitch")
        if nic.get("vlan"):
            ET.SubElement(ET.SubElement(el, "vlan"), "tag", id=str(nic["vlan"]))
        ET.SubElement(el, "model", type="virtio")
    if serial_log:
        serial = ET.SubElement(devices, "serial", type="file")
        ET.SubElement(serial, "source", path=serial_log, append="on")
    else:
        ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(devices, "console", type="pty")
    ET.SubElement(devices, "channel", type="unix").append(ET.Element("target", type="virtio",
                                                                     name="org.qemu.guest_agent.0"))
    if hasattr(ET, "indent"):  # Python >= 3.9; older nodes get the same XML on one line
        ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


def qemu_argv(facts: Dict[str, Any], disks: List[Dict[str, Any]], nics: List[Dict[str, Any]],
              serial_log: str, qemu: str = "qemu-system-x86_64", accel: str = "tcg",
              memory_mb: Optional[int] = None, nvram: Optional[str] = None) -> List[str]:
    """The same machine as :func:`domain_xml` for a direct QEMU boot check (no libvirt on the host).

    NICs are attached with their MACs but without a host backend: the boot check
    must not touch host networking, and the guest still sees its adapters.
    """
    argv = [qemu, "-machine", "q35,accel=%s" % accel, "-m", str(memory_mb or facts.get("memory_mb") or 256),
            "-smp", str(facts.get("num_cpu") or 1), "-display", "none", "-no-user-config", "-nodefaults",
            "-serial", "file:%s" % serial_log, "-no-reboot"]
    if facts.get("firmware") == "efi":
        if not nvram:
            raise CutoverError("an EFI guest needs a writable copy of %s for its variables" % OVMF_VARS)
        argv += ["-drive", "if=pflash,format=raw,readonly=on,file=%s" % OVMF_CODE,
                 "-drive", "if=pflash,format=raw,file=%s" % nvram]
    for index, disk in enumerate(disks):
        if disk["format"] == "rbd":
            # copy-on-write like the files: a failed boot check leaves the synced image intact
            src = "rbd:%s/%s" % (disk["pool"], disk["image"])
            argv += ["-drive", "file=%s,format=raw,if=virtio,index=%d,snapshot=on" % (src, index)]
        else:
            argv += ["-drive", "file=%s,format=%s,if=virtio,index=%d,snapshot=on"
                     % (disk["path"], disk["format"], index)]
    for index, nic in enumerate(nics):
        argv += ["-device", "virtio-net-pci,mac=%s,id=nic%d" % (nic["mac"], index)]
    return argv
