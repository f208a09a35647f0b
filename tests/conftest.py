"""Session-wide fixtures: the lab is brought up once and shared by every test.

Each lab component (tests/lab/<name>/ctl.sh) is started on first use and
described by $REFORGE_LAB_DIR/<name>.json. A component that was already up
before the session (e.g. left running by `make demo`) is left running.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LAB_DIR = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
COLLECTIONS_DIR = REPO_ROOT / "build" / "collections"

# Plugins are imported as ansible_collections.reforge.hci.* like Ansible does.
if str(COLLECTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_DIR))
# Lab code (simulators, helpers) is importable as `lab.*`.
if str(REPO_ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "tests"))


def _ctl(component: str, verb: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(REPO_ROOT / "tests" / "lab" / component / "ctl.sh"), verb],
        capture_output=True, text=True, timeout=1800, check=False,
    )


# ---------------------------------------------------------------- lanes and time
# `make test` runs two lanes at once (scripts/test.sh): "nodes" (the lab hosts: cluster
# build-out and its variants, the nodes' own tests, the Molecule node scenarios) and "sims"
# (unit, sanity and lint, the Redfish and vCenter simulators, migration, the EE, and the
# benchmarks, which report ratios against a baseline of the same run and so bear the load;
# the nodes lane is the critical path), each with its own lab dir and ports.
NODES_LANE = ("tests/integration/cluster/", "tests/lab/nodes/", "tests/molecule/test_molecule.py::test_node_scenario")
# Tests under those paths that bring up a lab of their own (own lab dir, private network
# namespace) and so can run beside the shared nodes lab: in the sims lane, whose CPU the
# nodes lane's waits leave free.
OWN_LAB = ("tests/lab/nodes/test_nodes.py::test_up_down_cycle_in_a_private_network_namespace",)
AREAS = (("tests/unit/", "unit"), ("tests/test_collection_quality.py", "sanity and lint"),
         ("tests/lab/redfish/", "Redfish"), ("tests/integration/redfish/", "Redfish"),
         ("tests/lab/vcsim/", "migration"), ("tests/integration/migration/", "migration"),
         ("tests/integration/cluster/", "cluster"), ("tests/lab/nodes/", "cluster"),
         ("tests/molecule/", "Molecule"), ("tests/perf/", "perf"), ("tests/ee/", "EE"), ("tests/integration/awx/", "EE"))


def lane_of(nodeid: str) -> str:
    return "nodes" if nodeid.startswith(NODES_LANE) and not nodeid.startswith(OWN_LAB) else "sims"


def area_of(nodeid: str) -> str:
    return next((area for prefix, area in AREAS if nodeid.startswith(prefix)), "other")


def pytest_collection_modifyitems(config, items):
    _check_refusal_marks(items)
    lane = os.environ.get("REFORGE_TEST_LANE")
    if not lane:
        return
    keep = [item for item in items if lane_of(item.nodeid) == lane]
    dropped = [item for item in items if lane_of(item.nodeid) != lane]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


_TIMES: dict[str, dict] = {}
_LAB_UP: list[float] = []   # seconds spent starting lab components, not yet charged


def pytest_runtest_logreport(report):
    entry = _TIMES.setdefault(report.nodeid, {"area": area_of(report.nodeid),
                                              "lane": os.environ.get("REFORGE_TEST_LANE") or "all",
                                              "seconds": 0.0, "outcome": "passed"})
    seconds = report.duration
    if report.when == "setup" and _LAB_UP:
        # A lab component started in this test's setup counts as "lab up", not as the test.
        seconds = max(0.0, seconds - sum(_LAB_UP))
        _LAB_UP.clear()
    entry["seconds"] += seconds
    if report.failed:
        entry["outcome"] = "failed"
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session):
    out = os.environ.get("REFORGE_TIMINGS_DIR")
    if not out or not _TIMES:
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    name = os.environ.get("REFORGE_TEST_LANE") or "pytest"
    Path(out, f"tests-{name}.json").write_text(json.dumps(_TIMES, indent=0))


def _record_lab_up(component: str, seconds: float) -> None:
    _LAB_UP.append(seconds)
    out = os.environ.get("REFORGE_TIMINGS_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        with open(Path(out, "lab-up.jsonl"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"lane": os.environ.get("REFORGE_TEST_LANE") or "pytest", "component": component,
                                 "seconds": round(seconds, 1)}) + "\n")


class _Lab:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.info: dict[str, dict] = {}

    def get(self, component: str) -> dict:
        if component not in self.info:
            if component != "pki":
                self.get("pki")
            was_up = _ctl(component, "status").returncode == 0
            start = time.monotonic()
            res = _ctl(component, "up")
            if not was_up:
                _record_lab_up(component, time.monotonic() - start)
            if res.returncode != 0:
                pytest.fail(f"lab component {component} failed to start:\n{res.stdout}\n{res.stderr}")
            if not was_up:
                self.started.append(component)
            self.info[component] = json.loads((LAB_DIR / f"{component}.json").read_text())
        return self.info[component]

    def stop_started(self) -> None:
        if os.environ.get("REFORGE_LAB_KEEP"):
            return
        for component in reversed(self.started):
            _ctl(component, "down")


@pytest.fixture(scope="session")
def lab():
    """Access to lab components: ``lab.get("redfish")`` returns its endpoint description."""
    handle = _Lab()
    yield handle
    handle.stop_started()


@pytest.fixture(scope="session")
def lab_ca(lab) -> str:
    return lab.get("pki")["ca"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def redfish_mockups() -> Path:
    """Vendor Redfish mockups kept in the repository (tests/lab/redfish/mockups/README.md)."""
    return REPO_ROOT / "tests" / "lab" / "redfish" / "mockups"


# ---------------------------------------------------------------- refusals (docs/refusals.md)
# A test that proves a refusal made before any change carries
#   @pytest.mark.refusal(area=..., field=..., message=..., fix=...)
# and hands the text the user saw to the fixture ``proves_refusal``. The marker's message must
# appear in that text (whitespace aside), so the table that scripts/refusals_page.py builds from
# the markers shows what users really get; a marked test that never checks its text fails.
def _squash(text: str) -> str:
    return " ".join(str(text).split())


@pytest.fixture
def proves_refusal(request):
    marks = list(request.node.iter_markers("refusal"))
    assert marks, "proves_refusal needs @pytest.mark.refusal(area=, field=, message=, fix=)"
    seen: list[str] = []

    def check(text: str) -> None:
        wanted = _squash(marks[0].kwargs["message"])
        assert wanted in _squash(text), f"refusal message changed: {wanted!r} not in {_squash(text)!r}"
        seen.append(text)

    yield check
    call = getattr(request.node, "_refusal_call_report", None)
    if call is not None and call.passed:  # a failed test already says why
        assert seen, "a test marked refusal must check the message it proves with proves_refusal(text)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "call" and item.get_closest_marker("refusal") is not None:
        item._refusal_call_report = outcome.get_result()  # pylint: disable=protected-access


def _check_refusal_marks(items) -> None:
    found: list[dict] = []
    for item in items:
        mark = item.get_closest_marker("refusal")
        if mark is None:
            continue
        missing = {"area", "field", "message", "fix"} - set(mark.kwargs)
        if missing:
            raise pytest.UsageError(f"{item.nodeid}: refusal marker without {sorted(missing)}")
        if "proves_refusal" not in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid}: a test marked refusal must use the proves_refusal fixture")
        found.append(dict(mark.kwargs, test=item.nodeid.split("[")[0]))
    out = os.environ.get("REFORGE_REFUSALS_OUT")  # scripts/refusals_page.py collects the table this way
    if out:
        Path(out).write_text(json.dumps(found, indent=1))
