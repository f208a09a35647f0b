# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for a node the deploy environment is installing: its SSH check is run again and again while its BMC's
power state is read between (and during) the attempts.

The deploy (roles/os_install/files/deploy/deploy) powers the machine off when it refuses or fails, so a machine that
stays Off is an install that ended; waiting for SSH until the timeout would only report it half an hour later. A
power state that cannot be read (a 5xx, the BMC unreachable) is unknown, never Off: the wait goes on, and says so."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import signal
import subprocess
import tempfile
import threading
import time

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import RedfishError
from ansible_collections.reforge.hci.plugins.module_utils.redfish.fleet import client_from_params
from ansible_collections.reforge.hci.plugins.module_utils.redfish.service import BMC

# What the deploy does before it powers a machine off, in its order (roles/os_install/files/deploy/deploy): the
# refusals and the fetches come before the first write; the write, the partition growth and the identity after it.
POWERED_OFF = (
    "%(node)s: the machine powered off during the install (PowerState Off on %(reads)d reads of the BMC in a row, "
    "%(waited)s s into the wait) - the deploy refuses that way (boot disk not found, image checksum wrong; its "
    "console says which, in a line starting 'reforge-deploy: REFUSED' or 'reforge-deploy: FAILED'). A refusal (a "
    "kernel parameter missing, the boot disk id absent or not a whole disk, the image's or the identity's sha256 "
    "wrong) or a failed download of the image or the identity comes before any write: nothing was written. Only a "
    "failure while writing the image or finishing the boot disk ('FAILED: writing ...', sfdisk, growing the "
    "partition, resize2fs, mounting, unpacking the identity) leaves the boot disk partly written; no other disk is "
    "ever written. A machine powered off by someone else during the wait ends it the same way.")
TIMED_OUT = ("%(node)s: no SSH answer with the planned host key within %(timeout)d s (%(attempts)d attempts); "
             "%(power)s; last ssh error: %(last)s")


def _text(data):
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data


class Attempt(object):
    """One run of the check command in the background, its output in temporary files (no pipe to fill)."""

    def __init__(self, argv, clock):
        self.argv = argv
        self.started = clock()
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.timed_out = False
        devnull = open(os.devnull, "rb")
        try:
            # Its own process group: stopping it stops what it started too (ssh's ProxyCommand).
            self.proc = subprocess.Popen(argv, stdin=devnull, stdout=self.out, stderr=self.err, close_fds=True,
                                         start_new_session=True)
        except OSError:
            self.close()
            raise
        finally:
            devnull.close()

    def poll(self):
        return self.proc.poll()

    def kill(self):
        """Stop it and its children: TERM (ssh ends its ProxyCommand), KILL after 2 s."""
        for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, None)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except OSError:
                self.proc.kill()
            end = time.monotonic() + (grace or 0)
            while grace and self.proc.poll() is None and time.monotonic() < end:
                time.sleep(0.05)
        self.proc.wait()

    def finish(self):
        """(rc, stdout, stderr) of an ended attempt."""
        rc = self.proc.wait()
        output = []
        for fh in (self.out, self.err):
            fh.seek(0)
            output.append(_text(fh.read()))
        self.close()
        return rc, output[0], output[1]

    def close(self):
        for fh in (self.out, self.err):
            try:
                fh.close()
            except (OSError, ValueError):
                pass


def describe_failure(rc, stdout, stderr, hostname, timed_out, attempt_timeout):
    """One line for an attempt that did not find the node."""
    if timed_out:
        return "no answer within %s s (the attempt was stopped)" % attempt_timeout
    err = " ".join(stderr.split())[-400:]
    out = " ".join(stdout.split())[-200:]
    if rc == 0:
        return "rc=0 but the node answered %r, not %r" % (out, hostname)
    return "rc=%s: %s" % (rc, err or out or "(no output)")


class PowerReader(object):
    """PowerState of the system behind one BMC, read over one Redfish session kept for the whole wait.

    ``read()`` never raises: it returns ``(state, None)`` or ``(None, why)`` when the state is unknown (the BMC
    unreachable, a 5xx after the client's retries, an answer without PowerState). A session that cannot be opened is
    tried again at the next read."""

    def __init__(self, params):
        self.params = params
        self.client = None
        self.bmc = None
        self.warnings = []
        self.lock = threading.Lock()

    def read(self):
        with self.lock:
            return self._read()

    def _read(self):
        try:
            if self.client is None:
                client = client_from_params(self.params)
                try:
                    client.open()
                except Exception:
                    self._collect(client)
                    client.close()
                    raise
                self.client, self.bmc = client, BMC(client)
            state = self.bmc.refresh_system().get("PowerState")
        except RedfishError as exc:
            return None, exc.message
        except Exception as exc:  # noqa: BLE001 - an unreadable answer is an unknown state, not the end of the wait
            return None, "%s: %s" % (type(exc).__name__, exc)
        if not state:
            return None, "the system resource has no PowerState"
        return state, None

    def _collect(self, client):
        for warning in client.warnings:
            if warning not in self.warnings:
                self.warnings.append(warning)
        del client.warnings[:]

    def close(self):
        """Log out, unless a read still runs (a BMC that does not answer): then the session is left to the BMC's
        SessionTimeout rather than waiting for that read."""
        if not self.lock.acquire(False):
            self.warnings.append("a read of the power state was still running at the end of the wait; its session, "
                                 "if it opened one, is left to the BMC's session timeout")
            return
        try:
            if self.client is not None:
                self._collect(self.client)
                self.client.close()
                self.client = None
        finally:
            self.lock.release()


