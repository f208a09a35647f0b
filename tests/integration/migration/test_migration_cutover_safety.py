"""Cutover safety against the lab vCenter (issue 13, items 5 and 6): a blocked VM is refused with no power
operation at all, and an unexpected error after the source went down still rolls back and answers JSON."""
import json
import os
import subprocess

import pytest
from pyVmomi import vim

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops

from migration_ansible import REPO, run_tasks, vsphere_defaults

pytestmark = pytest.mark.lab

NETWORK_MAP = {"VM Network": {"bridge": "br-vm"}, "prod-db": {"bridge": "br-vm"}, "prod-app": {"bridge": "br-vm"}}
# The lab VMs each preflight blocker exists for (tests/lab/vcsim/README.md) and the rule that must refuse them.
BLOCKED = {"legacy-rdm": "rdm_disk", "indep01": "independent_disk", "shared01": "shared_disk",
           "snapped01": "existing_snapshots", "sol01": "unsupported_guest"}
POWER_EVENTS = ("PoweredOn", "PoweredOff", "Starting", "Stopping", "GuestShutdown", "Reset", "Suspended")


def _power_events(conn, vm, since):
    """vCenter's own record of the VM's power operations since ``since`` (vcsim posts them like vCenter does)."""
    spec = vim.event.EventFilterSpec(entity=vim.event.EventFilterSpec.ByEntity(entity=vm, recursion="self"))
    # QueryEvents answers the last 10 only, and vcsim ignores a ByTime filter: a collector with a large
    # page, and the events' own vCenter timestamps select them
    collector = conn.content.eventManager.CreateCollectorForEvents(spec)
    try:
        collector.SetCollectorPageSize(1000)
        names = [type(e).__name__.rsplit(".", 1)[-1] for e in collector.latestPage if e.createdTime >= since]
    finally:
        collector.DestroyCollector()
    return sorted(n for n in names if any(p in n for p in POWER_EVENTS))


def _task(tmp_path, name, **extra):
    args = {"vm": name, "journal_dir": str(tmp_path / "j"), "target_dir": str(tmp_path / "t"),
            "network_map": NETWORK_MAP, "domain_dir": str(tmp_path / "d"), "method": "qemu",
            "alive_pattern": "REFORGE-OK", "alive_timeout": 5, "qemu_memory_mb": 64, "guest_shutdown_timeout": 5}
    args.update(extra)
    return {"reforge.hci.migration_cutover": args, "register": "r_%s" % name.replace("-", "_"),
            "ignore_errors": True}


def test_every_preflight_blocker_refuses_the_cutover_before_any_power_operation(vc, tmp_path):
    conn = vc.connect()
    since = conn.si.CurrentTime()
    before = {}
    for name in BLOCKED:
        vm = vmops.find_vm(conn, name)
        before[name] = (vm.runtime.powerState, vm.runtime.bootTime)
    assert before["legacy-rdm"][0] == "poweredOn" and before["sol01"][0] == "poweredOff"
    proc, res = run_tasks(tmp_path, [_task(tmp_path, name) for name in BLOCKED], vc.info)
    for name, rule in BLOCKED.items():
        cut = res["r_%s" % name.replace("-", "_")]
        assert cut["failed"] and not cut["changed"] and not cut["cut_over"], cut
        assert rule in cut["msg"] and "nothing was changed" in cut["msg"], cut["msg"]
        vm = vmops.find_vm(conn, name)
        assert (vm.runtime.powerState, vm.runtime.bootTime) == before[name], name
        assert _power_events(conn, vm, since) == [], "%s: a power operation" % name
    assert not (tmp_path / "t").exists() and not (tmp_path / "j").exists() and not (tmp_path / "d").exists()
    conn.close()


# Runs the module's main() in its own process, with one step replaced by a bug (the only thing not real here).
INJECT = r"""
import json, sys
sys.path[:0] = [sys.argv[1] + "/build/collections"]
from ansible_collections.reforge.hci.plugins.module_utils.migration import boot, cutover
from ansible_collections.reforge.hci.plugins.modules import migration_cutover

where = sys.argv[3]
if where == "final_sync":
    class Broken:
        def __init__(self, *args, **kw):
            pass

        def run(self):
            pending = None
            return pending["base_change_id"]  # the TypeError of issue 13 item 5
    cutover.VmSync = Broken
elif where == "boot":
    def broken(*args, **kw):
        return {}["alive"]
    boot.qemu_boot_check = broken
sys.argv = ["migration_cutover", sys.argv[2]]
migration_cutover.main()
"""


def _run_injected(tmp_path, vcsim, name, where):
    args = dict(vsphere_defaults(vcsim), **_task(tmp_path, name, verify="none")["reforge.hci.migration_cutover"])
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "python"), "-c", INJECT, REPO, str(path), where],
                          capture_output=True, text=True, timeout=600, check=False)
    try:
        return proc, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("no JSON from the module (rc %s): %s %s" % (proc.returncode, proc.stdout[-2000:],
                                                                         proc.stderr[-3000:]))


@pytest.mark.parametrize("name, where, error, last_before_failure", [
    ("app01", "final_sync", "TypeError", "power_off"),
    ("batch01", "boot", "KeyError", "convert"),
])
def test_an_unexpected_error_after_power_off_rolls_back_and_answers_json(vc, tmp_path, name, where, error,
                                                                         last_before_failure):
    conn = vc.connect()
    vm = vmops.find_vm(conn, name)
    vmops.power_on(conn, vm)
    since = conn.si.CurrentTime()
    proc, out = _run_injected(tmp_path, vc.info, name, where)
    assert proc.returncode == 1 and out["failed"], out
    assert out["rolled_back"] is True and out["cut_over"] is False and out["unexpected_error"] is True, out
    assert out["reason"].startswith(error) and error in out["msg"], out["msg"]
    steps = [s["step"] for s in out["steps"]]
    assert steps[0] == "power_off" and steps[-1] == "rollback_source_powered_on", steps
    assert steps[steps.index("failed") - 1] == last_before_failure, steps
    failed = out["steps"][steps.index("failed")]
    assert failed["unexpected"] and "Traceback" in failed["traceback"]
    # the writes that may have landed are named, with how they are undone
    assert [w["what"] for w in out["writes"]][0] == "target_disks", out["writes"]
    assert out["source_power_state"] == "poweredOn"
    # vCenter saw the source go down and come back, nothing else
    vm = vmops.find_vm(conn, name)
    assert vm.runtime.powerState == "poweredOn"
    assert _power_events(conn, vm, since) == ["VmPoweredOffEvent", "VmPoweredOnEvent", "VmStartingEvent",
                                              "VmStoppingEvent"]
    conn.close()
