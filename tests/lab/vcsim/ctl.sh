#!/usr/bin/env bash
# The lab's vCenter: Debian's govmomi simulator plus the CBT extension in
# go/src/vcsimlab, served over HTTPS with the lab certificate.
#   tests/lab/vcsim/ctl.sh up|down|status|build
# Knobs (environment, read at `up`): VCSIM_PORT (18443), VCSIM_EXTRA_VMS,
# VCSIM_CBT_WINDOW, VCSIM_CBT_MAX_EXTENTS, VCSIM_HOSTS, VCSIM_SESSION_IDLE_SECONDS,
# VCSIM_ESXI_PORT (P: host i's own endpoint on P+i, default VCSIM_PORT+1 so the node
# uplink can forward them; 0: a free port each),
# VMWARE_USER / VMWARE_PASSWORD (user / pass).
set -euo pipefail
source "$(dirname "$0")/../../../scripts/env.sh"
here="$REPO_ROOT/tests/lab/vcsim"
state="$REFORGE_LAB_DIR/vcsim"
pidf="$state/vcsim.pid"
port="${VCSIM_PORT:-18443}"
esxi_port="${VCSIM_ESXI_PORT:-$((port + 1))}"
user="${VMWARE_USER:-user}"
pass="${VMWARE_PASSWORD:-pass}"
ca="$REFORGE_LAB_DIR/pki/ca.pem"

# The binary is cached machine-wide (like the lab hosts' image: every clone and
# session on the machine shares it) under a hash of everything that goes into
# it, so `up` rebuilds only when our Go sources, Go or Debian's govmomi change.
binary() {
  local hash
  hash=$( { find "$here/go/src" -name '*.go' -print0 | LC_ALL=C sort -z | xargs -0 cat
            go version; dpkg-query -W golang-github-vmware-govmomi-dev 2>/dev/null || true; } \
          | sha256sum | cut -c1-16)
  echo "${REFORGE_LAB_CACHE:-/var/cache/reforge-lab}/vcsim/vcsimlab-$hash"
}

build() {
  local bin; bin=$(binary)
  mkdir -p "$(dirname "$bin")"
  # Two labs starting at once build it once.
  ( flock 8
    if [ ! -x "$bin" ]; then
      echo "vcsim: building $(basename "$bin") (Go GOPATH mode, Debian's govmomi)" >&2
      # GOPATH mode against /usr/share/gocode: nothing is fetched from anywhere.
      GO111MODULE=off GOPROXY=off GOFLAGS='' GOPATH="/usr/share/gocode:$here/go" \
        go build -trimpath -o "$bin.tmp" vcsimlab
      mv "$bin.tmp" "$bin"
    fi
    # Builds no clone has started for two weeks are dead weight (~25 MB each).
    touch "$bin"
    find "$(dirname "$bin")" -maxdepth 1 -name 'vcsimlab-*' ! -name '*.lock' -mtime +14 -delete
  ) 8>"$bin.lock" 9>&-
  echo "$bin"
}

running() {
  [ -s "$pidf" ] || return 1
  local pid; pid=$(cat "$pidf")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q vcsimlab
}

answers() {
  curl -fsS --max-time 5 --cacert "$ca" "https://127.0.0.1:$port/_lab/ready" >/dev/null 2>&1
}

describe() {
  local ready="$state/ready.json"
  python3 - "$ready" "$REFORGE_LAB_DIR/vcsim.json" <<PY
import json, sys
ready = json.load(open(sys.argv[1]))
out = {
    "url": "https://127.0.0.1:$port/sdk", "host": "127.0.0.1", "port": $port,
    "username": "$user", "password": "$pass", "ca": "$ca",
    "datacenter": ready["datacenter"], "cluster": ready["cluster"],
    "datastore": ready["datastore"], "datastore_dir": ready["datastore_dir"],
    "nfs_datastore": ready["nfs_datastore"], "nfs_datastore_dir": ready["nfs_datastore_dir"],
    "folder_url": "https://127.0.0.1:$port/folder",
    "lab_api": "https://127.0.0.1:$port/_lab",
    "cbt_window": ready["cbt_window"], "pid": ready["pid"],
    "startup_ms": ready["startup_ms"], "log": "$state/vcsim.log",
    # ESXi host name in vCenter -> its own /folder endpoint (tickets only)
    "esxi_hosts": ready.get("esxi_hosts", {}),
}
json.dump(out, open(sys.argv[2], "w"), indent=2)
PY
}

# Several test sessions share one lab: serialise up/down so two callers never
# start two servers on one port or stop one while the other starts it.
mkdir -p "$state"
if [ "${1:-status}" = up ] || [ "${1:-status}" = down ]; then
  exec 9>"$state/ctl.lock"
  flock -w 300 9
fi

case "${1:-status}" in
  build) build ;;
  up)
    if running && answers; then describe; exit 0; fi
    "$REPO_ROOT/tests/lab/pki/ctl.sh" up
    bin=$(build)
    if running; then kill "$(cat "$pidf")" 2>/dev/null || true; fi
    mkdir -p "$state"; rm -f "$state/ready.json"
    VCSIM_USERNAME="$user" VCSIM_PASSWORD="$pass" setsid "$bin" \
      -listen "127.0.0.1:$port" \
      -tlscert "$REFORGE_LAB_DIR/pki/server.pem" -tlskey "$REFORGE_LAB_DIR/pki/server.key" -tlsca "$ca" \
      -datastore-dir "$state/datastore" -ready-file "$state/ready.json" \
      -esxi-listen "127.0.0.1:$esxi_port" \
      > "$state/vcsim.log" 2>&1 < /dev/null 9>&- &
    pid=$!; echo "$pid" > "$pidf"
    # ~15 ms per extra VM on this machine; allow for a loaded one.
    for _ in $(seq 1 $((300 + ${VCSIM_EXTRA_VMS:-0} * 2))); do
      if [ -s "$state/ready.json" ] && answers; then describe; exit 0; fi
      # kill -0, not running(): until the child has exec'd, its cmdline is still this shell's.
      kill -0 "$pid" 2>/dev/null || { echo "vcsim: exited during start:" >&2; tail -20 "$state/vcsim.log" >&2; exit 1; }
      sleep 0.1
    done
    echo "vcsim: not answering in time" >&2; tail -20 "$state/vcsim.log" >&2; exit 1 ;;
  down)
    if running; then
      pid=$(cat "$pidf"); kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidf" "$REFORGE_LAB_DIR/vcsim.json"
    rm -rf "$state/datastore" "$state/nfs-ds01" ;;
  status) running && answers ;;
  *) echo "usage: $0 up|down|status|build" >&2; exit 2 ;;
esac
