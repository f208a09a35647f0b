#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it. Extra arguments go to pytest
# (e.g. `scripts/test.sh -k redfish`). The lab is started once, by the
# session fixtures, and shared by every test.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
cd "$REPO_ROOT"
set +e
# Paths and options come from the arguments; pytest.ini makes tests/ the default.
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra --durations=25 "$@"
rc=$?
set -e
# pytest's 5 means "no tests ran": for this suite that is a failure, not a pass.
[ "$rc" -eq 5 ] && { echo "test: no tests were collected" >&2; exit 1; }
exit "$rc"
