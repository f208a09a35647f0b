"""Install metal lab machines as nodes of the example campus through playbooks/install_os.yml, and keep the directory.

The precondition of tests/integration/network/test_host_network.py, made the way tests/lab/metal/test_install.py makes
it (the same inventory shape, the same image cache), not by hand:

    export REFORGE_LAB_DIR=... ; tests/lab/lab.sh up metal
    .venv/bin/python -m lab.metal.install_nodes /tmp/installed 1 2      # run from tests/ (or PYTHONPATH=tests)
    REFORGE_METAL_INSTALLED=/tmp/installed .venv/bin/python -m pytest tests/integration/network/test_host_network.py

Machine m is installed as node<m>, one machine per play (the metal lab's TCG machines share the host's cores). The
directory gets ``controller_key`` (the controller's SSH key, authorized on every node), ``hostkeys/<node>/`` (each
node's planned host key and its ``known_hosts``) and one inventory per node. A machine that already answers with its
planned host key is left alone (the role's own check). Prints the seconds each install took."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
CAMPUS = REPO_ROOT / "docs" / "examples" / "campus-network.yml"
CACHE = Path(os.environ.get("REFORGE_LAB_CACHE", "/var/cache/reforge-lab")) / "os-install"


def inventory(metal: dict, base: Path, machine: int) -> Path:
    node = "node%d" % machine
    key = base / "controller_key"
    host = {
        "bmc_endpoint": metal["bmcs"][machine - 1]["endpoint"], "bmc_username": metal["username"],
        "bmc_password": metal["password"], "bmc_ca_path": metal["ca"],
        "os_install_boot_disk": metal["machines"][machine - 1]["boot_disk"]["by_id"],
    }
    group = {
        "campus_network": yaml.safe_load(CAMPUS.read_text())["campus_network"],
        "os_install_cache_dir": str(CACHE),
        "os_install_media_dir": metal["media"]["dir"],
        "os_install_media_url": metal["media"]["bmc_url"],
        "os_install_deploy_url": metal["media"]["machine_url"],
        "os_install_hostkeys_dir": str(base / "hostkeys"),
        "os_install_authorized_keys": [Path("%s.pub" % key).read_text().strip()],
        "os_install_ssh_private_key_file": str(key),
        "os_install_ssh_args": ["-o", "ProxyCommand=%s" % metal["controller"]["ssh_proxy_command"]],
        "os_install_wait_timeout": 2400,
    }
    inv = base / ("install-%s.yml" % node)
    inv.write_text(yaml.safe_dump({"all": {"children": {"os_install": {"hosts": {node: host}, "vars": group}}}}))
    return inv


def install(base: Path, machines: list[int]) -> dict:
    lab_dir = Path(os.environ.get("REFORGE_LAB_DIR", REPO_ROOT / ".lab"))
    metal = json.loads((lab_dir / "metal.json").read_text())
    base.mkdir(parents=True, exist_ok=True)
    key = base / "controller_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "reforge-controller", "-f", str(key)],
                       check=True)
    times = {}
    for machine in machines:
        inv = inventory(metal, base, machine)
        t0 = time.monotonic()
        proc = subprocess.run(["bash", "-c", 'source scripts/env.sh >/dev/null && exec ansible-playbook "$@"', "play",
                               "-i", str(inv), "playbooks/install_os.yml"], cwd=REPO_ROOT, text=True, check=False,
                              env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
        if proc.returncode != 0:
            raise SystemExit("install of machine %d failed (rc %d)" % (machine, proc.returncode))
        times["node%d" % machine] = round(time.monotonic() - t0, 1)
    return times


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    print("install seconds:", json.dumps(install(Path(argv[0]).resolve(), [int(m) for m in argv[1:]])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
