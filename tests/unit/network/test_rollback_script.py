"""roles/host_network/files/network_rollback.sh, the node's side of a safe change, run with /bin/sh on a temporary
directory standing in for /etc/systemd/network, a fake /sys/class/net, and networkctl, ip, systemd-run and systemctl
replaced on PATH by recorders. This proves the script's file logic and the commands it issues, in order - not that
networkd, the kernel or systemd's timer do what the commands ask (that is tests/integration/network)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.reforge.hci.plugins.filter.network_plan import HEADER

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "host_network" / "files" / "network_rollback.sh"

RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$FAKE_LOG"
case "$(basename "$0") $*" in
    "systemctl is-active --quiet reforge-network-rollback.timer") [ -e "$FAKE_DIR/timer-active" ] ;;
    "systemctl is-active --quiet reforge-network-rollback.service") [ -e "$FAKE_DIR/service-active" ] ;;
    "networkctl reload") [ ! -e "$FAKE_DIR/reload-fails" ] ;;
    "ip link delete "*) rm -rf "${SYS_CLASS_NET:?}/$3" ;;
    "ip -o addr show dev "*) cat "$FAKE_DIR/addr-$5" 2>/dev/null ;;
    *) exit 0 ;;
esac
"""


class Node:
    def __init__(self, tmp_path: Path):
        self.root = tmp_path
        self.netdir, self.state, self.fake = tmp_path / "network", tmp_path / "state", tmp_path / "fake"
        self.sys = tmp_path / "sys"
        for d in (self.netdir, self.state, self.fake / "bin", self.sys):
            d.mkdir(parents=True)
        for cmd in ("networkctl", "ip", "systemd-run", "systemctl"):
            (self.fake / "bin" / cmd).write_text(RECORDER)
            (self.fake / "bin" / cmd).chmod(0o755)
        self.log = self.fake / "log"

    def link(self, name, mac, perm=None):
        (self.sys / name).mkdir()
        (self.sys / name / "address").write_text(mac + "\n")
        if perm:
            (self.sys / name / "bonding_slave").mkdir()
            (self.sys / name / "bonding_slave" / "perm_hwaddr").write_text(perm + "\n")

    def write(self, files):
        for name, text in files.items():
            (self.netdir / name).write_text(text)

    def files(self, where=None):
        where = where or self.netdir
        return {p.name: p.read_text() for p in sorted(where.iterdir()) if not p.name.startswith(".")}

    def run(self, *args):
        self.log.write_text("")
        env = dict(os.environ, PATH="%s:/usr/bin:/bin" % (self.fake / "bin"), FAKE_LOG=str(self.log),
                   FAKE_DIR=str(self.fake), SYS_CLASS_NET=str(self.sys))
        args = [str(a) for a in args]
        proc = subprocess.run(["/bin/sh", str(SCRIPT), args[0], str(self.netdir), str(self.state)] + args[1:],
                              capture_output=True, text=True, env=env, timeout=30, check=False)
        proc.calls = [line for line in self.log.read_text().splitlines() if not line.startswith("systemctl is-active")]
        return proc


@pytest.fixture
def node(tmp_path, node1_files):
    """node1 running an older plan (no VM bridge yet, bond1 with LACP slow) beside an admin's file; the links exist."""
    n = Node(tmp_path)
    old = {k: v for k, v in node1_files.items() if "br-vm" not in k and "bond0.140" not in k}
    old["20-bond0.network"] = old["20-bond0.network"].replace("VLAN=bond0.140\n", "")
    old["20-bond1.netdev"] = old["20-bond1.netdev"].replace("LACPTransmitRate=fast", "LACPTransmitRate=slow")
    n.write(old)
    n.write({"99-admin.network": "[Match]\nName=eno9\n\n[Network]\nDHCP=yes\n"})
    n.old = n.files()
    for i in range(4):
        n.link("enp%ds0" % (i + 1), "52:54:00:4d:01:%02x" % (i - i % 2), perm="52:54:00:4d:01:%02x" % i)
    for name, mac in (("bond0", "52:54:00:4d:01:00"), ("bond1", "52:54:00:4d:01:02"), ("bond1.120", "52:54:00:4d:01:02"),
                      ("bond1.130", "52:54:00:4d:01:02"), ("eno9", "52:54:00:99:00:00")):
        n.link(name, mac)
    n.new = node1_files
    return n


