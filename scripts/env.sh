# shellcheck shell=bash
# Sourced by the project's scripts: one place for paths shared by the lab,
# the demo and the tests.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
export VENV="${VENV:-$REPO_ROOT/.venv}"
export REFORGE_LAB_DIR="${REFORGE_LAB_DIR:-$REPO_ROOT/.lab}"
# The collection must sit under ansible_collections/reforge/hci for Ansible and pytest.
export REFORGE_COLLECTIONS_DIR="$REPO_ROOT/build/collections"
export ANSIBLE_COLLECTIONS_PATH="$REFORGE_COLLECTIONS_DIR:${ANSIBLE_COLLECTIONS_PATH:-}"
export ANSIBLE_CONFIG="$REPO_ROOT/ansible.cfg"
export PATH="$VENV/bin:$PATH"

# heartbeat <label> <command...>: runs the command and, while it runs, says so
# every 30 s (a long apt or image build is not mistaken for a hang).
heartbeat() {
  local label="$1" rc=0 ticker; shift
  ( start=$SECONDS; while sleep 30; do echo "$label: still running ($((SECONDS - start)) s)" >&2; done ) &
  ticker=$!
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}
