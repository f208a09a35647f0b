"""migration_plan as Ansible runs it: check mode writes nothing, the plan is written once, rates come from journals."""
import json

import pytest
import yaml

from migration_ansible import run_tasks


def _journal(path, vm, syncs):
    path.write_text(json.dumps({"vm": vm, "disk_key": 2000, "syncs": syncs}))


def test_plan_check_mode_write_and_idempotence(tmp_path):
    journals = tmp_path / "journal"
    journals.mkdir()
    _journal(journals / "db01-disk2000.journal.json", "db01", [
        {"kind": "full", "finished_at": 0, "bytes_areas": 10 << 30},
        {"kind": "incremental", "finished_at": 3600, "bytes_areas": 3 << 30}])
    dest = tmp_path / "plans" / "west.yml"
    task = {"reforge.hci.migration_plan": {
        "vms": [{"name": "app01", "tier": "tier1", "depends_on": ["db01"], "rto_minutes": 30},
                {"name": "db01", "tier": "tier1", "rto_minutes": 30},
                {"name": "batch01", "tier": "tier3"}],
        "journal_dir": str(journals), "windows": [{"name": "sat", "start": "Sat 22:00", "end": "Sun 04:00"}],
        "dest": str(dest)}, "register": "r_plan"}
    vc = {"host": "127.0.0.1", "port": 1, "username": "u", "password": "p", "ca": "/nonexistent"}
    proc, res = run_tasks(tmp_path, [task], vc, check=True, extra_args=["--diff"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert res["r_plan"]["changed"] and not dest.exists(), "check mode writes nothing"
    assert "cutover_order" in res["r_plan"]["diff"]["after"]
    proc, res = run_tasks(tmp_path, [task], vc)
    assert res["r_plan"]["changed"] and dest.exists()
    plan = yaml.safe_load(dest.read_text())
    assert plan["waves"][0]["cutover_order"] == ["db01", "app01"]
    db01 = plan["waves"][0]["vms"][0]
    assert db01["estimate"]["change_rate_bytes_per_hour"] == 3 << 30, "measured from the journal"
    proc, res = run_tasks(tmp_path, [task], vc)
    assert proc.returncode == 0 and not res["r_plan"]["changed"], "same plan: nothing written"


@pytest.mark.parametrize("vms, message", [
    pytest.param([{"name": "db01"}, {"name": "db01", "tier": "tier3"}], "named more than once: db01",
                 marks=pytest.mark.refusal(
                     area="migration plan (migration_plan)", field="vms[].name",
                     message="every VM of a plan needs a unique name; named more than once: db01 (rename one in "
                             "vSphere, or plan them separately)",
                     fix="rename one in vSphere, or plan them in separate waves")),
    pytest.param([{"tier": "tier3"}], "a VM has no name",
                 marks=pytest.mark.refusal(area="migration plan (migration_plan)", field="vms[].name",
                                           message="every VM of a plan needs a unique name; a VM has no name",
                                           fix="give every VM its vSphere name")),
])
def test_bad_plans_are_refused_and_nothing_is_written(tmp_path, vms, message, proves_refusal):
    """Through the module as Ansible runs it: the task fails with the refusal, and dest is not written."""
    dest = tmp_path / "plans" / "west.yml"
    task = {"reforge.hci.migration_plan": {"vms": vms, "dest": str(dest)}, "register": "r_plan", "ignore_errors": True}
    vc = {"host": "127.0.0.1", "port": 1, "username": "u", "password": "p", "ca": "/nonexistent"}
    proc, res = run_tasks(tmp_path, [task], vc)
    assert res["r_plan"]["failed"] and message in res["r_plan"]["msg"], proc.stdout[-3000:]
    assert not dest.exists() and not dest.parent.exists()
    proves_refusal(res["r_plan"]["msg"])
