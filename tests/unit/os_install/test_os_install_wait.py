"""reforge.hci.os_install_wait: the wait for a node being installed, with its BMC's power state read meanwhile.

The module runs as Ansible runs it (arguments file, a child Python) against one simulated BMC served in-process
(tests/lab/redfish, on a loopback port of 19500-19599); the node's SSH check is a fake (``sh -c``), which answers
with the host name from its Nth attempt or fails the way ssh does. The real SSH path is proven on the metal lab
(tests/lab/metal/test_install.py). The deploy's refusal is the simulator's machine turning Off by itself
(``/_lab/power``), as a machine does when the deploy runs ``poweroff -f``."""
from __future__ import annotations

import threading
import time

import pytest

from lab.module_run import run_module
from lab.redfish.bmc import Config
from lab.redfish.client_helpers import LabBMC
from lab.redfish.conftest import free_port_range
from lab.redfish.fleet import build
from lab.redfish.server import Fleet

from ansible_collections.reforge.hci.plugins.module_utils.os_install.wait import InstallWait, WaitFailed

pytestmark = pytest.mark.lab

NODE = "node1"
REFUSED_SSH = "echo 'ssh: connect to host 10.20.10.11 port 22: Connection refused' >&2; exit 255"
FAST = dict(interval=0.3, off_grace=1, off_reads=3, attempt_timeout=5)


@pytest.fixture(scope="module")
def sim(lab):
    pki = lab.get("pki")
    port = free_port_range(1, start=19500, stop=19600)
    bmcs = build(1, port, Config(power_delay=0.2), spec=[("wait1", "dell-r640-h730p", None)])
    fleet = Fleet(bmcs, pki["cert"], pki["key"]).start()
    client = LabBMC("https://127.0.0.1:%d" % port, pki["ca"])
    client.conn = dict(endpoint=client.endpoint, username="root", password="calvin", ca_path=pki["ca"], retries=0)
    try:
        yield client
    finally:
        fleet.stop()


@pytest.fixture
def bmc(sim):
    sim.lab("POST", "reset", {"clear_log": True})
    sim.lab("POST", "power", {"state": "On"})
    return sim


def answers_from(tmp_path, attempt: int) -> list[str]:
    """An SSH check that is refused until its ``attempt``-th run, then prints the node's host name."""
    counter = tmp_path / "attempts"
    script = ('n=$(cat "%s" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "%s"; '
              '[ $n -ge %d ] && { echo %s; exit 0; }; %s') % (counter, counter, attempt, NODE, REFUSED_SSH)
    return ["sh", "-c", script]


def args(bmc, ssh, **extra):
    return dict(bmc.conn, ssh=ssh, hostname=NODE, **dict(FAST, **extra))


def warnings(result) -> list[str]:
    """The module's warnings as text (ansible-core 2.19 returns them as WarningSummary dicts)."""
    return [w if isinstance(w, str) else w.get("event", {}).get("msg", str(w)) for w in result.get("warnings", [])]


