"""playbooks/migrate.yml end to end on the lab: the README's migration command against the lab vCenter."""
import json
import os
import shutil
import subprocess

import pytest

from migration_ansible import REPO
from migration_labvc import LabVC, assert_identical

NO_QEMU = not shutil.which("qemu-system-x86_64")
pytestmark = [pytest.mark.lab, pytest.mark.slow,
              pytest.mark.skipif(NO_QEMU, reason="qemu-system-x86 (Debian) is not installed")]


def test_lab_wave_moves_a_warm_tier1_vm_and_a_cold_batch(lab, tmp_path):
    vcsim = lab.get("vcsim")
    vc = LabVC(vcsim)
    lab_dir = os.path.dirname(os.path.dirname(vcsim["ca"]))  # <lab>/pki/ca.pem
    env = dict(os.environ, REFORGE_LAB_DIR=lab_dir, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "build", "collections"), ANSIBLE_NOCOLOR="1")
    work = tmp_path / "migration"
    extra = {"migration_wave_vcenter_port": vcsim["port"], "migration_wave_target_dir": str(work / "disks"),
             "migration_wave_journal_dir": str(work / "journal"), "migration_wave_report_dir": str(work / "reports"),
             "migration_wave_domain_dir": str(work / "domains"),
             # The small-site variant: copies on the controller into raw files, a direct QEMU boot
             # check (the lab inventory's own wave goes into the cluster: tests/integration/cluster).
             "migration_wave_sync_host": "localhost", "migration_wave_target_format": "raw",
             "migration_wave_cutover_method": "qemu", "migration_wave_ha": False,
             "migration_wave_qemu_memory_mb": 128,
             "migration_wave_network_map": {"VM Network": {"bridge": "br-vm", "vlan": 100},
                                            "prod-db": {"bridge": "br-vm", "vlan": 110},
                                            "prod-app": {"bridge": "br-vm", "vlan": 120}}}
    before = vc.counters()
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i",
                           os.path.join(REPO, "inventories", "lab"), os.path.join(REPO, "playbooks", "migrate.yml"),
                           "-e", json.dumps(extra)], env=env, capture_output=True, text=True, timeout=1200,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-5000:]
    report = json.loads((work / "reports" / "lab-wave1.json").read_text())
    # The lab inventory reads straight from the ESXi hosts (migration_wave_read_via): every byte the
    # syncs and the verification read came from a host endpoint with a ticket, none from vCenter's /folder.
    moved = vc.counters_since(before)
    assert moved.get("vcenter_bytes", 0) == 0, moved
    assert moved.get("esxi_bytes", 0) >= sum(s["bytes_read"] for s in report["syncs"]) > 0, moved
    assert (work / "reports" / "lab-wave1.html").exists()
    phases = [(s["vm"], s["phase"], s["kind"]) for s in report["syncs"]]
    assert phases[:3] == [("db01", "full", "full"), ("db01", "incremental1", "incremental"),
                          ("db01", "incremental2", "incremental")]
    db01 = [s for s in report["syncs"] if s["vm"] == "db01"]
    for sync in db01[1:3]:
        # the lab guest wrote 32 MiB at a 4 KiB offset between syncs: 513 blocks of 64 KiB changed
        assert sync["bytes_areas"] == 513 * 65536 and sync["bytes_read"] == sync["bytes_areas"]
    assert db01[3]["phase"] == "final (source off)" and db01[3]["bytes_read"] == 0
    cut = {c["vm"]: c for c in report["cutovers"]}
    assert sorted(cut) == ["batch01", "batch02", "batch03", "db01"]
    assert all(c["cut_over"] for c in cut.values())
    assert [cut[n]["mode"] for n in ("db01", "batch01")] == ["warm", "batch"]
    for name in cut:
        key = vc.disk(name, 2000)["key"]
        assert_identical(vc.base_file(name, key), str(work / "disks" / ("%s-disk%d.raw" % (name, key))))
