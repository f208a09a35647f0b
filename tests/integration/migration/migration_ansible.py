"""Run a playbook with the repository's venv and collection path, and return what its tasks dumped."""
import json
import os
import subprocess

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def vsphere_defaults(vcsim):
    return {"hostname": vcsim["host"], "port": vcsim["port"], "username": vcsim["username"],
            "password": vcsim["password"], "ca_path": vcsim["ca"]}


def run_tasks(tmp_path, tasks, vcsim, check=False, extra_args=(), timeout=900):
    """Run ``tasks`` on localhost under ``module_defaults: group/reforge.hci.vsphere``; each task's
    registered result ``r_<name>`` is dumped to JSON and returned."""
    names = [t["register"] for t in tasks if "register" in t]
    dumps = [{"name": "dump %s" % n, "ansible.builtin.copy": {
        "content": "{{ %s | to_json }}" % n, "dest": str(tmp_path / ("%s.json" % n))},
        "check_mode": False, "when": "%s is defined" % n} for n in names]
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "module_defaults": {"group/reforge.hci.vsphere": vsphere_defaults(vcsim)},
             "tasks": [{"block": tasks, "always": dumps}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "build", "collections"),
               ANSIBLE_PYTHON_INTERPRETER=os.path.join(REPO, ".venv", "bin", "python"),
               ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", str(path)]
    if check:
        argv.append("--check")
    argv.extend(extra_args)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    results = {}
    for n in names:
        dump = tmp_path / ("%s.json" % n)
        if dump.exists():
            results[n] = json.loads(dump.read_text())
    return proc, results
