"""One simulated BMC: its resources (copy-on-read over a shared template), sessions,
ETags, Settings objects, tasks/jobs, power and the request dispatcher."""
from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import queue
import re
import secrets
import subprocess
import threading
import time
import uuid as uuidlib
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .errors import RedfishError, base_message, fail, vendor_fail
from .profiles import Profile
from .tree import Tree, norm

MAC_RE = re.compile(r"\b([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\b")
UNAUTHENTICATED = {"/redfish", "/redfish/v1", "/redfish/v1/$metadata", "/redfish/v1/odata"}
# Keys whose values are never personalised; @Redfish.Copyright is mockup-only and not served.
IDENTITY_KEEP = {"Id", "@odata.id", "target", "@odata.context", "MemberId"}
ANNOTATION_PREFIX = ("@Redfish.", "@odata.", "@Message.")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def iso_at(mono: float) -> str:
    """Wall-clock ISO time of a time.monotonic() instant."""
    return datetime.fromtimestamp(time.time() - (time.monotonic() - mono), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Session:
    id: str
    token: str
    user: str
    last_used: float


@dataclass
class Task:
    id: str
    name: str
    polls_left: int
    on_complete: Callable[[], list[dict]] | None
    fail_message: str | None = None
    state: str = "Running"          # Running | Scheduled | Completed | Exception
    job_type: str = "Unknown"
    target: str | None = None       # settings/controller key a Dell job locks
    messages: list[dict] = field(default_factory=list)
    start: str = field(default_factory=now_iso)
    end: str | None = None
    percent: int = 0
    polls_total: int = 0
    # Time on the BMC's clock: a task finishes `duration` seconds after `t0` whether or not anyone
    # polls it (0: after the profile's task_seconds, or sooner after `polls_total` polls).
    t0: float = field(default_factory=time.monotonic)
    duration: float = 0.0
    fetching: bool = False          # a SimpleUpdate still downloading its image (finishes only after)
    after: str | None = None        # state once the timed part is over (Dell firmware awaiting reboot)
    payload: dict | None = None     # DMTF Task.Payload: the request that started it
    hidden: bool = False            # not linked in TaskService (iLO 5 < 2.30 SimpleUpdate)


@dataclass
class Config:
    """Knobs a test may turn through POST /_lab/config."""
    power_delay: float = 2.0        # seconds between a reset request and the new PowerState
    task_polls: int = 3             # GETs of a task/job before it completes (a test's fast-forward)
    session_timeout: int = 1800     # idle seconds before a session expires
    task_seconds: float = 5.0       # a running task/job completes this long after it started, polled or not
    update_seconds: float = 0.0     # a firmware update takes this long on the clock, reporting progress
    #                                 (0: like any task); realistic: the profile's minutes
    bmc_reset_seconds: float = 0.0  # the BMC answers nothing this long after it resets (own update, Manager.Reset)
    update_tasks: bool = True       # SimpleUpdate answers 202 + task monitor; False: 200 and no task (iLO 5 < 2.30)
    max_sessions: int = 64          # open sessions before SessionLimitExceeded
    realistic: bool = False         # use the profile's realistic durations for updates and BMC resets
    latency: float = 0.0            # seconds each Redfish request waits before it is served (real BMCs:
    #                                 0.2-2 s); outside the BMC's lock, so concurrent requests do not queue


class BMC:
    def __init__(self, index: int, name: str, profile: Profile, port: int,
                 bound_node: str | None = None, hook: Path | None = None,
                 config: Config | None = None, log_dir: Path | None = None) -> None:
        self.index = index
        self.name = name
        self.profile = profile
        self.port = port
        self.bound_node = bound_node
        self.hook = hook
        self.log_dir = log_dir
        self.base_config = config or Config()
        self.tree = Tree.load(profile.tree)
        self.lock = threading.RLock()
        self.username = "root"
        self.password = "calvin"
        self._identity = self._identity_map()
        self.log: list[dict] = []
        self.log_seq = itertools.count(1)
        self.faults: list[dict] = []
        self.generation = 0
        self._hook_queue: queue.Queue | None = None
        self.down_until = 0.0                      # monotonic time until which the BMC answers nothing
        self.reset_state()

    # ------------------------------------------------------------------ state
    def reset_state(self) -> None:
        """Back to the template (POST /_lab/reset); log and faults are kept separately."""
        with self.lock:
            self.generation += 1
            self.config = copy.copy(self.base_config)
            self.res: dict[str, dict] = {}
            self.deleted: set[str] = set()
            self.pending: dict[str, dict] = {}       # settings key -> accumulated patch
            self.pending_replace: set[str] = set()    # settings keys set by PUT (whole body)
            self.sessions: dict[str, Session] = {}
            self.session_ids = itertools.count(1)
            self.tasks: dict[str, Task] = {}
            self.finishing_at = 0.0                   # when the task being finished ended (BMC clock)
            self.task_ids = itertools.count(1)
            self.next_task: dict[str, Any] = {}      # fault-injected overrides for the next task
            self.staged_firmware: list[tuple[str, str]] = []
            self.boot_count = 0
            self.boot_history: list[dict] = []
            self.hook_log: list[str] = []
            self.down_until = 0.0
            from . import vendor_ops  # late import: vendor_ops uses BMC helpers
            vendor_ops.prepare(self)

    def _identity_map(self) -> dict[str, str]:
        p = self.profile
        serial = (p.serial[:-4] + f"{self.index:04d}") if len(p.serial) > 4 else f"{p.serial}{self.index}"
        new_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"reforge-lab/{p.key}/{self.index}"))
        if p.uuid.isupper():
            new_uuid = new_uuid.upper()
        ident = {p.serial: serial, p.uuid: new_uuid}
        for i, extra in enumerate(p.extra_identity):
            ident[extra] = extra[:-4] + f"{(self.index * 7 + i) % 10000:04d}"
        return ident

    @property
    def serial(self) -> str:
        return self._identity[self.profile.serial]

    def _mac(self, mac: str) -> str:
        digest = hashlib.sha1(f"{self.index}/{mac.upper()}".encode()).hexdigest()[:10]
        new = "02:" + ":".join(digest[i:i + 2] for i in range(0, 10, 2))
        return new.upper() if mac.isupper() else new

    def _personalise(self, value: Any) -> Any:
        """Give a template body this BMC's identity (serial, UUID, MACs).

        Ids and links keep the template's value: a serial that doubles as a
        resource Id (DMTF's system 437XR1138R2) must still match its URI."""
        if isinstance(value, dict):
            return {k: (v if k in IDENTITY_KEEP else self._personalise(v))
                    for k, v in value.items() if k != "@Redfish.Copyright"}
        if isinstance(value, list):
            return [self._personalise(v) for v in value]
        if isinstance(value, str):
            if value in self._identity:
                return self._identity[value]
            if ":" in value and MAC_RE.search(value):
                return MAC_RE.sub(lambda m: self._mac(m.group(1)), value)
        return value

    # -------------------------------------------------------------- resources
    def get(self, path: str) -> dict | None:
        """This BMC's (mutable) copy of a resource, materialised on first use."""
        key = norm(path)
        if key in self.res:
            return self.res[key]
        if key in self.deleted:
            return None
        template = self.tree.get(key)
        if template is None:
            return None
        body = self._personalise(template)
        body.pop("@odata.etag", None)
        self.res[key] = body
        return body

    def put(self, path: str, body: dict) -> dict:
        key = norm(path)
        self.deleted.discard(key)
        body.setdefault("@odata.id", path)
        self.res[key] = body
        return body

    def delete(self, path: str) -> None:
        key = norm(path)
        self.res.pop(key, None)
        self.deleted.add(key)

    def add_member(self, collection: str, member: str) -> None:
        coll = self.get(collection)
        if coll is None:
            return
        members = coll.setdefault("Members", [])
        if all(norm(m.get("@odata.id", "")) != norm(member) for m in members):
            members.append({"@odata.id": member})
        coll["Members@odata.count"] = len(members)

    def remove_member(self, collection: str, member: str) -> None:
        coll = self.get(collection)
        if coll is None:
            return
        coll["Members"] = [m for m in coll.get("Members", []) if norm(m.get("@odata.id", "")) != norm(member)]
        coll["Members@odata.count"] = len(coll["Members"])

    def members(self, collection: str) -> list[str]:
        coll = self.get(collection) or {}
        return [m["@odata.id"] for m in coll.get("Members", []) if "@odata.id" in m]

    @staticmethod
    def etag(body: dict) -> str:
        data = json.dumps({k: v for k, v in body.items() if k != "@odata.etag"}, sort_keys=True)
        return f'W/"{zlib.crc32(data.encode()):08X}"'

    # --------------------------------------------------------------- sessions
    def authenticate(self, headers: dict[str, str]) -> str:
        """Return 'session:<id>' or 'basic'; raise 401 otherwise."""
        token = headers.get("x-auth-token")
        if token:
            for sess in list(self.sessions.values()):
                if secrets.compare_digest(sess.token, token):
                    if time.monotonic() - sess.last_used > self.config.session_timeout:
                        self._drop_session(sess.id)
                        break
                    sess.last_used = time.monotonic()
                    return f"session:{sess.id}"
            raise fail(401, "NoValidSession")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _sep, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, pw = "", ""
            if user == self.username and secrets.compare_digest(pw, self.password):
                return "basic"
        raise fail(401, "NoValidSession", headers={"WWW-Authenticate": 'Basic realm="Redfish"'})

    def sessions_collection(self) -> str:
        return "/redfish/v1/SessionService/Sessions"

    def create_session(self, body: dict) -> Response:
        user, pw = body.get("UserName"), body.get("Password")
        if user is None or pw is None:
            raise fail(400, "ActionParameterMissing", "Session create", "UserName/Password")
        if user != self.username or not secrets.compare_digest(str(pw), self.password):
            raise fail(401, "NoValidSession")
        if len(self.sessions) >= self.config.max_sessions:
            # DSP0266: a service may limit sessions; iDRAC9 and iLO both do (tens of sessions at most).
            raise fail(503, "SessionLimitExceeded")
        sid = str(next(self.session_ids))
        token = secrets.token_hex(16)
        self.sessions[sid] = Session(sid, token, user, time.monotonic())
        path = f"{self.sessions_collection()}/{sid}"
        res = self.put(path, {
            "@odata.id": path, "@odata.type": "#Session.v1_3_0.Session", "Id": sid,
            "Name": "User Session", "UserName": user,
        })
        self.add_member(self.sessions_collection(), path)
        return Response(201, res, {"X-Auth-Token": token, "Location": path})

    def _drop_session(self, sid: str) -> None:
        self.sessions.pop(sid, None)
        path = f"{self.sessions_collection()}/{sid}"
        self.remove_member(self.sessions_collection(), path)
        self.delete(path)

    def expire_sessions(self) -> None:
        for sid in list(self.sessions):
            self._drop_session(sid)

    # ------------------------------------------------------------------ tasks
    def start_task(self, name: str, on_complete: Callable[[], list[dict]] | None, *,
                   scheduled: bool = False, job_type: str = "Unknown",
                   target: str | None = None, duration: float = 0.0, fetching: bool = False,
                   payload: dict | None = None, hidden: bool = False) -> Task:
        polls = int(self.next_task.pop("polls", self.config.task_polls))
        fail_message = self.next_task.pop("fail", None)
        if self.profile.dell_jobs:
            tid = f"JID_{int(time.time()) % 1000000:06d}{next(self.task_ids):06d}"
        else:
            tid = str(next(self.task_ids))
        task = Task(tid, name, polls, on_complete, fail_message,
                    state="Scheduled" if scheduled else "Running", job_type=job_type, target=target,
                    polls_total=polls, duration=duration, fetching=fetching, payload=payload, hidden=hidden)
        self.tasks[tid] = task
        if not hidden:
            self.add_member("/redfish/v1/TaskService/Tasks", self.task_path(task))
        if self.profile.dell_jobs:
            self.add_member(f"{self.profile.manager}/Jobs", self.job_path(task))
        if polls <= 0 and not scheduled and not duration and not fetching:
            self.finish_task(task)
        return task

    def advance(self) -> None:
        """Let the BMC's clock run: tasks finish on time whether or not anyone polled them.

        Called (under the lock) before every request is answered, so what a client sees is what a
        BMC working in the background would show; a finish is dated when it happened, not when seen."""
        now = time.monotonic()
        for task in list(self.tasks.values()):
            if task.state != "Running" or task.fetching:
                continue
            limit = task.duration or self.config.task_seconds
            if task.duration:
                task.percent = max(task.percent, min(99, int(100 * (now - task.t0) / task.duration)))
            if limit and now - task.t0 >= limit:
                self.finish_task(task, at=task.t0 + limit)

    def go_down(self, seconds: float, since: float | None = None) -> None:
        """The BMC restarts: nothing answers for `seconds` (from `since`), every session is gone."""
        if seconds > 0:
            self.down_until = max(self.down_until, (since or time.monotonic()) + seconds)
        self.expire_sessions()

    def update_seconds(self) -> float:
        return self.profile.update_seconds if self.config.realistic else self.config.update_seconds

    def bmc_reset_seconds(self) -> float:
        return self.profile.bmc_reset_seconds if self.config.realistic else self.config.bmc_reset_seconds

    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    def task_path(self, task: Task) -> str:
        return f"/redfish/v1/TaskService/Tasks/{task.id}"

    def job_path(self, task: Task) -> str:
        return f"{self.profile.manager}/Jobs/{task.id}"

    def monitor_path(self, task: Task) -> str:
        if self.profile.dell_jobs:
            return self.job_path(task)
        return f"/redfish/v1/TaskService/TaskMonitors/{task.id}"

    def task_response(self, task: Task) -> Response:
        headers = {"Location": self.monitor_path(task)}
        return Response(202, self.render_task(task), headers)

    def poll_task(self, task: Task) -> None:
        """A GET of the task: fast-forwards tasks without a duration of their own (tests' task_polls)."""
        if task.state != "Running" or task.duration or task.fetching:
            return
        task.polls_left -= 1
        done = task.polls_total - task.polls_left
        task.percent = min(99, int(100 * done / max(task.polls_total, 1)))
        if task.polls_left <= 0:
            self.finish_task(task)

    def finish_task(self, task: Task, at: float | None = None) -> None:
        task.end = now_iso() if at is None else iso_at(at)
        self.finishing_at = time.monotonic() if at is None else at
        if task.fail_message:
            task.state = "Exception"
            task.messages.append({"MessageId": "Base.1.12.GeneralError", "Message": task.fail_message,
                                  "Severity": "Critical", "MessageArgs": [task.fail_message]})
            return
        try:
            extra = task.on_complete() if task.on_complete else []
        except RedfishError as exc:
            task.state = "Exception"
            task.messages.extend(exc.messages)
            return
        task.state = task.after or "Completed"
        task.after = None
        task.percent = 100
        task.messages.extend(extra or [])
        if task.state == "Completed":
            task.messages.append(base_message("Success", severity="OK"))

    def busy_job(self, target: str | None = None) -> Task | None:
        for task in self.tasks.values():
            if task.state in ("Running", "Scheduled") and task.job_type != "FirmwareUpdate":
                if target is None or task.target is None or task.target == target:
                    return task
        return None

    def refuse_if_busy(self, target: str | None) -> None:
        """iDRAC refuses a configuration job while one for the same target is queued or running."""
        if self.profile.dell_jobs and self.busy_job(target):
            raise vendor_fail(
                400, "IDRAC.2.8.RAC0679",
                "A job operation is already running. Retry the operation after the existing job is completed.",
                "Wait until the running job is completed or delete the scheduled job and retry the operation")

    def render_task(self, task: Task) -> dict:
        state = {"Scheduled": "Pending"}.get(task.state, task.state)
        return {
            "@odata.id": self.task_path(task), "@odata.type": "#Task.v1_7_0.Task",
            "Id": task.id, "Name": task.name, "TaskState": state,
            "TaskStatus": {"Exception": "Critical"}.get(task.state, "OK"),
            "PercentComplete": task.percent, "StartTime": task.start,
            **({"EndTime": task.end} if task.end else {}),
            "TaskMonitor": self.monitor_path(task), "Messages": task.messages,
            **({"Payload": task.payload} if task.payload else {}),
        }

    def render_job(self, task: Task) -> dict:
        state = {"Exception": "Failed"}.get(task.state, task.state)
        if task.state == "Running" and task.job_type == "FirmwareUpdate" and (task.fetching or task.after == "Scheduled"):
            state = "Downloading"   # an update for the next reboot downloads and verifies, then waits Scheduled
        last = task.messages[-2] if len(task.messages) > 1 and task.state == "Completed" else (
            task.messages[-1] if task.messages else None)
        message = {"Completed": "Job completed successfully.",
                   "Scheduled": "Task successfully scheduled.",
                   "Running": "Job in progress."}.get(task.state, last["Message"] if last else "Job failed.")
        return {
            "@odata.id": self.job_path(task), "@odata.type": "#DellJob.v1_5_0.DellJob",
            "@odata.context": "/redfish/v1/$metadata#DellJob.DellJob",
            "Id": task.id, "Name": task.name, "Description": "Job Instance",
            "JobState": state, "JobType": task.job_type, "PercentComplete": task.percent,
            "Message": message, "MessageArgs": [],
            "MessageId": {"Completed": "PR19", "Scheduled": "JCP001", "Running": "PR20"}.get(state, "SYS051"),
            "StartTime": task.start, "CompletionTime": task.end, "EndTime": "TIME_NA",
            "TargetSettingsURI": None,
        }

    # ------------------------------------------------------------------ power
    def system(self) -> dict:
        return self.get(self.profile.system)  # type: ignore[return-value]

    def reset(self, reset_type: str) -> None:
        from . import vendor_ops
        power = self.system().get("PowerState", "On")
        on = power in ("On", "PoweringOn")
        # iLO refuses a request for the state the server is already in; others accept it as a no-op.
        strict = self.profile.vendor == "hpe"
        if reset_type in ("On", "ForceOn"):
            if not on:
                self._transition("PoweringOn", "On", boot=True)
            elif strict:
                raise vendor_ops.state_error(self, reset_type)
        elif reset_type in ("ForceOff", "GracefulShutdown"):
            if on:
                self._transition("PoweringOff", "Off", graceful=reset_type == "GracefulShutdown")
            elif strict:
                raise vendor_ops.state_error(self, reset_type)
        elif reset_type == "PushPowerButton":
            self._transition(*(("PoweringOff", "Off") if on else ("PoweringOn", "On")), boot=not on)
        elif reset_type in ("ForceRestart", "GracefulRestart", "PowerCycle"):
            if on or reset_type == "PowerCycle":
                self._transition("PoweringOn", "On", boot=True, restart=True)
            else:
                raise vendor_ops.state_error(self, reset_type)
        elif reset_type != "Nmi":
            raise fail(400, "ActionParameterValueNotInList", reset_type, "ResetType", "ComputerSystem.Reset")

    def _transition(self, during: str, final: str, *, boot: bool = False, restart: bool = False,
                    graceful: bool = False) -> None:
        self.system()["PowerState"] = during
        gen = self.generation
        if restart:
            self._run_hook("off")

        def land() -> None:
            with self.lock:
                if gen != self.generation:
                    return
                self.system()["PowerState"] = final
                if boot:
                    self.on_boot()
            # the nodes component shuts a host down cleanly on "shutdown", pulls the plug on "off"
            self._run_hook("on" if final == "On" else ("shutdown" if graceful else "off"))

        timer = threading.Timer(self.config.power_delay, land)
        timer.daemon = True
        timer.start()

    def on_boot(self) -> None:
        """Host POST: pending Settings, staged jobs and firmware take effect; Once override clears."""
        from . import vendor_ops
        self.boot_count += 1
        boot = self.system().setdefault("Boot", {})
        enabled = boot.get("BootSourceOverrideEnabled", "Disabled")
        source = boot.get("BootSourceOverrideTarget", "None") if enabled != "Disabled" else "None"
        self.boot_history.append({"boot": self.boot_count, "source": source,
                                  "mode": boot.get("BootSourceOverrideMode"), "time": now_iso()})
        if enabled == "Once":
            boot["BootSourceOverrideEnabled"] = "Disabled"
            boot["BootSourceOverrideTarget"] = "None"
        vendor_ops.apply_on_boot(self)

    def _run_hook(self, state: str) -> None:
        """Tell the nodes component to start/stop the bound lab host; absent hook = log only."""
        if not self.bound_node:
            return
        hook = self.hook
        if hook is None or not hook.exists():
            self.hook_log.append(f"{now_iso()} {self.bound_node} {state}: no hook")
            return
        if self._hook_queue is None:
            # One worker per BMC keeps off-then-on of a restart in order.
            self._hook_queue = queue.Queue()
            threading.Thread(target=self._hook_worker, args=(hook, self.bound_node), daemon=True).start()
        self._hook_queue.put(state)

    def _hook_worker(self, hook: Path, node: str) -> None:
        while True:
            state = self._hook_queue.get()
            try:
                res = subprocess.run([str(hook), "power", node, state], capture_output=True,
                                     text=True, timeout=300, check=False)
                line = f"{now_iso()} {node} {state}: rc={res.returncode} {res.stderr.strip()[-200:]}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                line = f"{now_iso()} {node} {state}: {exc}"
            with self.lock:
                self.hook_log.append(line)

    # ----------------------------------------------------------- virtual media
    def media_inserted(self, slot: dict, image: str) -> None:
        """InsertMedia accepted: a BMC bound to a machine (lab.metal) fetches and connects the image here."""

    def media_ejected(self, slot: dict) -> None:
        """EjectMedia accepted: a BMC bound to a machine disconnects the image here."""

    # -------------------------------------------------------------- lab state
    def lab_state(self) -> dict:
        from . import vendor_ops
        self.advance()
        return {
            "name": self.name, "vendor": self.profile.vendor, "model": self.profile.model,
            "template": self.profile.key, "serial": self.serial, "port": self.port,
            "bound_node": self.bound_node,
            "power_state": self.system().get("PowerState"),
            "boot_count": self.boot_count, "boot_history": self.boot_history,
            "boot": self.system().get("Boot", {}),
            "sessions": len(self.sessions),
            "pending": dict(self.pending),
            "staged_firmware": self.staged_firmware,
            "tasks": {t.id: {"name": t.name, "state": t.state, "polls_left": t.polls_left, "percent": t.percent}
                      for t in self.tasks.values()},
            "firmware": vendor_ops.firmware_versions(self),
            "faults": self.faults, "hook_log": self.hook_log[-20:],
            "config": vars(self.config),
        }
