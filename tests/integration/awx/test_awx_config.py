"""playbooks/awx_configure.yml checked against what the controller and the awx.awx modules accept (issue 17).

No AWX server runs here. What can be checked for real is checked: every awx.awx task of the configuration
playbook, its arguments templated as Ansible templates them (loops included), against the argument spec the
module in this venv builds (tests/integration/awx/awx_check.py); the surveys, credential types and workflow
nodes, which the modules pass to the controller unchecked, against the controller's own rules; and that each
survey variable is one the stage's playbook or role reads, each injected variable one the collection reads.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import awx_check  # tests/integration/awx is on sys.path (pytest rootdir-less test module)

REPO_ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO_ROOT / "playbooks" / "awx_configure.yml"
VARS = REPO_ROOT / "playbooks" / "vars" / "awx_controller.yml"
# Stage order of the campus workflow (install and network: not built yet, issue 14).
CAMPUS_ORDER = ["playbooks/discover.yml", "playbooks/prepare_hardware.yml", "playbooks/install_os.yml",
                "playbooks/network.yml", "playbooks/cluster.yml", "playbooks/register.yml", "playbooks/segment.yml",
                "playbooks/migrate.yml"]
NOT_STAGES = {"site.yml", "awx_configure.yml"}


def run_check(playbook: Path, tmp_path: Path, extra_vars: dict | None = None) -> dict:
    """awx_check.py on ``playbook``, with the campuses' on-disk inputs (CA files, the SSH key, secrets from
    the environment) replaced by stand-ins in tmp_path: the only values of the data that are not checked."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
    campuses = []
    for campus in awx_check.load_controller_vars()["awx_campuses"]:
        campus = dict(campus)
        for key in [k for k in campus if k.endswith("_file")]:
            campus[key] = str(ca)
        env[campus["bmc_password_env"]] = env[campus["vcenter_password_env"]] = "stand-in"
        env[campus["ssh_key_file_env"]] = str(ca)
        campuses.append(campus)
    extra = {"awx_campuses": campuses}
    extra.update(extra_vars or {})
    proc = subprocess.run([sys.executable, str(Path(awx_check.__file__)), str(playbook), "--extra-vars", json.dumps(extra)],
                          capture_output=True, text=True, env=env, timeout=300, check=False, cwd=str(REPO_ROOT))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict:
    result = run_check(PLAYBOOK, tmp_path_factory.mktemp("awx"))
    assert result["load_error"] is None, result["load_error"]
    return result


def _args(checked: dict, action: str) -> list[dict]:
    return [t["args"] for t in checked["tasks"] if t["action"] == "awx.awx." + action]


def test_every_awx_task_fits_the_module_argument_spec(checked):
    awx_tasks = [t for t in checked["tasks"] if t["action"].startswith("awx.awx.")]
    # Loops expanded: 2 credential types, 3 credentials (one campus), 8 job templates, 2 workflows, ...
    assert len(awx_tasks) >= 17, [(t["action"], t["item"]) for t in awx_tasks]
    bad = [(t["task"], str(t["item"])[:60], t["errors"]) for t in awx_tasks if t["errors"]]
    assert bad == [], bad


def test_one_job_template_per_stage_playbook_with_check_mode_diff_and_prompts(checked):
    templates = _args(checked, "job_template")
    stages = sorted("playbooks/" + p.name for p in (REPO_ROOT / "playbooks").glob("*.yml") if p.name not in NOT_STAGES)
    assert sorted(t["playbook"] for t in templates) == stages
    for jt in templates:
        assert jt["ask_job_type_on_launch"] is True and jt["diff_mode"] is True, jt["name"]
        assert jt["ask_limit_on_launch"] is True and jt["ask_inventory_on_launch"] is True, jt["name"]
        assert (REPO_ROOT / jt["playbook"]).is_file()
        assert jt["credentials"], jt["name"]


def _reads(playbook: str) -> str:
    """The text of a playbook and of every role of the collection it runs: where a variable can be read."""
    text = (REPO_ROOT / playbook).read_text()
    parts = [text]
    for role in sorted(set(re.findall(r"reforge\.hci\.(\w+)", text))):
        role_dir = REPO_ROOT / "roles" / role
        if role_dir.is_dir():
            parts += [p.read_text() for p in sorted(role_dir.rglob("*.yml"))]
    return "\n".join(parts)


