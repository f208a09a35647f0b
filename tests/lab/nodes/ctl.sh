#!/usr/bin/env bash
# The lab's hosts: N Debian 13 machines (node1..nodeN) as rootful podman
# containers with systemd as PID 1, each with its own network namespace
# (eth0 on the management bridge, eth1/eth2 on the storage bridge) and two
# spare disks (loop devices over sparse files).
#   tests/lab/nodes/ctl.sh up|down|status
#   tests/lab/nodes/ctl.sh power <node> on|off|shutdown|status
#   tests/lab/nodes/ctl.sh add|remove <nodeN>     (one more/less host on a running lab)
# Env: REFORGE_LAB_NODES (count, default 4), REFORGE_LAB_NODE_DISK_SIZE
# (default 8G), REFORGE_LAB_CACHE (image/apt cache, default /var/cache/reforge-lab).
# See README.md beside this file for the design and the measurements.
set -euo pipefail
source "$(dirname "$0")/common.sh"

STATE="$REFORGE_LAB_DIR/nodes"
SSH_KEY="$REFORGE_LAB_DIR/ssh/id_ed25519"
MGMT_BR=rlab-mgmt          # host side 10.250.0.1/24, node i at 10.250.0.(10+i)
STOR_BR=rlab-stor          # links only: the network role builds bonds/VLANs on them
MGMT_PREFIX=10.250.0
HOST_ADDR=$MGMT_PREFIX.1
STORAGE_NICS=2
DISKS_PER_NODE=2
DISK_SIZE="${REFORGE_LAB_NODE_DISK_SIZE:-8G}"
REPO_IN_NODE=/srv/reforge-lab-apt
BOOT_TIMEOUT=90
# Podman refuses a runroot longer than 50 characters, and its run state must
# not survive a host reboot: keep it under /run, named by a hash of the lab
# dir. A lab started before this (run state under .lab) keeps its own until
# `down`.
# (Podman's database also pins tmp_dir.)
if [ -d "$STATE/podman/run" ]; then
  RUNROOT="$STATE/podman/run" PODMAN_TMP="$STATE/podman/tmp"
else
  RUNROOT="/run/reforge-lab/$(printf '%s' "$STATE" | sha256sum | cut -c1-12)" PODMAN_TMP="$RUNROOT/tmp"
fi

# Node images live in one machine-wide store beside the image tarballs, imported
# once per recipe: a new lab (a fresh clone, the private-namespace test) uses them
# read-only as an additional image store instead of importing ~1 GB each time.
IMAGE_STORE="$LAB_CACHE/podman-images"
IMAGE_STORE_RUN="/run/reforge-lab/images"

# Podman with a private store and config: nothing under /etc or /var/lib/containers.
# Containers and their writable layers stay in this lab's own store.
# fd 9 (the lab lock) is closed for podman: conmon outlives the call and
# would hold the lock forever.
PODMAN_ARGS=(--root "$STATE/podman/root" --runroot "$RUNROOT" --storage-driver overlay
             --storage-opt "additionalimagestore=$IMAGE_STORE")
pm() {
  CONTAINERS_CONF="$STATE/containers.conf" podman "${PODMAN_ARGS[@]}" "$@" 9>&-
}

# The machine-wide image store itself (writes under its lock only).
image_store() {
  podman --root "$IMAGE_STORE" --runroot "$IMAGE_STORE_RUN" --storage-driver overlay "$@" 9>&-
}

# up/down/power change shared state (bridges, loops, containers): one at a
# time, whoever calls (tests, the demo, the BMC simulator's power hook).
lock() {
  mkdir -p "$REFORGE_LAB_DIR"
  exec 9>"$REFORGE_LAB_DIR/nodes.lock"
  flock 9
}

write_containers_conf() {
  write_podman_conf "$STATE/containers.conf" "$PODMAN_TMP" "hooks_dir = [\"$STATE/hooks\"]"
  # A node that stops by itself (poweroff inside, crash) must drop off the
  # network like a real host: the hook pulls its cables.
  mkdir -p "$STATE/hooks"
  jq -n --arg p "$NODES_SRC/poweroff-hook.sh" --arg ctl "$NODES_SRC/ctl.sh" '{version: "1.0.0",
      hook: {path: $p, args: ["poweroff-hook.sh", $ctl]},
      when: {annotations: {"reforge.lab.node": ".+"}}, stages: ["poststop"]}' \
    > "$STATE/hooks/reforge-lab-poweroff.json"
}

