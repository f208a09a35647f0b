#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/reforge/hci as a
# real directory (it refuses symlinked roots), so sanity runs on a copy of the
# files git would ship: tracked plus untracked-but-not-ignored.
#   scripts/sanity.sh [ansible-test sanity args...]
set -euo pipefail
source "$(dirname "$0")/env.sh"
dest="$REPO_ROOT/build/sanity/ansible_collections/reforge/hci"
mkdir -p "$dest"
# One sanity run at a time per checkout: they share the copy and its cached venvs.
exec 9>"$REPO_ROOT/build/sanity.lock"
flock 9
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
# ansible-test downloads a pip bootstrap script from a host we cannot reach.
pipver="$("$VENV/bin/python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
class P: version = "3"
print(get_venv_packages(P())["pip"])
PY
)"
cache="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
[ -s "$cache" ] || { mkdir -p "$(dirname "$cache")"; cp "$REPO_ROOT/scripts/offline/get_pip.py" "$cache"; }
cd "$dest"
exec ansible-test sanity --color no --python "$("$VENV/bin/python" -c 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" "$@"
