#!/usr/bin/env bash
# Builds (cached machine-wide) the lab's traffic guest: a BIOS-bootable disk image (a hybrid
# ISO made by grub-mkrescue) with this machine's Debian kernel, its e1000 driver and seginit
# (seginit.c, statically linked) as /init. Booted from RBD by libvirt like any lab VM, it sends
# UDP from its own NIC to the peers on its kernel command line; the segmentation tests watch
# that traffic cross, or not cross, the nodes' VM bridges (tests/integration/cluster).
# Prints the path of the image.
#   tests/lab/guest/build.sh "<seg.* kernel parameters>"
set -euo pipefail
source "$(dirname "$0")/../nodes/common.sh"
GUEST_SRC="$REPO_ROOT/tests/lab/guest"
params="${1:?usage: build.sh '<seg.* kernel parameters>'}"
kernel=$(find /boot -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -1)
[ -n "$kernel" ] || die "no kernel in /boot (scripts/apt-packages.txt installs linux-image-amd64)"
kver=${kernel#/boot/vmlinuz-}
module=$(find "/lib/modules/$kver" -name 'e1000.ko*' | head -1)
[ -n "$module" ] || die "no e1000 module for kernel $kver"
[ -d /usr/lib/grub/i386-pc ] || die "grub-pc-bin is needed for a BIOS-bootable image (scripts/apt-packages.txt)"
key=$(recipe_key "$kver $params" "$GUEST_SRC/seginit.c" "$GUEST_SRC/build.sh")
out="$LAB_CACHE/guest-seg-$key.img"

build() {
  [ -s "$out" ] && return 0
  tmp=$(mktemp -d "$LAB_CACHE/guest.XXXXXX")   # global: the EXIT trap needs it
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/initrd" "$tmp/iso/boot/grub"
  gcc -static -Os -Wall -Werror -o "$tmp/initrd/init" "$GUEST_SRC/seginit.c"
  case "$module" in
    *.xz) xz -dc "$module" > "$tmp/initrd/e1000.ko" ;;
    *.zst) zstd -qdc "$module" > "$tmp/initrd/e1000.ko" ;;
    *) cp "$module" "$tmp/initrd/e1000.ko" ;;
  esac
  (cd "$tmp/initrd" && find . | cpio --quiet -o -H newc | gzip -1) > "$tmp/iso/initrd"
  cp "$kernel" "$tmp/iso/vmlinuz"
  cat > "$tmp/iso/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
set default=0
menuentry "reforge traffic guest" {
  linux /vmlinuz console=ttyS0 quiet panic=5 seg.module=/e1000.ko $params
  initrd /initrd
}
CFG
  # i386-pc only: the lab's domains boot SeaBIOS from the disk (the image's MBR).
  grub-mkrescue --quiet -d /usr/lib/grub/i386-pc -o "$tmp/guest.img" "$tmp/iso" 2>"$tmp/mkrescue.log" \
    || { cat "$tmp/mkrescue.log" >&2; die "grub-mkrescue failed"; }
  mv "$tmp/guest.img" "$out"
  printf 'guest: built %s (kernel %s)\n' "$out" "$kver" >&2
}

with_lock "$out.lock" build
prune_cache "$out" 'guest-seg-*.img'
echo "$out"
