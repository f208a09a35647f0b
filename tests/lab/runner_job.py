"""Jobs run the way AWX / Automation Controller runs them, for the tests that stand in for a controller.

- ``BMCLog``: one simulated BMC's request log (tests/lab/redfish: ``/_lab/log``), to see what a job sent.
- ``write_methods``: the writes among log entries (session logins and logouts are not changes).
- ``render_injectors``: a custom credential type's injectors rendered from a credential's inputs as the
  controller renders them (awx/main/models/credential: ``CredentialType.inject_credential``): the inputs as
  the Jinja namespace, ``file`` templates written into ``<private data dir>/env`` with ``tower.filename``
  naming them, ``env`` templates in jinja2's immutable sandbox.
- ``private_data_dir``: a job's private data dir as the controller lays it out (``project/`` with the
  project's files, ``inventory/hosts`` as an executable script printing the inventory's JSON, ``env/``).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


class BMCLog:
    """One simulated BMC's request log."""

    def __init__(self, desc: dict, ca: str) -> None:
        import requests
        self.name, self.endpoint, self.system = desc["name"], desc["endpoint"], desc["system"]
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = ca

    def log_since(self, cursor: int) -> dict:
        resp = self.http.get(self.endpoint + "/_lab/log?since=%d" % cursor, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def cursor(self) -> int:
        return self.log_since(0)["cursor"]


def write_methods(entries: list[dict]) -> list[tuple[str, str]]:
    """The requests among ``entries`` that could change the BMC (a session's login and logout are not)."""
    return [(e["method"], e["path"]) for e in entries
            if e["method"] in WRITE_METHODS and "/SessionService/Sessions" not in e["path"]]


class _Namespace:
    pass


def render_injectors(credential_type: dict, inputs: dict, pdd: Path) -> dict[str, str]:
    """The environment a job gets from one credential (``extra_vars`` injectors are not used here)."""
    from jinja2 import sandbox

    namespace: dict = {k: v for k, v in inputs.items() if isinstance(v, bool) or len(v)}
    for field in credential_type["inputs"].get("fields", []):
        if field.get("type") == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    tower = _Namespace()
    namespace["tower"] = tower
    env = sandbox.ImmutableSandboxedEnvironment()
    (pdd / "env").mkdir(parents=True, exist_ok=True)
    for label, template in credential_type["injectors"].get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=str(pdd / "env"))
        with os.fdopen(handle, "w") as out:
            out.write(env.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP)
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = _Namespace()
            setattr(tower.filename, label.split(".", 1)[1], path)
    return {name: env.from_string(template).render(**namespace)
            for name, template in credential_type["injectors"].get("env", {}).items()}


def private_data_dir(root: Path, project_files: list[tuple[Path, str]], inventory: dict | None = None) -> Path:
    """A job's private data dir: ``project/<relative path>`` for each (source, relative path), and the
    inventory as the controller hands it to a job: ``inventory/hosts``, a script printing its JSON."""
    (root / "project").mkdir(parents=True, exist_ok=True)
    (root / "env").mkdir(exist_ok=True)
    for source, relative in project_files:
        dest = root / "project" / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copy(source, dest)
    if inventory is not None:
        (root / "inventory").mkdir(exist_ok=True)
        script = root / "inventory" / "hosts"
        script.write_text("#!/usr/bin/env python3\nimport sys\nDATA = %r\n"
                          "sys.stdout.write(DATA if '--list' in sys.argv else '{}')\n" % json.dumps(inventory))
        script.chmod(0o700)
    return root
