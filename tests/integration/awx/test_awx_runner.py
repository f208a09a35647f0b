"""The job templates' playbooks run the way the controller runs them, through ansible-runner (issue 17).

No AWX server runs here. What the controller would do for a job is done with the pieces it uses:
- the credential types of playbooks/vars/awx_controller.yml rendered from credential inputs as the
  controller renders them (tests/lab/runner_job.py: ``render_injectors``), into the job's environment;
- the inventory source synced as the controller syncs an scm source: ``ansible-inventory --list`` on the
  project's file with the Redfish credential's environment, through ansible-runner; the job's inventory is
  what that sync found plus the inventory's variables, handed over as the controller does (a script);
- ``ansible_runner.run`` on the project's playbook with the survey's answers as extra vars.

Against a lab of this test's own (pki, redfish, vcsim on free ports, in a directory of its own) whose BMC and
vCenter accounts are sentinel secrets (tests/lab/secrets_scan.py), so that the secrets scan looks for strings
nothing else writes. The well-known lab passwords are refused by these BMCs: a job that got in used the
injected credential.
"""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.runner_job import BMCLog, private_data_dir, render_injectors, write_methods
from lab.secrets_scan import scan, sentinel
import awx_check  # tests/integration/awx is on sys.path (rootdir-less test modules)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[3]
COLLECTIONS = REPO_ROOT / "build" / "collections"
CONTROLLER = awx_check.load_controller_vars()
LAB_BMCS = 6


def _free_run(count: int) -> int:
    """The first of ``count`` consecutive free TCP ports on 127.0.0.1."""
    rng = random.Random()
    for _attempt in range(200):
        base = rng.randrange(30000, 60000 - count)
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                socks.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no %d free consecutive ports" % count)


