# shellcheck shell=sh
# reforge.hci host_network: the node's side of a safe network change (run as: /bin/sh network_rollback.sh CMD ...).
#
#   backup   NETDIR STATE          copy NETDIR's networkd files to STATE/backup (refused while a change is pending)
#   arm      NETDIR STATE SECONDS  start a transient timer that runs "restore" after SECONDS unless confirmed
#   activate NETDIR STATE          delete the netdevs whose .netdev differs from the backup, reload networkd,
#                                  reconfigure the links a changed file matches (all of ours after a deletion)
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

file_links() {  # the links that exist and that FILE matches or names: Name= values, NICs by permanent MAC
    for n in $(key_values "$1" Name); do
        [ -e "$SYS_CLASS_NET/$n" ] && echo "$n"
    done
    for mac in $(key_values "$1" PermanentMACAddress); do
        for dev in "$SYS_CLASS_NET"/*; do
            [ -e "$dev" ] || continue
            perm=$(cat "$dev/bonding_slave/perm_hwaddr" 2>/dev/null || cat "$dev/address" 2>/dev/null)
            [ "$perm" = "$mac" ] && basename "$dev"
        done
    done
}

our_links() {  # links that our files in DIR match
    for f in $(config_files "$1"); do
        is_ours "$f" && file_links "$f"
    done
}

changed_links() {  # links a file that differs between NETDIR and the backup matches, in either version
    netdir=$1 backup=$2
    for f in $(config_files "$netdir") $(config_files "$backup"); do
        name=$(basename "$f")
        cmp -s "$netdir/$name" "$backup/$name" && continue
        file_links "$f"
    done
}

reconfigure() {  # reconfigure NETDIR BACKUP DELETED: the links to reconfigure after a reload, and do it
    # A deleted netdev (a bond whose settings changed) releases its members and takes its VLANs with it: every link
    # of ours, in either version, is reconfigured. Otherwise only the links a changed file matches: an unchanged
    # bond keeps its LACP partner and its addresses (a reconfigure takes a link's addresses down and up again).
    if [ -n "$3" ]; then
        links=$( (our_links "$1"; our_links "$2") | sort -u)
    else
        links=$(changed_links "$1" "$2" | sort -u)
    fi
    if [ -n "$links" ]; then
        # shellcheck disable=SC2086
        networkctl reconfigure $links || say "networkctl reconfigure $links failed"
    fi
}

activate() {
    netdir=$1 state=$2
    [ -f "$state/backup/.complete" ] || die "activate: no complete backup in $state/backup"
    deleted=
    for name in $(changed_netdevs "$netdir" "$state/backup"); do
        if [ -e "$SYS_CLASS_NET/$name" ]; then
            ip link delete "$name" || say "could not delete $name"
            deleted="$deleted $name"
        fi
    done
    networkctl reload || die "networkctl reload failed"
    reconfigure "$netdir" "$state/backup" "$deleted"
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
    # The netdevs to delete and the links to reconfigure are those of the files that differ now, before the files
    # go back (the change's version kept aside to compare with).
    drop=$(changed_netdevs "$netdir" "$state/backup")
    rm -rf "$state/undone"
    mkdir -p "$state/undone" || say "cannot keep the undone change in $state/undone"
    for f in $(config_files "$netdir"); do
        cp -p "$f" "$state/undone/" 2>/dev/null
        is_ours "$f" && rm -f "$f"
    done
    for f in $(config_files "$state/backup"); do
        cp -p "$f" "$netdir/" || say "could not restore $f"
    done
    deleted=
    for name in $drop; do
        [ -e "$SYS_CLASS_NET/$name" ] && { ip link delete "$name" || say "could not delete $name"; deleted="$deleted $name"; }
    done
    networkctl reload || say "networkctl reload failed"
    reconfigure "$netdir" "$state/undone" "$deleted"
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
