#!/usr/bin/env bash
# The lab: every counterpart the collection talks to, on this one machine.
#   tests/lab/lab.sh up|down|status [component ...]
# Components (in start order): pki redfish vcsim nodes; metal (QEMU machines behind BMCs, two
# switches: tests/lab/metal) only when named, `lab.sh up metal`. Each lives in
# tests/lab/<component>/ctl.sh with the same verbs; `up` is idempotent and
# writes $REFORGE_LAB_DIR/<component>.json describing its endpoints.
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
ALL=(pki redfish vcsim nodes)
verb="${1:-status}"; shift || true
comps=("$@"); ((${#comps[@]})) || comps=("${ALL[@]}")
mkdir -p "$REFORGE_LAB_DIR"
case "$verb" in
  up|status) order=("${comps[@]}") ;;
  down) order=(); for ((i=${#comps[@]}-1; i>=0; i--)); do order+=("${comps[i]}"); done ;;
  *) echo "usage: $0 up|down|status [component ...]" >&2; exit 2 ;;
esac
rc=0
for c in "${order[@]}"; do
  ctl="$REPO_ROOT/tests/lab/$c/ctl.sh"
  [ -x "$ctl" ] || { echo "lab: no component '$c'" >&2; exit 2; }
  if [ "$verb" = status ]; then
    # Every component, up or not, with what its ctl.sh says about itself.
    if out=$("$ctl" status 2>&1); then state=up; else state=down; rc=1; fi
    desc=""
    [ "$state" = up ] && [ -s "$REFORGE_LAB_DIR/$c.json" ] && desc=$(jq -r '
      [ (.bmcs // empty | "\(length) BMCs on \(.[0].endpoint)..\(.[-1].port)"),
        (.sushy.endpoint // empty | "sushy-tools \(.)"), (.url // empty),
        (.nodes // empty | map(.name) | join(" ")), (.ca // empty | "CA \(.)") ] | join(", ")' \
      "$REFORGE_LAB_DIR/$c.json" 2>/dev/null || true)
    printf 'lab: %-8s %-4s %s\n' "$c" "$state" "$desc"
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/           /'
    continue
  fi
  start=$(date +%s.%N)
  if "$ctl" "$verb"; then
    [ "$verb" = up ] && printf 'lab: %-8s up in %.1fs\n' "$c" "$(echo "$(date +%s.%N) - $start" | bc)"
  else
    rc=$?; echo "lab: $c $verb failed (rc=$rc)" >&2
    [ "$verb" = down ] || exit $rc
  fi
done
exit $rc