def _ctl(component: str, verb: str, env: dict) -> None:
    proc = subprocess.run([str(REPO_ROOT / "tests" / "lab" / component / "ctl.sh"), verb], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, "%s %s: %s %s" % (component, verb, proc.stdout[-2000:], proc.stderr[-2000:])


@pytest.fixture(scope="module", autouse=True)
def _venv_on_path():
    """ansible-runner finds ansible-playbook and ansible-inventory on PATH: this venv's, as an EE has its own."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + old
    yield
    os.environ["PATH"] = old


@pytest.fixture(scope="module")
def awx_lab(tmp_path_factory):
    """pki, redfish and vcsim in a lab directory of their own, on free ports, with sentinel accounts."""
    lab_dir = tmp_path_factory.mktemp("awx-lab")
    secrets = {"bmc": sentinel("bmc"), "vcenter": sentinel("vcenter")}
    users = {"bmc": "awx-ops-%s" % sentinel("u")[-6:], "vcenter": "svc-%s" % sentinel("u")[-6:]}
    env = dict(os.environ, REFORGE_LAB_DIR=str(lab_dir), REFORGE_LAB_BMCS=str(LAB_BMCS),
               REFORGE_LAB_BMC_BASE_PORT=str(_free_run(LAB_BMCS)), REFORGE_LAB_SUSHY_PORT=str(_free_run(1)),
               VCSIM_PORT=str(_free_run(1)), VCSIM_ESXI_PORT="0",
               REDFISH_USERNAME=users["bmc"], REDFISH_PASSWORD=secrets["bmc"],
               VMWARE_USER=users["vcenter"], VMWARE_PASSWORD=secrets["vcenter"])
    started = []
    try:
        for component in ("pki", "redfish", "vcsim"):
            _ctl(component, "up", env)
            started.append(component)
        desc = {c: json.loads((lab_dir / ("%s.json" % c)).read_text()) for c in ("pki", "redfish", "vcsim")}
        yield {"dir": lab_dir, "desc": desc, "secrets": secrets, "users": users, "env": env}
    finally:
        for component in reversed(started):
            _ctl(component, "down", env)


def _credential_type(name: str) -> dict:
    return next(t for t in CONTROLLER["awx_credential_types"] if t["name"] == name)


def _job_template(playbook: str) -> dict:
    return next(t for t in CONTROLLER["awx_job_templates"] if t["playbook"] == playbook)


def _survey_answers(template: dict, answers: dict) -> dict:
    """Extra vars as the controller builds them from a survey: the answers, defaults for the rest."""
    out = {}
    for question in template["survey"]:
        if question["variable"] in answers:
            out[question["variable"]] = answers[question["variable"]]
        elif "default" in question:
            out[question["variable"]] = question["default"]
        else:
            assert not question["required"], "no answer for the required %s" % question["variable"]
    return out


def _base_env() -> dict:
    """What the execution environment itself provides (here: the clone's collection and this venv)."""
    return {"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def _sync_inventory_source(awx_lab, root: Path) -> dict:
    """The campus inventory source synced as the controller syncs an scm source: ansible-inventory on the
    project's file, with the Redfish credential injected; the inventory's variables added."""
    import ansible_runner

    bmcs = awx_lab["desc"]["redfish"]["bmcs"]
    source = {"plugin": "reforge.hci.redfish", "endpoints": [b["endpoint"] for b in bmcs],
              # the lab's "expansion nodes": the last three BMCs
              "groups": {"servers": "true",
                         "hci_nodes": "bmc_endpoint in %s" % [b["endpoint"] for b in bmcs[:3]],
                         "hci_expansion": "bmc_endpoint in %s" % [b["endpoint"] for b in bmcs[3:]]}}
    pdd = root / "inventory-update"
    (pdd / "project" / "inventories" / "lab-awx").mkdir(parents=True)
    path = pdd / "project" / "inventories" / "lab-awx" / "lab.redfish.yml"
    path.write_text(yaml.safe_dump(source))
    env = dict(_base_env(), **render_injectors(_credential_type("Reforge Redfish BMC"), {
        "username": awx_lab["users"]["bmc"], "password": awx_lab["secrets"]["bmc"],
        "ca_cert": Path(awx_lab["desc"]["pki"]["ca"]).read_text()}, pdd))
    out, err = ansible_runner.get_inventory("list", [str(path)], response_format="json", envvars=env,
                                            private_data_dir=str(pdd), quiet=True, export=True)
    assert isinstance(out, dict), err
    out.setdefault("all", {})["vars"] = dict(CONTROLLER["awx_inventory_variables"])
    return out


@pytest.fixture(scope="module")
def job_inventory(awx_lab, tmp_path_factory) -> dict:
    return _sync_inventory_source(awx_lab, tmp_path_factory.mktemp("awx-inventory"))


def _run_job(awx_lab, root: Path, playbook: str, inventory: dict, extravars: dict, credentials: dict,
             job_type: str = "run"):
    """One job: the project in the private data dir, the credentials' environment, the survey's extra vars."""
    import ansible_runner

    # The project as the controller checks it out: its playbooks and its ansible.cfg at the root.
    pdd = private_data_dir(root, [(REPO_ROOT / "playbooks", "playbooks"), (REPO_ROOT / "ansible.cfg", "ansible.cfg")],
                           inventory)
    env = _base_env()
    for type_name, inputs in credentials.items():
        env.update(render_injectors(_credential_type(type_name), inputs, pdd))
    cmdline = "--diff" + (" --check" if job_type == "check" else "")
    result = ansible_runner.run(private_data_dir=str(pdd), project_dir=str(pdd / "project"), playbook=playbook,
                                inventory=str(pdd / "inventory" / "hosts"), extravars=extravars, envvars=env,
                                cmdline=cmdline, ident="job", quiet=True, suppress_env_files=True)
    return pdd, result


def _redfish_inputs(awx_lab) -> dict:
    return {"username": awx_lab["users"]["bmc"], "password": awx_lab["secrets"]["bmc"],
            "ca_cert": Path(awx_lab["desc"]["pki"]["ca"]).read_text()}


def _stdout(pdd: Path) -> str:
    return (pdd / "artifacts" / "job" / "stdout").read_text()


def test_the_inventory_source_finds_every_bmc_with_the_injected_credential(awx_lab, job_inventory):
    hosts = job_inventory["servers"]["hosts"]
    assert len(hosts) == LAB_BMCS, job_inventory
    assert len(job_inventory["hci_expansion"]["hosts"]) == 3
    endpoints = {job_inventory["_meta"]["hostvars"][h]["bmc_endpoint"] for h in hosts}
    assert endpoints == {b["endpoint"] for b in awx_lab["desc"]["redfish"]["bmcs"]}


def test_discover_job_runs_with_the_survey_and_the_injected_credential(awx_lab, job_inventory, tmp_path):
    ca = awx_lab["desc"]["pki"]["ca"]
    bmcs = [BMCLog(d, ca) for d in awx_lab["desc"]["redfish"]["bmcs"]]
    # The BMCs take the sentinel account only: the lab's well-known one is refused.
    refused = bmcs[0].http.post(bmcs[0].endpoint + "/redfish/v1/SessionService/Sessions",
                                json={"UserName": "root", "Password": "calvin"}, timeout=30)
    assert refused.status_code == 401
    cursors = {b.name: b.cursor() for b in bmcs}

    template = _job_template("playbooks/discover.yml")
    extravars = _survey_answers(template, {"reuse_report_campus": "awx-lab"})
    pdd, result = _run_job(awx_lab, tmp_path / "discover", "playbooks/discover.yml", job_inventory, extravars,
                           {"Reforge Redfish BMC": _redfish_inputs(awx_lab)})
    assert (result.status, result.rc) == ("successful", 0), _stdout(pdd)[-5000:]

    report = json.loads((pdd / "project" / "reports" / "awx-lab-reuse.json").read_text())
    assert report["summary"]["total"] == LAB_BMCS and report["summary"]["unreachable"] == 0, report["summary"]
    for bmc in bmcs:
        entries = bmc.log_since(cursors[bmc.name])["entries"]
        logins = [e for e in entries if e["method"] == "POST" and e["path"].endswith("/SessionService/Sessions")]
        # Logged in with the injected account (the only one these BMCs take), then read in that session.
        assert [e["status"] for e in logins] == [201], (bmc.name, logins)
        assert any(e["method"] == "GET" and e["path"].startswith(bmc.system) and e["auth"] == "session"
                   and e["status"] == 200 for e in entries), bmc.name
        assert write_methods(entries) == [], bmc.name

    _assert_no_secret(awx_lab, pdd, extra_roots=[pdd / "project" / "reports"])


def test_expand_workflow_discovers_the_first_n_expansion_nodes(awx_lab, job_inventory, tmp_path):
    """The expand workflow's discover node: the workflow's survey answer (N) and the node's extra_data."""
    workflow = next(w for w in CONTROLLER["awx_workflows"] if w["name"] == "reforge campus expand")
    node = next(n for n in workflow["nodes"] if n["identifier"] == "discover")
    template = _job_template("playbooks/discover.yml")
    extravars = _survey_answers(template, dict(node["extra_data"], reuse_report_campus="awx-expand"))
    extravars["reforge_expand_count"] = 2   # the workflow's survey: workflow extra vars reach every node
    ca = awx_lab["desc"]["pki"]["ca"]
    bmcs = [BMCLog(d, ca) for d in awx_lab["desc"]["redfish"]["bmcs"]]
    cursors = {b.name: b.cursor() for b in bmcs}
    pdd, result = _run_job(awx_lab, tmp_path / "expand-discover", "playbooks/discover.yml", job_inventory,
                           extravars, {"Reforge Redfish BMC": _redfish_inputs(awx_lab)})
    assert (result.status, result.rc) == ("successful", 0), _stdout(pdd)[-5000:]
    report = json.loads((pdd / "project" / "reports" / "awx-expand-reuse.json").read_text())
    expansion = job_inventory["hci_expansion"]["hosts"]
    assert sorted(report["servers"]) == sorted(expansion[:2]), (report["servers"], expansion)
    read = {b.endpoint for b in bmcs if any(e["method"] == "GET" for e in b.log_since(cursors[b.name])["entries"])}
    assert read == {job_inventory["_meta"]["hostvars"][h]["bmc_endpoint"] for h in expansion[:2]}
    _assert_no_secret(awx_lab, pdd, extra_roots=[])


def _assert_no_secret(awx_lab, pdd: Path, extra_roots: list[Path]) -> None:
    """The job's saved output (job events, stdout), the whole private data dir and the reports: no form of
    any lab secret. The one file that holds them is ansible-runner's own record of the command it ran
    (artifacts/<ident>/command, the whole environment - the controller deletes the private data dir after a
    job); it is asserted to be the only one, which also shows the scan finds what is there."""
    users = list(awx_lab["users"].values())
    artifacts = pdd / "artifacts" / "job"
    assert list((artifacts / "job_events").glob("*.json")) and (artifacts / "stdout").stat().st_size > 0
    found = scan([pdd] + extra_roots, awx_lab["secrets"], users)
    assert found["files"] > 10, found
    where = sorted({h["path"] for h in found["hits"]})
    assert where == [str(artifacts / "command")], found["hits"]
    job_output = scan([artifacts / "job_events", artifacts / "stdout"], awx_lab["secrets"], users)
    assert job_output["hits"] == [], job_output["hits"]


def test_migrate_job_in_check_mode_with_the_vcenter_credential(awx_lab, job_inventory, tmp_path):
    """The migrate template launched in check mode (its job type prompt): the wave's preflight and plan read
    the lab vCenter with the injected vCenter credential; nothing is copied, nothing is cut over."""
    vcsim = awx_lab["desc"]["vcsim"]
    work = tmp_path / "wave"
    inventory = json.loads(json.dumps(job_inventory))
    # The campus's wave, as its inventory holds it (not a survey answer): a small wave, copies on the controller.
    inventory["all"]["vars"].update({
        "migration_wave_vms": [{"name": "db01", "tier": "tier1", "mode": "warm"},
                               {"name": "batch01", "tier": "tier3", "mode": "batch"}],
        "migration_wave_sync_host": "localhost", "migration_wave_target_format": "qcow2",
        "migration_wave_cutover_method": "qemu", "migration_wave_ha": False,
        "migration_wave_target_dir": str(work / "disks"), "migration_wave_journal_dir": str(work / "journal"),
        "migration_wave_report_dir": str(work / "reports"), "migration_wave_domain_dir": str(work / "domains"),
        "migration_wave_network_map": {"VM Network": {"bridge": "br-vm"}, "prod-db": {"bridge": "br-vm"}}})
    template = _job_template("playbooks/migrate.yml")
    extravars = _survey_answers(template, {"migration_wave_name": "awx-wave"})
    vcenter = {"host": "127.0.0.1", "port": str(vcsim["port"]), "username": awx_lab["users"]["vcenter"],
               "password": awx_lab["secrets"]["vcenter"], "ca_cert": Path(awx_lab["desc"]["pki"]["ca"]).read_text()}
    disks_before = _vcsim_disks(awx_lab)
    pdd, result = _run_job(awx_lab, tmp_path / "migrate", "playbooks/migrate.yml", inventory, extravars,
                           {"Reforge vCenter": vcenter}, job_type="check")
    assert (result.status, result.rc) == ("successful", 0), _stdout(pdd)[-6000:]
    # The preflight read both VMs from vCenter, logged in with the injected account (the only one it takes).
    preflight = [e["event_data"]["res"] for e in result.events
                 if e["event"] == "runner_on_ok" and e["event_data"].get("task") == "Preflight every VM of the wave"]
    assert len(preflight) == 1, [e["event"] for e in result.events]
    invocation = preflight[0]["invocation"]["module_args"]
    assert invocation["username"] == awx_lab["users"]["vcenter"] and invocation["port"] == vcsim["port"]
    assert invocation["ca_path"].startswith(str(pdd / "env") + "/")   # the file the injector wrote
    assert sorted(r["vm"] for r in preflight[0]["results"]) == ["batch01", "db01"], preflight[0]
    assert all(r["ok"] for r in preflight[0]["results"]), preflight[0]["results"]
    # A dry run: no snapshot, no CBT switched on, no disk of vCenter changed; nothing on this side either.
    assert _vcsim_disks(awx_lab) == disks_before
    assert not work.exists(), sorted(str(p) for p in work.rglob("*"))
    _assert_no_secret(awx_lab, pdd, extra_roots=[])


def _vcsim_disks(awx_lab) -> list:
    """Every disk of the lab vCenter as its lab API describes it (levels, snapshots, CBT, sequence)."""
    import requests
    vcsim = awx_lab["desc"]["vcsim"]
    session = requests.Session()
    session.trust_env = False
    resp = session.get(vcsim["lab_api"] + "/disks", verify=vcsim["ca"], timeout=30)
    resp.raise_for_status()
    return resp.json()