def test_surveys_are_valid_and_ask_only_what_the_stage_reads(checked):
    for jt in _args(checked, "job_template"):
        assert awx_check.survey_errors(jt["survey_spec"]) == [], jt["name"]
        assert jt["survey_enabled"] is True
        reads = _reads(jt["playbook"])
        for question in jt["survey_spec"]["spec"]:
            assert re.search(r"\b%s\b" % question["variable"], reads), \
                "%s: survey variable %s is read by neither %s nor its roles" % (jt["name"], question["variable"], jt["playbook"])
    templates = {jt["name"]: jt for jt in _args(checked, "job_template")}
    for wf in _args(checked, "workflow_job_template"):
        assert awx_check.survey_errors(wf["survey_spec"]) == [], wf["name"]
        nodes = wf["workflow_nodes"]
        reads = "\n".join([_reads(templates[n["unified_job_template"]["name"]]["playbook"]) for n in nodes]
                          + [json.dumps(n.get("extra_data", {})) for n in nodes])
        for question in wf["survey_spec"]["spec"]:
            assert re.search(r"\b%s\b" % question["variable"], reads), (wf["name"], question["variable"])


def test_no_secret_in_the_vars_file_the_surveys_or_the_inventory_variables(checked):
    # In the vars file a secret-named key holds the name of an environment variable (*_env), a template
    # (an injector or a lookup of what a credential injects) or a field's "secret: true" - never a value.
    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                where = "%s.%s" % (path, key)
                if re.search("(?i)pass|secret|token|key", str(key)) and not isinstance(value, (dict, list)):
                    assert str(key).endswith("_env") or "{{" in str(value) or value is True, (where, value)
                walk(value, where)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, "%s[%d]" % (path, index))
    walk(awx_check.load_controller_vars())
    for jt in _args(checked, "job_template") + _args(checked, "workflow_job_template"):
        for question in jt["survey_spec"]["spec"]:
            assert question["type"] != "password" and not re.search("(?i)pass|secret|token", question["variable"])
    for inventory in _args(checked, "inventory"):
        for name, value in inventory["variables"].items():
            # only lookups of what a credential injects
            assert "password" not in name or re.fullmatch(r"\{\{ lookup\('ansible.builtin.env', '\w+'\) \}\}", value), (name, value)
    credentials = [t for t in checked["tasks"] if t["action"] == "awx.awx.credential"]
    assert credentials and all(t["args"]["update_secrets"] is False for t in credentials)


def test_credential_types_inject_exactly_what_the_collection_reads(checked):
    reads = awx_check.collection_env_reads()
    types = {t["name"]: t for t in _args(checked, "credential_type")}
    redfish, vcenter = types["Reforge Redfish BMC"], types["Reforge vCenter"]
    # The Redfish credential also serves the inventory source: what it injects must be read by both.
    assert awx_check.credential_type_errors(redfish, reads["redfish modules"] & reads["redfish inventory plugin"]) == []
    assert awx_check.credential_type_errors(vcenter, reads["vsphere modules"]) == []
    assert set(redfish["injectors"]["env"]) == {"REDFISH_USERNAME", "REDFISH_PASSWORD", "REDFISH_CA_PATH"}
    assert set(vcenter["injectors"]["env"]) == {"VMWARE_HOST", "VMWARE_PORT", "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_CA_PATH"}
    # Every variable the inventories read from the environment is one a credential type injects.
    injected = set(redfish["injectors"]["env"]) | set(vcenter["injectors"]["env"])
    for inventory in _args(checked, "inventory"):
        looked_up = set(re.findall(r"lookup\('ansible.builtin.env', '(\w+)'\)", json.dumps(inventory["variables"])))
        assert looked_up and looked_up <= injected, looked_up - injected


def test_inventory_source_runs_the_collection_inventory_plugin(checked):
    sources = _args(checked, "inventory_source")
    assert sources
    for source in sources:
        assert source["source"] == "scm" and source["credential"].endswith(" redfish")
        config = yaml.safe_load((REPO_ROOT / source["source_path"]).read_text())
        assert config["plugin"] == "reforge.hci.redfish"
        assert source["source_path"].endswith(("redfish.yml", "redfish.yaml"))  # the plugin's verify_file


def test_workflows_run_the_stages_in_order(checked):
    node_spec = dict.fromkeys(checked["specs"]["workflow_job_template_node"])
    templates = {jt["name"]: jt["playbook"] for jt in _args(checked, "job_template")}
    workflows = {wf["name"]: wf for wf in _args(checked, "workflow_job_template")}
    for wf in workflows.values():
        assert awx_check.workflow_errors(wf, node_spec, set(templates)) == [], wf["name"]
    campus = [templates[n] for n in awx_check.workflow_order(workflows["reforge campus build"])]
    assert campus == CAMPUS_ORDER
    expand = [templates[n] for n in awx_check.workflow_order(workflows["reforge campus expand"])]
    assert expand == ["playbooks/discover.yml", "playbooks/prepare_hardware.yml", "playbooks/install_os.yml",
                      "playbooks/network.yml", "playbooks/expand.yml"]
    for node in workflows["reforge campus expand"]["workflow_nodes"]:
        assert any("reforge_expand_count" in str(v) for v in node["extra_data"].values()), node
    # A node's extra_data reaches its job only through the job template's survey (none asks for variables).
    surveys = {jt["name"]: {q["variable"] for q in jt["survey_spec"]["spec"]} for jt in _args(checked, "job_template")}
    assert all(jt["ask_variables_on_launch"] is not True for jt in _args(checked, "job_template") if "ask_variables_on_launch" in jt)
    for wf in workflows.values():
        for node in wf["workflow_nodes"]:
            assert set(node["extra_data"]) <= surveys[node["unified_job_template"]["name"]], (wf["name"], node["identifier"])


