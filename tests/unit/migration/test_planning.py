"""Preflight rules and the wave planner on plain facts."""
import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import planner, preflight
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import MigrationError


def _vm(name, **kw):
    disk = {"key": 2000, "label": "Hard disk 1", "capacity_bytes": 10 << 30, "rdm": False, "independent": False,
            "sharing": "sharingNone", "thin": True, "datastore_type": "VMFS", "change_id": "52 aa/3",
            "disk_mode": "persistent"}
    disk.update(kw.pop("disk", {}))
    facts = {"name": name, "disks": [disk], "snapshots": [], "cbt_enabled": True, "guest_id": "debian12_64Guest",
             "guest_full_name": "Debian 12", "firmware": "bios"}
    facts.update(kw)
    return facts


def test_preflight_blocks_snapshot_rdm_independent_and_names_the_rule():
    res = preflight.check_vm(_vm("snapped01", snapshots=[{"name": "before-patch"}]))
    assert not res["ok"] and res["blockers"][0]["rule"] == "existing_snapshots"
    assert "before-patch" in res["blockers"][0]["message"]
    assert preflight.check_vm(_vm("legacy", disk={"rdm": True}))["blockers"][0]["rule"] == "rdm_disk"
    indep = preflight.check_vm(_vm("i", disk={"independent": True, "disk_mode": "independent_persistent"}))
    assert [b["rule"] for b in indep["blockers"]] == ["independent_disk"]
    ours = {"name": "reforge-sync-1", "description": "reforge.hci sync 5001-aa 0123456789ab"}
    ok = preflight.check_vm(_vm("web01", uuid="5001-aa", snapshots=[ours]))
    assert ok["ok"], "our own sync snapshot (description with this VM's UUID) is not a blocker"
    # issue 13 item 7: the name proves nothing; an admin's snapshot is foreign whatever it is called
    admin = preflight.check_vm(_vm("web01", uuid="5001-aa", snapshots=[{"name": "reforge-sync-keep",
                                                                        "description": "before patch"}]))
    assert [b["rule"] for b in admin["blockers"]] == ["existing_snapshots"]
    other_vm = preflight.check_vm(_vm("web01", uuid="5001-bb", snapshots=[ours]))
    assert [b["rule"] for b in other_vm["blockers"]] == ["existing_snapshots"], "another VM's sync is not ours"


def test_preflight_warnings_and_capacity():
    res = preflight.check_vm(_vm("n", cbt_enabled=False, disk={"datastore_type": "NFS41"}), target_free_bytes=1 << 30)
    rules = {f["rule"] for f in res["warnings"]}
    assert {"cbt_disabled", "nfs_thin_full_read"} <= rules
    assert [b["rule"] for b in res["blockers"]] == ["target_capacity"]
    assert "BLOCKER target_capacity" in preflight.report_text([res])
    assert preflight.check_vm(_vm("mac", guest_id="darwin19_64Guest"))["blockers"][0]["rule"] == "unsupported_guest"


def test_plan_orders_dependencies_and_separates_batch():
    vms = [
        {"name": "app01", "tier": "tier1", "depends_on": ["db01"], "rto_minutes": 30, "bytes_allocated": 5 << 30},
        {"name": "db01", "tier": "tier1", "rto_minutes": 30, "bytes_allocated": 20 << 30,
         "change_rate_bytes_per_hour": 2 << 30},
        {"name": "batch01", "tier": "tier3", "bytes_allocated": 1 << 30},
        {"name": "batch02", "tier": "tier3", "bytes_allocated": 1 << 30},
    ]
    result = planner.plan(vms, {"max_vms_per_wave": 2}, windows=[{"start": "Sat 22:00", "end": "Sun 04:00"}])
    waves = result["waves"]
    first = waves[0]
    assert first["cutover_order"] == ["db01", "app01"]
    assert [w["cutover_order"] for w in waves[1:]] == [["batch01", "batch02"]]
    db = first["vms"][0]
    # 2 GiB/h for 1 h at 100 MB/s = ~21.5 s of copy, plus shutdown and boot
    assert db["estimate"]["copy_seconds"] == pytest.approx((2 << 30) / 100e6, abs=0.1)
    assert waves[1]["vms"][0]["mode"] == "batch"
    assert "EXCEEDS" not in planner.report_text(result)


def test_plan_flags_rto_and_cycles():
    tight = planner.plan([{"name": "x", "tier": "tier1", "rto_minutes": 1, "change_rate_bytes_per_hour": 100 << 30}])
    assert tight["problems"] and "exceeds RTO" in tight["problems"][0]
    with pytest.raises(MigrationError, match="cycle"):
        planner.plan([{"name": "a", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}])


def test_change_rate_from_journal_history():
    syncs = [{"kind": "full", "finished_at": 0, "bytes_areas": 10 << 30},
             {"kind": "incremental", "finished_at": 1800, "bytes_areas": 1 << 30},
             {"kind": "incremental", "finished_at": 5400, "bytes_areas": 1 << 30}]
    assert planner.change_rate(syncs) == pytest.approx(2 << 30)


