#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/reforge/hci as a
# real directory (it refuses symlinked roots), so sanity runs on a copy of the
# files git would ship: tracked plus untracked-but-not-ignored.
#   scripts/sanity.sh [ansible-test sanity args...]
#   REFORGE_SANITY_CORE=2.17 scripts/sanity.sh --venv   # that ansible-core release's ansible-test
# Without REFORGE_SANITY_CORE the project's venv ($VENV, the newest release) runs it;
# with it, build/venvs/core-<release> does (made on first use, from PyPI).
# scripts/sanity-all.sh runs every release that supports this Python.
set -euo pipefail
source "$(dirname "$0")/env.sh"
dest="$REPO_ROOT/build/sanity/ansible_collections/reforge/hci"
mkdir -p "$dest"
# One sanity run at a time per checkout: they share the copy and its cached venvs.
exec 9>"$REPO_ROOT/build/sanity.lock"
flock 9
core="${REFORGE_SANITY_CORE:-}"
if [ -z "$core" ]; then
  tvenv="$VENV"
else
  [[ "$core" =~ ^2\.[0-9]+$ ]] || { echo "REFORGE_SANITY_CORE wants a release such as 2.17, not '$core'" >&2; exit 2; }
  tvenv="$REPO_ROOT/build/venvs/core-$core"
  has_core() { "$tvenv/bin/python" -c "import sys, ansible.release as r; sys.exit(not r.__version__.startswith('$core.'))" 2>/dev/null; }
  if ! has_core; then
    echo "sanity: installing ansible-core $core.* into $tvenv" >&2
    rm -rf "$tvenv"
    "$VENV/bin/python" -m venv "$tvenv"
    "$tvenv/bin/python" -m pip install -q "ansible-core==$core.*"
    has_core || { echo "sanity: ansible-core $core is not installable on this Python" >&2; exit 2; }
  fi
fi
export PATH="$tvenv/bin:$PATH"
cd "$REPO_ROOT"
list="$(mktemp)"; trap 'rm -f "$list"' EXIT
git ls-files -z --cached --others --exclude-standard > "$list"
# --delete keeps the copy exact; tests/output (ansible-test's cached venvs) and .git survive.
rsync -a --delete --from0 --files-from="$list" --exclude /tests/output/ --exclude /.git/ ./ "$dest/"
find "$dest" -depth -mindepth 1 -not -path "$dest/tests/output*" -not -path "$dest/.git*" -print0 \
  | (cd "$dest" && while IFS= read -r -d '' f; do rel="${f#"$dest"/}"; \
      [ -e "$REPO_ROOT/$rel" ] || rm -rf "$f"; done)
# ansible-test treats the copy as a git checkout only if it is one.
( cd "$dest" && { [ -d .git ] || git init -q; } && git add -A >/dev/null 2>&1 )
# ansible-test downloads a pip bootstrap script from a host we cannot reach. Each
# release pins its own pip (2.15: 21.3.1, 2.16/2.17: 23.1.2, 2.18/2.19: 24.2) and
# looks for get_pip_<version>.py, so ask the release in use which name it wants.
pipver="$("$tvenv/bin/python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
class P: version = "3"
print(get_venv_packages(P())["pip"])
PY
)"
cache="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
[ -s "$cache" ] || { mkdir -p "$(dirname "$cache")"; cp "$REPO_ROOT/scripts/offline/get_pip.py" "$cache"; }
cd "$dest"
exec "$tvenv/bin/ansible-test" sanity --color no --python "$("$tvenv/bin/python" -c 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" "$@"