# ------------------------------------------------------------------ the checks can fail
BAD_PLAYBOOK = """---
- name: A configuration with mistakes the controller would reject
  hosts: localhost
  gather_facts: false
  vars:
    stages: [discover, cluster]
  tasks:
    - name: An option job_template does not have, a wrong choice and a wrong type
      awx.awx.job_template:
        name: "reforge {{ item }}"
        playbook: "playbooks/{{ item }}.yml"
        job_type: dryrun
        ask_limit_on_launch: "{{ 'sometimes' if item == 'cluster' else true }}"
        surveys_enabled: true
      loop: "{{ stages }}"
    - name: A required option missing
      awx.awx.credential:
        name: west redfish
"""


def test_the_argspec_check_finds_bad_tasks(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_PLAYBOOK)
    result = run_check(bad, tmp_path)
    assert result["load_error"] is None, result["load_error"]
    errors = {(t["action"], str(t["item"])): " | ".join(t["errors"]) for t in result["tasks"]}
    discover, cluster = errors[("awx.awx.job_template", "discover")], errors[("awx.awx.job_template", "cluster")]
    assert "surveys_enabled. Supported parameters include" in discover
    assert "value of job_type must be one of: run, check, got: dryrun" in discover
    # the loop item's own value is checked: only the second item has a value that is no boolean
    assert "'sometimes'" not in discover and "'sometimes'" in cluster and "bool" in cluster, cluster
    assert "missing required arguments: credential_type" in errors[("awx.awx.credential", "None")]


def test_the_survey_credential_and_workflow_checks_find_mistakes():
    survey = {"name": "s", "description": "", "spec": [
        {"variable": "wave", "question_name": "Wave", "type": "string", "required": True},
        {"variable": "mode", "question_name": "Mode", "type": "multiplechoice", "required": True,
         "choices": ["a", "b"], "default": "c"},
        {"variable": "count", "question_name": "N", "type": "integer", "required": False, "default": "2"},
        {"variable": "bmc_password", "question_name": "Password", "type": "password", "required": True},
        {"variable": "mode", "question_name": "Again", "type": "text", "required": "yes", "default": "x"},
        {"variable": "ansible_host", "question_name": "Host", "type": "integer", "required": True, "default": 9, "max": 5}]}
    errors = "\n".join(awx_check.survey_errors(survey))
    for expected in ("type 'string'", "'c' is not one of the choices", "'2' is not a integer", "password question",
                     "'mode' asked twice", "required must be", "'ansible_host' is not a variable", "above max 5"):
        assert expected in errors, (expected, errors)
    ctype = {"name": "t", "inputs": {"fields": [{"id": "user", "label": "U"}, {"id": "password", "label": "P"}],
                                     "required": ["user", "token"]},
             "injectors": {"env": {"REDFISH_USERNAME": "{{ username }}", "REDFISH_PASS": "{{ password }}"},
                           "file": {"cert": "{{ user }}"}}}
    errors = "\n".join(awx_check.credential_type_errors(ctype, {"REDFISH_USERNAME", "REDFISH_PASSWORD"}))
    for expected in ("not marked secret", "'token' is not a field", "'username' is undefined",
                     "REDFISH_PASS, which nothing", "'cert' is not template"):
        assert expected in errors, (expected, errors)
    workflow = {"name": "w", "workflow_nodes": [
        {"identifier": "a", "unified_job_template": {"name": "x", "type": "job_template"},
         "related": {"success_nodes": [{"identifier": "b"}]}, "bogus": 1},
        {"identifier": "b", "unified_job_template": {"name": "y", "type": "job_template"},
         "related": {"success_nodes": [{"identifier": "a"}, {"identifier": "z"}]}}]}
    errors = "\n".join(awx_check.workflow_errors(workflow, {"identifier": 1, "unified_job_template": 1, "related": 1}, {"x"}))
    for expected in ("keys no workflow node has: ['bogus']", "'y'", "names {'identifier': 'z'}", "cycle"):
        assert expected in errors, (expected, errors)
