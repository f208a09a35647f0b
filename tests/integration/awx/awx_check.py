"""Check a controller-configuration playbook against the REAL argument specs of the awx.awx modules.

Run as a script (``python awx_check.py <playbook> [--extra-vars JSON]``) in a process of its own: it installs
Ansible's collection loader, loads the playbook the way ``ansible-playbook`` does, templates every task's
arguments with the play's variables (once per loop item, with the task's loop_var) and validates each awx.awx
task with ``ArgumentSpecValidator`` against the argument spec the module itself builds (captured by patching
``ControllerAPIModule.__init__``, so what is checked is what the module in this venv would accept, plus the
controller connection options every module shares). Prints one JSON document:
``{"tasks": [{"task", "action", "item", "args", "errors"}], "load_error": str|null}``.

The survey, credential-type and workflow checks, which the awx.awx modules leave to the controller, are plain
functions here (imported by the tests): ``survey_errors``, ``credential_type_errors``, ``workflow_errors``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import keyword
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

CONTROLLER_VARS = REPO_ROOT / "playbooks" / "vars" / "awx_controller.yml"


def load_controller_vars(path: Path = CONTROLLER_VARS) -> dict:
    """playbooks/vars/awx_controller.yml as plain data (Ansible's !unsafe: the string it marks)."""
    import yaml

    class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        pass

    _Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


# ------------------------------------------------------------------ AWX's survey rules
# As the controller validates a survey spec (awx/api/views: JobTemplateSurveySpec / _validate_spec_data):
# every question has a type it knows, a question name, a variable and "required"; variables are unique; a
# default fits its type, its choices and its bounds.
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "integer": int, "float": (int, float),
                "multiplechoice": str, "multiselect": str}
VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Variables Ansible or the controller set themselves: a survey must not shadow them.
RESERVED_VARS = {"hostvars", "groups", "group_names", "inventory_hostname", "playbook_dir", "environment",
                 "vars", "omit", "play_hosts", "ansible_play_batch", "role_name"}


def _choices(item):
    choices = item.get("choices")
    if isinstance(choices, str):
        return [c for c in choices.split("\n") if c]
    return list(choices or [])


def survey_errors(spec) -> list[str]:
    """What the controller would refuse in ``spec`` (a survey_spec), plus our own rule: no password questions
    (secrets come from credentials, never from a survey)."""
    errors: list[str] = []
    if not isinstance(spec, dict):
        return ["survey_spec is not a dict"]
    for key in ("name", "description", "spec"):
        if key not in spec:
            errors.append("survey_spec has no %r" % key)
    items = spec.get("spec")
    if not isinstance(items, list) or not items:
        return errors + ["survey_spec.spec must be a non-empty list"]
    seen = set()
    for index, item in enumerate(items):
        where = "question %d (%s)" % (index, item.get("variable") if isinstance(item, dict) else item)
        if not isinstance(item, dict):
            errors.append("%s is not a dict" % where)
            continue
        for key in ("type", "question_name", "variable", "required"):
            if key not in item:
                errors.append("%s has no %r" % (where, key))
        qtype, variable = item.get("type"), item.get("variable")
        if qtype not in SURVEY_TYPES:
            errors.append("%s: type %r is not one of %s" % (where, qtype, sorted(SURVEY_TYPES)))
            continue
        if qtype == "password":
            errors.append("%s: a password question; secrets come from the controller's credentials" % where)
        if not isinstance(variable, str) or not VARIABLE_RE.match(variable) or keyword.iskeyword(variable) \
                or variable in RESERVED_VARS or variable.startswith("ansible_"):
            errors.append("%s: %r is not a variable name a survey may set" % (where, variable))
        if variable in seen:
            errors.append("%s: variable %r asked twice" % (where, variable))
        seen.add(variable)
        if not isinstance(item.get("required"), bool):
            errors.append("%s: required must be true or false" % where)
        for bound in ("min", "max"):
            if bound in item and (not isinstance(item[bound], int) or isinstance(item[bound], bool)):
                errors.append("%s: %s must be an integer" % (where, bound))
        if qtype in ("multiplechoice", "multiselect"):
            choices = _choices(item)
            if not choices:
                errors.append("%s: %s without choices" % (where, qtype))
            if any(not isinstance(c, str) for c in choices):
                errors.append("%s: choices must be strings" % where)
        if "default" not in item or item["default"] in ("", None):
            if item.get("required") is False and qtype != "password":
                errors.append("%s: an optional question needs a default (the playbook would get an empty value)" % where)
            continue
        default = item["default"]
        if not isinstance(default, SURVEY_TYPES[qtype]) or isinstance(default, bool):
            errors.append("%s: default %r is not a %s" % (where, default, qtype))
            continue
        if qtype == "multiplechoice" and default not in _choices(item):
            errors.append("%s: default %r is not one of the choices %s" % (where, default, _choices(item)))
        if qtype == "multiselect" and not set(default.split("\n")) <= set(_choices(item)):
            errors.append("%s: default %r is not among the choices %s" % (where, default, _choices(item)))
        measure = len(default) if qtype in ("text", "textarea") else default if qtype in ("integer", "float") else None
        if measure is not None:
            if isinstance(item.get("min"), int) and measure < item["min"]:
                errors.append("%s: default %r is below min %s" % (where, default, item["min"]))
            if isinstance(item.get("max"), int) and measure > item["max"]:
                errors.append("%s: default %r is above max %s" % (where, default, item["max"]))
    return errors