def change(node):
    """What the role does: backup, arm, write (the module), activate."""
    assert node.run("backup").returncode == 0
    assert node.run("arm", 120).returncode == 0
    for name, text in node.files().items():
        if text.startswith(HEADER) and name not in node.new:
            (node.netdir / name).unlink()
    node.write(node.new)


def reloaded(node):
    """What networkd makes of the new files on reload: the new netdevs, the changed one again."""
    node.link("bond0.140", "52:54:00:4d:01:00")
    node.link("br-vm", "52:54:00:aa:00:00")
    node.link("bond1", "52:54:00:4d:01:02")


def test_backup_copies_every_networkd_file(node):
    proc = node.run("backup")
    assert proc.returncode == 0, proc.stderr
    assert node.files(node.state / "backup") == node.old
    assert (node.state / "backup" / ".complete").exists()


def test_backup_is_refused_while_a_change_waits_for_confirmation(node):
    node.run("backup")
    (node.fake / "timer-active").write_text("")
    proc = node.run("backup")
    assert proc.returncode == 1 and "a change is pending confirmation" in proc.stderr


def test_arm_starts_a_transient_timer_that_restores(node):
    node.run("backup")
    proc = node.run("arm", 120)
    assert proc.returncode == 0, proc.stderr
    assert proc.calls[-1] == ("systemd-run --unit=reforge-network-rollback --on-active=120s --timer-property=AccuracySec=1s "
                              "--description=reforge.hci: undo the unconfirmed network change /bin/sh %s restore %s %s"
                              % (SCRIPT, node.netdir, node.state))
    assert node.run("arm", "2m").returncode == 1


def test_arm_without_backup_is_refused(node):
    proc = node.run("arm", 120)
    assert proc.returncode == 1 and "no complete backup" in proc.stderr
    assert not [c for c in proc.calls if c.startswith("systemd-run")]


def test_activate_deletes_changed_netdevs_reloads_and_reconfigures_our_links(node):
    change(node)
    proc = node.run("activate")
    assert proc.returncode == 0, proc.stderr
    assert proc.calls == ["ip link delete bond1", "networkctl reload",
                          "networkctl reconfigure bond0 bond1.120 bond1.130 enp1s0 enp2s0 enp3s0 enp4s0"]


def test_activate_fails_when_networkd_does_not_reload(node):
    change(node)
    (node.fake / "reload-fails").write_text("")
    proc = node.run("activate")
    assert proc.returncode == 1 and "networkctl reload failed" in proc.stderr


def test_restore_puts_the_old_files_back_and_undoes_the_netdevs(node):
    change(node)
    node.run("activate")
    reloaded(node)
    proc = node.run("restore")
    assert proc.returncode == 0, proc.stderr
    assert node.files() == node.old                   # ours as before, the admin's file untouched
    assert proc.calls[:3] == ["ip link delete bond0.140", "ip link delete bond1", "ip link delete br-vm"]
    assert proc.calls[3:] == ["networkctl reload", "networkctl reconfigure bond0 bond1.120 bond1.130 enp1s0 enp2s0 enp3s0 enp4s0"]
    assert (node.state / "rolled-back").read_text().startswith("20")


def test_restore_brings_back_a_replaced_file_of_someone_else(node):
    (node.netdir / "50-install.network").write_text("[Match]\nName=enp1s0\n\n[Network]\nDHCP=yes\n")
    node.old = node.files()
    change(node)
    (node.netdir / "50-install.network").unlink()     # host_network_replace let the change remove it
    node.run("restore")
    assert node.files() == node.old


def addr(node, iface, cidr):
    line = "7: %s    inet %s brd 10.20.20.255 scope global %s\\       valid_lft forever\n" % (iface, cidr, iface)
    (node.fake / ("addr-%s" % iface)).write_text(line)


