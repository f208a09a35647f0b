"""The host_network role run as Ansible runs it, on localhost into a temporary directory standing in for
/etc/systemd/network, with the NIC facts given (node1 of the example campus) and the cabling check off: what check
mode shows and leaves, that a rerun on files already as planned changes nothing and applies nothing, the role's
input refusals, and the apply's control flow - backup, arm, write, activate, reconnect, the address check, confirm;
and, when the planned addresses do not come, the rollback and the failure that says so; and a node cut off from
the controller after the activation, which the controller leaves alone until the node's own timer has restored it.

systemd-run, systemctl, networkctl and ip are recorders on PATH (systemd-run runs a unit that would start now at
once and only records the rollback timer; ip shows the addresses a test lays out), so nothing here touches this
machine's network, and the cut is simulated (the node's Python fails while a flag file exists). What this does not
prove: the timer firing on a real systemd, networkd and the kernel doing what the commands ask, a real SSH
connection lost - that is tests/integration/network on the metal lab."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from ansible_collections.reforge.hci.plugins.filter.network_plan import network_plan, networkd_files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RECORDER = '#!/bin/sh\necho "$(basename "$0") $*" >> "$FAKE_LOG"\n'
# For the apply: a transient unit that would run now runs now (the rollback timer's does not), systemctl answers
# like a systemd whose networkd runs, ip shows the addresses a test puts in FAKE_DIR/addr-<iface>.
APPLY_FAKES = {
    "systemd-run": RECORDER + """case "$*" in *--on-active=*) exit 0 ;; esac
while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do shift; done
exec "$@"
""",
    "systemctl": RECORDER + """case "$1" in
    show) printf 'Id=%s\\nLoadState=loaded\\nActiveState=active\\nSubState=running\\nUnitFileState=enabled\\n' "$2" ;;
    is-active) exit 3 ;;
    is-enabled) echo enabled ;;
esac
exit 0
""",
    "ip": RECORDER + """case "$*" in "-o addr show dev "*) cat "$FAKE_DIR/addr-$5" 2>/dev/null ;; esac
