#!/usr/bin/env bash
# One-time (and idempotent) setup of a fresh Debian machine: system packages
# from Debian's archive, a Python venv with the controller and test
# dependencies, and the collection linked where Ansible looks for it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"

# System packages: the base list here plus one apt-packages.txt per lab component.
mapfile -t pkgs < <(cat scripts/apt-packages.txt tests/lab/*/apt-packages.txt 2>/dev/null \
  | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python venv: reinstalled only when the requirement files change.
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ "$(cat "$VENV/.reforge-reqs" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r requirements.txt -r requirements-dev.txt
  echo "$want" > "$VENV/.reforge-reqs"
fi

# The collection, where Ansible and pytest find it.
mkdir -p "$REFORGE_COLLECTIONS_DIR/ansible_collections/reforge"
ln -sfn "$REPO_ROOT" "$REFORGE_COLLECTIONS_DIR/ansible_collections/reforge/hci"
echo "setup: ready (ansible-core $("$VENV/bin/python" -c "import ansible.release as r; print(r.__version__)"))"
