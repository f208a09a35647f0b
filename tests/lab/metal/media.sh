#!/usr/bin/env bash
# A UEFI-bootable ISO of Debian's netboot installer, cached machine-wide. The kernel and initrd come
# from the debian-installer-<N>-netboot-amd64 package of $NODE_SUITE in Debian's archive (no other
# download source). That package ships a TFTP tree, not an ISO, so the ISO is made here with
# grub-mkrescue (the host's grub-efi-amd64-bin): GRUB on the serial console, one entry that boots the
# text installer with console=ttyS0 after a 1 s timeout - what an operator types over SOL, written down.
# Prints the ISO path.
#   tests/lab/metal/media.sh [--force]
set -euo pipefail
source "$(dirname "$0")/../nodes/common.sh"
DI_RELEASE="${REFORGE_LAB_DI_RELEASE:-13}"
pkg="debian-installer-$DI_RELEASE-netboot-amd64"
key=$(recipe_key "$NODE_SUITE $NODE_MIRROR $pkg" "$0")
out="$LAB_CACHE/netboot-$NODE_SUITE-$key"

# apt on the controller, fully private (as nodes/repo.sh): own sources, lists and state.
papt() {
  apt-get -q -o Dir::Etc::main=/dev/null -o Dir::Etc::Parts="$work/empty" \
    -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts="$work/empty" \
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$work/empty" \
    -o Dir::State="$work/state" -o Dir::State::status=/dev/null -o Dir::Cache="$work/cache" \
    -o APT::Architecture=amd64 -o Debug::NoLocking=true -o APT::Sandbox::User=root "$@"
}

build() {
  [ -s "$out/mini.iso" ] && [ "${1:-}" != --force ] && return 0
  local t0 deb iso
  t0=$(now)
  work=$(mktemp -d "$LAB_CACHE/netboot.XXXXXX")   # global: papt and the trap use it
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/empty" "$work/state/lists/partial" "$work/cache/archives/partial" "$work/x"
  echo "deb [signed-by=$NODE_KEYRING] $NODE_MIRROR $NODE_SUITE main" > "$work/sources.list"
  papt update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; die "apt-get update failed"; }
  (cd "$work" && papt download "$pkg" >"$work/download.log" 2>&1) || { cat "$work/download.log" >&2; die "cannot download $pkg"; }
  deb=$(ls "$work"/"$pkg"_*.deb)
  dpkg-deb -x "$deb" "$work/x"
  tree="$work/x/usr/lib/debian-installer/images/$DI_RELEASE/amd64/text/debian-installer/amd64"
  { [ -s "$tree/linux" ] && [ -s "$tree/initrd.gz" ]; } || die "$pkg has no text installer kernel/initrd"
  mkdir -p "$work/iso/boot/grub" "$work/iso/install.amd"
  mv "$tree/linux" "$tree/initrd.gz" "$work/iso/install.amd/"
  cat > "$work/iso/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
menuentry 'Install (text, serial console)' {
    linux /install.amd/linux console=ttyS0,115200n8 ---
    initrd /install.amd/initrd.gz
}
CFG
  grub-mkrescue -o "$work/mini.iso" "$work/iso" -- -volid REFORGE_DI >"$work/mkrescue.log" 2>&1 \
    || { cat "$work/mkrescue.log" >&2; die "grub-mkrescue failed"; }
  iso="$work/mini.iso"
  rm -rf "$out" "$out.tmp"; mkdir -p "$out.tmp"
  mv "$iso" "$out.tmp/mini.iso"
  printf '{"key": "%s", "package": "%s", "deb": "%s", "sha256": "%s", "bytes": %s, "build_seconds": %.1f}\n' \
    "$key" "$pkg" "$(basename "$deb")" "$(sha256sum "$out.tmp/mini.iso" | cut -d' ' -f1)" \
    "$(stat -c %s "$out.tmp/mini.iso")" "$(elapsed "$t0")" > "$out.json"
  mv "$out.tmp" "$out"
  log "netboot ISO cached in $(printf %.1f "$(elapsed "$t0")") s: $out/mini.iso"
}

with_lock "$out.lock" build "${1:-}"
prune_cache "$out" "netboot-*[0-9a-f]"
echo "$out/mini.iso"
