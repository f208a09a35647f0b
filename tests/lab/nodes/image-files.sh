# shellcheck shell=bash
# Prepares a debootstrapped root ($ROOT) to run as a lab host with systemd as
# PID 1 inside a container. Run by image.sh; part of the image's cache key.
set -euo pipefail
: "${ROOT:?}"

# Empty machine-id: systemd derives one per container at boot. A shared id
# would give every node the same MAC addresses and DHCP/duid identities.
: > "$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"

# Units that cannot work in a container on this kernel (no modules, no
# private udev, no console) and would leave the system `degraded`.
# udevadm itself stays: ceph-volume calls it. nvmf-autoconnect comes with
# nvme-cli (a Ceph dependency) and needs the nvme-fabrics module: masked ahead
# of the package, so a node with the cluster stack boots `running`, not `degraded`.
for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
            systemd-udev-trigger.service systemd-udev-settle.service console-getty.service \
            systemd-modules-load.service getty@tty1.service systemd-firstboot.service \
            systemd-remount-fs.service sys-kernel-config.mount sys-kernel-debug.mount \
            sys-kernel-tracing.mount sys-fs-fuse-connections.mount systemd-sysusers.service \
            systemd-hwdb-update.service systemd-journald-audit.socket systemd-sysctl.service \
            nvmf-autoconnect.service; do
  ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"
done

# Host keys are per node: the image must not carry any.
rm -f "$ROOT"/etc/ssh/ssh_host_*
install -d "$ROOT/etc/systemd/system/ssh.service.d"
cat > "$ROOT/etc/systemd/system/ssh.service.d/reforge-lab-hostkeys.conf" <<'UNIT'
[Service]
# Generate this node's host keys on first boot (the image ships none), before
# Debian's config test that needs them.
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
install -d -m 700 "$ROOT/root/.ssh"
# OpenSSH >= 9.8 penalises a source address after failed or aborted logins and
# then drops its connections; every lab connection comes from the host bridge
# address, so a few aborted probes while a node boots made whole playbooks
# UNREACHABLE (seen in a CI run right after `lab up`). A lab-only setting.
install -d "$ROOT/etc/ssh/sshd_config.d"
cat > "$ROOT/etc/ssh/sshd_config.d/reforge-lab.conf" <<'CONF'
PerSourcePenalties no
CONF

# The node runs privileged (libvirt needs writable cgroups), so its /dev is a
# copy of the host's at start. The controller writes /etc/reforge-lab/disks
# ("<by-id name> <device>" per line) for the node's own spare disks; at every
# boot this unit gives them stable /dev/disk/by-id names (there is no udev)
# and removes every other block device node - the host's disks, the other
# nodes' loops, loop-control - and /dev/kvm (unusable here: QEMU must use TCG),
# so nothing in a node can select or wipe a disk that is not its own.
install -d "$ROOT/etc/reforge-lab" "$ROOT/usr/local/sbin"
cat > "$ROOT/usr/local/sbin/reforge-lab-devices" <<'SH'
#!/bin/sh
set -e
mkdir -p /dev/disk/by-id
keep=" "
if [ -r /etc/reforge-lab/disks ]; then
  while read -r name dev; do
    [ -n "$name" ] || continue
    ln -sfn "$dev" "/dev/disk/by-id/$name"
    keep="$keep$dev "
  done < /etc/reforge-lab/disks
fi
for dev in /dev/*; do
  case "$keep" in *" $dev "*) continue ;; esac
  if [ -b "$dev" ] || [ "$dev" = /dev/loop-control ] || [ "$dev" = /dev/kvm ]; then rm -f "$dev"; fi
done
SH
chmod 755 "$ROOT/usr/local/sbin/reforge-lab-devices"
cat > "$ROOT/etc/systemd/system/reforge-lab-devices.service" <<'UNIT'
[Unit]
Description=Lab: only this node's spare disks in /dev, with stable by-id names
DefaultDependencies=no
Before=sysinit.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/reforge-lab-devices
[Install]
WantedBy=sysinit.target
UNIT

# All nodes share the host's kernel: only the per-namespace net.* sysctls may
# be applied at boot (systemd-sysctl is masked above, it would change
# kernel.*/vm.*/fs.* on the host).
cat > "$ROOT/etc/systemd/system/reforge-lab-sysctl.service" <<'UNIT'
[Unit]
Description=Lab: apply the node's own (net.*) sysctl settings
DefaultDependencies=no
After=systemd-modules-load.service
Before=sysinit.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=-/usr/sbin/sysctl -q --system --pattern ^net\\.
[Install]
WantedBy=sysinit.target
UNIT
install -d "$ROOT/etc/systemd/system/sysinit.target.wants"
for unit in reforge-lab-devices.service reforge-lab-sysctl.service; do
  ln -sf "../$unit" "$ROOT/etc/systemd/system/sysinit.target.wants/$unit"
done

# No DNS in the lab: the nodes know each other from /etc/hosts, written by
# the controller (debootstrap copied the host's resolv.conf).
echo '# reforge lab: no DNS; names are in /etc/hosts' > "$ROOT/etc/resolv.conf"

# Packages only from the lab's local repository (bind-mounted read-only at
# /srv/reforge-lab-apt): nodes never reach the Internet.
rm -f "$ROOT/etc/apt/sources.list" "$ROOT"/etc/apt/sources.list.d/*
echo 'deb [trusted=yes] file:/srv/reforge-lab-apt ./' > "$ROOT/etc/apt/sources.list.d/reforge-lab.list"
# Recommends would pull in far more than the roles ask for.
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n' > "$ROOT/etc/apt/apt.conf.d/90reforge-lab"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb
