"""A small real Debian guest disk for the guest conversion tests, built offline-capable from Debian's archive.

virt-builder templates cannot be fetched here, so the disk is made from packages:
``debootstrap --variant=minbase`` (kernel, initramfs-tools, GRUB's config tools) into a
directory, pruned of documentation and of kernel modules no VM needs, turned into an
ext4 file system with ``mkfs.ext4 -d`` (no loop device, no mount), and placed behind an
MBR whose partition table names it. The MBR's boot code is the lab's marker boot
sector (``migration_bootdisk.boot_sector``): the alive check after the cutover proves
the firmware boots the converted disk, while virt-v2v inspects and converts the Debian
root file system on the partition. (A full Linux boot to a login prompt under TCG would
need GRUB installed to the disk, which needs a block device; the conversion itself is
what this disk is for.)

The built disk is cached in ``$REFORGE_V2V_GUEST_CACHE`` (default
``/var/tmp/reforge-v2v-guest``): debootstrap takes ~5 minutes on the shared machine.
"""
import os
import shutil
import struct
import subprocess
import uuid

from migration_bootdisk import boot_sector

MiB = 1 << 20
PART_START = MiB
ROOT_UUID = "5e1f0c2a-7b1d-4c55-9a6e-0d2f1e3c4b5a"
SUITE = os.environ.get("REFORGE_V2V_GUEST_SUITE", "bookworm")
MIRROR = os.environ.get("REFORGE_V2V_GUEST_MIRROR", "http://deb.debian.org/debian")
PACKAGES = "linux-image-amd64,initramfs-tools,grub-pc-bin,grub2-common"
# Module trees no migrated VM needs (GPU, Wi-Fi, sound, USB gadgets…): a smaller disk copies and converts faster.
PRUNE_MODULES = ("drivers/gpu", "drivers/media", "drivers/net/wireless", "drivers/net/ethernet", "drivers/infiniband",
                 "drivers/staging", "sound", "drivers/usb", "drivers/bluetooth", "drivers/iio", "drivers/isdn",
                 "drivers/hid", "drivers/input", "drivers/mtd", "drivers/hwmon", "drivers/mmc", "drivers/edac",
                 "net/wireless", "net/bluetooth", "net/mac80211", "drivers/net/can", "drivers/thunderbolt")


def cache_dir():
    return os.environ.get("REFORGE_V2V_GUEST_CACHE", "/var/tmp/reforge-v2v-guest")


def tools_missing():
    return [t for t in ("debootstrap", "mkfs.ext4", "chroot") if not shutil.which(t)]


def _rootfs(root):
    if os.path.exists(os.path.join(root, ".reforge-complete")):
        return
    if os.path.exists(root):
        shutil.rmtree(root)
    subprocess.run(["debootstrap", "--variant=minbase", "--include=" + PACKAGES, SUITE, root, MIRROR],
                   check=True, capture_output=True)
    with open(os.path.join(root, ".reforge-complete"), "w") as handle:
        handle.write("debootstrap %s %s\n" % (SUITE, PACKAGES))


def _configure(root):
    """fstab by UUID, a hostname, a GRUB config virt-v2v can find, and the pruning."""
    with open(os.path.join(root, "etc/fstab"), "w") as handle:
        handle.write("UUID=%s / ext4 errors=remount-ro 0 1\n" % ROOT_UUID)
    with open(os.path.join(root, "etc/hostname"), "w") as handle:
        handle.write("v2vguest\n")
    os.makedirs(os.path.join(root, "etc/default"), exist_ok=True)
    with open(os.path.join(root, "etc/default/grub"), "w") as handle:
        handle.write('GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_DISTRIBUTOR=Debian\nGRUB_CMDLINE_LINUX="console=ttyS0"\n')
    kernels = sorted(n for n in os.listdir(os.path.join(root, "boot")) if n.startswith("vmlinuz-"))
    version = kernels[-1][len("vmlinuz-"):]
    os.makedirs(os.path.join(root, "boot/grub"), exist_ok=True)
    with open(os.path.join(root, "boot/grub/grub.cfg"), "w") as handle:
        handle.write("set default=0\nset timeout=1\n"
                     "menuentry 'Debian GNU/Linux' {\n"
                     "  search --no-floppy --fs-uuid --set=root %s\n"
                     "  linux /boot/vmlinuz-%s root=UUID=%s ro console=ttyS0\n"
                     "  initrd /boot/initrd.img-%s\n}\n" % (ROOT_UUID, version, ROOT_UUID, version))
    for rel in ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info", "var/cache/apt",
                "var/lib/apt/lists"):
        path = os.path.join(root, rel)
        if os.path.isdir(path):
            shutil.rmtree(path)
            os.makedirs(path)
    modules = os.path.join(root, "usr/lib/modules", version, "kernel")
    for rel in PRUNE_MODULES:
        path = os.path.join(modules, rel)
        if os.path.isdir(path):
            shutil.rmtree(path)
    subprocess.run(["chroot", root, "depmod", "-a", version], check=True, capture_output=True)
    return version


def mbr(partition_sectors, start_sector=PART_START // 512):
    """The marker boot sector with one bootable Linux partition in its table."""
    sector = bytearray(boot_sector())
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", start_sector, partition_sectors)
    sector[446:462] = entry
    return bytes(sector)


def build(size=1536 * MiB):
    """Path of the raw guest disk (``size`` bytes, sparse), built once per cache directory."""
    base = cache_dir()
    disk = os.path.join(base, "debian-%s-%d.raw" % (SUITE, size // MiB))
    if os.path.exists(disk):
        return disk
    os.makedirs(base, exist_ok=True)
    root = os.path.join(base, "rootfs-" + SUITE)
    _rootfs(root)
    _configure(root)
    part = os.path.join(base, "part.ext4")
    part_size = size - PART_START
    if os.path.exists(part):
        os.unlink(part)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "root", "-U", ROOT_UUID, "-d", root, part,
                    "%dk" % (part_size // 1024)], check=True, capture_output=True)
    tmp = "%s.tmp.%s" % (disk, uuid.uuid4().hex[:6])
    with open(tmp, "wb") as out:
        out.truncate(size)
        out.write(mbr(part_size // 512))
        for offset, data in data_pieces(part):
            out.seek(PART_START + offset)
            out.write(data)
    os.unlink(part)
    os.replace(tmp, disk)
    return disk


def data_pieces(path, chunk=4 * MiB):
    """(offset, bytes) of the non-zero chunks of a sparse file: what a guest would have written."""
    zero = bytes(chunk)
    with open(path, "rb") as handle:
        offset = 0
        while True:
            data = handle.read(chunk)
            if not data:
                return
            if data != zero[:len(data)]:
                yield offset, data
            offset += len(data)
