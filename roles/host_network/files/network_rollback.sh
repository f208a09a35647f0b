# shellcheck shell=sh
# reforge.hci host_network: the node's side of a safe network change (run as: /bin/sh network_rollback.sh CMD ...).
#
#   backup   NETDIR STATE          copy NETDIR's networkd files to STATE/backup (refused while a change is pending)
#   arm      NETDIR STATE SECONDS  start a transient timer that runs "restore" after SECONDS unless confirmed
#   activate NETDIR STATE          delete the netdevs whose .netdev differs from the backup, reload networkd,
#                                  reconfigure the links our files match
#   restore  NETDIR STATE          put the backup back (ours removed, the backup's files copied), then activate;
#                                  leaves STATE/rolled-back
#   addresses NETDIR STATE SECONDS IFACE=CIDR...
#                                  wait (bounded) until activate has finished and every IFACE has its CIDR; say what
#                                  is missing (run by the controller over the new configuration)
#   confirm  NETDIR STATE          stop the timer, drop the backup
#
# Files are "ours" when their first line starts with MARKER. Commands found on PATH: networkctl, systemd-run,
# systemctl, ip. SYS_CLASS_NET (default /sys/class/net) is where links are read, for tests.
set -u
MARKER='# Rendered by reforge.hci.networkd_files'
UNIT=reforge-network-rollback
SYS_CLASS_NET=${SYS_CLASS_NET:-/sys/class/net}

say() { echo "network_rollback: $*" >&2; }
die() { say "$*"; exit 1; }

is_ours() { head -n 1 "$1" 2>/dev/null | grep -qF "$MARKER"; }