def _blocker(field, message, fix):
    return pytest.mark.refusal(area="migration preflight (migration_preflight; migration_sync and migration_cutover "
                                    "refuse the same)", field=field, message=message, fix=fix)


@pytest.mark.parametrize("facts, rule, free", [
    pytest.param(_vm("snapped01", snapshots=[{"name": "before-patch"}]), "existing_snapshots", None, marks=_blocker(
        "source VM: snapshots", "snapped01 has snapshots (before-patch): the base disk is not the current data and CBT "
        "reads would be wrong; consolidate them first", "delete or consolidate the VM's snapshots in vSphere")),
    pytest.param(_vm("legacy", disk={"rdm": True}), "rdm_disk", None, marks=_blocker(
        "source VM: disk backing", "legacy disk Hard disk 1 is a raw device mapping (RDM): it has no datastore file "
        "to read; migrate the LUN separately", "migrate the LUN by storage means, or convert the RDM to a VMDK first")),
    pytest.param(_vm("i", disk={"independent": True, "disk_mode": "independent_persistent"}), "independent_disk", None,
                 marks=_blocker("source VM: disk mode", "i disk Hard disk 1 is independent (independent_persistent): "
                                "snapshots do not freeze it; make it dependent (disk mode Dependent, VM powered off) or "
                                "migrate it separately", "as the message says")),
    pytest.param(_vm("mw", disk={"sharing": "sharingMultiWriter"}), "shared_disk", None, marks=_blocker(
        "source VM: disk sharing", "mw disk Hard disk 1 is shared between VMs (multi-writer): a guest cluster's disk; "
        "move the guest cluster by its own procedure", "migrate guest clusters by their own procedure")),
    pytest.param(_vm("bus", disk={"scsi_bus_sharing": "physicalSharing"}), "shared_disk", None, marks=_blocker(
        "source VM: SCSI controller sharing", "bus disk Hard disk 1 sits on a shared SCSI bus (physicalSharing): a guest "
        "cluster disk; move the guest cluster by its own procedure", "migrate guest clusters by their own procedure")),
    pytest.param(_vm("empty", disks=[]), "no_disks", None, marks=_blocker(
        "source VM: disks", "empty has no virtual disk to migrate: create it on the target instead",
        "leave the VM out of the wave")),
    pytest.param(_vm("sol01", guest_id="solaris11_64Guest", guest_full_name="Oracle Solaris 11"), "unsupported_guest",
                 None, marks=_blocker("source VM: guest OS (unsupported_guests)",
                                      "sol01 runs Oracle Solaris 11 (solaris11_64Guest), which does not run on KVM with "
                                      "virtio; leave it on vSphere (or narrow unsupported_guests if it does)",
                                      "leave it on vSphere, or narrow unsupported_guests")),
    pytest.param(_vm("big"), "target_capacity", 1 << 30, marks=_blocker(
        "target_free_bytes", "big needs 10737418240 bytes on the target, 1073741824 are free: free space on the target "
        "or move the VM to a later wave", "free space on the target, or plan the VM into a later wave")),
])
def test_every_preflight_blocker_refuses_with_its_fix_and_sync_and_cutover_refuse_it_too(facts, rule, free, proves_refusal):
    from ansible_collections.reforge.hci.plugins.module_utils.migration.cutover import refuse_blocked
    from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError
    from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import refuse_unsyncable

    res = preflight.check_vm(facts, target_free_bytes=free)
    assert not res["ok"] and [b["rule"] for b in res["blockers"]] == [rule]
    proves_refusal(res["blockers"][0]["message"])
    # The sync and the cutover refuse the same VM before any snapshot, CBT change or shutdown (pure checks: these
    # functions are called first, and raise before anything else runs).
    if rule != "target_capacity":
        with pytest.raises(CutoverError) as refused:
            refuse_blocked(facts)
        assert "nothing was changed" in str(refused.value)
        proves_refusal(str(refused.value))
    if rule not in ("target_capacity", "unsupported_guest", "no_disks"):
        with pytest.raises(MigrationError) as refused:
            refuse_unsyncable(facts)
        assert rule == "existing_snapshots" or res["blockers"][0]["message"] in str(refused.value)


@pytest.mark.parametrize("vms, message", [
    pytest.param([{"name": "a", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}], "dependency cycle: a -> b -> a",
                 marks=pytest.mark.refusal(area="migration plan (migration_plan)", field="vms[].depends_on",
                                           message="dependency cycle: a -> b -> a",
                                           fix="break the cycle: two VMs cannot each have to move first")),
    pytest.param([{"name": "app01", "depends_on": ["db09"]}], "app01 depends on db09, which is not in the plan",
                 marks=pytest.mark.refusal(area="migration plan (migration_plan)", field="vms[].depends_on",
                                           message="app01 depends on db09, which is not in the plan",
                                           fix="add the VM it depends on to the plan, or drop the dependency")),
])
def test_bad_dependencies_are_refused(vms, message, proves_refusal):
    with pytest.raises(MigrationError) as refused:
        planner.plan(vms)
    assert message in str(refused.value)
    proves_refusal(str(refused.value))
