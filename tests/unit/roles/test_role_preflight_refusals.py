"""The roles' own input checks, run as Ansible runs them: the role's preflight on localhost with one bad variable.

Each case proves the refusal's message and that the play stopped at that check with nothing changed (the play
recap: changed=0, failed=1, and no task after the failed one ran). Only the checks that read variables alone are
here; those that read a node (corosync.conf, bridges, OSD disks) are proven on the lab nodes (tests/integration)."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BMC = {"hardware_prepare_bmc_endpoint": "https://192.0.2.1", "hardware_prepare_bmc_username": "u",
       "hardware_prepare_bmc_password": "p"}
HA = {"ha_cluster_password": "sentinel", "ha_cluster_bmc_endpoint": "https://192.0.2.1", "ha_cluster_bmc_username": "u",
      "ha_cluster_bmc_password": "p"}
CEPH = {"ceph_public_network": "10.0.0.0/24", "ceph_public_address": "10.0.0.11",
        "ceph_osd_devices": ["/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"], "ceph_mon_candidates": ["localhost"]}


def run_preflight(tmp_path, role, variables):
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "vars": variables,
             "tasks": [{"name": "the role's preflight",
                        "ansible.builtin.include_role": {"name": "reforge.hci.%s" % role, "tasks_from": "preflight.yml"}},
                       {"name": "after the preflight", "ansible.builtin.debug": {"msg": "REACHED-AFTER-PREFLIGHT"}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "build", "collections"),
               ANSIBLE_PYTHON_INTERPRETER=os.path.join(REPO, ".venv", "bin", "python"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default")
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", str(path)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)


def _role(role, field, message, fix):
    return pytest.mark.refusal(area="role %s (preflight)" % role, field=field, message=message, fix=fix)


# A VM whose NIC has a multicast MAC (01:...): no VM may send from it.
MULTICAST_NIC_VM = [{"name": "his-db", "rbd_image": "his-db", "interfaces": [{"bridge": "br-vm", "mac": "01:00:5e:00:00:01"}]}]

CASES = [
    pytest.param("hardware_prepare", dict(BMC, hardware_prepare_controller_modes=["hba", "passthrough"]),
                 marks=_role("hardware_prepare", "hardware_prepare_controller_modes",
                             "hardware_prepare_controller_modes: passthrough is not a controller mode; use hba, nonraid, "
                             "jbod or raid", "hba, nonraid, jbod or raid"), id="controller_modes"),
    pytest.param("hardware_prepare", dict(BMC, hardware_prepare_firmware_baseline=[{"component": "BIOS", "version": "2.1"}]),
                 marks=_role("hardware_prepare", "hardware_prepare_firmware_baseline",
                             "hardware_prepare_firmware_baseline: every entry needs component, version and image_uri",
                             "give each entry its image_uri (https URL or file://)"), id="firmware_baseline"),
    pytest.param("hardware_prepare", dict(BMC, hardware_prepare_bios_profile="fast"),
                 marks=_role("hardware_prepare", "hardware_prepare_bios_profile",
                             "hardware_prepare_bios_profile 'fast' is not a profile; use virtualization_host, or '' for none",
                             "virtualization_host, or '' for none"), id="bios_profile"),
    pytest.param("migration_wave", {"migration_wave_vcenter_hostname": "", "migration_wave_vms": [{"name": "db01"}]},
                 marks=_role("migration_wave", "migration_wave_vcenter_hostname, migration_wave_vms[].name",
                             "migration_wave: migration_wave_vcenter_hostname and migration_wave_vms (each with a name) "
                             "are required", "set the vCenter and list the wave's VMs by name"), id="wave_required"),
    pytest.param("migration_wave", {"migration_wave_vcenter_hostname": "vc", "migration_wave_vms": [{"name": "db01", "mode": "hot"}]},
                 marks=_role("migration_wave", "migration_wave_vms[].mode",
                             "migration_wave_vms: mode hot is not warm or batch",
                             "warm (full + incrementals + short cutover) or batch (cold copy)"), id="wave_mode"),
    pytest.param("migration_wave", {"migration_wave_vcenter_hostname": "vc", "migration_wave_vms": [{"name": "db01"}],
                                    "migration_wave_batch_concurrency": 0},
                 marks=_role("migration_wave", "migration_wave_batch_concurrency",
                             "migration_wave_batch_concurrency '0' must be a whole number of at least 1",
                             "1 or more batch copies at once"), id="wave_concurrency"),
    pytest.param("hypervisor", {"hypervisor_rbd_pool": "", "hypervisor_migration_address": "10.0.0.11"},
                 marks=_role("hypervisor", "hypervisor_rbd_pool, hypervisor_ceph_user, hypervisor_migration_address",
                             "hypervisor_rbd_pool, hypervisor_ceph_user and hypervisor_migration_address must be set",
                             "set them (the address plan gives hypervisor_migration_address)"), id="hypervisor_plan"),
    pytest.param("ha_cluster", dict(HA, ha_cluster_name="campus north"),
                 marks=_role("ha_cluster", "ha_cluster_password, ha_cluster_name",
                             "ha_cluster: ha_cluster_password must be set (from the vault) and ha_cluster_name must be "
                             "1-32 letters, digits, '-' or '_'", "a short plain cluster name, and the password from the vault"),
                 id="ha_name"),
    pytest.param("ha_cluster", dict(HA, ha_cluster_vms=MULTICAST_NIC_VM),
                 marks=_role("ha_cluster", "ha_cluster_vms[].interfaces",
                             "ha_cluster_vms[].interfaces: each needs a bridge and a unicast MAC written aa:bb:cc:dd:ee:ff",
                             "give each NIC its bridge and the VM's own unicast MAC"), id="ha_vm_nic"),
    pytest.param("ha_cluster", dict(HA, ha_cluster_vms=[{"name": "his-db", "rbd_image": "his-db", "prefer": "node9"}]),
                 marks=_role("ha_cluster", "ha_cluster_vms",
                             "ha_cluster_vms: every HA VM needs name and rbd_image, and may prefer only a node of this play "
                             "(preferred nodes not in the play: node9)", "prefer a node of the cluster, or leave prefer out"),
                 id="ha_vms"),
    pytest.param("ha_cluster", dict(HA, ha_cluster_bmc_endpoint="http://192.0.2.1"),
                 marks=_role("ha_cluster", "ha_cluster_bmc_endpoint, ha_cluster_bmc_username, ha_cluster_bmc_password",
                             "has no usable BMC for fencing: ha_cluster_bmc_endpoint 'http://192.0.2.1' must be "
                             "https://host[:port], with ha_cluster_bmc_username and ha_cluster_bmc_password set",
                             "the node's BMC over https, with its fencing user"), id="ha_fencing"),
    pytest.param("ceph", dict(CEPH, ceph_public_network="storage"),
                 marks=_role("ceph", "ceph_public_network, ceph_pools, ceph_mon_candidates",
                             "ceph: the plan is incomplete: ceph_public_network must be a CIDR (got 'storage')",
                             "a CIDR such as 10.20.20.0/24; every pool with name and size; mons from this play"),
                 id="ceph_plan"),
    pytest.param("ceph", dict(CEPH, ceph_pools=[{"name": "vms", "size": 1, "min_size": 2}]),
                 marks=_role("ceph", "ceph_pools[].min_size", "ceph: pool vms has min_size 2 outside 1..size 1",
                             "a min_size from 1 to size"), id="ceph_min_size"),
]


@pytest.mark.parametrize("role, variables", CASES)
def test_a_bad_role_input_stops_the_play_before_any_change(tmp_path, role, variables, proves_refusal):
    proc = run_preflight(tmp_path, role, variables)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    proves_refusal(out)
    assert "REACHED-AFTER-PREFLIGHT" not in out
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", out)
    assert recap and recap.groups() == ("0", "1"), out[-2000:]
    assert "sentinel" not in out, "the HA password never appears in the output"