node_index() { local n="${1#node}"; [[ "$n" =~ ^[0-9]+$ ]] || die "not a lab node: $1"; echo "$n"; }
node_addr() { echo "$MGMT_PREFIX.$((10 + $(node_index "$1")))"; }
node_netns() { echo "reforge-$1"; }
node_mac() { printf '02:52:46:00:%02x:%02x\n' "$(node_index "$1")" "$2"; }
host_veth() { echo "rl-$1-e$2"; }

# Nodes recorded by `up`; power/status/down work on those, whatever the env says now.
known_nodes() { if [ -s "$STATE/nodes.list" ]; then cat "$STATE/nodes.list"; fi; }
wanted_nodes() { local i; for ((i = 1; i <= ${REFORGE_LAB_NODES:-4}; i++)); do echo "node$i"; done; }

ensure_bridge() {
  local br="$1" addr="${2:-}"
  ip link show "$br" >/dev/null 2>&1 || ip link add "$br" type bridge
  # No STP delay: links are usable as soon as a node starts.
  ip link set "$br" type bridge forward_delay 0 stp_state 0
  if [ -n "$addr" ] && ! ip -br addr show dev "$br" | grep -qw "$addr"; then
    ip addr add "$addr" dev "$br"
  fi
  ip link set "$br" up
}

ensure_ssh_key() {
  [ -e "$SSH_KEY" ] && return
  mkdir -p "$(dirname "$SSH_KEY")"; chmod 700 "$(dirname "$SSH_KEY")"
  ssh-keygen -q -t ed25519 -N '' -C reforge-lab -f "$SSH_KEY" </dev/null
}

# Two sparse files per node, attached as loop devices (a privileged
# container's /dev is a copy taken at start: attach before starting).
# Prints "<by-id name> <loop device> <file>" lines.
ensure_disks() {
  local node="$1" d f loop
  mkdir -p "$STATE/$node"
  for ((d = 1; d <= DISKS_PER_NODE; d++)); do
    f="$STATE/$node/disk$d.img"
    [ -e "$f" ] || truncate -s "$DISK_SIZE" "$f"
    loop=$(losetup -j "$f" -O NAME -n | head -1)
    [ -n "$loop" ] || loop=$(losetup -f --show "$f")
    echo "lab-$node-disk$d $loop $f"
  done
}

detach_disks() {
  local node="$1" f loop
  for f in "$STATE/$node"/disk*.img; do
    [ -e "$f" ] || continue
    for loop in $(losetup -j "$f" -O NAME -n); do losetup -d "$loop"; done
  done
}

# The node's network namespace outlives its container, so power off/on keeps
# the addresses; eth0 gets the management address, eth1.. are bare links.
ensure_netns() {
  local node="$1" ns nic name br
  ns=$(node_netns "$node")
  [ -e "/run/netns/$ns" ] || ip netns add "$ns"
  ip -n "$ns" link set lo up
  for ((nic = 0; nic <= STORAGE_NICS; nic++)); do
    name="eth$nic"; br=$STOR_BR; ((nic == 0)) && br=$MGMT_BR
    if ! ip -n "$ns" link show "$name" >/dev/null 2>&1; then
      ip link del "$(host_veth "$node" "$nic")" 2>/dev/null || true
      ip link add "$(host_veth "$node" "$nic")" type veth peer name "$name" netns "$ns"
      ip -n "$ns" link set "$name" address "$(node_mac "$node" "$nic")"
    fi
    ip link set "$(host_veth "$node" "$nic")" master "$br"
  done
  ip -n "$ns" addr show dev eth0 | grep -q "$(node_addr "$node")/" \
    || ip -n "$ns" addr add "$(node_addr "$node")/24" dev eth0
}

# Cable plugged or pulled: a node that is off must not answer ARP or ping.
set_links() {
  local node="$1" state="$2" nic
  for ((nic = 0; nic <= STORAGE_NICS; nic++)); do
    ip link set "$(host_veth "$node" "$nic")" "$state" 2>/dev/null || true
    ip -n "$(node_netns "$node")" link set "eth$nic" "$state" 2>/dev/null || true
  done
  if [ "$state" = up ]; then
    # Default route to the host only so that facts like ansible_default_ipv4
    # exist; the host does not forward (net.ipv4.ip_forward=0) and no NAT is set up.
    ip -n "$(node_netns "$node")" route replace default via "$HOST_ADDR" dev eth0
  fi
}

