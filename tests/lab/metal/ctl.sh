#!/usr/bin/env bash
# Metal lab: QEMU (TCG) machines with UEFI behind Redfish BMCs, cabled to two Open vSwitch switches.
#   tests/lab/metal/ctl.sh up|down|status
# Everything machine-wide lives in one network namespace "rm<6 hex of REFORGE_LAB_DIR>": the switches'
# ovs-vswitchd (userspace datapath), its taps, the two lldpd (one per switch) and the machines' QEMU.
# ovsdb, pids, sockets, disks and logs are under $REFORGE_LAB_DIR/metal. Machines are off after `up`:
# their BMC (python -m lab.metal.fleet, the project's Redfish simulator) powers them on.
# Writes $REFORGE_LAB_DIR/metal.json. Ports: REFORGE_LAB_METAL_BMC_BASE_PORT (default REFORGE_LAB_BMC_BASE_PORT + 100: 18101).
set -euo pipefail
source "$(dirname "$0")/../nodes/common.sh"
dir="$REFORGE_LAB_DIR/metal"
pki="$REFORGE_LAB_DIR/pki"
py="$VENV/bin/python"
MACHINES="${REFORGE_LAB_METAL_MACHINES:-2}"
BASE_PORT="${REFORGE_LAB_METAL_BMC_BASE_PORT:-$(( ${REFORGE_LAB_BMC_BASE_PORT:-18001} + 100 ))}"
NS="rm$(printf '%s' "$(realpath -m "$REFORGE_LAB_DIR")" | sha256sum | cut -c1-6)"
SWITCHES=(a b)
NICS=4                      # NIC i is cabled to switch SWITCHES[i % 2]: a bond of NICs 2k, 2k+1 spans both
VSCTL=(ovs-vsctl --db="unix:$dir/ovs/db.sock" --timeout=20)
# The controller's leg in the lab (stage 2): an OVS internal port on switch a, untagged (the management
# network rides the ports' native VLAN), with the campus management network's controller address; the
# install media are served from $dir/media inside the namespace (what the machines fetch) and on loopback
# (what the BMCs fetch).
CTL_ADDR="${REFORGE_LAB_METAL_CONTROLLER_ADDRESS:-10.20.10.5/24}"
CTL_PORT=rmctl
MEDIA_PORT=$(( BASE_PORT + 90 ))

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
status() {
  alive "$dir/ovs/ovsdb.pid" && alive "$dir/ovs/vswitchd.pid" && alive "$dir/fleet.pid" \
    && alive "$dir/lldpd-a.pid" && alive "$dir/lldpd-b.pid" && alive "$dir/http-ns.pid" && alive "$dir/http-lo.pid" \
    && [ -s "$REFORGE_LAB_DIR/metal.json" ]
}
wait_for() {  # wait_for <seconds> <command...>
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 0.1; done
}
nsx() { ip netns exec "$NS" "$@"; }
tap() { echo "rm$1n$2"; }            # machine m, NIC i (inside the lab's netns)
bridge() { echo "rmsw$1"; }

switches_up() {
  mkdir -p "$dir/ovs"
  ip netns add "$NS"
  nsx ip link set lo up
  ovsdb-tool create "$dir/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  ovsdb-server "$dir/ovs/conf.db" 2>/dev/null --remote="punix:$dir/ovs/db.sock" --pidfile="$dir/ovs/ovsdb.pid" \
    --unixctl="$dir/ovs/ovsdb.ctl" --log-file="$dir/ovs/ovsdb.log" --detach --no-chdir
  "${VSCTL[@]}" --no-wait init
  nsx ovs-vswitchd "unix:$dir/ovs/db.sock" --disable-system --pidfile="$dir/ovs/vswitchd.pid" \
    --unixctl="$dir/ovs/vswitchd.ctl" --log-file="$dir/ovs/vswitchd.log" --detach --no-chdir 2>/dev/null
  local s m i t n key sysid="02:52:4d:00:00:01"
  for s in "${SWITCHES[@]}"; do
    "${VSCTL[@]}" add-br "$(bridge "$s")" -- set bridge "$(bridge "$s")" datapath_type=netdev \
      other_config:hwaddr="02:52:4d:00:0$( [ "$s" = a ] && echo 1 || echo 2):00"
  done
  # The inter-switch link of the stacked pair (MLAG peer link): a patch pair trunking every VLAN.
  "${VSCTL[@]}" add-port "$(bridge a)" rmisla -- set interface rmisla type=patch options:peer=rmislb \
    -- add-port "$(bridge b)" rmislb -- set interface rmislb type=patch options:peer=rmisla
  for ((m = 1; m <= MACHINES; m++)); do
    for ((i = 0; i < NICS; i++)); do
      t=$(tap "$m" "$i"); s=${SWITCHES[i % 2]}; n=$(( m * 10 + i / 2 + 1 )); key=$(( m * 10 + i / 2 ))
      nsx ip tuntap add dev "$t" mode tap
      nsx ip link set "$t" up
      # Switch port facing a node bond member: 802.1Q trunk (every VLAN, untagged = native), LACP active
      # fast with the pair's one system id and a per-node-bond key, falling back to a plain port while
      # no partner speaks (an installer on one NIC still reaches the network: LACP bypass/fallback).
      # MTU 9000 on every node port, as the example campus declares its switches (switches: rm-swa/rm-swb mtu 9000):
      # the storage and migration VLANs carry jumbo frames end to end; a node's 1500 networks stay at 1500.
      "${VSCTL[@]}" add-port "$(bridge "$s")" "$t" -- set port "$t" lacp=active vlan_mode=trunk \
        other_config:lacp-time=fast other_config:lacp-system-id="$sysid" other_config:lacp-fallback-ab=true \
        -- set interface "$t" other_config:lacp-port-id="$(( ( $([ "$s" = a ] && echo 0 || echo 1000) ) + n ))" \
        other_config:lacp-aggregation-key="$key" mtu_request=9000
    done
  done
  lldp_up
}

