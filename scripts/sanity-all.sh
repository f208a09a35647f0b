#!/usr/bin/env bash
# ansible-test sanity on every ansible-core release whose controller runs on this
# Python: 2.15 to 2.19 on Python 3.11 (2.20 needs Python 3.12). Each release runs
# from its own venv (build/venvs/core-<release>, made on first use) and reads its
# own tests/sanity/ignore-<release>.txt. CI (`make test`) runs only the newest.
#   scripts/sanity-all.sh [release...] [-- ansible-test sanity args]   (default: all, --venv)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
releases=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do releases+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#releases[@]} -gt 0 ] || releases=(2.15 2.16 2.17 2.18 2.19)
[ $# -gt 0 ] || set -- --venv
failed=()
summary=()
for core in "${releases[@]}"; do
  echo "=== ansible-core $core: ansible-test sanity $*"
  start=$(date +%s)
  REFORGE_SANITY_CORE="$core" "$here/sanity.sh" "$@"
  rc=$?
  summary+=("ansible-core $core: $([ $rc -eq 0 ] && echo passed || echo "FAILED (rc=$rc)") in $(( $(date +%s) - start ))s")
  [ $rc -eq 0 ] || failed+=("$core")
done
echo "=== sanity summary"
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || { echo "sanity failed on: ${failed[*]}" >&2; exit 1; }
