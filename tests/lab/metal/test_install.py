"""Stage 2 on the metal lab: playbooks/install_os.yml takes a machine from an empty boot disk to Debian 13 answering
SSH at its planned management address with its planned host key, through its BMC only (virtual CD, boot once, power).

The controller reaches the machines through the lab's own leg on switch a (rmctl, 10.20.10.5 in the lab's namespace):
the machines fetch the image from the lab's HTTP server there, the BMC fetches the ISO on loopback, and SSH goes through
`ip netns exec <ns> nc` as ProxyCommand. Nothing outside loopback and the namespace is used."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from lab.module_run import run_module
from lab.redfish.client_helpers import LabBMC

pytestmark = pytest.mark.lab
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
CAMPUS = REPO_ROOT / "docs" / "examples" / "campus-network.yml"
CACHE = Path(os.environ.get("REFORGE_LAB_CACHE", "/var/cache/reforge-lab")) / "os-install"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


class Install:
    """An inventory of the metal lab's machine 1 as node1 of the example campus, and the playbook run on it."""

    def __init__(self, metal: dict, base: Path) -> None:
        self.metal, self.base = metal, base
        self.keys = base / "hostkeys"
        self.ssh_key = base / "controller_key"
        if not self.ssh_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "reforge-controller",
                            "-f", str(self.ssh_key)], check=True)
        self.bmc = LabBMC(metal["bmcs"][0]["endpoint"], metal["ca"])
        self.machine = metal["machines"][0]
        self.proxy = ["-o", f"ProxyCommand={metal['controller']['ssh_proxy_command']}"]

    def inventory(self, **overrides) -> Path:
        host = {
            "bmc_endpoint": self.metal["bmcs"][0]["endpoint"], "bmc_username": self.metal["username"],
            "bmc_password": self.metal["password"], "bmc_ca_path": self.metal["ca"],
            "os_install_boot_disk": self.machine["boot_disk"]["by_id"],
        }
        group = {
            "campus_network": yaml.safe_load(CAMPUS.read_text())["campus_network"],
            "os_install_cache_dir": str(CACHE),
            "os_install_media_dir": self.metal["media"]["dir"],
            "os_install_media_url": self.metal["media"]["bmc_url"],
            "os_install_deploy_url": self.metal["media"]["machine_url"],
            "os_install_hostkeys_dir": str(self.keys),
            "os_install_authorized_keys": [Path(f"{self.ssh_key}.pub").read_text().strip()],
            "os_install_ssh_private_key_file": str(self.ssh_key),
            "os_install_ssh_args": self.proxy,
            "os_install_wait_timeout": 2400,
        }
        for key, value in overrides.items():
            (host if key in host else group)[key] = value
        hosts = {"node1": host}
        if "extra_hosts" in overrides:
            hosts.update(group.pop("extra_hosts"))
        inv = self.base / "inventory.yml"
        inv.write_text(yaml.safe_dump({"all": {"children": {"os_install": {"hosts": hosts, "vars": group}}}}))
        return inv

    def play(self, *args: str, check: bool = True, **overrides) -> tuple[subprocess.CompletedProcess, dict]:
        inv = self.inventory(**overrides)
        proc = subprocess.run(["bash", "-c", 'source scripts/env.sh >/dev/null && exec ansible-playbook "$@"', "play",
                               "-i", str(inv), "playbooks/install_os.yml", *args], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=3600, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
        if check:
            assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
        recap = {h: dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", s))
                 for h, s in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", proc.stdout, re.M)}
        return proc, recap

    def ssh(self, *command: str) -> subprocess.CompletedProcess:
        """SSH to node1's planned address, trusting only its planned host key."""
        return subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                               "-o", f"UserKnownHostsFile={self.keys / 'node1' / 'known_hosts'}",
                               "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=30", "-o", "LogLevel=ERROR",
                               "-i", str(self.ssh_key), *self.proxy, "root@10.20.10.11", *command],
                              capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def metal(lab):
    return lab.get("metal")


@pytest.fixture(scope="module")
def install(metal, tmp_path_factory):
    return Install(metal, tmp_path_factory.mktemp("install"))


def test_the_controller_leg_reaches_the_switches(metal):
    """rmctl is an OVS internal port on switch a, untagged, with the controller's management address; the media are
    served inside the namespace (for the machines) and on loopback (for the BMCs), from one directory."""
    ns, ctl = metal["netns"], metal["controller"]
    shown = subprocess.run(["ip", "netns", "exec", ns, "ip", "-o", "-4", "addr", "show", ctl["port"]],
                           capture_output=True, text=True, check=True).stdout
    assert f"{ctl['address']}/{ctl['prefix']}" in shown
    port_br = subprocess.run(["ovs-vsctl", f"--db={metal['ovs_db']}", "port-to-br", ctl["port"]],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert port_br == "rmswa"
    probe = Path(metal["media"]["dir"]) / "probe.txt"
    probe.write_text("reforge\n")
    try:
        inside = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c",
                                 "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())",
                                 metal["media"]["machine_url"] + "/probe.txt"], capture_output=True, text=True, check=True)
        assert inside.stdout.strip() == "reforge"
        import urllib.request
        with urllib.request.urlopen(metal["media"]["bmc_url"] + "/probe.txt", timeout=10) as resp:
            assert resp.read() == b"reforge\n"
    finally:
        probe.unlink()
    host_addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    assert ctl["address"] not in host_addrs, "the controller's lab address must live in the namespace only"


