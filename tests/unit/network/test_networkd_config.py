"""reforge.hci.networkd_config on a temporary directory standing in for /etc/systemd/network: what it writes,
removes, leaves alone and refuses (files only; nothing here touches a network)."""
from __future__ import annotations

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.network.networkd import MARKER, changes, conflicts
from ansible_collections.reforge.hci.plugins.filter.network_plan import HEADER

from .conftest import run_module

AREA = "host network files (reforge.hci.networkd_config)"
MEMBERS = ["enp1s0", "enp2s0", "enp3s0", "enp4s0"]


def apply(tmp_path, files, check=False, **extra):
    netdir = tmp_path / "network"
    args = dict(files=files, path=str(netdir), interfaces=MEMBERS, ifupdown=str(tmp_path / "interfaces"), **extra)
    return run_module("networkd_config", args, tmp_path, check=check)


def on_disk(tmp_path):
    netdir = tmp_path / "network"
    return {p.name: p.read_text() for p in sorted(netdir.iterdir())} if netdir.is_dir() else {}


def test_the_marker_is_what_the_filter_writes():
    assert HEADER.startswith(MARKER)


def test_check_mode_shows_each_file_and_writes_nothing(tmp_path, node1_files):
    result = apply(tmp_path, node1_files, check=True)
    assert result["changed"] and result["written"] == sorted(node1_files)
    assert not (tmp_path / "network").exists()
    diff = {d["after_header"]: d for d in result["diff"]}
    first = diff[str(tmp_path / "network" / "20-bond0.netdev")]
    assert first["before"] == "" and first["after"] == node1_files["20-bond0.netdev"]
    assert first["before_header"].endswith("(absent)")


def test_writes_then_a_rerun_changes_nothing(tmp_path, node1_files):
    result = apply(tmp_path, node1_files)
    assert result["changed"] and result["netdevs"] == []
    assert on_disk(tmp_path) == node1_files
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "network").iterdir()}
    again = apply(tmp_path, node1_files)
    assert not again["changed"] and again["written"] == [] and again["removed"] == [] and again["diff"] == []
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "network").iterdir()} == mtimes
    assert oct((tmp_path / "network" / "20-bond0.netdev").stat().st_mode & 0o777) == "0o644"


def test_ours_no_longer_planned_go_and_others_stay(tmp_path, node1_files):
    apply(tmp_path, node1_files)
    (tmp_path / "network" / "99-admin.network").write_text("[Match]\nName=eno9\n\n[Network]\nDHCP=yes\n")
    (tmp_path / "network" / "README").write_text("not a networkd file\n")
    fewer = {k: v for k, v in node1_files.items() if "br-vm" not in k and "bond0.140" not in k}
    fewer["20-bond0.network"] = fewer["20-bond0.network"].replace("VLAN=bond0.140\n", "")
    result = apply(tmp_path, fewer)
    assert result["removed"] == ["30-bond0.140.netdev", "30-bond0.140.network", "40-br-vm.netdev", "40-br-vm.network"]
    assert result["written"] == ["20-bond0.network"]
    assert result["netdevs"] == ["bond0.140", "br-vm"]       # networkd does not delete a netdev whose file went
    left = on_disk(tmp_path)
    assert left["99-admin.network"].startswith("[Match]") and "README" in left
    assert "40-br-vm.netdev" not in left


def test_a_changed_bond_is_a_netdev_to_make_again(tmp_path, node1_files):
    apply(tmp_path, node1_files)
    changed = dict(node1_files)
    changed["20-bond1.netdev"] = changed["20-bond1.netdev"].replace("LACPTransmitRate=fast", "LACPTransmitRate=slow")
    result = apply(tmp_path, changed)
    assert result["written"] == ["20-bond1.netdev"] and result["netdevs"] == ["bond1"]


@pytest.mark.refusal(area=AREA, field="host_network_dir/<file>",
                     message="matches enp1s0, which the plan configures",
                     fix="remove the file (an installer's DHCP file for the NIC that becomes a bond member), or list it in "
                         "host_network_replace so that the change removes it and a rollback puts it back")
