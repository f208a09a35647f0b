"""Helpers of the host network tests: node1's rendered files, and running a module as Ansible runs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.reforge.hci.plugins.filter.network_plan import network_plan, networkd_files

ROOT = Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / "build" / "collections"


def campus():
    return yaml.safe_load((ROOT / "docs" / "examples" / "campus-network.yml").read_text())["campus_network"]


@pytest.fixture
def node1_files():
    return networkd_files(network_plan(campus())["node1"])


def run_module(name, args, tmp_path, check=False, diff=True):
    """Run plugins/modules/<name>.py in a child Python as Ansible does (arguments file); its JSON result."""
    argfile = tmp_path / ("%s-args.json" % name)
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=diff)}))
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.reforge.hci.plugins.modules." + name, str(argfile)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