exit 0
""",
}


def campus():
    with open(os.path.join(REPO, "docs", "examples", "campus-network.yml")) as fh:
        return yaml.safe_load(fh)["campus_network"]


def run_role(tmp_path, check=False, fakes=None, host_vars=None, **overrides):
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    for cmd in ("systemd-run", "systemctl", "networkctl", "ip"):
        (fake / cmd).write_text((fakes or {}).get(cmd, RECORDER))
        (fake / cmd).chmod(0o755)
    (tmp_path / "sys").mkdir(exist_ok=True)
    c = campus()
    variables = dict(host_network_campus=c, host_network_node="node1", host_network_nic_facts={"node1": c["nodes"]["node1"]["nics"]},
                     host_network_dir=str(tmp_path / "network"), host_network_state_dir=str(tmp_path / "state"),
                     host_network_ifupdown=str(tmp_path / "interfaces"), host_network_cabling_check="never",
                     host_network_verify="never")
    variables.update(overrides)
    host = "node1" if host_vars else "localhost"
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {host: host_vars or {}}}}))
    play = [{"hosts": host, "gather_facts": False, "connection": "local", "vars": variables,
             "environment": {"PATH": "%s:%s" % (fake, os.environ["PATH"]), "FAKE_LOG": str(tmp_path / "calls"),
                             "FAKE_DIR": str(tmp_path), "SYS_CLASS_NET": str(tmp_path / "sys")},
             "roles": ["reforge.hci.host_network"]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "build", "collections"),
               ANSIBLE_PYTHON_INTERPRETER=os.path.join(REPO, ".venv", "bin", "python"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default")
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
            str(tmp_path / "play.yml"), "--diff"]
    proc = subprocess.run(argv + (["--check"] if check else []), env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    proc.calls = (tmp_path / "calls").read_text() if (tmp_path / "calls").exists() else ""
    return proc


def recap(proc, host="localhost"):
    line = next(line for line in proc.stdout.splitlines() if line.startswith(host + " "))
    return dict(part.split("=") for part in line.split(":", 1)[1].split())


def test_check_mode_shows_every_file_and_writes_and_arms_nothing(tmp_path):
    proc = run_role(tmp_path, check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = networkd_files(network_plan(campus())["node1"])
    for name in files:
        assert "+++ after: %s/network/%s" % (tmp_path, name) in proc.stdout, name
    assert "+PermanentMACAddress=52:54:00:4d:01:00" in proc.stdout and "+Address=10.20.20.11/24" in proc.stdout
    assert not (tmp_path / "network").exists() and not (tmp_path / "state").exists()
    assert proc.calls == ""


def test_a_rerun_with_the_same_plan_changes_and_applies_nothing(tmp_path):
    (tmp_path / "network").mkdir()
    for name, text in networkd_files(network_plan(campus())["node1"]).items():
        (tmp_path / "network" / name).write_text(text)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "network").iterdir()}
    proc = run_role(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap(proc)["changed"] == "0"
    assert proc.calls == "" and not (tmp_path / "state").exists()
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "network").iterdir()} == before


@pytest.mark.refusal(area="role host_network", field="host_network_node",
                     message="host_network: refused, nothing was changed: host_network_node: node9 is not under host_network_campus.nodes",
                     fix="set host_network_node to the host's name in the campus definition (default: inventory_hostname)")
def test_a_host_that_is_not_a_node_of_the_campus_is_refused(tmp_path, proves_refusal):
    proc = run_role(tmp_path, check=True, host_network_node="node9")
    assert proc.returncode != 0 and recap(proc)["changed"] == "0"
    proves_refusal(proc.stdout)


@pytest.mark.refusal(area="role host_network", field="host_network_connect_timeout, host_network_rollback_seconds",
                     message="host_network_rollback_seconds (>= 30), host_network_connect_timeout (>= 10, and 10 less than "
                             "the rollback window) and host_network_lldp_wait (>= 0) must fit",
                     fix="give the node longer to roll back than the controller waits to reach it")
def test_a_rollback_window_shorter_than_the_reconnect_is_refused(tmp_path, proves_refusal):
    proc = run_role(tmp_path, check=True, host_network_rollback_seconds=60, host_network_connect_timeout=60)
    assert proc.returncode != 0
    proves_refusal(proc.stdout)


def test_a_campus_refusal_stops_before_anything(tmp_path):
    c = campus()
    c["nodes"]["node1"]["bonds"]["bond0"]["mode"] = "balance-rr"
    proc = run_role(tmp_path, host_network_campus=c)
    assert proc.returncode != 0
    assert "nodes.node1.bonds.bond0.mode: 'balance-rr' is not a bond mode here" in proc.stdout
    assert not (tmp_path / "network").exists() and proc.calls == ""


def test_without_given_facts_the_node_is_planned_with_its_own(tmp_path):
    """This machine is not node1: its own NICs (read by setup, physical ones only) do not have node1's MACs."""
    proc = run_role(tmp_path, check=True, host_network_nic_facts={})
    assert proc.returncode != 0
    assert "TASK [reforge.hci.host_network : Read the node's NICs]" in proc.stdout
    assert "nodes.node1.bonds.bond0.members[0]: '52:54:00:4d:01:00' is not a NIC of node1 (NICs: " in proc.stdout
    # setup's network facts ran the recorder ip (addresses); nothing else was called
    assert not (tmp_path / "network").exists()
    assert all(line.startswith("ip ") for line in proc.calls.splitlines())


INSTALL_FILE = "[Match]\nPermanentMACAddress=52:54:00:4d:01:00\n\n[Network]\nAddress=10.20.10.11/24\nGateway=10.20.10.1\n"


