#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/reforge/hci as a
# real directory (it refuses symlinked roots), so sanity runs on a copy of the
# files git would ship: tracked plus untracked-but-not-ignored.
#   scripts/sanity.sh [ansible-test sanity args...]
set -euo pipefail
source "$(dirname "$0")/env.sh"
dest="$REPO_ROOT/build/sanity/ansible_collections/reforge/hci"
rm -rf "$dest"; mkdir -p "$dest"
cd "$REPO_ROOT"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$dest/"
# ansible-test treats the copy as a git checkout only if it is one.
( cd "$dest" && git init -q && git add -A >/dev/null 2>&1 )
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