PLANNED = ["bond0=10.20.10.11/24", "bond1.120=10.20.20.11/24", "bond1.130=10.20.30.11/24"]


def test_addresses_waits_for_the_activation_then_for_every_planned_address(node):
    change(node)
    for want in PLANNED:
        addr(node, *want.split("="))
    proc = node.run("addresses", 1, *PLANNED)
    assert proc.returncode == 1 and "after 1 s: missing: activation not finished" in proc.stderr
    node.run("activate")
    proc = node.run("addresses", 0, *PLANNED)
    assert proc.returncode == 0, proc.stderr
    addr(node, "bond1.120", "10.20.20.111/24")      # a neighbour's address is not ours
    (node.fake / "addr-bond1.130").unlink()
    proc = node.run("addresses", 2, *PLANNED)
    assert proc.returncode == 1
    assert "after 2 s: missing: bond1.120 10.20.20.11/24; bond1.130 10.20.30.11/24" in proc.stderr
    assert node.run("addresses", "soon", *PLANNED).returncode == 1


def test_confirm_stops_the_timer_and_drops_the_backup(node):
    change(node)
    proc = node.run("confirm")
    assert proc.returncode == 0, proc.stderr
    assert proc.calls == ["systemctl stop reforge-network-rollback.timer"]
    assert not (node.state / "backup").exists()
    assert node.files() == dict(node.new, **{"99-admin.network": node.old["99-admin.network"]})


def test_confirm_after_the_rollback_fired_says_too_late(node):
    change(node)
    node.run("restore")
    proc = node.run("confirm")
    assert proc.returncode == 1 and "too late, the change was already rolled back" in proc.stderr
    (node.state / "rolled-back").unlink()
    (node.fake / "service-active").write_text("")
    proc = node.run("confirm")
    assert proc.returncode == 1 and "the rollback is running now" in proc.stderr


def test_no_shebang_and_posix_sh():
    text = SCRIPT.read_text()
    assert not text.startswith("#!")
    assert subprocess.run(["/bin/sh", "-n", str(SCRIPT)], check=False).returncode == 0


def test_a_change_without_a_netdev_change_reconfigures_only_the_links_it_touches(node):
    """The storage address moves: only bond1.120 is reconfigured (bond0, bond1 and their members keep their LACP partner
    and addresses); the rollback reconfigures the same link, and nothing is deleted either way."""
    node.new = dict(node.old)
    name = next(n for n in node.old if n.endswith("bond1.120.network"))
    node.new[name] = node.old[name].replace("10.20.20.11/24", "10.20.20.99/24")
    assert node.new[name] != node.old[name]
    change(node)
    proc = node.run("activate")
    assert proc.returncode == 0, proc.stderr
    assert proc.calls == ["networkctl reload", "networkctl reconfigure bond1.120"]
    proc = node.run("restore")
    assert proc.returncode == 0, proc.stderr
    assert node.files() == node.old
    assert proc.calls == ["networkctl reload", "networkctl reconfigure bond1.120"]


def test_a_new_netdev_alone_deletes_nothing_and_reconfigures_its_parent(node):
    """A VLAN added on bond0 (a new .netdev, bond0's .network gains VLAN=): nothing existing is deleted, bond0 is
    reconfigured (networkd makes the VLAN on it), bond1 and the members are left alone."""
    node.new = dict(node.old)
    node.new["30-bond0.150.netdev"] = HEADER + "\n[NetDev]\nName=bond0.150\nKind=vlan\n\n[VLAN]\nId=150\n"
    node.new["20-bond0.network"] = node.old["20-bond0.network"].replace("[Network]\n", "[Network]\nVLAN=bond0.150\n")
    assert node.new["20-bond0.network"] != node.old["20-bond0.network"]
    change(node)
    proc = node.run("activate")
    assert proc.returncode == 0, proc.stderr
    assert proc.calls == ["networkctl reload", "networkctl reconfigure bond0"]
