"""Campus scale of preflight + plan (issue 13, goal P6): 250 and 2,500 VMs on a vCenter with 2,512.

A vcsim of its own (own lab dir under $REFORGE_LAB_DIR, a free port, VCSIM_EXTRA_VMS=2500: batch04...batch2503
beside the lab set) serves the run. For 250 and 2,500 VMs we time the preflight and the plan as the modules do them
(one inventory index, the VMs' facts in bulk, the preflight rules, the planner) and count the SOAP round trips at
the connection; then the same through Ansible (migration_preflight, vsphere_vm_info, migration_plan in one play).
The old lookup (a ContainerView listed for each name, each VM's name read with its own round trip, facts read
lazily) runs for a few VMs spread over the 2,500 as the baseline of the same run (REFORGE_PERF_BASELINE_VMS,
default 5; 0 skips it).

Printed and written to $REFORGE_LAB_DIR/perf/preflight_scale.json: seconds, the ratio 2500/250 (goal <= 10), the
per-VM cost, round trips, and the vcsim start time. Asserted: only what does not depend on the machine's load,
the round trips: the same calls for 250 and 2,500 VMs but for extra pages, and no lazy read per VM.
"""
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import planner, preflight
from ansible_collections.reforge.hci.plugins.module_utils.vsphere import vm as vmops
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.connection import DEFAULT_PAGE_SIZE, VsphereConnection

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "integration", "migration"))
from migration_ansible import run_tasks  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[3]
LAB_DIR = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
EXTRA = 2500
SIZES = (250, 2500)
BASELINE_VMS = int(os.environ.get("REFORGE_PERF_BASELINE_VMS", "5"))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def big_vcsim(lab):
    """A vcsim with 2,512 VMs in a lab dir of its own (the session's lab keeps its small inventory)."""
    pki = Path(lab.get("pki")["ca"]).parent
    own = LAB_DIR / "perf-vcsim-scale"
    own.mkdir(parents=True, exist_ok=True)
    if not (own / "pki").exists():
        (own / "pki").symlink_to(pki)
    env = dict(os.environ, REFORGE_LAB_DIR=str(own), VCSIM_PORT=str(_free_port()), VCSIM_ESXI_PORT="0",
               VCSIM_EXTRA_VMS=str(EXTRA))
    ctl = str(REPO_ROOT / "tests" / "lab" / "vcsim" / "ctl.sh")
    start = time.monotonic()
    res = subprocess.run([ctl, "up"], env=env, capture_output=True, text=True, timeout=1800, check=False)
    started = time.monotonic() - start
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    info = json.loads((own / "vcsim.json").read_text())
    info["start_seconds"] = round(started, 1)
    try:
        yield info
    finally:
        subprocess.run([ctl, "down"], env=env, capture_output=True, text=True, timeout=300, check=False)


def _connect(info):
    return VsphereConnection(info["host"], info["username"], info["password"], port=info["port"], ca_path=info["ca"])


def _names(count):
    return ["batch%02d" % i for i in range(4, 4 + count)]


def preflight_and_plan(conn, names, phases):
    """What migration_preflight and migration_plan do for ``names`` (the modules are thin over these calls);
    the seconds of each phase go to ``phases``."""
    mark = time.monotonic()

    def lap(phase):
        nonlocal mark
        now = time.monotonic()
        phases[phase] = round(now - mark, 2)
        mark = now
    index = vmops.vm_index(conn)
    vms = vmops.lookup_vms(conn, names, index=index)
    lap("index_and_lookup")
    facts = vmops.vm_facts_many(conn, vms, index=index)
    lap("facts")
    results = [preflight.check_vm(vm) for vm in facts]
    lap("rules")
    plan = planner.plan([{"name": vm["name"], "tier": vm["tier"], "depends_on": vm["depends_on"],
                          "bytes_allocated": vm["committed_bytes"],
                          "bytes_capacity": sum(d["capacity_bytes"] for d in vm["disks"])} for vm in facts])
    lap("plan")
    return results, plan


def old_preflight(conn, names):
    """The lookup before issue 13 (the baseline): for each name list every VM and read each one's name with its
    own round trip, then read the facts lazily, one round trip per property."""
    facts = []
    for name in names:
        view = conn.content.viewManager.CreateContainerView(conn.content.rootFolder, [vim_vm()], True)
        try:
            vm = next(vm for vm in view.view if vm.name == name)
        finally:
            view.DestroyView()
        facts.append(vmops.vm_facts(conn, vm))
    return [preflight.check_vm(vm) for vm in facts]