hosts_file() {
  local n
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
  printf '%s\tcontroller\n' "$HOST_ADDR"
  for n in $(known_nodes); do printf '%s\t%s\n' "$(node_addr "$n")" "$n"; done
}

# The nodes mount $STATE/apt, a per-lab copy of the cached repo made of hard
# links (a copy where the cache is on another filesystem). Refreshing it in
# place lets running nodes see packages added to node-packages.txt after the
# next `up`; --delay-updates swaps every file at the end, so a node's apt
# never sees an index naming a .deb that is not there yet.
sync_repo() {
  local repo="$1"
  mkdir -p "$STATE/apt"
  rsync -a --delete --delay-updates --link-dest="$repo/" "$repo/" "$STATE/apt/"
}

image_ref() { echo "localhost/reforge-lab-node:$(basename "$1" .tar)"; }

# One tarball into the machine-wide image store, unless it is there already.
import_shared() {
  local tar="$1" ref="$2" old
  image_store image exists "$ref" && return 0
  log "importing $(basename "$tar") into the machine-wide image store"
  heartbeat "nodes: import" image_store import -q "$tar" "$ref" >/dev/null
  # An image whose tarball prune_cache removed (no lab used it for two weeks) goes too.
  for old in $(image_store images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/reforge-lab-node:'); do
    [ -e "$LAB_CACHE/${old##*:}.tar" ] || image_store rmi "$old" >/dev/null 2>&1 || true
  done
}

# Makes the given image tarballs' images available to this lab (imported once per machine).
ensure_images() {
  local tar ref old keep=()
  for tar in "$@"; do
    ref=$(image_ref "$tar"); keep+=("$ref")
    pm image exists "$ref" || with_lock "$LAB_CACHE/podman-images.lock" import_shared "$tar" "$ref"
  done
  # Images a lab of an older layout imported into its own store: dead weight once
  # their nodes are gone (a node in use keeps its own; the shared store's are read-only here).
  for old in $(pm images --filter readonly=false --format '{{.Repository}}:{{.Tag}}' 2>/dev/null \
      | grep '^localhost/reforge-lab-node:' | grep -vxF -f <(printf '%s\n' "${keep[@]}")); do
    pm rmi "$old" >/dev/null 2>&1 || true
  done
}

# Nodes that boot the baked image (bake.sh: the cluster roles' packages already
# installed); every other node boots the base image and gets them the way a
# real server does, from the roles' install tasks. By default the first three
# (the cluster's build-out nodes) are baked and node4, the expansion node, is
# not, so `expand.yml` proves the install path on every run.
# REFORGE_LAB_BAKED_NODES="" boots every node bare.
baked_nodes() { echo "${REFORGE_LAB_BAKED_NODES-node1 node2 node3}"; }
is_baked() { [[ " $(baked_nodes) " == *" $1 "* ]]; }

create_node() {
  local node="$1" image="$2" tmp
  pm container exists "$node" && return 0
  ensure_netns "$node"
  # Privileged: libvirt needs writable cgroup hierarchies (v1 here) to start
  # VMs; the image's reforge-lab-devices unit then removes every block device
  # that is not this node's own. Networking is the namespace prepared above.
  pm create --name "$node" --hostname "$node" --privileged --systemd always \
    --stop-signal SIGRTMIN+3 --network "ns:/run/netns/$(node_netns "$node")" \
    --no-hosts --dns none --log-driver k8s-file --log-opt max-size=1mb \
    --annotation "reforge.lab.node=$node" \
    -v "$STATE/apt:$REPO_IN_NODE:ro" "$(image_ref "$image")" /sbin/init >/dev/null
  tmp=$(mktemp -d)
  install -d -m 700 "$tmp/ssh"
  cp "$SSH_KEY.pub" "$tmp/ssh/authorized_keys"
  hosts_file > "$tmp/hosts"
  pm cp "$tmp/ssh/authorized_keys" "$node:/root/.ssh/authorized_keys"
  pm cp "$tmp/hosts" "$node:/etc/hosts"
  rm -rf "$tmp"
}

# Nodes created earlier learn the names of nodes added since (lines are only
# appended: what a role wrote to /etc/hosts stays).
update_hosts() {
  local node="$1"
  # shellcheck disable=SC2016  # expanded by the node's shell
  hosts_file | grep -v -e '^127\.' -e '^::1' | pm exec -i "$node" sh -c 'while read -r ip name; do
      grep -qw -- "$name" /etc/hosts || printf "%s\t%s\n" "$ip" "$name" >> /etc/hosts
    done'
}

is_running() { [ "$(pm container inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }

wait_ssh() {
  local node="$1" deadline=$((SECONDS + BOOT_TIMEOUT))
  until ssh -q -i "$SSH_KEY" -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no \
      -o UserKnownHostsFile=/dev/null "root@$(node_addr "$node")" true 2>/dev/null; do
    ((SECONDS < deadline)) || die "$node: no SSH after ${BOOT_TIMEOUT}s"
    sleep 0.3
  done
}

# A server that powers on has no network devices but its NICs, and no
# addresses but what its OS configures at boot: the bridges, VLANs, taps and
# VXLANs made before the power cut are gone. The node's namespace outlives its
# container (it is the lab's cabling, kept across power cycles and even across
# a lab that was never taken down), so powering on takes that state away as a
# real power cycle does. Without this a rebooted or fenced node - or a fresh
# node in a namespace a killed session left behind - still had libvirt's
# br-vm, and libvirt's start of its network failed with "File exists".
reset_netns() {
  local ns link
  ns=$(node_netns "$1")
  [ -e "/run/netns/$ns" ] || return 0
  for link in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
    case "$link" in
      lo) ;;
      eth[0-9]*) ip -n "$ns" addr flush dev "$link" scope global 2>/dev/null || true ;;
      *) ip -n "$ns" link del "$link" 2>/dev/null || true ;;
    esac
  done
}

