# shellcheck shell=bash disable=SC2016
# (SC2016: the mmdebstrap hooks are single-quoted on purpose: mmdebstrap expands "$1", the root, itself.)
# reforge.hci os_install: build the node OS image and the deploy kernel/initramfs (run with bash, as root,
# on the controller). One mmdebstrap root of Debian <suite> gives both:
#   disk.img.gz   GPT (ESP + root ext4), fstab by UUID, GRUB --removable, ttyS0 console, networkd enabled,
#                 no SSH host keys and an empty machine-id (the deploy writes the node's own)
#   vmlinuz       the image's own kernel
#   deploy.img    an initramfs made by the image's initramfs-tools (busybox, klibc ipconfig, udev) with the
#                 deploy script (scripts/reforge, booted with boot=reforge) from deploy/
# Cached: <cache>/image-<key>/ where key = suite, mirror, packages, this script and the deploy files.
# Prints the artifact directory on the last line.
#   bash build-image.sh --cache DIR --suite trixie --mirror URL --keyring FILE --deploy DIR [--size-mib N]
#        [--force] PACKAGE...
set -euo pipefail
cache="" suite="trixie" mirror="http://deb.debian.org/debian" keyring="/usr/share/keyrings/debian-archive-keyring.gpg"
deploy="" force="" size_mib=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache="$2"; shift 2 ;;
    --suite) suite="$2"; shift 2 ;;
    --mirror) mirror="$2"; shift 2 ;;
    --keyring) keyring="$2"; shift 2 ;;
    --deploy) deploy="$2"; shift 2 ;;
    --size-mib) size_mib="$2"; shift 2 ;;
    --force) force=1; shift ;;
    --key-only) key_only=1; shift ;;
    --) shift; break ;;
    -*) echo "build-image: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
{ [ -n "$cache" ] && [ -d "$deploy" ] && [ $# -gt 0 ]; } || { echo "build-image: --cache, --deploy and packages are required" >&2; exit 2; }
mapfile -t pkgs < <(printf '%s\n' "$@" | sort -u)
self="${BASH_SOURCE[0]}"
ROOT_RECIPE=1   # bump when the mmdebstrap command line below changes
key=$( { printf '%s\n' "$suite" "$mirror" "${pkgs[@]}" "size=$size_mib"; cat "$self" "$deploy"/*; } | sha256sum | cut -c1-16)
out="$cache/image-$suite-$key"
if [ -n "${key_only:-}" ]; then echo "$out"; exit 0; fi
log() { printf 'build-image: %s\n' "$*" >&2; }
trap 'log "failed (rc $?) at line $LINENO: $BASH_COMMAND"' ERR
set -E
now() { date +%s.%N; }

build() {
  if [ -s "$out/meta.json" ] && [ -z "$force" ]; then log "cached: $out"; return 0; fi
  local t0 root esp_mib=128 used_mib img
  loop_esp="" loop_root=""
  t0=$(now)
  work=$(mktemp -d "$cache/build.XXXXXX")
  root="$work/root"; img="$work/disk.img"; mnt="$work/mnt"
  # shellcheck disable=SC2317  # called by the EXIT trap
  cleanup() {
    for m in boot/efi sys proc dev/pts dev; do umount "$mnt/$m" 2>/dev/null || umount -l "$mnt/$m" 2>/dev/null || true; done
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    for l in "$loop_esp" "$loop_root"; do [ -z "$l" ] || losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$work"
  }
  trap cleanup EXIT
  mkdir -p "$mnt"
  # The root tree (mmdebstrap's output) is kept apart under a key of the mmdebstrap inputs only: a change to the
  # deploy files or the disk layout reassembles the image without downloading and unpacking Debian again.
  local rootkey rootfile
  rootkey=$( { printf '%s\n' "root-recipe-$ROOT_RECIPE" "$suite" "$mirror" "${pkgs[@]}"; } | sha256sum | cut -c1-16)
  rootfile="$cache/root-$suite-$rootkey.tar"
  if [ ! -s "$rootfile" ] || [ -n "$force" ]; then
    log "mmdebstrap $suite from $mirror: ${pkgs[*]}"
    # No documentation, man pages or locales but C (a node is run over Ansible); no recommends.
    mmdebstrap --variant=minbase --mode=root --keyring="$keyring" --aptopt='APT::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --include="$(IFS=,; echo "${pkgs[*]}")" \
      --customize-hook='chroot "$1" systemctl enable systemd-networkd.service' \
      --customize-hook='chroot "$1" sh -c "systemctl enable systemd-resolved.service 2>/dev/null || true"' \
      --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
      --customize-hook=': > "$1"/etc/machine-id; rm -f "$1"/var/lib/dbus/machine-id' \
      --customize-hook='echo localhost > "$1"/etc/hostname' \
      "$suite" "$work/root.tar" "$mirror" >"$work/mmdebstrap.log" 2>&1 \
      || { tail -30 "$work/mmdebstrap.log" >&2; log "mmdebstrap failed"; return 1; }
    mv "$work/root.tar" "$rootfile"
  fi
  mkdir -p "$root"
  tar -C "$root" --numeric-owner --xattrs -xf "$rootfile"
  [ -e "$root/boot/vmlinuz" ] || ls "$root"/boot/vmlinuz-* >/dev/null || { log "no kernel in the root"; return 1; }
  # Boot partition layout: 1 MiB gap, ESP (FAT32), root (ext4) sized to the content plus room; the deploy grows
  # the root partition and file system to the end of the node's disk.
  used_mib=$(du -sxm "$root" | cut -f1)
  [ -n "$size_mib" ] || size_mib=$(( esp_mib + 2 + used_mib * 13 / 10 + 256 ))
  truncate -s "${size_mib}M" "$img"
  sfdisk -q "$img" <<SFD
label: gpt
start=2048, size=${esp_mib}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root
SFD
  # One loop device per partition, by offset: no partition scan or udev needed (containers have neither).
  local start sectors
  read -r start sectors < <(partx -g -n 1 -o START,SECTORS "$img")
  loop_esp=$(losetup --show -f --offset $(( start * 512 )) --sizelimit $(( sectors * 512 )) "$img")
  read -r start sectors < <(partx -g -n 2 -o START,SECTORS "$img")
  loop_root=$(losetup --show -f --offset $(( start * 512 )) --sizelimit $(( sectors * 512 )) "$img")
  mkfs.vfat -F 32 -n ESP "$loop_esp" >/dev/null
  mkfs.ext4 -q -L root -E lazy_itable_init=0,lazy_journal_init=0 "$loop_root"
  mount "$loop_root" "$mnt"
  mkdir -p "$mnt/boot/efi"
  tar -C "$root" --numeric-owner --xattrs -cf - . | tar -C "$mnt" --numeric-owner --xattrs -xf -
  local ru eu
  ru=$(blkid -s UUID -o value "$loop_root"); eu=$(blkid -s UUID -o value "$loop_esp")
  echo 'LANG=C.UTF-8' > "$mnt/etc/default/locale"   # pam_env reads it at every login
  printf 'UUID=%s / ext4 errors=remount-ro 0 1\nUUID=%s /boot/efi vfat umask=0077 0 1\n' "$ru" "$eu" > "$mnt/etc/fstab"
  cat > "$mnt/etc/default/grub" <<'GRUB'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB
  for m in dev dev/pts proc sys; do mount --bind "/$m" "$mnt/$m"; done
  # What `grub-install --target=x86_64-efi --removable --no-nvram` does, done by hand: grub-install wants the ESP
  # mounted, and a build host (or container) may have no vfat driver, so the ESP is filled with mtools instead.
  # The core image, at the removable path EFI/BOOT/BOOTX64.EFI (the firmware finds it without a boot entry, no NVRAM
  # write), finds the root file system by UUID and reads grub.cfg and its modules from /boot/grub, as grub-install's.
  mkdir -p "$mnt/boot/grub"
  cp -a "$mnt/usr/lib/grub/x86_64-efi" "$mnt/boot/grub/"
  printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\n' "$ru" > "$mnt/boot/grub/early.cfg"
  chroot "$mnt" grub-mkimage -O x86_64-efi -o /boot/grub/BOOTX64.EFI -p /boot/grub -c /boot/grub/early.cfg \
    part_gpt part_msdos ext2 fat search search_fs_uuid normal configfile linux gzio echo serial terminal \
    efi_gop all_video >"$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; return 1; }
  mmd -i "$loop_esp" ::/EFI ::/EFI/BOOT
  mcopy -i "$loop_esp" "$mnt/boot/grub/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
  rm -f "$mnt/boot/grub/BOOTX64.EFI" "$mnt/boot/grub/early.cfg"
  # grub.cfg written here, not by update-grub: its 10_linux gives up on a root on a loop device ("can't cope with
  # loop-mounted devices") and writes no entry. On the node, a kernel update runs update-grub on the real disk with
  # the /etc/default/grub above, and writes the same entry.
  local kv
  kv=$(basename "$(find "$mnt/lib/modules" -mindepth 1 -maxdepth 1 | sort -V | tail -1)")
  cat > "$mnt/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set default=0
set timeout=1
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root $ru
menuentry 'Debian GNU/Linux' {
    linux /boot/vmlinuz-$kv root=UUID=$ru ro console=tty0 console=ttyS0,115200n8
    initrd /boot/initrd.img-$kv
}
CFG
  # The deploy initramfs: the image's own initramfs-tools with a configuration of its own (-d), so the installed
  # system's initramfs stays Debian's.
  mkdir -p "$mnt/run/reforge-deploy"
  cp -r "$deploy"/. "$mnt/run/reforge-deploy/"
  local kver
  kver=$(basename "$(find "$mnt/lib/modules" -mindepth 1 -maxdepth 1 | sort -V | tail -1)")
  chroot "$mnt" sh /run/reforge-deploy/prepare.sh /run/reforge-deploy "$kver" >"$work/deploy.log" 2>&1 \
    || { cat "$work/deploy.log" >&2; return 1; }
  chroot "$mnt" mkinitramfs -d /run/reforge-deploy/conf -o /run/reforge-deploy/deploy.img "$kver" \
    >>"$work/deploy.log" 2>&1 || { cat "$work/deploy.log" >&2; return 1; }
  mkdir -p "$work/out"
  cp "$mnt/run/reforge-deploy/deploy.img" "$work/out/deploy.img"
  cp "$mnt/boot/vmlinuz-$kver" "$work/out/vmlinuz"
  rm -rf "$mnt/run/reforge-deploy"
  # A process the chroot's tools left behind can keep a bind mount busy for a moment: detach lazily then.
  for m in sys proc dev/pts dev; do umount "$mnt/$m" 2>/dev/null || umount -l "$mnt/$m"; done
  umount "$mnt" 2>/dev/null || { sleep 2; umount "$mnt"; }
  e2fsck -fy "$loop_root" >/dev/null 2>&1 || [ $? -le 1 ]
  losetup -d "$loop_esp"; losetup -d "$loop_root"; loop_esp="" loop_root=""
  gzip -1 -c "$img" > "$work/out/disk.img.gz"
  (cd "$work/out" && sha256sum disk.img.gz > disk.img.gz.sha256)
  printf '{"key": "%s", "suite": "%s", "mirror": "%s", "packages": [%s], "kernel": "%s", "root_uuid": "%s", "image_mib": %s, "image_gz_bytes": %s, "sha256": "%s", "build_seconds": %.1f}\n' \
    "$key" "$suite" "$mirror" "$(printf '"%s",' "${pkgs[@]}" | sed 's/,$//')" "$kver" "$ru" "$size_mib" \
    "$(stat -c %s "$work/out/disk.img.gz")" "$(cut -d' ' -f1 "$work/out/disk.img.gz.sha256")" \
    "$(echo "$(now) - $t0" | bc)" > "$work/out/meta.json"
  rm -rf "$out"; mv "$work/out" "$out"
  log "built in $(echo "$(now) - $t0" | bc) s: $out"
}

mkdir -p "$cache"
( flock 9; build ) 9>"$cache/image-$suite-$key.lock"
echo "$out"
