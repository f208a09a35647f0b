"""Sync progress in the job output an AWX user sees (issue 17): a real sync through ansible-runner against the lab vCenter.

AWX shows a job's output from ansible-runner's events; what the controller prints while a task runs becomes a
"verbose" event. The migration_sync action plugin runs the module as an async job and prints its progress file's
lines (plugins/plugin_utils/progress_action.py); these tests read them back from the runner's ``job_events``.
"""
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest
import yaml
from pyVmomi import vim, vmodl

from lab.vcsim.labclient import create_vm, destroy_vm
from migration_ansible import REPO, run_tasks
from migration_bootdisk import MARKER, boot_sector

pytestmark = pytest.mark.lab
MiB = 1 << 20
GiB = 1 << 30
LINE = re.compile(r"^(?P<vm>\S+) disk (?P<index>\d+)/(?P<count>\d+) \[(?P<label>[^\]]+)\]: (?P<pct>\d+)% "
                  r"(?P<done>[\d.]+) of (?P<total>[\d.]+) (?:MiB|GiB|TiB), (?P<rate>\d+|\?) MB/s, "
                  r"(?:ETA (?P<eta>\S+)|done in (?P<took>\S+) \((?P<kind>\w+) sync\))$")
INTERVAL = 1


@pytest.fixture
def two_disk_vm(vc, conn):
    """A VM with two thin 1 GiB disks: 96 MiB of data on the first, 16 MiB on the second."""
    name = "t-prog-%s" % uuid.uuid4().hex[:8]
    vm = create_vm(conn.si, name, [GiB, GiB], cbt=True)
    for i in range(12):
        vc.write(name, 2000, i * 80 * MiB, os.urandom(8 * MiB))
    vc.write(name, 2001, 300 * MiB, os.urandom(16 * MiB))
    yield name
    try:
        destroy_vm(vm)
    except (vim.fault.NotFound, vmodl.fault.ManagedObjectNotFound):
        pass


