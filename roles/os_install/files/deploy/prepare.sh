# shellcheck shell=sh
# Run inside the image chroot by build-image.sh: lays out the deploy initramfs configuration (mkinitramfs -d)
# from the files beside it. Busybox, klibc's ipconfig and udev come from Debian's own initramfs-tools hooks.
#   sh prepare.sh <dir> <kernel version>
set -eu
d="$1"
mkdir -p "$d/conf/hooks" "$d/conf/scripts" "$d/conf/conf.d"
cat > "$d/conf/initramfs.conf" <<'CONF'
MODULES=most
BUSYBOX=y
COMPRESS=gzip
CONF
printf '%s\n' virtio_pci virtio_blk virtio_net virtio_scsi ext4 vfat nls_cp437 nls_ascii loop > "$d/conf/modules"
{ echo "#!/bin/sh"; cat "$d/hook"; } > "$d/conf/hooks/reforge"
cp "$d/deploy" "$d/conf/scripts/reforge"
chmod 0755 "$d/conf/hooks/reforge" "$d/conf/scripts/reforge"
