#!/bin/sh
# OCI poststop hook: podman runs it when a node's container has stopped, for
# whatever reason - our power switch, `poweroff`/`reboot` inside, a crash.
# It pulls the node's cables so that a stopped host stops answering on its
# addresses (its network namespace, which keeps them, outlives the container),
# and powers the node back on if it asked for a reboot, as a server would.
#   args: <ctl.sh>; the container state (JSON with our
#   annotation naming the node) comes on stdin.
# No lab lock here: `ctl.sh power off` holds it while podman runs this.
set -eu
ctl="$1"
state=$(cat)
node=$(printf '%s' "$state" | jq -r '.annotations["reforge.lab.node"] // empty')
[ -n "$node" ] || exit 0
for nic in /sys/class/net/rl-"$node"-e*; do
  [ -e "$nic" ] && ip link set "${nic##*/}" down
done
# shellcheck disable=SC2016  # expanded by the inner shell, in the namespace
ip netns exec "reforge-$node" sh -c \
  'for l in /sys/class/net/eth*; do [ -e "$l" ] && ip link set "${l##*/}" down; done' 2>/dev/null || true
# Whether it was a reboot is only known once podman has recorded the exit
# code, after this hook: ask ctl.sh to look, detached, once the lock is free.
setsid "$ctl" after-stop "$node" </dev/null >/dev/null 2>&1 &