class Read(threading.Thread):
    """One read of the power state in the background; ``value`` is ``(state, error)`` once it ended."""

    def __init__(self, read_power, clock):
        super(Read, self).__init__()
        self.daemon = True
        self.read_power = read_power
        self.started = clock()
        self.value = (None, "the read did not end")
        self.start()

    def run(self):
        try:
            self.value = self.read_power()
        except Exception as exc:  # noqa: BLE001 - a read never ends the wait by raising
            self.value = (None, "%s: %s" % (type(exc).__name__, exc))


class WaitFailed(Exception):
    def __init__(self, message, result):
        super(WaitFailed, self).__init__(message)
        self.message = message
        self.result = result


class InstallWait(object):
    """Run ``argv`` until it prints ``hostname`` (rc 0), reading the power state every ``interval`` seconds.

    Off on ``off_reads`` reads in a row (unknown reads in between neither count nor break the row; an On does),
    all at least ``off_grace`` seconds after the wait began, ends the wait: the machine powered off."""

    def __init__(self, argv, hostname, read_power, timeout=1800, interval=10.0, off_reads=3, off_grace=30.0,
                 attempt_timeout=60.0, clock=time.monotonic, sleep=time.sleep):
        self.argv = list(argv)
        self.hostname = hostname
        self.read_power = read_power
        self.timeout = timeout
        self.interval = float(interval)
        self.off_reads = off_reads
        self.off_grace = float(off_grace)
        self.attempt_timeout = float(attempt_timeout)
        self.clock = clock
        self.sleep = sleep
        self.start = None
        self.attempts = 0
        self.last_error = None
        self.reads = dict(on=0, off=0, other=0, unknown=0)
        self.power_state = None
        self.power_error = None
        self.off_row = 0

    # -- what the module returns -------------------------------------------------------------------
    def waited(self):
        return round(self.clock() - self.start, 1)

    def result(self, **extra):
        out = dict(waited=self.waited(), attempts=self.attempts, power_state=self.power_state,
                   power_reads=dict(self.reads), last_ssh_error=self.last_error)
        if self.power_error:
            out["last_power_error"] = self.power_error
        out.update(extra)
        return out

    def power_summary(self):
        total = sum(self.reads.values())
        if not total:
            return "the BMC's power state was not read"
        text = "the BMC's power state was last read %s (%d reads)" % (self.power_state or "unknown", total)
        if self.reads["unknown"]:
            text += ", unknown on %d of them (last: %s)" % (self.reads["unknown"], self.power_error)
        return text

    def unknown_warning(self):
        if not self.reads["unknown"]:
            return None
        return ("%s: the BMC's power state could not be read on %d of %d reads during the wait (last: %s); an unknown "
                "state is never taken for Off" % (self.hostname, self.reads["unknown"], sum(self.reads.values()),
                                                  self.power_error))

    # -- the wait ----------------------------------------------------------------------------------
    def _take(self, read):
        """Count one ended read; ``read.started`` decides whether an Off falls inside the grace."""
        state, error = read.value
        if state is None:
            self.reads["unknown"] += 1
            self.power_error = error
            return
        self.power_state = state
        key = state.lower() if state in ("On", "Off") else "other"
        self.reads[key] += 1
        if state != "Off":
            self.off_row = 0
        elif read.started - self.start >= self.off_grace:
            self.off_row += 1

    def _end_attempt(self, attempt):
        rc, stdout, stderr = attempt.finish()
        if rc == 0 and stdout.strip() == self.hostname and not attempt.timed_out:
            return stdout.strip()
        self.last_error = describe_failure(rc, stdout, stderr, self.hostname, attempt.timed_out, self.attempt_timeout)
        return None

    def run(self):
        """The node's answer (its host name) and the result; raises WaitFailed when it powers off or time runs out."""
        self.start = self.clock()
        deadline = self.start + self.timeout
        attempt = reading = None
        next_attempt = next_read = self.start
        try:
            while True:
                now = self.clock()
                if attempt is None and now >= next_attempt and now < deadline:
                    try:
                        attempt = Attempt(self.argv, self.clock)
                    except OSError as exc:
                        raise WaitFailed("%s: cannot run %s: %s" % (self.hostname, self.argv[0], exc), self.result())
                    self.attempts += 1
                if attempt is not None:
                    if attempt.poll() is None and now - attempt.started >= self.attempt_timeout:
                        attempt.timed_out = True
                        attempt.kill()
                    if attempt.poll() is not None:
                        answer = self._end_attempt(attempt)
                        attempt = None
                        if answer is not None:
                            return self.result(hostname=answer)
                        next_attempt = self.clock() + self.interval
                # The read runs in its own thread: a BMC that answers slowly (its retries, a blackholed address)
                # delays neither the node's answer nor the timeout.
                if reading is None and now >= next_read and now < deadline:
                    reading = Read(self.read_power, self.clock)
                if reading is not None and not reading.is_alive():
                    self._take(reading)
                    reading = None
                    next_read = self.clock() + self.interval
                    if self.off_row >= self.off_reads:
                        raise WaitFailed(POWERED_OFF % dict(node=self.hostname, reads=self.off_row,
                                                            waited=self.waited()),
                                         self.result(reason="powered_off"))
                now = self.clock()
                if now >= deadline:
                    if attempt is not None and self.last_error is None:
                        self.last_error = "the attempt running at the timeout had not answered yet"
                    raise WaitFailed(TIMED_OUT % dict(node=self.hostname, timeout=self.timeout, attempts=self.attempts,
                                                      power=self.power_summary(),
                                                      last=self.last_error or "none (no attempt ended)"),
                                     self.result(reason="timeout"))
                wake = min(deadline, next_attempt if attempt is None else now + 0.2,
                           next_read if reading is None else now + 0.2)
                self.sleep(min(max(wake - now, 0.05), 1.0))
        finally:
            if attempt is not None:
                attempt.kill()
                attempt.close()