# ------------------------------------------------------------------ credential types
INPUT_FIELD_KEYS = {"id", "label", "type", "secret", "multiline", "help_text", "choices", "default", "format",
                    "ask_at_runtime"}


def credential_type_errors(ctype: dict, reads: set[str]) -> list[str]:
    """A custom credential type as the controller validates it (inputs and injectors), and every environment
    variable it injects is one of ``reads`` (the variables the collection reads)."""
    import jinja2
    from jinja2 import sandbox

    errors: list[str] = []
    name = ctype.get("name")
    fields = (ctype.get("inputs") or {}).get("fields") or []
    ids = [f.get("id") for f in fields]
    if len(set(ids)) != len(ids):
        errors.append("%s: input ids repeat: %s" % (name, ids))
    for field in fields:
        unknown = set(field) - INPUT_FIELD_KEYS
        if unknown or not field.get("id") or not field.get("label") or field.get("type", "string") not in ("string", "boolean"):
            errors.append("%s: input field %r is not one the controller accepts (unknown keys %s)" % (name, field, sorted(unknown)))
        if re.search(r"pass|secret|token|key_data", str(field.get("id"))) and not field.get("secret"):
            errors.append("%s: input %r holds a secret but is not marked secret" % (name, field.get("id")))
    for req in (ctype.get("inputs") or {}).get("required") or []:
        if req not in ids:
            errors.append("%s: required input %r is not a field" % (name, req))
    injectors = ctype.get("injectors") or {}
    if set(injectors) - {"file", "env", "extra_vars"}:
        errors.append("%s: injectors %s are not file/env/extra_vars" % (name, sorted(set(injectors) - {"file", "env", "extra_vars"})))
    files = injectors.get("file") or {}
    for label in files:
        if not re.match(r"^template(\.[A-Za-z0-9_]+)?$", label):
            errors.append("%s: file injector %r is not template or template.<name>" % (name, label))
    # The controller renders injectors with the credential's inputs; a template that names anything else
    # renders as an empty string there without a word, so refuse it here (strictly).
    filename = {label.split(".", 1)[1]: "/runner/env/x" for label in files if "." in label}
    namespace = dict((i, "x") for i in ids)
    namespace["tower"] = {"filename": filename if filename else "/runner/env/x"}
    env = sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    for where, templates in (("file", files), ("env", injectors.get("env") or {}), ("extra_vars", injectors.get("extra_vars") or {})):
        for key, template in templates.items():
            try:
                env.from_string(str(template)).render(**namespace)
            except jinja2.TemplateError as exc:
                errors.append("%s: %s injector %s: %s" % (name, where, key, exc))
    for var in injectors.get("env") or {}:
        if var not in reads:
            errors.append("%s: injects %s, which nothing in the collection reads" % (name, var))
    return errors