lldp_up() {
  # One lldpd per switch on the switch side of its taps, as SONiC/Cumulus switches run lldpd: system name,
  # chassis id and per-port ids/descriptions a cabling check can compare with the plan.
  local s m i t pat
  for s in "${SWITCHES[@]}"; do
    pat=""
    for ((m = 1; m <= MACHINES; m++)); do
      for ((i = 0; i < NICS; i++)); do [ "${SWITCHES[i % 2]}" = "$s" ] && pat+="${pat:+,}$(tap "$m" "$i")"; done
    done
    mkdir -p "$dir/lldpd-$s"
    printf 'configure system hostname rm-sw%s\nconfigure system description "reforge lab switch %s (Open vSwitch, userspace datapath)"\nconfigure lldp tx-interval 5\n' \
      "$s" "$s" > "$dir/lldpd-$s/lldpd.conf"
    for ((m = 1; m <= MACHINES; m++)); do
      for ((i = 0; i < NICS; i++)); do
        [ "${SWITCHES[i % 2]}" = "$s" ] || continue
        t=$(tap "$m" "$i")
        printf 'configure ports %s lldp portidsubtype local swp%s description "m%s nic%s"\n' \
          "$t" "$(( m * 10 + i / 2 ))" "$m" "$i" >> "$dir/lldpd-$s/lldpd.conf"
      done
    done
    ip netns exec "$NS" lldpd -d -k -I "$pat" -u "$dir/lldpd-$s.sock" -O "$dir/lldpd-$s/lldpd.conf" \
      >"$dir/lldpd-$s.log" 2>&1 < /dev/null &
    echo $! > "$dir/lldpd-$s.pid"
  done
}

