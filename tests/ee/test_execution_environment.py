"""The execution environment (meta/execution-environment.yml) built here and run the way AWX runs it (issue 17).

`scripts/ee/build.sh` builds it with ansible-builder and podman on a base image made from Debian 13 packages
(`scripts/ee/base.sh`; no registry is reachable), once per key of its inputs. `scripts/ee/run.sh` then runs
playbooks/discover.yml in it with ansible-runner in container mode against the lab's simulated BMCs: on the host
network, with the lab CA mounted read-only, the role from the collection installed in the image.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lab.runner_job import BMCLog, write_methods

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
EE_COLLECTIONS = "/usr/share/ansible/collections/ansible_collections/reforge/hci/"


def _build(**env) -> tuple[str, str]:
    """scripts/ee/build.sh: the image's name and the script's log."""
    proc = subprocess.run([str(REPO_ROOT / "scripts" / "ee" / "build.sh")], capture_output=True, text=True,
                          timeout=3600, check=False, env=dict(os.environ, **env))
    assert proc.returncode == 0, proc.stderr[-6000:]
    return proc.stdout.strip().splitlines()[-1], proc.stderr


@pytest.fixture(scope="module")
def ee_image() -> str:
    image, log = _build()
    assert image.startswith("localhost/reforge-ee:"), log
    return image


def test_a_second_build_with_the_same_inputs_is_skipped(ee_image):
    # The same collection tarball (the clone's files may change under a running test: other work in progress).
    key = ee_image.rsplit(":", 1)[1]
    tarball = REPO_ROOT / "build" / "ee" / ("collection-%s.tar.gz" % key)
    image, log = _build(REFORGE_EE_COLLECTION=str(tarball))
    assert image == ee_image
    assert "reused %s" % image in log
    assert "building" not in log, "neither the base image nor the EE may be rebuilt:\n" + log


def test_discover_runs_in_the_ee_against_every_bmc(ee_image, lab, tmp_path):
    redfish = lab.get("redfish")
    ca = lab.get("pki")["ca"]
    bmcs = [BMCLog(d, ca) for d in redfish["bmcs"]]
    cursors = {b.name: b.log_since(0)["cursor"] for b in bmcs}

    # A private data dir as AWX prepares one: the project's playbook, the inventory, the job's
    # environment (the lab's knobs) and extra vars. The role itself comes from the image.
    pdd = tmp_path / "job"
    (pdd / "project").mkdir(parents=True)
    (pdd / "env").mkdir()
    shutil.copy(REPO_ROOT / "playbooks" / "discover.yml", pdd / "project")
    shutil.copytree(REPO_ROOT / "inventories" / "lab", pdd / "inventory")
    lab_dir = str(Path(ca).parent.parent)
    envvars = {"REFORGE_LAB_DIR": lab_dir,
               "REFORGE_LAB_BMC_BASE_PORT": str(redfish["bmcs"][0]["port"])}
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (pdd / "env" / "extravars").write_text(yaml.safe_dump({"reuse_report_dir": "/runner/artifacts/reports"}))

    proc = subprocess.run([str(REPO_ROOT / "scripts" / "ee" / "run.sh"), ee_image, str(pdd), "-p", "discover.yml",
                           "--ident", "discover", "--container-volume-mount", "%s:%s:ro" % (ca, ca)],
                          capture_output=True, text=True, timeout=1200, check=False)
    artifacts = pdd / "artifacts" / "discover"
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert (artifacts / "status").read_text() == "successful"
    assert "podman" in json.loads((artifacts / "command").read_text())["command"][0]

    # The play ran the collection installed in the image, not a copy from this clone.
    events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
    paths = {e["event_data"]["task_path"] for e in events if e.get("event_data", {}).get("task_path")}
    assert paths and all(p.startswith(EE_COLLECTIONS + "roles/reuse_report/") for p in paths
                         if "reuse_report" in p), paths
    assert any(p.startswith(EE_COLLECTIONS) for p in paths), paths

    report = json.loads((pdd / "artifacts" / "reports" / "campus-reuse.json").read_text())
    assert report["summary"]["total"] == len(bmcs) and report["summary"]["unreachable"] == 0, report["summary"]
    assert set(report["servers"]) == {b.name for b in bmcs}
    assert (pdd / "artifacts" / "reports" / "campus-reuse.html").stat().st_size > 0

    # Every BMC was read (its system resource among the requests) and none was written to.
    for bmc in bmcs:
        entries = bmc.log_since(cursors[bmc.name])["entries"]
        assert any(e["method"] == "GET" and e["path"].startswith(bmc.system) for e in entries), (bmc.name, entries)
        writes = write_methods(entries)
        assert writes == [], (bmc.name, writes)