def collection_env_reads() -> dict[str, set[str]]:
    """The environment variables the collection reads, by consumer: the Redfish modules' argument spec, the
    redfish inventory plugin's options, and the vSphere modules' argument spec."""
    sys.path.insert(0, str(REPO_ROOT / "build" / "collections"))
    import yaml
    from ansible_collections.reforge.hci.plugins.module_utils.redfish.argspec import redfish_argument_spec
    from ansible_collections.reforge.hci.plugins.module_utils.vsphere import argspec as vsphere_argspec
    from ansible_collections.reforge.hci.plugins.inventory import redfish as redfish_inventory

    def fallbacks(spec):
        return {name for option in spec.values() for name in (option.get("fallback") or (None, []))[1]}

    plugin_options = yaml.safe_load(redfish_inventory.DOCUMENTATION)["options"]
    return {"redfish modules": fallbacks(redfish_argument_spec()),
            "redfish inventory plugin": {e["name"] for o in plugin_options.values() for e in o.get("env", [])},
            "vsphere modules": fallbacks(vsphere_argspec.vsphere_argument_spec())}


# ------------------------------------------------------------------ workflows
NODE_RELATED = {"success_nodes", "failure_nodes", "always_nodes", "credentials", "labels", "instance_groups"}


def workflow_errors(workflow: dict, node_spec: dict, job_templates: set[str]) -> list[str]:
    """The workflow_nodes of an awx.awx.workflow_job_template task (elements: dict without options, so the
    module leaves them to the controller): each node's keys against workflow_job_template_node's own argument
    spec, identifiers unique, every link to a node that exists, every job template one the playbook makes,
    and no cycle."""
    errors: list[str] = []
    name = workflow.get("name")
    nodes = workflow.get("workflow_nodes") or []
    allowed = (set(node_spec) - {"workflow_job_template", "state", "lookup_organization", "success_nodes",
                                 "failure_nodes", "always_nodes"}) | {"related"}
    identifiers = [n.get("identifier") for n in nodes]
    if len(set(identifiers)) != len(identifiers) or None in identifiers:
        errors.append("%s: node identifiers must be given and unique: %s" % (name, identifiers))
    links: dict[str, list[str]] = {}
    for node in nodes:
        ident = node.get("identifier")
        unknown = set(node) - allowed
        if unknown:
            errors.append("%s: node %s has keys no workflow node has: %s" % (name, ident, sorted(unknown)))
        ujt = node.get("unified_job_template") or {}
        if ujt.get("type") != "job_template" or ujt.get("name") not in job_templates:
            errors.append("%s: node %s runs %r, not a job template this playbook makes" % (name, ident, ujt))
        related = node.get("related") or {}
        if set(related) - NODE_RELATED:
            errors.append("%s: node %s related keys %s" % (name, ident, sorted(set(related) - NODE_RELATED)))
        links[ident] = []
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for target in related.get(kind) or []:
                target_id = target.get("identifier") if isinstance(target, dict) else None
                if target_id not in identifiers:
                    errors.append("%s: node %s %s names %r, no node of the workflow" % (name, ident, kind, target))
                links[ident].append(target_id)
        if not isinstance(node.get("extra_data", {}), dict):
            errors.append("%s: node %s extra_data is not a dict" % (name, ident))
    state: dict = {}

    def visit(ident):
        if state.get(ident) == 1:
            errors.append("%s: the nodes form a cycle through %s" % (name, ident))
            return
        if state.get(ident) == 2:
            return
        state[ident] = 1
        for nxt in links.get(ident, []):
            visit(nxt)
        state[ident] = 2

    for ident in links:
        visit(ident)
    return errors