def running(pid: str) -> bool:
    """Whether a process runs (a zombie waiting for its reaper does not)."""
    try:
        with open("/proc/%s/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def later(seconds, fn, *a):
    timer = threading.Timer(seconds, fn, a)
    timer.start()
    return timer


@pytest.mark.parametrize("check", [False, True], ids=["run", "check_mode"])
def test_machine_on_and_ssh_answering_is_ok(bmc, tmp_path, check):
    """Refused twice (the node still installing), then the host name: ok, changed=false; only reads (check mode too)."""
    cursor = bmc.cursor()
    result = run_module("os_install_wait", args(bmc, answers_from(tmp_path, 3)), check=check)
    assert not result.get("failed"), result
    assert (result["hostname"], result["attempts"], result["changed"]) == (NODE, 3, False)
    assert result["power_state"] == "On" and result["power_reads"]["on"] >= 1 and result["power_reads"]["off"] == 0
    assert "Connection refused" in result["last_ssh_error"]
    assert not warnings(result), result
    assert bmc.writes_since(cursor) == [], "the wait only reads"


def test_machine_powering_off_fails_fast_with_what_was_written(bmc):
    """The deploy refuses (poweroff -f) 1.5 s into the wait: failed after 3 Off reads, long before the timeout."""
    start = time.monotonic()
    later(1.5, bmc.lab, "POST", "power", {"state": "Off"})
    result = run_module("os_install_wait", args(bmc, ["sh", "-c", REFUSED_SSH], wait_timeout=120))
    elapsed = time.monotonic() - start
    assert result.get("failed") and result["reason"] == "powered_off", result
    msg = result["msg"]
    assert msg.startswith("%s: the machine powered off during the install (PowerState Off on 3 reads" % NODE), msg
    assert "the deploy refuses that way (boot disk not found, image checksum wrong; its console says which" in msg
    assert "comes before any write: nothing was written" in msg
    assert "leaves the boot disk partly written; no other disk is ever written" in msg
    assert result["power_reads"]["off"] >= 3 and result["power_state"] == "Off"
    assert result["waited"] < 10 and elapsed < 20, (elapsed, result)


def test_off_during_the_grace_then_on_is_a_restart_not_a_refusal(bmc, tmp_path):
    """Off while the power-on is still in progress (inside off_grace), then On: the wait goes on to the answer."""
    bmc.lab("POST", "power", {"state": "Off"})
    later(1.0, bmc.lab, "POST", "power", {"state": "On"})
    result = run_module("os_install_wait", args(bmc, answers_from(tmp_path, 6), off_grace=1.5))
    assert not result.get("failed"), result
    assert result["hostname"] == NODE and result["power_reads"]["off"] >= 1 and result["power_state"] == "On"


def test_bmc_answering_500_is_unknown_not_off(bmc, tmp_path):
    """The system resource answers 500 on every read while the machine is really Off: unknown, never Off; the node
    answers and the wait succeeds, warning how many reads were unknown."""
    bmc.lab("POST", "power", {"state": "Off"})
    bmc.fault("status", status=500, method="GET", path=r"^/redfish/v1/Systems/[^/]+$", count=-1)
    result = run_module("os_install_wait", args(bmc, answers_from(tmp_path, 8), off_grace=0, off_reads=2))
    assert not result.get("failed"), result
    assert result["hostname"] == NODE and result["attempts"] == 8
    reads = result["power_reads"]
    assert reads["unknown"] >= 4 and reads["off"] == 0 and reads["on"] == 0, reads
    assert result["power_state"] is None and "HTTP 500" in result["last_power_error"]
    [warning] = warnings(result)
    assert "the BMC's power state could not be read on" in warning and "never taken for Off" in warning


def test_bmc_unreachable_is_unknown_not_off(tmp_path):
    """Nothing listens where the BMC should be: every read is unknown, the node's answer still ends the wait."""
    port = free_port_range(1, start=19500, stop=19600)
    conn = dict(endpoint="https://127.0.0.1:%d" % port, username="root", password="calvin", retries=0)
    result = run_module("os_install_wait", dict(conn, ssh=answers_from(tmp_path, 3), hostname=NODE, **FAST))
    assert not result.get("failed"), result
    assert result["power_reads"]["unknown"] >= 1 and "refused the connection" in result["last_power_error"]


def test_slow_bmc_does_not_delay_the_answer(bmc, tmp_path):
    """The BMC takes 8 s to answer the read of the system: the node's answer ends the wait without waiting for it."""
    bmc.fault("delay", seconds=8, method="GET", path=r"^/redfish/v1/Systems/[^/]+$", count=1)
    start = time.monotonic()
    result = run_module("os_install_wait", args(bmc, answers_from(tmp_path, 2)))
    assert not result.get("failed"), result
    assert result["hostname"] == NODE and sum(result["power_reads"].values()) == 0, result
    assert result["waited"] < 2 and time.monotonic() - start < 6, result
    assert any("still running at the end of the wait" in w for w in warnings(result)), result


def test_timeout_fails_with_the_last_ssh_error(bmc):
    """The machine stays On but the node never answers: failed at wait_timeout with how long and ssh's last error."""
    start = time.monotonic()
    result = run_module("os_install_wait", args(bmc, ["sh", "-c", REFUSED_SSH], wait_timeout=2))
    assert result.get("failed") and result["reason"] == "timeout", result
    assert result["msg"].startswith("%s: no SSH answer with the planned host key within 2 s" % NODE), result["msg"]
    assert result["msg"].endswith("last ssh error: rc=255: ssh: connect to host 10.20.10.11 port 22: Connection refused")
    assert "power state was last read On" in result["msg"]
    assert 2 <= result["waited"] < 4 and time.monotonic() - start < 15


def test_an_attempt_that_hangs_is_stopped(bmc, tmp_path):
    """An SSH check that hangs is stopped after attempt_timeout, with what it started (ssh's ProxyCommand), and
    counted as failed; the timeout still holds."""
    pids = tmp_path / "pids"
    hang = ["sh", "-c", 'sleep 60 & echo $! >> "%s"; wait' % pids]
    result = run_module("os_install_wait", args(bmc, hang, wait_timeout=2, attempt_timeout=0.8))
    assert result.get("failed") and result["reason"] == "timeout", result
    assert result["last_ssh_error"] == "no answer within 0.8 s (the attempt was stopped)"
    assert result["attempts"] >= 2 and result["waited"] < 4
    started = pids.read_text().split()
    assert len(started) == result["attempts"]
    deadline = time.monotonic() + 5
    while [pid for pid in started if running(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in started if running(pid)], "a child of an attempt was left running"


def test_wrong_answer_is_not_the_node(bmc):
    """rc 0 with another host name (an address reused by another machine) is not the node."""
    result = run_module("os_install_wait", args(bmc, ["sh", "-c", "echo node2"], wait_timeout=1))
    assert result.get("failed") and result["last_ssh_error"] == "rc=0 but the node answered 'node2', not 'node1'"


def test_settings_that_cannot_work_are_refused(bmc):
    result = run_module("os_install_wait", args(bmc, ["true"], off_reads=1, interval=0))
    assert result.get("failed"), result
    assert result["msg"] == ("interval: must be more than 0; "
                             "off_reads: must be 2 or more (one read may fall in a restart)")


# -- the rule on a row of reads, without processes or a BMC ---------------------------------------
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def wait_with(reads, off_reads=3, off_grace=0.0, timeout=100):
    clock = Clock()
    states = iter(reads)

    def read():
        state = next(states, "On")
        return (None, "HTTP 500") if state == "?" else (state, None)
    wait = InstallWait(["sh", "-c", "exit 255"], NODE, read, timeout=timeout, interval=1, off_reads=off_reads,
                       off_grace=off_grace, attempt_timeout=50, clock=clock, sleep=clock.sleep)
    wait.sleep = lambda s: (time.sleep(0.002), clock.sleep(s))
    try:
        wait.run()
    except WaitFailed as exc:
        return exc.result["reason"], wait
    return "ok", wait


@pytest.mark.parametrize("reads, reason", [
    (["Off", "Off", "Off"], "powered_off"),
    (["Off", "?", "Off", "?", "Off"], "powered_off"),      # unknown neither counts nor breaks the row
    (["Off", "Off", "On", "Off", "Off"], "timeout"),        # an On does
    (["?"] * 200, "timeout"),                               # unknown is never Off
    (["PoweringOn", "Off", "Off", "PoweringOff"], "timeout"),
], ids=["three_off", "unknown_between", "on_between", "all_unknown", "transitions"])
def test_row_of_off_reads(reads, reason):
    got, wait = wait_with(reads, timeout=12)
    assert got == reason, wait.reads


def test_off_inside_the_grace_does_not_count():
    got, wait = wait_with(["Off"] * 4 + ["On"], off_grace=4.5, timeout=12)
    assert got == "timeout" and wait.reads["off"] == 4