power_on() {
  local node="$1" map
  pm container exists "$node" || die "$node does not exist (run ctl.sh up)"
  is_running "$node" && return 0
  # Disks first (loop numbers may change after a host reboot), then cables.
  map=$(ensure_disks "$node" | awk '{print $1, $2}')
  printf '%s\n' "$map" > "$STATE/$node/disks"
  pm cp "$STATE/$node/disks" "$node:/etc/reforge-lab/disks"
  reset_netns "$node"
  ensure_netns "$node"
  set_links "$node" up
  pm start "$node" >/dev/null
}

# off: pulled plug (what fencing does); shutdown: ACPI-like, systemd stops units.
power_off() {
  local node="$1" grace="$2"
  if is_running "$node"; then pm stop -t "$grace" "$node" >/dev/null 2>&1 || true; fi
  set_links "$node" down
}

write_json() {
  local image="$1" repo="$2" node nodes=() nic nics d
  for node in $(known_nodes); do
    nics=()
    for ((nic = 0; nic <= STORAGE_NICS; nic++)); do
      if ((nic == 0)); then
        nics+=("$(jq -cn --arg n eth0 --arg b $MGMT_BR --arg m "$(node_mac "$node" 0)" \
          --arg a "$(node_addr "$node")/24" '{name:$n, bridge:$b, mac:$m, address:$a}')")
      else
        nics+=("$(jq -cn --arg n "eth$nic" --arg b $STOR_BR --arg m "$(node_mac "$node" "$nic")" \
          '{name:$n, bridge:$b, mac:$m, address:null}')")
      fi
    done
    d=$(ensure_disks "$node" | jq -Rsc --arg s "$DISK_SIZE" \
      '[split("\n")[] | select(length>0) | split(" ") | {id:("/dev/disk/by-id/"+.[0]), device:.[1], file:.[2], size:$s}]')
    nodes+=("$(jq -cn --arg n "$node" --arg a "$(node_addr "$node")" --arg k "$SSH_KEY" \
      --arg ns "/run/netns/$(node_netns "$node")" --argjson d "$d" --argjson nics "[$(IFS=,; echo "${nics[*]}")]" \
      --arg im "$(pm container inspect -f '{{.ImageName}}' "$node" 2>/dev/null)" \
      '{name:$n, address:$a, ssh_user:"root", ssh_key:$k, netns:$ns, container:$n, disks:$d, nics:$nics,
        image:$im, baked:($im | test(":baked-"))}')")
  done
  jq -n --argjson nodes "[$(IFS=,; echo "${nodes[*]}")]" --arg img "$image" --arg repo "$repo" --arg boot "$3" \
    --arg rin "$REPO_IN_NODE" --arg key "$SSH_KEY" --arg ctl "$REPO_ROOT/tests/lab/nodes/ctl.sh" \
    --arg mb $MGMT_BR --arg ha "$HOST_ADDR/24" --arg sb $STOR_BR --arg st "$STATE" --arg rr "$RUNROOT" --arg is "$IMAGE_STORE" '{
      nodes: $nodes, ssh_key: $key, image: $img,
      bridge: {management: {name: $mb, host_address: $ha, network: "10.250.0.0/24"},
               storage: {name: $sb, network: "10.250.1.0/24", host_address: null}},
      apt_repo: {host_path: ($st + "/apt"), cache_path: $repo, node_path: $rin, source: ("deb [trusted=yes] file:" + $rin + " ./")},
      power_hook: ($ctl + " power <node> on|off|shutdown|status"),
      podman: ("CONTAINERS_CONF=" + $st + "/containers.conf podman --root " + $st + "/podman/root --runroot " + $rr
               + " --storage-driver overlay --storage-opt additionalimagestore=" + $is),
      boot_seconds: ($boot | tonumber)}' > "$REFORGE_LAB_DIR/nodes.json.tmp"
  mv "$REFORGE_LAB_DIR/nodes.json.tmp" "$REFORGE_LAB_DIR/nodes.json"
}