def workflow_order(workflow: dict) -> list[str]:
    """The job templates of a chain workflow in the order the controller runs them (from the node no one links to)."""
    nodes = {n["identifier"]: n for n in workflow.get("workflow_nodes") or []}
    targets = {t["identifier"] for n in nodes.values() for t in (n.get("related") or {}).get("success_nodes") or []}
    order, current = [], [i for i in nodes if i not in targets]
    while current:
        node = nodes[current[0]]
        order.append(node["unified_job_template"]["name"])
        current = [t["identifier"] for t in (node.get("related") or {}).get("success_nodes") or []]
    return order


# ------------------------------------------------------------------ module argument specs
class _Captured(Exception):
    def __init__(self, spec, kwargs):
        super().__init__("captured")
        self.spec, self.kwargs = spec, kwargs


def awx_module_spec(action: str) -> tuple[dict, dict]:
    """The full argument spec and the AnsibleModule keyword arguments of an awx.awx module, as its main() builds them."""
    from ansible_collections.awx.awx.plugins.module_utils import controller_api

    module = importlib.import_module("ansible_collections.awx.awx.plugins.modules." + action.split(".")[-1])

    def capture(self, argument_spec=None, direct_params=None, error_callback=None, warn_callback=None, **kwargs):
        full = dict(controller_api.ControllerModule.AUTH_ARGSPEC)
        full.update(argument_spec or {})
        raise _Captured(full, kwargs)

    original = controller_api.ControllerAPIModule.__init__
    controller_api.ControllerAPIModule.__init__ = capture
    try:
        module.main()
    except _Captured as captured:
        return captured.spec, captured.kwargs
    finally:
        controller_api.ControllerAPIModule.__init__ = original
    raise RuntimeError("%s: main() built no ControllerAPIModule" % action)


def validate_args(action: str, args: dict) -> list[str]:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec, kwargs = awx_module_spec(action)
    keep = {k: v for k, v in kwargs.items()
            if k in ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")}
    result = ArgumentSpecValidator(spec, **keep).validate(args)
    return [str(e) for e in result.errors]


# ------------------------------------------------------------------ the playbook, templated as Ansible does
def _plain(value):
    """Ansible's tagged containers and strings as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    return str(value)


def templated_tasks(playbook: str, extra_vars: dict) -> list[dict]:
    """Every task of every play, its arguments templated for localhost once per loop item."""
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader([str(REPO_ROOT / "build" / "collections")])
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook import Playbook
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources="localhost,")
    variables = VariableManager(loader=loader, inventory=inventory)
    variables._extra_vars = extra_vars  # pylint: disable=protected-access
    host = inventory.get_host("localhost")
    out = []
    for play in Playbook.load(playbook, variable_manager=variables, loader=loader).get_plays():
        for block in play.compile():
            for task in block.block:
                if task.action in ("meta", "ansible.builtin.meta"):
                    continue
                task_vars = variables.get_vars(play=play, task=task, host=host)
                templar = Templar(loader=loader, variables=task_vars)
                loop_var = task.loop_control.loop_var if task.loop_control else "item"
                items = templar.template(task.loop) if task.loop is not None else [None]
                for item in items:
                    item_vars = dict(task_vars, **({loop_var: item} if task.loop is not None else {}))
                    item_templar = Templar(loader=loader, variables=item_vars)
                    if task.when and not task.evaluate_conditional(item_templar, item_vars):
                        continue
                    out.append({"task": task.get_name(), "action": task.resolved_action or task.action,
                                "item": _plain(item), "args": _plain(item_templar.template(task.args))})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("playbook")
    parser.add_argument("--extra-vars", default="{}")
    opts = parser.parse_args(argv)
    try:
        tasks = templated_tasks(opts.playbook, json.loads(opts.extra_vars))
    except Exception as exc:  # pylint: disable=broad-except
        print(json.dumps({"tasks": [], "load_error": "%s: %s" % (type(exc).__name__, exc)}))
        return 0
    for task in tasks:
        task["errors"] = validate_args(task["action"], task["args"]) if task["action"].startswith("awx.awx.") else []
    specs = {"workflow_job_template_node": awx_module_spec("awx.awx.workflow_job_template_node")[0]}
    print(json.dumps({"tasks": tasks, "load_error": None, "specs": {k: sorted(v) for k, v in specs.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