def test_a_file_of_someone_else_for_a_member_is_refused_with_its_path(tmp_path, node1_files, proves_refusal):
    netdir = tmp_path / "network"
    netdir.mkdir()
    (netdir / "50-install.network").write_text("[Match]\nName=enp1s0\n\n[Network]\nDHCP=yes\n")
    result = apply(tmp_path, node1_files)
    assert result["failed"]
    assert result["refused"] == ["%s/50-install.network: matches enp1s0, which the plan configures" % netdir]
    assert "nothing was written" in result["msg"]
    assert sorted(p.name for p in netdir.iterdir()) == ["50-install.network"]
    proves_refusal(result["msg"])
    # listed in replace, it goes with the change
    result = apply(tmp_path, node1_files, replace=["50-install.network"])
    assert "50-install.network" in result["removed"] and "50-install.network" not in on_disk(tmp_path)


@pytest.mark.parametrize("name, text, says", [
    ("10-bond0-enp1s0.network", "[Match]\nName=enp1s0\n", "a file of that name exists and was not made by reforge.hci"),
    ("60-all.network", "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n", "matches enp1s0, enp2s0, enp3s0, enp4s0"),
    ("60-not-lo.network", "[Match]\nName=!lo\n", "matches bond0, bond0.140, bond1"),
    ("60-mac.network", "[Match]\nMACAddress=52:54:00:4D:01:03\n", "matches 52:54:00:4d:01:03"),
    ("60-any.network", "[Network]\nDHCP=yes\n", "has no [Match] and so matches every interface"),
    ("60-bond.netdev", "[NetDev]\nName=bond1\nKind=bond\n", "creates bond1, which the plan creates too"),
])
def test_other_conflicts_are_refused(tmp_path, node1_files, name, text, says):
    netdir = tmp_path / "network"
    netdir.mkdir()
    (netdir / name).write_text(text)
    result = apply(tmp_path, node1_files)
    assert result["failed"] and says in result["refused"][0] and str(netdir / name) in result["refused"][0]
    assert sorted(p.name for p in netdir.iterdir()) == [name]


def test_harmless_files_of_others_are_left_alone():
    files = {"20-bond0.netdev": HEADER + "[NetDev]\nName=bond0\nKind=bond\n"}
    current = {"50-eno9.network": "[Match]\nName=eno9\n", "70-virt.network": "[Match]\nName=!en* !bond*\n",
               "99-default.link": "[Match]\nOriginalName=*\n"}
    assert conflicts("/n", current, files) == []
    assert changes(current, files)["remove"] == []


@pytest.mark.refusal(area=AREA, field="host_network_ifupdown",
                     message="ifupdown configures enp1s0, which the plan gives to systemd-networkd",
                     fix="remove the interface's stanzas from /etc/network/interfaces (the installer's) before this stage")
def test_an_ifupdown_stanza_for_a_member_is_refused(tmp_path, node1_files, proves_refusal):
    (tmp_path / "interfaces").write_text("auto lo\niface lo inet loopback\n\n# the primary network interface\n"
                                         "allow-hotplug enp1s0\niface enp1s0 inet dhcp\n")
    result = apply(tmp_path, node1_files)
    assert result["refused"] == [
        "%s line 5: ifupdown configures enp1s0, which the plan gives to systemd-networkd (allow-hotplug enp1s0)" % (tmp_path / "interfaces"),
        "%s line 6: ifupdown configures enp1s0, which the plan gives to systemd-networkd (iface enp1s0 inet dhcp)" % (tmp_path / "interfaces")]
    assert not (tmp_path / "network").exists()
    proves_refusal(result["msg"])


@pytest.mark.refusal(area=AREA, field="files.<name>",
                     message="does not start with the marker line",
                     fix="render the files with reforge.hci.networkd_files (the role does)")
def test_files_not_rendered_by_the_filter_are_refused(tmp_path, proves_refusal):
    result = apply(tmp_path, {"10-x.network": "[Match]\nName=x\n", "../escape.network": HEADER})
    assert result["refused"][0] == "files.../escape.network: not a .network or .netdev file name"
    assert "files.10-x.network: does not start with the marker line" in result["refused"][1]
    proves_refusal(result["msg"])
