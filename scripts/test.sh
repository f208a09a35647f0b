#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (`make test`, `.ci/run`).
#
# Two lanes run at once, each with its own lab (own lab dir, own ports):
#   nodes  the lab hosts: the 3-node cluster is built once and every variant runs on
#          it (rerun, check mode, repair, expansion, wave, fencing), then the nodes'
#          own tests and the Molecule node scenarios.
#   sims   unit, sanity and lint, the Redfish and vCenter simulators, migration, the
#          Molecule Redfish scenarios, stages 5/6 on this host, the EE and the
#          benchmarks - on the CPU the nodes lane leaves idle while its hosts install,
#          boot and wait.
# Which test runs in which lane: tests/conftest.py (NODES_LANE). At the end a table
# of the time per area (build/test-times/) and one closing line for both lanes.
#
# Extra arguments run part of the suite in one pytest, against the default lab
# (e.g. `scripts/test.sh -k redfish`, `scripts/test.sh tests/unit`).
# REFORGE_LAB_KEEP=1 leaves the labs up afterwards.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
T0=$(date +%s.%N)
export REFORGE_TIMINGS_DIR="$REPO_ROOT/build/test-times"
rm -rf "$REFORGE_TIMINGS_DIR"; mkdir -p "$REFORGE_TIMINGS_DIR"

since() { echo "$(date +%s.%N) - $1" | bc; }
phase() {  # phase <name> <lane> <start>: one row of the time table
  printf '{"phase": "%s", "lane": "%s", "seconds": %.1f}\n' "$1" "$2" "$(since "$3")" >> "$REFORGE_TIMINGS_DIR/phases.jsonl"
}

t=$(date +%s.%N)
"$REPO_ROOT/scripts/setup.sh"
phase setup all "$t"
PYTEST=("$VENV/bin/python" -m pytest -p no:cacheprovider -ra --durations=15)

report() {  # the time table and the closing line
  "$VENV/bin/python" "$REPO_ROOT/scripts/test_times.py" "$REFORGE_TIMINGS_DIR" --wall "$(since "$T0")" || true
}

if (($#)); then
  set +e
  "${PYTEST[@]}" "$@"
  rc=$?
  set -e
  report
  # pytest's 5 means "no tests ran": for this suite that is a failure, not a pass.
  [ "$rc" -eq 5 ] && { echo "test: no tests were collected" >&2; exit 1; }
  exit "$rc"
fi

# The sims lane's lab: another lab dir and ports that clash with neither the nodes lab
# (18001.., 18400, 18443..) nor the benchmarks' fleet (18060..18259).
SIMS_ENV=(REFORGE_LAB_DIR="$REPO_ROOT/.lab-sims" REFORGE_LAB_BMC_BASE_PORT=18301 REFORGE_LAB_SUSHY_PORT=18500
          VCSIM_PORT=18643)
# The nodes lane runs the whole pipeline with sentinel passwords, new each run, for the BMCs,
# vCenter and hacluster (read by the lab's ctl.sh and inventories/lab); its last cluster test
# looks for them, and for the cluster's Ceph keys, in every log, report and journal. Only this
# lane: the simulator tests of the sims lane log in with the templates' own accounts.
sentinel() { printf 'Snt1-%s-%s' "$1" "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"; }
NODES_ENV=(REFORGE_LAB_DIR="$REPO_ROOT/.lab" REDFISH_PASSWORD="$(sentinel bmc)" VMWARE_PASSWORD="$(sentinel vcenter)"
           REFORGE_HACLUSTER_PASSWORD="$(sentinel hacluster)")

lane() {  # lane <name> <lab components...>: bring its lab up, then its tests
  local name="$1" t rc; shift
  t=$(date +%s.%N)
  echo "test: lane $name: lab up ($*)"
  if ! "$REPO_ROOT/tests/lab/lab.sh" up "$@"; then
    echo "test: lane $name: the lab did not come up" >&2
    phase "lab up" "$name" "$t"
    return 3
  fi
  phase "lab up" "$name" "$t"
  t=$(date +%s.%N)
  set +e
  REFORGE_TEST_LANE="$name" "${PYTEST[@]}" -v tests
  rc=$?
  set -e
  phase "tests" "$name" "$t"
  return "$rc"
}

# One line at a time from each lane, prefixed, so both can be followed live.
prefix() { sed -u "s/^/[$1] /"; }

# The vCenter simulator is built once for both labs (cached machine-wide).
t=$(date +%s.%N)
tests/lab/vcsim/ctl.sh build >/dev/null
phase "lab up" all "$t"

set +e
( export "${NODES_ENV[@]}"; lane nodes pki redfish vcsim nodes ) > >(prefix nodes) 2>&1 &
nodes_pid=$!
( export "${SIMS_ENV[@]}"; lane sims pki redfish vcsim ) > >(prefix sims) 2>&1 &
sims_pid=$!
wait "$nodes_pid"; nodes_rc=$?
wait "$sims_pid"; sims_rc=$?
set -e

if [ -z "${REFORGE_LAB_KEEP:-}" ]; then
  t=$(date +%s.%N)
  ( export "${SIMS_ENV[@]}"; tests/lab/lab.sh down vcsim redfish ) >/dev/null 2>&1 || true
  ( export "${NODES_ENV[@]}"; tests/lab/lab.sh down ) >/dev/null 2>&1 || true
  phase "lab down" all "$t"
fi
sleep 0.2   # the prefixing pipes flush their last lines
report
echo "test: lane nodes rc=$nodes_rc, lane sims rc=$sims_rc"
for rc in "$nodes_rc" "$sims_rc"; do
  [ "$rc" -eq 5 ] && { echo "test: a lane collected no tests" >&2; exit 1; }
  [ "$rc" -eq 0 ] || exit "$rc"
done
exit 0
