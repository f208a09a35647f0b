"""The migration wave puts each VM into its micro-segmentation tier before any of them starts on the cluster
(issue 16): `migrate.yml --tags migration_wave_preflight` against the lab vCenter, with the segmentation table of a
"node" in a private network namespace (real nftables). The wave's VMs' MACs (read from vCenter) are in their tier
sets, the membership is recorded for the segment stage, another wave's record is kept, check mode changes nothing,
a rerun changes nothing, and a VM another source puts in another tier is refused before any change.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from migration_ansible import REPO
from migration_labvc import LabVC

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nft (nftables)")]

NS = "%s%dw" % (os.environ.get("REFORGE_MICROSEG_NS_PREFIX", "rs"), os.getpid() % 100000)
TIERS = [{"name": "tier1", "description": "HIS/EMR"}, {"name": "tier2", "description": "ESB"},
         {"name": "tier3", "description": "batch"}]
OTHER_WAVE = {"wave": "wave0", "vms": [{"name": "esb-07", "tier": "tier2", "macs": ["52:54:00:77:00:07"],
                                        "source": "wave wave0"}]}


@pytest.fixture(name="seg")
def seg_fixture(lab, tmp_path):
    vcsim = lab.get("vcsim")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    members = tmp_path / "members"
    members.mkdir()
    (members / "wave0.members.json").write_text(json.dumps(OTHER_WAVE))
    lab_dir = os.path.dirname(os.path.dirname(vcsim["ca"]))
    env = dict(os.environ, REFORGE_LAB_DIR=lab_dir, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "build", "collections"), ANSIBLE_NOCOLOR="1")
    extra = {"migration_wave_vcenter_port": vcsim["port"], "migration_wave_sync_host": "localhost",
             "migration_wave_journal_dir": str(tmp_path / "journal"), "migration_wave_target_dir": str(tmp_path / "disks"),
             "migration_wave_report_dir": str(tmp_path / "reports"), "migration_wave_target_format": "qcow2",
             "migration_wave_cutover_method": "qemu", "migration_wave_ha": False,
             "migration_wave_microseg_hosts": "localhost", "migration_wave_microseg_install": False, "microseg_tiers": TIERS, "microseg_flows": [],
             "microseg_members_dir": str(members), "microseg_netns": NS, "microseg_persist": False,
             "ansible_become": False}
    try:
        yield {"vc": LabVC(vcsim), "env": env, "extra": extra, "members": members}
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)


def preflight_run(seg, *args, **more):
    extra = dict(seg["extra"], **more)
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(REPO, "inventories", "lab"),
                           os.path.join(REPO, "playbooks", "migrate.yml"), "--tags", "migration_wave_preflight",
                           "-e", json.dumps(extra)] + list(args),
                          env=seg["env"], capture_output=True, text=True, timeout=600, check=False)
    recap = re.search(r"^localhost\s+:\s+(ok=.*)$", proc.stdout, re.M)
    return proc, dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))) if recap else {}


def tier_sets() -> dict:
    proc = subprocess.run(["ip", "netns", "exec", NS, "nft", "-j", "list", "table", "bridge", "reforge_microseg"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {}
    out = {}
    for item in json.loads(proc.stdout)["nftables"]:
        s = item.get("set")
        if s and s["name"].startswith("tier_"):
            out[s["name"][5:]] = sorted(e if isinstance(e, str) else e.get("elem", e) for e in s.get("elem", []))
    return out


def wave_macs(seg) -> dict:
    """The wave VMs' MACs as vCenter has them (pyVmomi's own view, not the collection's code)."""
    from pyVmomi import vim  # pylint: disable=import-outside-toplevel
    conn = seg["vc"].connect()
    try:
        view = conn.content.viewManager.CreateContainerView(conn.content.rootFolder, [vim.VirtualMachine], True)
        vms = {vm.name: vm for vm in view.view}
        return {name: sorted(d.macAddress.lower() for d in vms[name].config.hardware.device
                             if isinstance(d, vim.vm.device.VirtualEthernetCard))
                for name in ("db01", "batch01", "batch02", "batch03")}
    finally:
        conn.close()


def test_the_wave_puts_its_vms_into_their_tiers_before_any_copy(seg):
    macs = wave_macs(seg)
    assert all(macs.values()), macs

    proc, recap = preflight_run(seg, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert tier_sets() == {}, "check mode created the table"
    assert sorted(os.listdir(seg["members"])) == ["wave0.members.json"], "check mode wrote the membership"
    assert "+set tier_tier1 (ether_addr)" in proc.stdout and macs["db01"][0] in proc.stdout

    proc, recap = preflight_run(seg)
    assert proc.returncode == 0, proc.stdout[-5000:]
    sets = tier_sets()
    assert sets["tier1"] == macs["db01"]
    assert sets["tier3"] == sorted(macs["batch01"] + macs["batch02"] + macs["batch03"])
    assert sets["tier2"] == ["52:54:00:77:00:07"], "the earlier wave's VM stays in its tier"
    record = json.loads((seg["members"] / "lab-wave1.members.json").read_text())
    placed = {vm["name"]: vm["tier"] for vm in record["vms"]}
    assert placed == {"db01": "tier1", "batch01": "tier3", "batch02": "tier3", "batch03": "tier3"}
    assert not os.path.exists(seg["extra"]["migration_wave_target_dir"]), "a preflight run copies nothing"

    proc, recap = preflight_run(seg)
    assert proc.returncode == 0, proc.stdout[-5000:]
    changed = changed_tasks(proc.stdout)
    assert changed and all("report" in task or "record" in task or "history" in task for task in changed), changed
    assert not any("tier" in task or "segmentation" in task for task in changed), changed


def changed_tasks(output: str) -> list:
    """Tasks that reported a change (the wave's report of each run is a new dated record by design)."""
    out, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[6:line.rindex("]")]
        elif line.startswith("changed:") and task:
            out.append(task)
    return out


@pytest.mark.refusal(area="migration (migration_wave role) and segmentation", field="migration_wave_vms[].tier, microseg_vms",
                     message="VM db01 is in tier tier2 (microseg_vms) and in tier tier1 (wave lab-wave1)",
                     fix="a VM belongs to one tier: change it in the wave or in microseg_vms, not both")
def test_a_vm_the_inventory_puts_in_another_tier_is_refused_before_any_change(seg, proves_refusal):
    proc, _recap = preflight_run(seg, microseg_vms=[{"name": "db01", "tier": "tier2", "macs": ["52:54:00:00:00:01"]}])
    assert proc.returncode != 0
    proves_refusal(proc.stdout)
    assert tier_sets() == {} and sorted(os.listdir(seg["members"])) == ["wave0.members.json"]


@pytest.mark.refusal(area="migration (migration_wave role) and segmentation", field="migration_wave_vms[].tier",
                     message="no tier; with segmentation on every VM of the wave needs its tier",
                     fix="give every VM of the wave its tier (one of microseg_tiers)")
def test_a_wave_vm_without_a_tier_is_refused_when_segmentation_is_on(seg, proves_refusal):
    proc, _recap = preflight_run(seg, migration_wave_vms=[{"name": "db01", "mode": "warm"}])
    assert proc.returncode != 0
    proves_refusal(proc.stdout)
    assert tier_sets() == {} and sorted(os.listdir(seg["members"])) == ["wave0.members.json"]