controller_up() {
  "${VSCTL[@]}" add-port "$(bridge a)" "$CTL_PORT" -- set interface "$CTL_PORT" type=internal
  wait_for 20 nsx ip link show "$CTL_PORT" >/dev/null 2>&1
  nsx ip addr add "$CTL_ADDR" dev "$CTL_PORT"
  nsx ip link set "$CTL_PORT" up
  mkdir -p "$dir/media" "$dir/ssh" "$dir/hostkeys"
  # The controller's SSH key for the installed nodes (os_install authorizes it) and the directory of their planned
  # host keys (os_install makes them): inventories/lab-metal reads both from metal.json.
  [ -s "$dir/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C reforge-lab-controller -f "$dir/ssh/id_ed25519"
  # Plain HTTP, read-only, the directory the install role writes to (os_install_media_dir). The namespace's
  # server is reachable only from the lab's switches; the loopback one only from this host.
  ip netns exec "$NS" setsid "$py" -m http.server --bind "${CTL_ADDR%/*}" --directory "$dir/media" 80 \
    >"$dir/http-ns.log" 2>&1 < /dev/null &
  echo $! > "$dir/http-ns.pid"
  setsid "$py" -m http.server --bind 127.0.0.1 --directory "$dir/media" "$MEDIA_PORT" >"$dir/http-lo.log" 2>&1 < /dev/null &
  echo $! > "$dir/http-lo.pid"
  wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MEDIA_PORT" 2>/dev/null \
    || { echo "metal: the loopback media server did not start; see $dir/http-lo.log" >&2; return 1; }
}

disks_up() {
  local m md
  for ((m = 1; m <= MACHINES; m++)); do
    md="$dir/machines/m$m"; mkdir -p "$md"
    # Empty disks (sparse qcow2) and the machine's own copy of OVMF's variable store.
    [ -s "$md/boot.qcow2" ] || qemu-img create -q -f qcow2 "$md/boot.qcow2" 16G
    [ -s "$md/data.qcow2" ] || qemu-img create -q -f qcow2 "$md/data.qcow2" 8G
    [ -s "$md/OVMF_VARS.fd" ] || cp /usr/share/OVMF/OVMF_VARS_4M.fd "$md/OVMF_VARS.fd"
  done
}

up() {
  if status; then return 0; fi
  down >/dev/null 2>&1 || true
  [ -s "$pki/server.pem" ] || "$REPO_ROOT/tests/lab/pki/ctl.sh" up
  mkdir -p "$dir"
  switches_up
  controller_up
  disks_up
  rm -f "$dir/ready.json"
  PYTHONPATH="$REPO_ROOT/tests" setsid "$py" -m lab.metal.fleet --netns "$NS" --dir "$dir" --machines "$MACHINES" \
    --nics "$NICS" --cert "$pki/server.pem" --key "$pki/server.key" --ready-file "$dir/ready.json" \
    --base-port "$BASE_PORT" >"$dir/fleet.log" 2>&1 < /dev/null &
  echo $! > "$dir/fleet.pid"
  if ! wait_for 60 bash -c "[ -s '$dir/ready.json' ] || ! kill -0 $(cat "$dir/fleet.pid")" || [ ! -s "$dir/ready.json" ]; then
    echo "metal BMCs did not start; see $dir/fleet.log" >&2; tail -20 "$dir/fleet.log" >&2; down; return 1
  fi
  "$py" - "$dir/ready.json" "$REFORGE_LAB_DIR/metal.json" "$pki/ca.pem" "$NS" "$dir" "$CTL_ADDR" "$CTL_PORT" \
    "$MEDIA_PORT" <<'PY'
import json, os, sys
ready, out, ca, ns, d, ctl_addr, ctl_port, media_port = sys.argv[1:]
data = json.load(open(ready))
desc = {"bmcs": data["bmcs"], "machines": data["machines"], "netns": ns, "dir": d,
        "switches": {s: {"bridge": f"rmsw{s}", "lldp_socket": f"{d}/lldpd-{s}.sock"} for s in "ab"},
        "ovs_db": f"unix:{d}/ovs/db.sock", "ovs_ctl": f"{d}/ovs/vswitchd.ctl",
        "username": os.environ.get("REDFISH_USERNAME", "root"), "password": os.environ.get("REDFISH_PASSWORD", "calvin"),
        "ca": ca, "pid": data["pid"],
        "controller": {"address": ctl_addr.split("/")[0], "prefix": int(ctl_addr.split("/")[1]), "port": ctl_port,
                       "switch": "a",
                       "ssh_proxy_command": f"ip netns exec {ns} nc %h %p",
                       "ssh_key": f"{d}/ssh/id_ed25519", "hostkeys_dir": f"{d}/hostkeys"},
        "media": {"dir": f"{d}/media", "bmc_url": f"http://127.0.0.1:{media_port}",
                  "machine_url": f"http://{ctl_addr.split('/')[0]}"}}
with open(out + ".tmp", "w") as fh:
    json.dump(desc, fh, indent=1)
os.replace(out + ".tmp", out)
PY
}

stop_pid() {  # stop_pid <pidfile>: TERM, wait, KILL
  local f="$1" p
  if alive "$f"; then
    p=$(cat "$f"); kill "$p" 2>/dev/null || true
    wait_for 15 bash -c "! kill -0 $p 2>/dev/null" || kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  # The fleet first: on SIGTERM it quits every running machine over QMP (and kills what does not answer).
  stop_pid "$dir/fleet.pid"
  local f
  for f in "$dir"/machines/*/qemu.pid; do [ -e "$f" ] && stop_pid "$f"; done
  stop_pid "$dir/http-ns.pid"; stop_pid "$dir/http-lo.pid"
  stop_pid "$dir/lldpd-a.pid"; stop_pid "$dir/lldpd-b.pid"
  stop_pid "$dir/ovs/vswitchd.pid"; stop_pid "$dir/ovs/ovsdb.pid"
  # Deleting the namespace removes its taps, the bridges' internal ports and ovs-netdev with it.
  if ip netns list | grep -qw "^$NS"; then ip netns del "$NS"; fi
  rm -rf "$dir" "$REFORGE_LAB_DIR/metal.json"
}

case "${1:-status}" in
  up) up ;;
  down) down ;;
  status) status ;;
  netns) echo "$NS" ;;
  *) echo "usage: $0 up|down|status|netns" >&2; exit 2 ;;
esac
