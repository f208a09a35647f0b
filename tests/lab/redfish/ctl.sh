#!/usr/bin/env bash
# Redfish BMCs of the lab: the project's vendor simulator (one HTTPS port per BMC,
# 18001.., fleet size $REFORGE_LAB_BMCS, default 6) and sushy-tools' fake driver
# on 18400 for the generic flows. Writes $REFORGE_LAB_DIR/redfish.json.
# Ports: REFORGE_LAB_BMC_BASE_PORT, REFORGE_LAB_SUSHY_PORT.
set -euo pipefail
source "$(dirname "$0")/../../../scripts/env.sh"
dir="$REFORGE_LAB_DIR/redfish"
pki="$REFORGE_LAB_DIR/pki"
py="$VENV/bin/python"
SUSHY_PORT="${REFORGE_LAB_SUSHY_PORT:-18400}"
# A second lab (another REFORGE_LAB_DIR) can run beside the first on other ports.
BASE_PORT="${REFORGE_LAB_BMC_BASE_PORT:-18001}"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
status() { alive "$dir/sim.pid" && alive "$dir/sushy.pid" && [ -s "$REFORGE_LAB_DIR/redfish.json" ]; }

sim_ready() { [ -s "$dir/ready.json" ] || ! alive "$dir/sim.pid"; }

wait_for() {  # wait_for <seconds> <command...>
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

up() {
  if status; then return 0; fi
  down >/dev/null 2>&1 || true
  [ -s "$pki/server.pem" ] || "$REPO_ROOT/tests/lab/pki/ctl.sh" up
  mkdir -p "$dir/sushy-state"
  rm -f "$dir/ready.json"
  PYTHONPATH="$REPO_ROOT/tests" setsid "$py" -m lab.redfish.fleet \
    --cert "$pki/server.pem" --key "$pki/server.key" --ready-file "$dir/ready.json" --base-port "$BASE_PORT" \
    >"$dir/simulator.log" 2>&1 < /dev/null &
  echo $! > "$dir/sim.pid"

  # sushy-tools: fresh state per start, basic auth with the lab credentials (bcrypt, as it requires).
  rm -rf "$dir/sushy-state"; mkdir -p "$dir/sushy-state"
  "$py" - "$dir" <<'PY'
import bcrypt, sys, os
d = sys.argv[1]
user, pw = os.environ.get("REDFISH_USERNAME", "root"), os.environ.get("REDFISH_PASSWORD", "calvin")
with open(f"{d}/sushy.htpasswd", "w") as fh:
    fh.write(f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
with open(f"{d}/sushy.conf", "w") as fh:
    fh.write(f"SUSHY_EMULATOR_STATE_DIR = {d + '/sushy-state'!r}\n"
             f"SUSHY_EMULATOR_AUTH_FILE = {d + '/sushy.htpasswd'!r}\n")
os.chmod(f"{d}/sushy.htpasswd", 0o600)
PY
  SUSHY_EMULATOR_FAKE_DRIVER=True setsid "$VENV/bin/sushy-emulator" --fake --config "$dir/sushy.conf" \
    -i 127.0.0.1 -p "$SUSHY_PORT" --ssl-certificate "$pki/server.pem" --ssl-key "$pki/server.key" \
    >"$dir/sushy.log" 2>&1 < /dev/null &
  echo $! > "$dir/sushy.pid"

  # Ready when the fleet wrote its description; give up at once if the process died.
  if ! wait_for 120 sim_ready || [ ! -s "$dir/ready.json" ]; then
    echo "redfish simulator did not start; see $dir/simulator.log" >&2; tail -20 "$dir/simulator.log" >&2
    down; return 1
  fi
  if ! wait_for 30 curl -sf -o /dev/null --cacert "$pki/ca.pem" "https://127.0.0.1:$SUSHY_PORT/redfish/v1/"; then
    echo "sushy-emulator did not start; see $dir/sushy.log" >&2; tail -20 "$dir/sushy.log" >&2
    down; return 1
  fi
  "$py" - "$dir/ready.json" "$REFORGE_LAB_DIR/redfish.json" "$pki/ca.pem" "$SUSHY_PORT" <<'PY'
import json, os, sys
ready, out, ca, sushy_port = sys.argv[1:]
data = json.load(open(ready))
desc = {"bmcs": data["bmcs"], "sushy": {"endpoint": f"https://127.0.0.1:{sushy_port}"},
        "username": os.environ.get("REDFISH_USERNAME", "root"),
        "password": os.environ.get("REDFISH_PASSWORD", "calvin"),
        "ca": ca, "startup_seconds": data["startup_seconds"], "pid": data["pid"]}
tmp = out + ".tmp"
with open(tmp, "w") as fh:
    json.dump(desc, fh, indent=1)
os.replace(tmp, out)
PY
}

down() {
  local f
  for f in sim sushy; do
    if alive "$dir/$f.pid"; then
      kill "$(cat "$dir/$f.pid")" 2>/dev/null || true
      wait_for 10 bash -c "! kill -0 $(cat "$dir/$f.pid") 2>/dev/null" || kill -9 "$(cat "$dir/$f.pid")" 2>/dev/null || true
    fi
    rm -f "$dir/$f.pid"
  done
  rm -f "$REFORGE_LAB_DIR/redfish.json" "$dir/ready.json"
}

case "${1:-status}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
