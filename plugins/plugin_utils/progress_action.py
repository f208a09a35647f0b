# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin base for long migration tasks: progress lines in the job output while the module runs.

A module's result comes back only at its end, and AWX (ansible-runner) shows what the controller prints.
So the action starts the module as an async job on its host (the sync host when delegated), the way
``async:``/``poll:`` does, and while it runs it reads the small progress file the copy engine replaces
(``module_utils/migration/progress.py``) and prints at most one line per disk per ``progress_interval``
with ``Display.display`` (a "verbose" event in AWX and in ansible-runner's ``job_events``).

What does not change: check mode runs the module as before (synchronously; it copies nothing);
``progress_interval: 0`` and a task with its own ``async:`` run exactly as the ``normal`` action would;
the result is the module's own (the async keys removed), a failure is the module's failure. A started job is
never started again: after it started, only reads follow (status polls and progress reads, retried after a
connection error), and a job the action lost track of is reported with its id, still running, not re-run.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import secrets
import shlex
import time

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.reforge.hci.plugins.module_utils.migration.progress import LinePacer

display = Display()

# The async wrapper kills the module after this many seconds; a sync of many TiB at a throttled rate takes
# hours, not a week. A task that sets ``async:`` itself keeps its own limit (and gets no progress lines).
ASYNC_LIMIT = 7 * 24 * 3600
# Completion polls start fast (a small incremental sync ends within a second) and back off to this.
MAX_POLL = 5.0
# Consecutive failed status polls (connection errors) tolerated before the action gives up watching.
POLL_FAILURE_WINDOW = 300.0
ASYNC_KEYS = ("ansible_job_id", "started", "finished", "results_file", "_ansible_suppress_tmpdir_delete")


def progress_interval(args):
    """The task's ``progress_interval`` in seconds; None when not a number (the module refuses it)."""
    value = args.get("progress_interval", 30)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class ProgressAction(ActionBase):
    """Run the task's module as an async job and print its progress file's lines until it ends."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ProgressAction, self).run(tmp, task_vars)
        del tmp
        interval = progress_interval(self._task.args)
        if self._task.check_mode or self._task.async_val or not interval or interval <= 0:
            return self._run_normal(result, task_vars)
        return merge_hash(result, self._run_with_progress(task_vars, interval))

    def _run_normal(self, result, task_vars):
        """ansible.builtin's ``normal`` action, unchanged."""
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _async_dir(self):
        return self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))

    def _run_with_progress(self, task_vars, interval):
        args = dict(self._task.args)
        token = secrets.token_hex(8)
        async_dir = self._async_dir()
        own_file = not args.get("progress_path")
        if own_file:
            args["progress_path"] = self._connection._shell.join_path(async_dir, "reforge-progress-%s.json" % token)
        args["progress_token"] = token
        path = args["progress_path"]
        if path.startswith("~"):
            path = self._remote_expand_user(path)

        self._task.async_val = ASYNC_LIMIT
        try:
            # The one start of the job. An exception here (connection lost on the way) propagates: the job
            # may have started, so it is not sent again.
            started = self._execute_module(module_args=args, task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = 0
        jid = started.get("ansible_job_id")
        if started.get("failed") or not jid:
            started.setdefault("failed", True)
            started.setdefault("msg", "the async job did not start")
            return started

        pacer = LinePacer(interval, token=token)
        final = self._wait(jid, async_dir, path, pacer, task_vars)
        for line in pacer.lines(self._read_progress(path)):  # the last disks' final lines
            display.display(line)
        self._cleanup(jid, async_dir, path if own_file else None, task_vars)
        for key in ASYNC_KEYS:
            final.pop(key, None)
        return final

    def _wait(self, jid, async_dir, path, pacer, task_vars):
        delay = 0.5
        failing_since = None
        while True:
            time.sleep(delay)
            delay = min(delay * 2, MAX_POLL, pacer.interval)
            try:
                status = self._status(jid, async_dir, task_vars)
            except AnsibleError as exc:
                # a read: retried after a reset, as ansible-core's own async poll does
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > POLL_FAILURE_WINDOW:
                    return {"failed": True, "ansible_job_id": jid,
                            "msg": "lost track of async job %s (status polls failed for %ds: %s); the job was not "
                                   "stopped and is not started again: follow it with ansible.builtin.async_status "
                                   "jid=%s" % (jid, POLL_FAILURE_WINDOW, to_text(exc), jid)}
                display.vvvv("async poll of %s failed, retrying: %s" % (jid, to_text(exc)))
                try:
                    self._connection.reset()
                except Exception:  # pylint: disable=broad-except
                    pass
                continue
            failing_since = None
            if status.get("finished") or (status.get("failed") and status.get("_ansible_parsed")):
                return status
            for line in pacer.lines(self._read_progress(path)):
                display.display(line)

    def _status(self, jid, async_dir, task_vars):
        status = self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                                      module_args={"jid": jid, "mode": "status", "_async_dir": async_dir})
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return status

    def _read_progress(self, path):
        """The progress file's content, or None (not written yet, unreadable): progress is best effort."""
        try:
            res = self._low_level_execute_command("cat %s" % shlex.quote(path), sudoable=True)
        except AnsibleError:
            return None
        if res.get("rc") != 0:
            return None
        try:
            data = json.loads(to_text(res.get("stdout") or ""))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _cleanup(self, jid, async_dir, own_path, task_vars):
        """Remove the job's status file (as ``poll:`` does) and a progress file the action chose itself."""
        try:
            self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                                 module_args={"jid": jid, "mode": "cleanup", "_async_dir": async_dir})
            self._remove_tmp_path(self._connection._shell.tmpdir)
            if own_path:
                self._low_level_execute_command("rm -f %s" % shlex.quote(own_path), sudoable=True)
        except AnsibleError as exc:
            display.warning("could not remove the files of async job %s: %s" % (jid, to_text(exc)))