def test_check_mode_shows_the_plan_and_writes_nothing(install):
    """--check: the plan (disk, address, install NIC) is shown; no BMC write, no image built, no key, no medium."""
    cursor, power_before = install.bmc.cursor(), install.bmc.state()["power_state"]
    cache_before, media_before = tree(CACHE), tree(Path(install.metal["media"]["dir"]))
    proc, recap = install.play("--check", "--diff")
    assert "virtio-RMBOOT0001" in proc.stdout and "10.20.10.11/24" in proc.stdout and "52:54:00:4d:01:00" in proc.stdout
    assert "install: image, medium" in proc.stdout
    assert recap["node1"]["failed"] == 0
    assert install.bmc.writes_since(cursor) == []
    assert tree(CACHE) == cache_before and tree(Path(install.metal["media"]["dir"])) == media_before
    assert not (install.keys / "node1").exists()
    assert install.bmc.state()["power_state"] == power_before


@pytest.mark.refusal(area="OS install (roles/os_install)", field="os_install_media_dir",
                     message="os_install_media_dir: empty (the directory the media are served from)",
                     fix="set os_install_media_dir to the directory your HTTP server serves, and the two URLs of it")
def test_settings_are_refused_before_anything_is_touched(install, proves_refusal):
    cursor = install.bmc.cursor()
    proc, _recap = install.play(check=False, os_install_media_dir="")
    assert proc.returncode != 0
    proves_refusal(proc.stdout)
    assert "Nothing was touched" in proc.stdout
    assert install.bmc.writes_since(cursor) == []


def test_a_bad_node_is_refused_before_any_node_is_touched(install):
    """node1 is fine, node7 is not in the campus: the play stops before touching node1's BMC either."""
    cursor = install.bmc.cursor()
    node7 = {"bmc_endpoint": "https://127.0.0.1:9", "os_install_boot_disk": "/dev/sdb"}
    proc, _recap = install.play(check=False, extra_hosts={"node7": node7})
    assert proc.returncode != 0
    assert "nodes.node7: unknown node" in proc.stdout
    assert install.bmc.writes_since(cursor) == []
    assert not (install.keys / "node1").exists()


