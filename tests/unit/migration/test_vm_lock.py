"""One sync or cutover per VM at a time: a second run (an AWX job relaunched while the cancelled one's async sync
still runs on the sync host) is refused before it reads or writes anything."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.migration import sync
from ansible_collections.reforge.hci.plugins.module_utils.migration.cutover import Cutover

HOLDER = textwrap.dedent("""
    import sys, time
    from ansible_collections.reforge.hci.plugins.module_utils.migration.sync import vm_lock
    with vm_lock(sys.argv[1], sys.argv[2]):
        print("held", flush=True)
        time.sleep(600)
""")


@pytest.fixture(name="holder")
def holder_fixture(tmp_path):
    """Another process that holds db01's lock until it is killed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "db01"], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


class Untouchable:
    """A vCenter connection that fails the test when used: the refusal must come first."""

    def __getattr__(self, name):
        raise AssertionError("the vCenter connection was used (%s) by a run that must be refused" % name)


def test_a_second_sync_of_a_vm_is_refused_before_anything(holder, tmp_path):
    run = sync.VmSync(Untouchable(), "db01", {}, str(tmp_path), settings=None)
    with pytest.raises(sync.VmBusy, match="another sync or cutover of db01 is running on this host \\(pid %d" % holder.pid):
        run.run()
    assert sorted(os.listdir(tmp_path)) == ["db01.lock"], "no journal, no progress file (the lock is the holder's)"


def test_a_cutover_beside_a_running_sync_is_refused(holder, tmp_path):
    cut = Cutover.__new__(Cutover)  # only what run() reads before the lock
    cut.journal_dir, cut.vm_name = str(tmp_path), "db01"
    with pytest.raises(sync.VmBusy, match="nothing was read or written"):
        cut.run()


def test_a_killed_holder_leaves_no_lock_and_other_vms_are_free(holder, tmp_path):
    with sync.vm_lock(str(tmp_path), "db02"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with sync.vm_lock(str(tmp_path), "db01") as path:
        assert open(path, encoding="ascii").read() == str(os.getpid())


def test_the_cutover_takes_its_own_final_sync_lock_again(tmp_path):
    """A cutover holds the lock and runs its final sync in the same process: that is not a second run."""
    with sync.vm_lock(str(tmp_path), "db01"):
        with sync.vm_lock(str(tmp_path), "db01"):
            pass
        assert sync._HELD  # pylint: disable=protected-access
    assert not sync._HELD  # pylint: disable=protected-access


def test_a_finished_run_leaves_no_lock_file(tmp_path):
    """A refused or finished run leaves the journal dir as it found it (no lock file to explain)."""
    with sync.vm_lock(str(tmp_path), "db01") as path:
        assert os.path.exists(path)
    assert os.listdir(tmp_path) == []
    with sync.vm_lock(str(tmp_path / "journal"), "db01"):
        pass
    assert os.listdir(tmp_path) == [], "the journal dir made only for the lock is gone too"


def test_a_run_that_opened_the_file_its_holder_then_removed_locks_the_new_one(tmp_path, monkeypatch):
    """The race the removal opens: B opens db01.lock, A ends (removes and unlocks it), B locks the removed
    file. B must see the path is gone and lock a new file, or a third run C could lock that one beside it."""
    path = str(tmp_path / "db01.lock")
    real_flock = sync.fcntl.flock
    locked = []

    def flock(fd, op):
        if not locked:  # the first file locked is one its holder has just removed
            os.unlink(path)
        locked.append(os.fstat(fd).st_ino)
        return real_flock(fd, op)

    monkeypatch.setattr(sync.fcntl, "flock", flock)
    with sync.vm_lock(str(tmp_path), "db01") as held:
        assert held == path and len(locked) == 2, locked
        assert os.stat(path).st_ino == locked[1], "the lock held is the file at the path"
    assert os.listdir(tmp_path) == []