def old_files(tmp_path):
    """node1 on an older plan (bond1 with LACP slow), with the install network's file that roles/os_install left."""
    (tmp_path / "network").mkdir()
    for name, text in networkd_files(network_plan(campus())["node1"]).items():
        (tmp_path / "network" / name).write_text(text.replace("LACPTransmitRate=fast", "LACPTransmitRate=slow")
                                                 if name == "20-bond1.netdev" else text)
    (tmp_path / "network" / "10-reforge-install.network").write_text(INSTALL_FILE)
    return {p.name: p.read_text() for p in (tmp_path / "network").iterdir()}


def test_apply_arms_writes_activates_checks_the_addresses_and_confirms(tmp_path):
    """The apply's order on localhost with recorders (no network is touched; that is tests/integration/network)."""
    old_files(tmp_path)
    for iface, cidr in (("bond0", "10.20.10.11/24"), ("bond1.120", "10.20.20.11/24"), ("bond1.130", "10.20.30.11/24")):
        (tmp_path / ("addr-" + iface)).write_text("7: %s    inet %s scope global %s\n" % (iface, cidr, iface))
    proc = run_role(tmp_path, fakes=APPLY_FAKES, host_network_rollback_seconds=40, host_network_connect_timeout=10)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert {p.name: p.read_text() for p in (tmp_path / "network").iterdir()} == networkd_files(network_plan(campus())["node1"])
    calls = [c for c in proc.calls.splitlines() if not c.startswith(("systemctl show", "systemctl is-", "ip -o addr"))]
    arm = next(i for i, c in enumerate(calls) if "--on-active=40s" in c)
    apply_ = next(i for i, c in enumerate(calls) if "--unit=reforge-network-apply" in c)
    confirm = len(calls) - 1 - calls[::-1].index("systemctl stop reforge-network-rollback.timer")
    assert arm < apply_ < calls.index("networkctl reload") < confirm and confirm == len(calls) - 1
    assert not (tmp_path / "state" / "backup").exists() and not (tmp_path / "state" / "rolled-back").exists()


def test_a_change_without_its_addresses_is_rolled_back_and_said(tmp_path):
    old = old_files(tmp_path)
    proc = run_role(tmp_path, fakes=APPLY_FAKES, host_network_rollback_seconds=40, host_network_connect_timeout=10)
    assert proc.returncode != 0
    assert "the change was not confirmed (Reached over the new configuration, with every planned address:" in proc.stdout
    assert "missing: bond0 10.20.10.11/24; bond1.130 10.20.30.11/24; bond1.120 10.20.20.11/24" in proc.stdout
    assert "It was rolled back at 20" in proc.stdout and "the VLANs and MTU of the switch ports" in proc.stdout
    assert {p.name: p.read_text() for p in (tmp_path / "network").iterdir()} == old
    assert "systemctl stop reforge-network-rollback.timer" in proc.calls


# The node cut off: once the activation has run, the node's Python "does not answer" (the interpreter of the
# inventory's node1 fails while FAKE_DIR/cut exists, as an SSH connection would); the rollback timer's unit runs after
# its seconds in the background and, as the real one, restores the backup - after which node1 answers again.
CUT_FAKES = dict(APPLY_FAKES, **{
    "systemd-run": RECORDER + """case "$*" in
*--on-active=*)
    secs=$(echo "$*" | sed 's/.*--on-active=\\([0-9]*\\)s.*/\\1/')
    while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do shift; done
    (sleep "$secs"; rm -f "$FAKE_DIR/cut"; "$@") </dev/null >/dev/null 2>&1 &
    exit 0 ;;
*--unit=reforge-network-apply*)
    while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do shift; done
    "$@"; rc=$?; touch "$FAKE_DIR/cut"; exit $rc ;;
esac
while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do shift; done
exec "$@"
"""})