def _runner(tmp_path, vcsim, task_args, ident):
    """Run one migration_sync task the way AWX runs a job template: ansible-runner, a private data dir, the
    vCenter credential injected as environment variables."""
    pdd = tmp_path / ident
    (pdd / "project").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    (pdd / "env").mkdir()
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Sync", "reforge.hci.migration_sync": task_args, "register": "r"}]}]
    (pdd / "project" / "sync.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (pdd / "inventory" / "hosts").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=%s\n" % os.path.join(REPO, ".venv", "bin", "python"))
    async_dir = tmp_path / ("%s-async" % ident)
    (pdd / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, "build", "collections"), "ANSIBLE_ASYNC_DIR": str(async_dir),
        "ANSIBLE_NOCOLOR": "1", "VMWARE_HOST": vcsim["host"], "VMWARE_PORT": str(vcsim["port"]),
        "VMWARE_USER": vcsim["username"], "VMWARE_PASSWORD": vcsim["password"], "VMWARE_CA_PATH": vcsim["ca"]}))
    env = dict(os.environ, PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-runner"), "run", str(pdd), "-p", "sync.yml",
                           "--ident", ident], env=env, capture_output=True, text=True, timeout=900, check=False)
    artifacts = pdd / "artifacts" / ident
    events = sorted((json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")),
                    key=lambda e: e["counter"])
    return proc, artifacts, events, async_dir


def _progress_lines(events):
    return [e["stdout"].strip() for e in events if e["event"] == "verbose" and LINE.match(e["stdout"].strip())]


def test_per_disk_progress_appears_in_the_runner_job_events_bounded_and_monotonic(vc, lab, tmp_path, two_disk_vm):
    vcsim = lab.get("vcsim")
    args = {"vm": two_disk_vm, "journal_dir": str(tmp_path / "journal"), "target_dir": str(tmp_path / "disks"),
            "throttle_mb_s": 6, "read_size_mb": 1, "streams": 2, "progress_interval": INTERVAL}
    proc, artifacts, events, async_dir = _runner(tmp_path, vcsim, args, "sync")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert (artifacts / "status").read_text() == "successful"

    ok = [e for e in events if e["event"] == "runner_on_ok" and e["event_data"]["task"] == "Sync"]
    assert len(ok) == 1
    result = ok[0]["event_data"]["res"]
    assert [d["kind"] for d in result["disks"]] == ["full", "full"]
    assert result["totals"]["bytes_read"] == 112 * MiB
    assert not {"ansible_job_id", "started", "finished", "results_file"} & set(result), "the module's result only"
    task_seconds = ok[0]["event_data"]["duration"]

    lines = _progress_lines(events)
    assert lines, [e["stdout"] for e in events if e["event"] == "verbose"]
    stdout = (artifacts / "stdout").read_text()
    assert all(line in stdout for line in lines), "saved in the job's stdout too"
    by_disk = {}
    for line in lines:
        m = LINE.match(line)
        assert m["vm"] == two_disk_vm and m["count"] == "2"
        by_disk.setdefault(int(m["index"]), []).append(m)
    assert sorted(by_disk) == [1, 2], lines
    labels = {d["label"] for d in result["disks"]}
    for index, found in by_disk.items():
        assert {m["label"] for m in found} <= labels
        pcts = [int(m["pct"]) for m in found]
        assert pcts == sorted(pcts), ("percentages never go backwards", lines)
        final = found[-1]
        assert final["took"] and final["kind"] == "full" and pcts[-1] == 100, lines
        assert all(m["eta"] for m in found[:-1]), "every line before the final one has an ETA"
        assert [m for m in found if m["took"]] == [final], "one final line per disk"
        # bounded: a first line, at most one per interval while the task ran, the final line
        assert len(found) <= 2 + task_seconds / INTERVAL, (task_seconds, lines)
    # the 96 MiB disk at 6 MB/s takes ~17 s: several lines between its first and its final one (a status
    # poll and a read of the file took up to 4 s on a loaded 2-core machine), with a rate and a moving percentage
    middle = by_disk[1][1:-1]
    assert len(middle) >= 2, lines
    assert all(m["rate"] != "?" for m in middle), lines
    assert len({m["pct"] for m in by_disk[1]}) >= 3, lines
    # the job's status file and the action's own progress file are removed
    assert not async_dir.exists() or list(async_dir.iterdir()) == []


def test_result_check_mode_and_failures_are_those_of_the_plain_module(vc, lab, tmp_path, two_disk_vm):
    """progress_interval 0 runs the module as before: the results with progress lines must equal those."""
    vcsim = lab.get("vcsim")
    base = {"vm": two_disk_vm, "journal_dir": str(tmp_path / "journal"), "target_dir": str(tmp_path / "disks"),
            "progress_path": str(tmp_path / "progress.json")}
    tasks = [dict(name="preview %d" % i, register="r_check_%d" % i, check_mode=True,
                  **{"reforge.hci.migration_sync": dict(base, progress_interval=i)}) for i in (0, 1)]
    proc, results = run_tasks(tmp_path, tasks, vcsim)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert not (tmp_path / "progress.json").exists(), "check mode writes nothing"
    assert not LINE.search(proc.stdout) and " disk 1/2 [" not in proc.stdout
    assert results["r_check_0"] == results["r_check_1"]

    tasks = [dict(name="missing %d" % i, register="r_missing_%d" % i, ignore_errors=True,
                  **{"reforge.hci.migration_sync": dict(base, vm="no-such-vm-%s" % two_disk_vm,
                                                        progress_interval=i)}) for i in (0, 1)]
    proc, results = run_tasks(tmp_path, tasks, vcsim)
    for i in (0, 1):
        assert results["r_missing_%d" % i]["failed"] is True
        assert results["r_missing_%d" % i]["msg"] == "VmNotFound: no VM 'no-such-vm-%s' on %s" % (two_disk_vm,
                                                                                                  vcsim["host"])
    assert results["r_missing_0"].keys() == results["r_missing_1"].keys()

    # a full sync with lines, then an incremental without: the same result shape, no async keys
    tasks = [dict(name="sync %d" % i, register="r_sync_%d" % i,
                  **{"reforge.hci.migration_sync": dict(base, progress_interval=i)}) for i in (1, 0)]
    proc, results = run_tasks(tmp_path, tasks, vcsim)
    assert proc.returncode == 0, proc.stdout[-4000:]
    with_lines, plain = results["r_sync_1"], results["r_sync_0"]
    assert [d["kind"] for d in with_lines["disks"]] == ["full", "full"]
    assert [d["kind"] for d in plain["disks"]] == ["incremental", "incremental"]
    assert with_lines.keys() == plain.keys()
    assert [d.keys() for d in with_lines["disks"]] == [d.keys() for d in plain["disks"]]
    assert "%s disk 2/2" % two_disk_vm in proc.stdout
    assert proc.stdout.count("%s disk" % two_disk_vm) == len([line for line in proc.stdout.splitlines()
                                                              if LINE.match(line.strip())])
    # the user's progress file holds the last run's state; the plain run wrote it without a token
    saved = json.loads((tmp_path / "progress.json").read_text())
    assert saved["token"] is None and [d["state"] for d in saved["disks"]] == ["done", "done"]


@pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="qemu-system-x86 (Debian) is not installed")
def test_the_cutovers_final_sync_shows_its_progress_and_the_cutover_result_is_unchanged(vc, conn, tmp_path):
    """A VM of its own (a boot sector, 24 MiB of data): warm sync without lines, 16 MiB written by the 'guest',
    then the cutover; its final sync copies them throttled and prints lines, the boot check still runs."""
    name = "t-prog-cut-%s" % uuid.uuid4().hex[:8]
    vm = create_vm(conn.si, name, [256 * MiB], cbt=True)
    try:
        vc.write(name, 2000, 0, boot_sector())
        vc.write(name, 2000, 8 * MiB, os.urandom(24 * MiB))
        where = {"vm": name, "journal_dir": str(tmp_path / "j"), "target_dir": str(tmp_path / "t")}
        proc, res = run_tasks(tmp_path, [{"reforge.hci.migration_sync": dict(where, progress_interval=0),
                                          "register": "r_warm"}], vc.info)
        assert res["r_warm"]["totals"]["bytes_read"] >= 24 * MiB, proc.stdout[-3000:]
        assert " disk 1/1 [" not in proc.stdout, "progress_interval 0: no lines"
        vc.write(name, 2000, 100 * MiB, os.urandom(16 * MiB))
        cutover = dict(where, network_map={"VM Network": {"bridge": "br-vm", "vlan": 100}},
                       domain_dir=str(tmp_path / "d"), method="qemu", alive_pattern=MARKER.decode(), alive_timeout=60,
                       qemu_memory_mb=64, verify="full", throttle_mb_s=4, progress_interval=INTERVAL)
        proc, res = run_tasks(tmp_path, [{"reforge.hci.migration_cutover": cutover, "register": "r_cut",
                                          "ignore_errors": True}], vc.info)
        cut = res["r_cut"]
        assert cut.get("cut_over") is True, cut.get("msg") or proc.stdout[-3000:]
        assert [s["step"] for s in cut["steps"]] == ["power_off", "final_sync", "convert", "alive"]
        assert cut["steps"][1]["totals"]["bytes_read"] == 16 * MiB
        assert not {"ansible_job_id", "started", "finished", "results_file"} & set(cut)
        found = [LINE.match(line.strip()) for line in proc.stdout.splitlines() if LINE.match(line.strip())]
        assert found and all(m["vm"] == name and m["index"] == "1" for m in found), proc.stdout[-3000:]
        pcts = [int(m["pct"]) for m in found]
        assert pcts == sorted(pcts) and pcts[-1] == 100 and found[-1]["kind"] == "incremental"
        assert len(found) >= 3, "16 MiB at 4 MB/s with a line a second: lines between the first and the final"
    finally:
        try:
            destroy_vm(vm)
        except (vim.fault.NotFound, vmodl.fault.ManagedObjectNotFound):
            pass