def vim_vm():
    from pyVmomi import vim
    return vim.VirtualMachine


def test_preflight_and_plan_scale_with_the_vms_asked_for(big_vcsim, tmp_path):
    conn = _connect(big_vcsim)
    runs = {}
    try:
        inventory = len(vmops.vm_index(conn))
        assert inventory >= EXTRA + 12  # the lab set (12 today) and batch04...
        for count in SIZES:
            conn.round_trips.clear()
            phases = {}
            start = time.monotonic()
            results, plan = preflight_and_plan(conn, _names(count), phases)
            seconds = time.monotonic() - start
            assert len(results) == count and all(r["ok"] for r in results)
            assert sum(len(w["vms"]) for w in plan["waves"]) == count
            runs[count] = {"seconds": round(seconds, 2), "per_vm_ms": round(seconds / count * 1000, 2),
                           "phases": phases, "round_trips": dict(conn.round_trips)}
        baseline = None
        if BASELINE_VMS:
            conn.round_trips.clear()
            start = time.monotonic()
            # spread over the wave, as the names of a real wave are spread over the inventory
            old_preflight(conn, _names(EXTRA)[::EXTRA // BASELINE_VMS][:BASELINE_VMS])
            seconds = time.monotonic() - start
            baseline = {"vms": BASELINE_VMS, "seconds": round(seconds, 2),
                        "per_vm_ms": round(seconds / BASELINE_VMS * 1000, 1),
                        "round_trips": sum(conn.round_trips.values()),
                        "extrapolated_2500_seconds": round(seconds / BASELINE_VMS * 2500)}
    finally:
        conn.close()

    # The same play a campus runs: preflight, inventory for planning, plan; ansible-playbook end to end.
    ansible = {}
    for count in SIZES:
        names = _names(count)
        tasks = [{"name": "preflight", "reforge.hci.migration_preflight": {"names": names}, "register": "r_pre"},
                 {"name": "inventory", "reforge.hci.vsphere_vm_info": {"names": names}},
                 {"name": "plan", "reforge.hci.migration_plan": {"vms": [{"name": n, "tier": "tier3"} for n in names]}}]
        start = time.monotonic()
        proc, res = run_tasks(tmp_path, tasks, big_vcsim)
        play = round(time.monotonic() - start, 1)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert len(res["r_pre"]["results"]) == count
        # profile_tasks (ansible.cfg) ends the output with "<task> ----- 12.34s" per task
        took = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\S+) -+ (\d+\.\d+)s$", proc.stdout, re.M)}
        ansible[count] = {"play": play, "preflight": took.get("preflight"), "vm_info": took.get("inventory"),
                          "plan": took.get("plan")}

    small, big = runs[SIZES[0]], runs[SIZES[1]]
    report = {
        "inventory_vms": inventory, "vcsim_start_seconds": big_vcsim["start_seconds"],
        "in_process": {str(k): v for k, v in runs.items()},
        "ratio_2500_250": round(big["seconds"] / small["seconds"], 2),
        "ansible_seconds": {str(k): v for k, v in ansible.items()},
        "ansible_ratio_2500_250": round(ansible[SIZES[1]]["play"] / ansible[SIZES[0]]["play"], 2),
        "baseline_old_lookup": baseline,
        "goal": {"seconds_2500": 60, "ratio": 10},
    }
    out = LAB_DIR / "perf" / "preflight_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print("\npreflight + plan:", json.dumps(report, indent=2))

    # Deterministic: the same PropertyCollector calls for 10x the VMs, but for pages; no lazy read per VM.
    objects = inventory + 4 * 2 + 20  # VMs plus containers and networks, generously
    for run in (small, big):
        trips = run["round_trips"]
        assert trips.get("RetrievePropertiesEx") == 3, trips  # index, the VMs' facts, datastores + networks
        assert trips.get("Fetch", 0) == 1, trips  # the custom field names
        assert trips.get("CreateContainerView") == 2 and trips.get("DestroyView") == 2, trips
        assert trips.get("ContinueRetrievePropertiesEx", 0) <= 2 * math.ceil(objects / DEFAULT_PAGE_SIZE), trips
    assert sum(big["round_trips"].values()) <= sum(small["round_trips"].values()) + math.ceil(EXTRA / DEFAULT_PAGE_SIZE)
