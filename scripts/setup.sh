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
  echo "setup: installing ${#missing[@]} Debian packages (a few minutes on a new machine): ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  heartbeat "setup: apt-get update" $SUDO apt-get update -qq
  heartbeat "setup: apt-get install" $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python venv: reinstalled only when the requirement files change. The default
# .venv is a link to a venv cached machine-wide under the hash of the requirement
# files (REFORGE_LAB_CACHE, like the lab's images), so a new clone of the same
# requirements - CI's, every run - starts in seconds. VENV=<dir> keeps a venv of your own.
want="$({ cat requirements.txt requirements-dev.txt; python3 -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)"
make_venv() {  # make_venv <dir>: the venv with the requirements, made or brought up to date
  local dir="$1"
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  if [ "$(cat "$dir/.reforge-reqs" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing Python requirements into $dir"
    # (a machine whose pip.conf names local indexes that are not there warns once per package: not ours to show)
    heartbeat "setup: pip" "$dir/bin/pip" install -q --upgrade pip 2> >(grep -v "is neither a file nor a directory" >&2)
    heartbeat "setup: pip" "$dir/bin/pip" install -q -r requirements.txt -r requirements-dev.txt \
      2> >(grep -v "is neither a file nor a directory" >&2)
    echo "$want" > "$dir/.reforge-reqs"
  fi
}
if [ "$VENV" = "$REPO_ROOT/.venv" ] && { [ -L "$VENV" ] || [ ! -e "$VENV" ]; }; then
  shared="${REFORGE_LAB_CACHE:-/var/cache/reforge-lab}/venv-$want"
  mkdir -p "$(dirname "$shared")"
  # One installer at a time; clones that find it made just link it.
  ( flock 8; make_venv "$shared"; touch "$shared" ) 8>"$shared.lock"
  ln -sfn "$shared" "$VENV"
  # Venvs of requirements no clone has used for two weeks go.
  find "$(dirname "$shared")" -maxdepth 1 -name 'venv-*' ! -name '*.lock' -type d -mtime +14 \
    -exec rm -rf {} + 2>/dev/null || true
else
  make_venv "$VENV"
fi

# The collection, where Ansible and pytest find it.
mkdir -p "$REFORGE_COLLECTIONS_DIR/ansible_collections/reforge"
ln -sfn "$REPO_ROOT" "$REFORGE_COLLECTIONS_DIR/ansible_collections/reforge/hci"
echo "setup: ready (ansible-core $("$VENV/bin/python" -c "import ansible.release as r; print(r.__version__)"))"