def test_a_node_the_controller_loses_rolls_back_by_itself_and_the_role_says_so(tmp_path):
    """Timing: the reconnect gives up ~20 s after the arm and the probe in the rescue ~10 s later, well before the
    50 s timer; a node that answers again during the probe would be rolled back by the controller at once instead."""
    old = old_files(tmp_path)
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\n[ -e "%s" ] && { echo "no route to node1" >&2; exit 255; }\nexec %s "$@"\n'
                      % (tmp_path / "cut", os.path.join(REPO, ".venv", "bin", "python")))
    python.chmod(0o755)
    proc = run_role(tmp_path, fakes=CUT_FAKES, host_vars={"ansible_connection": "local", "ansible_python_interpreter": str(python)},
                    host_network_rollback_seconds=50, host_network_connect_timeout=10)
    assert proc.returncode != 0
    out = proc.stdout
    assert "the change was not confirmed (Reach the node over the new configuration:" in out, out[-4000:]
    assert "It was rolled back at 20" in out and "answers again over its old configuration" in out
    # the controller did nothing on the node after the cut: no "roll back now", the node's own timer did it
    assert "reforge-network-restore" not in proc.calls
    assert re.search(r"TASK \[reforge.hci.host_network : Wait for the node's rollback timer\] \**\n(.*\n)?ok: \[node1 -> localhost\]", out)
    assert {p.name: p.read_text() for p in (tmp_path / "network").iterdir()} == old
    assert not (tmp_path / "cut").exists()


# The confirm's answer lost: the confirm runs on the node (the timer stopped, the backup dropped), then its answer does
# not reach the controller (the node's Python exits 255 after running it, as an SSH connection dropped there would).
LOST_CONFIRM_FAKES = dict(APPLY_FAKES, **{
    # only the confirm asks whether the rollback service runs (after stopping the timer)
    "systemctl": APPLY_FAKES["systemctl"].replace('case "$1" in', """case "$*" in "is-active --quiet reforge-network-rollback.service")
    [ -e "$FAKE_DIR/lost-once" ] || { touch "$FAKE_DIR/lost-once" "$FAKE_DIR/lose"; } ;;
esac
case "$1" in""", 1)})


def test_a_confirm_whose_answer_is_lost_is_read_back_not_rolled_back(tmp_path):
    """Nothing sent twice: the controller reads the node's state (no backup left: the confirm landed) and neither
    rolls back a change that is confirmed nor sends the confirm again; the role goes on and says what happened."""
    old_files(tmp_path)
    for iface, cidr in (("bond0", "10.20.10.11/24"), ("bond1.120", "10.20.20.11/24"), ("bond1.130", "10.20.30.11/24")):
        (tmp_path / ("addr-" + iface)).write_text("7: %s    inet %s scope global %s\n" % (iface, cidr, iface))
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\nout=$(%s "$@"); rc=$?\nif [ -e "%s" ]; then rm -f "%s"; echo "connection to node1 lost" >&2; exit 255; fi\n'
                      'printf "%%s\\n" "$out"; exit $rc\n'
                      % (os.path.join(REPO, ".venv", "bin", "python"), tmp_path / "lose", tmp_path / "lose"))
    python.chmod(0o755)
    proc = run_role(tmp_path, fakes=LOST_CONFIRM_FAKES, host_vars={"ansible_connection": "local", "ansible_python_interpreter": str(python)},
                    host_network_rollback_seconds=40, host_network_connect_timeout=10)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert (tmp_path / "lost-once").exists(), "the confirm did not run"
    assert "the confirm's answer was lost" in proc.stdout and "Nothing was sent again" in proc.stdout
    assert recap(proc, "node1")["rescued"] == "1"
    assert "reforge-network-restore" not in proc.calls
    assert proc.calls.count("systemctl is-active --quiet reforge-network-rollback.service") == 1, "the confirm was sent twice"
    assert {p.name: p.read_text() for p in (tmp_path / "network").iterdir()} == networkd_files(network_plan(campus())["node1"])
    assert not (tmp_path / "state" / "backup").exists() and not (tmp_path / "state" / "rolled-back").exists()
