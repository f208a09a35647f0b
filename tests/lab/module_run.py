"""Run one of the collection's modules the way Ansible does (arguments file, the module as __main__),
without a playbook: what the module tests of every area share."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[2] / "build" / "collections"


def run_module(name: str, args: dict, check: bool = False, diff: bool = True, timeout: int = 300) -> dict:
    """Run reforge.hci.<name> with ``args`` and return its result dict (a module that prints no JSON fails)."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff, _ansible_no_log=False,
                   _ansible_verbosity=0, _ansible_remote_tmp=tempfile.gettempdir(), _ansible_keep_remote_files=False)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, fh)
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    try:
        proc = subprocess.run([sys.executable, "-m", f"ansible_collections.reforge.hci.plugins.modules.{name}", fh.name],
                              capture_output=True, text=True, timeout=timeout, env=env, check=False)
    finally:
        os.unlink(fh.name)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"{name} printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