# Called (detached) by the poststop hook. systemd as PID 1 of a container
# exits with 129 on `reboot` (0 on poweroff, 137 when our switch kills it):
# a rebooting server comes back by itself.
cmd_after_stop() {
  local node="$1"
  pm container exists "$node" || return 0
  is_running "$node" && return 0
  [ "$(pm container inspect -f '{{.State.ExitCode}}' "$node")" = 129 ] || return 0
  log "$node rebooted itself: powering it on"
  power_on "$node"
}

power_status() { if is_running "$1"; then echo on; else echo off; fi; }

# The uplink: listeners inside every node's namespace that forward to the
# host's loopback, so nodes reach the BMC simulators (fence_redfish), vcsim
# and its ESXi hosts (migration syncs delegated to a node) at the same
# https://127.0.0.1 URLs the controller uses. One process for all nodes; it follows power cycles.
uplink_ports() {
  local base="${REFORGE_LAB_BMC_BASE_PORT:-18001}" count="${REFORGE_LAB_BMCS:-6}" vc="${VCSIM_PORT:-18443}"
  # vCenter, then its ESXi hosts' own endpoints (tests/lab/vcsim/ctl.sh: VCSIM_PORT+1 ...).
  echo "$base-$(( base + count - 1 )),$vc-$(( vc + ${VCSIM_HOSTS:-2} ))"
}