@pytest.mark.slow
def test_a_boot_disk_the_machine_lacks_ends_the_install_in_minutes(install):
    """The inventory names a boot disk the machine does not have: the deploy refuses on the console and powers the
    machine off, and the role's wait (os_install_wait: SSH, and the BMC's power state between) fails within minutes,
    saying the machine powered off, instead of at the 2400 s timeout. Nothing was written: both disks as before; the
    medium is ejected."""
    machine_dir = Path(install.machine["dir"])
    conn = dict(endpoint=install.metal["bmcs"][0]["endpoint"], username=install.metal["username"],
                password=install.metal["password"], ca_path=install.metal["ca"])
    assert not run_module("bmc_power", dict(conn, state="off")).get("failed")
    disks = {name: sha256(machine_dir / name) for name in ("boot.qcow2", "data.qcow2")}
    serial = Path(install.machine["serial_log"])
    console_before = serial.stat().st_size if serial.exists() else 0
    t0 = time.monotonic()
    proc, recap = install.play(check=False, os_install_boot_disk="/dev/disk/by-id/virtio-RMNOSUCH0001",
                               os_install_force=True)
    waited = time.monotonic() - t0
    assert proc.returncode != 0 and recap["node1"]["failed"] == 1, proc.stdout[-6000:]
    assert "node1: the machine powered off during the install" in proc.stdout, proc.stdout[-6000:]
    assert waited < 900, waited                 # the wait's own timeout is 2400 s
    with serial.open("rb") as fh:
        fh.seek(console_before)
        console = fh.read().decode("utf-8", "replace")
    assert "REFUSED: reforge.disk: /dev/disk/by-id/virtio-RMNOSUCH0001 is absent" in console, console[-3000:]
    st = install.bmc.state()
    assert st["power_state"] == "Off" and not st["machine"]["media"], st
    assert {name: sha256(machine_dir / name) for name in disks} == disks, "a disk was written"
    print("refused install:", json.dumps({"play_seconds": round(waited, 1)}))


@pytest.mark.slow
def test_install_from_an_empty_disk_then_a_rerun_changes_nothing(install):
    """Empty boot disk → Debian 13 at 10.20.10.11 with node1's planned host key, through the BMC only; the data disk
    (an OSD disk) is untouched; the boot override was used by one boot. A rerun finds it installed: changed=0, no BMC
    write, no reboot."""
    machine_dir = Path(install.machine["dir"])
    # An empty boot disk: the machine off (through its BMC), its boot disk a new empty qcow2.
    conn = dict(endpoint=install.metal["bmcs"][0]["endpoint"], username=install.metal["username"],
                password=install.metal["password"], ca_path=install.metal["ca"])
    assert not run_module("bmc_power", dict(conn, state="off")).get("failed")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(machine_dir / "boot.qcow2"), "16G"], check=True)
    data = machine_dir / "data.qcow2"
    data_before = sha256(data)
    assert install.bmc.state()["power_state"] == "Off"
    boots_before = install.bmc.state()["boot_count"]
    t0 = time.monotonic()
    proc, recap = install.play()
    whole = time.monotonic() - t0
    assert recap["node1"]["failed"] == 0 and recap["node1"]["changed"] > 0

    st = install.bmc.state()
    history = st["boot_history"][len(st["boot_history"]) - (st["boot_count"] - boots_before):]
    assert [b["source"] for b in history] == ["Cd", "None"], history   # the deploy boot, then the installed disk
    assert st["boot"]["BootSourceOverrideEnabled"] == "Disabled"
    assert not st["machine"]["media"], "the medium must be ejected"

    out = install.ssh("hostname; cat /etc/debian_version; ip -o -4 addr show")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "node1" and lines[1].startswith("13"), out.stdout
    assert "10.20.10.11/24" in out.stdout
    # The data disk (an OSD disk) has no partition; the root file system was grown to the boot disk's end.
    data_parts = install.ssh("lsblk -rno NAME /dev/disk/by-id/virtio-RMDATA0001").stdout.split()
    assert data_parts == ["vdb"], data_parts
    root_bytes = int(install.ssh("findmnt -bno SIZE /").stdout.strip())
    assert root_bytes > 15 * 2**30, root_bytes
    assert not list((Path(install.metal["media"]["dir"]) / "node1").glob("identity*")), "private keys left served"
    assert sha256(data) == data_before, "the data disk changed"

    cursor, boots = install.bmc.cursor(), install.bmc.state()["boot_count"]
    t1 = time.monotonic()
    _proc, again = install.play()
    rerun = time.monotonic() - t1
    assert again["node1"]["changed"] == 0 and again["node1"]["failed"] == 0
    assert install.bmc.writes_since(cursor) == [] and install.bmc.state()["boot_count"] == boots

    print("install timings:", json.dumps({"whole_install": round(whole, 1), "rerun": round(rerun, 1),
                                          "boots": [(b["source"], b["time"]) for b in history]}))
    print("\n".join(line for line in proc.stdout.splitlines() if re.search(r"-{3,} \d+\.\d+s$", line)))
    assert not run_module("bmc_power", dict(conn, state="off")).get("failed")