config_files() {  # the networkd files of a directory, one per line
    for f in "$1"/*.network "$1"/*.netdev "$1"/*.link; do
        [ -f "$f" ] && echo "$f"
    done
}

key_values() {  # key_values FILE KEY: the words of every KEY= line
    sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | tr ' ' '\n' | sed '/^$/d'
}

timer_active() { systemctl is-active --quiet "$UNIT.timer"; }

backup() {
    netdir=$1 state=$2
    if [ -f "$state/backup/.complete" ] && timer_active; then
        die "a change is pending confirmation ($UNIT.timer is armed, backup in $state/backup); wait for it or confirm it"
    fi
    rm -rf "$state/backup" || die "cannot clear $state/backup"
    mkdir -p "$state/backup" || die "cannot create $state/backup"
    config_files "$netdir" | while read -r f; do
        cp -p "$f" "$state/backup/" || exit 1
    done || die "cannot copy $netdir to $state/backup"
    rm -f "$state/rolled-back" "$state/activated"
    : > "$state/backup/.complete"
}

arm() {
    netdir=$1 state=$2 seconds=$3
    case $seconds in ''|*[!0-9]*) die "arm: seconds must be a whole number, not '$seconds'" ;; esac
    [ -f "$state/backup/.complete" ] || die "arm: no complete backup in $state/backup"
    systemctl stop "$UNIT.timer" >/dev/null 2>&1
    systemctl reset-failed "$UNIT.service" "$UNIT.timer" >/dev/null 2>&1
    systemd-run --unit="$UNIT" --on-active="${seconds}s" --timer-property=AccuracySec=1s \
        --description="reforge.hci: undo the unconfirmed network change" \
        /bin/sh "$SELF" restore "$netdir" "$state" || die "arm: systemd-run failed"
}

changed_netdevs() {  # names in the .netdev files that differ between NETDIR (ours) and the backup
    netdir=$1 backup=$2
    for f in "$netdir"/*.netdev "$backup"/*.netdev; do
        [ -f "$f" ] || continue
        name=$(basename "$f")
        if [ "$f" = "$netdir/$name" ] && ! is_ours "$f"; then continue; fi
        if ! cmp -s "$netdir/$name" "$backup/$name"; then
            key_values "$f" Name
        fi
    done | sort -u
}

our_links() {  # links that our files in DIR match: Name= values that exist, and NICs by permanent MAC
    for f in $(config_files "$1"); do
        is_ours "$f" || continue
        for n in $(key_values "$f" Name); do
            [ -e "$SYS_CLASS_NET/$n" ] && echo "$n"
        done
        for mac in $(key_values "$f" PermanentMACAddress); do
            for dev in "$SYS_CLASS_NET"/*; do
                [ -e "$dev" ] || continue
                perm=$(cat "$dev/bonding_slave/perm_hwaddr" 2>/dev/null || cat "$dev/address" 2>/dev/null)
                [ "$perm" = "$mac" ] && basename "$dev"
            done
        done
    done
}

activate() {
    netdir=$1 state=$2
    [ -f "$state/backup/.complete" ] || die "activate: no complete backup in $state/backup"
    for name in $(changed_netdevs "$netdir" "$state/backup"); do
        if [ -e "$SYS_CLASS_NET/$name" ]; then
            ip link delete "$name" || say "could not delete $name"
        fi
    done
    networkctl reload || die "networkctl reload failed"
    links=$( (our_links "$netdir"; our_links "$state/backup") | sort -u)
    if [ -n "$links" ]; then
        # shellcheck disable=SC2086
        networkctl reconfigure $links || say "networkctl reconfigure $links failed"
    fi
    date -u +%Y-%m-%dT%H:%M:%SZ > "$state/activated"
}

missing_addresses() {  # the IFACE=CIDR arguments whose address is not on its interface
    for want in "$@"; do
        iface=${want%%=*} cidr=${want#*=}
        ip -o addr show dev "$iface" 2>/dev/null | grep -qF " $cidr " || echo "$iface $cidr"
    done
}

addresses() {
    state=$2 seconds=$3
    shift 3
    case $seconds in ''|*[!0-9]*) die "addresses: seconds must be a whole number, not '$seconds'" ;; esac
    waited=0
    while :; do
        if [ -f "$state/activated" ]; then
            missing=$(missing_addresses "$@")
            [ -z "$missing" ] && return 0
        else
            missing="activation not finished"
        fi
        [ "$waited" -ge "$seconds" ] && break
        sleep 1
        waited=$((waited + 1))
    done
    die "after ${seconds} s: missing: $(echo "$missing" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
}

restore() {
    netdir=$1 state=$2
    [ -f "$state/backup/.complete" ] || die "restore: no complete backup in $state/backup"
    # The netdevs to delete are those that differ now, before the files go back.
    drop=$(changed_netdevs "$netdir" "$state/backup")
    for f in $(config_files "$netdir"); do
        is_ours "$f" && rm -f "$f"
    done
    for f in $(config_files "$state/backup"); do
        cp -p "$f" "$netdir/" || say "could not restore $f"
    done
    for name in $drop; do
        [ -e "$SYS_CLASS_NET/$name" ] && { ip link delete "$name" || say "could not delete $name"; }
    done
    networkctl reload || say "networkctl reload failed"
    links=$(our_links "$netdir" | sort -u)
    if [ -n "$links" ]; then
        # shellcheck disable=SC2086
        networkctl reconfigure $links || say "networkctl reconfigure $links failed"
    fi
    date -u +%Y-%m-%dT%H:%M:%SZ > "$state/rolled-back"
    say "rolled back to the configuration of $state/backup"
}

confirm() {
    state=$2
    systemctl stop "$UNIT.timer" >/dev/null 2>&1
    if systemctl is-active --quiet "$UNIT.service"; then
        die "confirm: too late, the rollback is running now"
    fi
    if [ -f "$state/rolled-back" ]; then
        die "confirm: too late, the change was already rolled back at $(cat "$state/rolled-back")"
    fi
    rm -rf "$state/backup"
}

SELF=$0
[ $# -ge 3 ] || die "usage: network_rollback.sh backup|arm|activate|restore|confirm NETDIR STATE [SECONDS]"
cmd=$1
shift
case $cmd in
    backup|activate|restore|confirm) "$cmd" "$1" "$2" ;;
    arm) [ $# -ge 3 ] || die "arm needs SECONDS"; arm "$1" "$2" "$3" ;;
    addresses) [ $# -ge 3 ] || die "addresses needs SECONDS"; addresses "$@" ;;
    *) die "unknown command '$cmd'" ;;
esac