# fd 9 is the nodes lock (see lock()): the long-lived uplink must not inherit it.
uplink_up() {
  local pidf="$STATE/uplink.pid"
  if [ -s "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then return 0; fi
  PYTHONPATH="$REPO_ROOT/tests" setsid "$VENV/bin/python" -m lab.nodes.uplink \
    --nodes-json "$REFORGE_LAB_DIR/nodes.json" --ports "$(uplink_ports)" --pid-file "$pidf" \
    >"$STATE/uplink.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$pidf"
}

uplink_down() {
  local pidf="$STATE/uplink.pid"
  if [ -s "$pidf" ]; then kill "$(cat "$pidf")" 2>/dev/null || true; rm -f "$pidf"; fi
}

cmd_up() {
  local image repo baked node t0 t1 boot
  [ "$(id -u)" = 0 ] || die "must run as root (rootful podman, bridges, loop devices)"
  t0=$(now)
  mkdir -p "$STATE"
  image=$("$NODES_SRC/image.sh")
  repo=$("$NODES_SRC/repo.sh")
  baked=""
  [ -z "$(baked_nodes)" ] || baked=$("$NODES_SRC/bake.sh")
  sync_repo "$repo"
  write_containers_conf
  ensure_ssh_key
  ensure_images "$image" ${baked:+"$baked"}
  # Extend the recorded set (never shrink it here: `down` removes nodes).
  { known_nodes; wanted_nodes; } | sort -uV > "$STATE/nodes.list.tmp"
  mv "$STATE/nodes.list.tmp" "$STATE/nodes.list"
  ensure_bridge $MGMT_BR "$HOST_ADDR/24"
  ensure_bridge $STOR_BR
  t1=$(now)
  for node in $(known_nodes); do
    if [ -n "$baked" ] && is_baked "$node"; then create_node "$node" "$baked"; else create_node "$node" "$image"; fi
    power_on "$node"
  done
  for node in $(known_nodes); do wait_ssh "$node"; update_hosts "$node"; done
  boot=$(printf %.1f "$(elapsed "$t1")")
  write_json "$image" "$repo" "$boot"
  uplink_up
  log "$(wc -l < "$STATE/nodes.list") nodes up; booted to SSH in $boot s (total $(printf %.1f "$(elapsed "$t0")") s)"
}

cmd_down() {
  local node
  uplink_down
  if [ -d "$STATE" ]; then
    for node in $(known_nodes); do
      if [ -s "$STATE/containers.conf" ]; then pm rm -f -t 0 "$node" >/dev/null 2>&1 || true; fi
      ip netns del "$(node_netns "$node")" 2>/dev/null || true   # takes the veths with it
      detach_disks "$node"
    done
  fi
  # The bridges have machine-wide names: only the lab that runs the nodes takes
  # them down (a `lab.sh down` from another lab dir once cut a running cluster off).
  if [ -f "$REFORGE_LAB_DIR/nodes.json" ]; then
    ip link del $MGMT_BR 2>/dev/null || true
    ip link del $STOR_BR 2>/dev/null || true
  fi
  # Node state goes (disks, containers, podman's run state and container
  # database, which records the runroot); the imported image (private podman
  # store) and the machine-level image/apt caches stay for the next `up`.
  if [ -d "$STATE" ]; then
    find "$STATE" -mindepth 1 -maxdepth 1 ! -name podman ! -name containers.conf -exec rm -rf {} +
    rm -rf "$STATE/podman/run" "$STATE/podman/tmp" "$STATE/podman/root/libpod/bolt_state.db"
  fi
  rm -rf "$RUNROOT"
  rm -f "$REFORGE_LAB_DIR/nodes.json"
}

# One node more or less on a running lab: a scratch host for tests that must
# not disturb node1..N (which other work may be using), or a later expansion.
cmd_add() {
  local node="$1"
  node_index "$node" >/dev/null
  mkdir -p "$STATE"
  known_nodes | grep -qx "$node" || echo "$node" >> "$STATE/nodes.list"
  cmd_up
}

cmd_remove() {
  local node="$1" image
  known_nodes | grep -qx "$node" || return 0
  pm rm -f -t 0 "$node" >/dev/null 2>&1 || true
  ip netns del "$(node_netns "$node")" 2>/dev/null || true
  detach_disks "$node"
  rm -rf "${STATE:?}/$node"
  grep -vx "$node" "$STATE/nodes.list" > "$STATE/nodes.list.tmp" || true
  mv "$STATE/nodes.list.tmp" "$STATE/nodes.list"
  if [ -s "$REFORGE_LAB_DIR/nodes.json" ]; then
    image=$(jq -r .image "$REFORGE_LAB_DIR/nodes.json")
    write_json "$image" "$(jq -r .apt_repo.cache_path "$REFORGE_LAB_DIR/nodes.json")" \
      "$(jq -r .boot_seconds "$REFORGE_LAB_DIR/nodes.json")"
  fi
}

# The component is up when its nodes exist, whatever their power state: a
# node fenced off by a test is still part of a running lab (and `up`, which
# would switch it back on, must not be triggered by that).
cmd_status() {
  local node
  [ -s "$STATE/nodes.list" ] && [ -e "$REFORGE_LAB_DIR/nodes.json" ] || return 1
  ip link show $MGMT_BR >/dev/null 2>&1 || return 1
  for node in $(known_nodes); do
    pm container exists "$node" || { echo "$node: missing"; return 1; }
    echo "$node: $(power_status "$node")"
  done
}

cmd_power() {
  local node="${1:-}" action="${2:-status}"
  if [ -z "$node" ] || ! known_nodes | grep -qx "$node"; then
    die "unknown node '$node' (known: $(known_nodes | paste -sd' '))"
  fi
  case "$action" in
    on) power_on "$node"; [ "${REFORGE_LAB_POWER_NOWAIT:-}" ] || wait_ssh "$node" ;;
    off) power_off "$node" 0 ;;
    shutdown) power_off "$node" 30 ;;
    status) power_status "$node" ;;
    *) die "usage: ctl.sh power <node> on|off|shutdown|status" ;;
  esac
}

case "${1:-status}" in
  up) lock; cmd_up ;;
  down) lock; cmd_down ;;
  status) cmd_status ;;
  power) shift; [ "${2:-status}" = status ] || lock; cmd_power "$@" ;;
  add) lock; cmd_add "${2:?usage: ctl.sh add nodeN}" ;;
  remove) lock; cmd_remove "${2:?usage: ctl.sh remove nodeN}" ;;
  after-stop) lock; cmd_after_stop "${2:?}" ;;
  *) echo "usage: $0 up|down|status | power <node> on|off|shutdown|status | add|remove <nodeN>" >&2; exit 2 ;;
esac
