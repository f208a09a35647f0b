"""Conversion of the vSphere VM definition for KVM: domain XML and the QEMU boot-check command line."""
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import convert
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError

FACTS = {"name": "db01", "uuid": "4210aa00-0000-0000-0000-000000000001", "memory_mb": 4096, "num_cpu": 2,
         "firmware": "efi", "tier": "tier1", "moref": "vm-42",
         "nics": [{"label": "Network adapter 1", "mac": "00:50:56:8a:10:01", "network": "prod-db"}]}
NETMAP = {"prod-db": {"bridge": "br-vm", "vlan": 110}}


def test_nics_keep_mac_and_map_to_bridge_and_vlan():
    nics = convert.map_nics(FACTS["nics"], NETMAP)
    assert nics == [{"mac": "00:50:56:8a:10:01", "bridge": "br-vm", "vlan": 110, "ovs": False,
                     "source_network": "prod-db"}]
    with pytest.raises(CutoverError, match="prod-db"):
        convert.map_nics(FACTS["nics"], {"VM Network": {"bridge": "br0"}})


def test_libvirt_refuses_a_vlan_tag_on_a_linux_bridge_but_tags_on_open_vswitch():
    with pytest.raises(CutoverError, match="Open vSwitch"):
        convert.check_libvirt_nics(convert.map_nics(FACTS["nics"], NETMAP))
    ovs = convert.map_nics(FACTS["nics"], {"prod-db": {"bridge": "br-ovs", "vlan": 110, "ovs": True}})
    convert.check_libvirt_nics(ovs)
    convert.check_libvirt_nics(convert.map_nics(FACTS["nics"], {"prod-db": {"bridge": "br110"}}))
    iface = ET.fromstring(convert.domain_xml(FACTS, [], ovs)).find("devices/interface")
    assert iface.find("virtualport").get("type") == "openvswitch" and iface.find("vlan/tag").get("id") == "110"


def test_tcg_domain_type_has_no_host_cpu_model():
    kvm = ET.fromstring(convert.domain_xml(FACTS, [], []))
    tcg = ET.fromstring(convert.domain_xml(FACTS, [], [], domain_type="qemu"))
    assert (kvm.get("type"), tcg.get("type")) == ("kvm", "qemu")
    assert kvm.find("cpu").get("mode") == "host-model" and tcg.find("cpu") is None


def test_domain_xml_efi_virtio_rbd_and_file_disks():
    disks = [{"format": "rbd", "pool": "vms", "image": "db01-disk0", "monitors": ["10.0.0.1:6789", "10.0.0.2"],
              "secret_uuid": "11111111-2222-3333-4444-555555555555"},
             {"format": "qcow2", "path": "/var/lib/x.qcow2"}]
    dom = ET.fromstring(convert.domain_xml(FACTS, disks, convert.map_nics(FACTS["nics"], NETMAP), "/tmp/s.log"))
    assert dom.find("os/loader").text == convert.OVMF_CODE
    assert [t.get("bus") for t in dom.findall("devices/disk/target")] == ["virtio", "virtio"]
    assert [t.get("dev") for t in dom.findall("devices/disk/target")] == ["vda", "vdb"]
    rbd = dom.find("devices/disk/source[@protocol='rbd']")
    assert rbd.get("name") == "vms/db01-disk0" and [h.get("port") for h in rbd.findall("host")] == ["6789", "6789"]
    assert dom.find("devices/disk/auth/secret").get("uuid").startswith("1111")
    iface = dom.find("devices/interface")
    assert iface.find("mac").get("address") == "00:50:56:8a:10:01"
    assert iface.find("model").get("type") == "virtio" and iface.find("vlan/tag").get("id") == "110"
    assert dom.find("devices/serial/source").get("path") == "/tmp/s.log"


def test_bios_guest_gets_no_loader_and_qemu_argv_matches():
    bios = dict(FACTS, firmware="bios")
    dom = ET.fromstring(convert.domain_xml(bios, [{"format": "raw", "path": "/d.raw"}], []))
    assert dom.find("os/loader") is None
    argv = convert.qemu_argv(bios, [{"format": "raw", "path": "/d.raw"}],
                             convert.map_nics(FACTS["nics"], NETMAP), "/tmp/s.log", memory_mb=64)
    assert "pflash" not in " ".join(argv) and "-m" in argv and argv[argv.index("-m") + 1] == "64"
    assert "file=/d.raw,format=raw,if=virtio,index=0,snapshot=on" in argv
    assert "virtio-net-pci,mac=00:50:56:8a:10:01,id=nic0" in argv
    with pytest.raises(CutoverError, match="VARS"):
        convert.qemu_argv(FACTS, [], [], "/tmp/s.log")
