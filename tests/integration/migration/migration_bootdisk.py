"""A tiny bootable guest disk built in the test: a 512-byte MBR boot sector that prints a marker on COM1.

No kernel or initramfs can be fetched offline; SeaBIOS under QEMU TCG boots
this in well under a second, which is all a cutover alive check needs to prove
that the migrated bytes are where the firmware expects them.
"""
import struct

MARKER = b"REFORGE-OK"


def boot_sector(marker: bytes = MARKER) -> bytes:
    msg = marker + b"\r\n\x00"
    code = bytearray()
    code += b"\xfa"                      # cli
    code += b"\x31\xc0"                  # xor ax, ax
    code += b"\x8e\xd8"                  # mov ds, ax   (SeaBIOS does not promise DS=0)
    code += b"\xfc"                      # cld          (lodsb must walk forwards)
    mov_si_at = len(code)
    code += b"\xbe\x00\x00"              # mov si, msg  (patched below)
    code += b"\xba\xf8\x03"              # mov dx, 0x3f8  COM1 data port
    loop = len(code)
    code += b"\xac"                      # lodsb
    code += b"\x84\xc0"                  # test al, al
    code += b"\x74\x03"                  # jz halt
    code += b"\xee"                      # out dx, al
    code += bytes([0xeb, (loop - (len(code) + 2)) & 0xff])  # jmp loop
    halt = len(code)
    code += b"\xf4"                      # hlt
    code += bytes([0xeb, (halt - (len(code) + 2)) & 0xff])  # jmp halt
    msg_at = len(code)
    code += msg
    struct.pack_into("<H", code, mov_si_at + 1, 0x7C00 + msg_at)
    assert len(code) <= 446
    return bytes(code) + bytes(510 - len(code)) + b"\x55\xaa"


def efi_application(marker: bytes = MARKER) -> bytes:
    """A minimal x86-64 UEFI application (PE32+) that prints ``marker`` with ConOut->OutputString and halts.

    The firmware mirrors ConOut to the serial console, where the alive check reads it.
    """
    text = "%s\r\n" % marker.decode()
    msg = text.encode("utf-16-le") + b"\x00\x00"
    code = bytearray()
    code += b"\x48\x83\xec\x28"          # sub rsp, 40         (shadow space + alignment, MS x64 ABI)
    code += b"\x48\x8b\x4a\x40"          # mov rcx, [rdx+64]   SystemTable->ConOut
    lea_at = len(code)
    code += b"\x48\x8d\x15\x00\x00\x00\x00"  # lea rdx, [rip+msg]
    code += b"\xff\x51\x08"              # call [rcx+8]        ConOut->OutputString(ConOut, msg)
    # Stay up, idle: a busy `jmp $` keeps a TCG vCPU at 100 % for as long as the VM runs (the lab wave's
    # db01 runs on under Pacemaker); with interrupts off, hlt parks the vCPU for good.
    code += b"\xfa"                      # cli
    code += b"\xf4"                      # hlt
    code += b"\xeb\xfd"                  # jmp hlt
    msg_at = len(code)
    struct.pack_into("<i", code, lea_at + 3, msg_at - (lea_at + 7))
    code += msg
    file_align, sect_align, text_rva = 0x200, 0x1000, 0x1000
    raw = bytes(code) + bytes(-len(code) % file_align)
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 240, 0x0022)
    opt = struct.pack("<HBBIIIII", 0x20B, 0, 0, len(raw), 0, 0, text_rva, text_rva)
    opt += struct.pack("<QIIHHHHHHIIIIHH", 0x10000000, sect_align, file_align, 0, 0, 0, 0, 0, 0, 0,
                       text_rva + sect_align, file_align, 0, 10, 0)  # subsystem 10: EFI application
    opt += struct.pack("<QQQQII", 0x10000, 0x1000, 0x10000, 0x1000, 0, 16) + bytes(16 * 8)
    assert len(opt) == 240
    section = struct.pack("<8sIIIIIIHHI", b".text", len(code), text_rva, len(raw), file_align, 0, 0, 0, 0,
                          0x60000020)
    headers = bytes(dos) + b"PE\x00\x00" + coff + opt + section
    return headers + bytes(file_align - len(headers)) + raw


def efi_system_partition(size: int = 64 << 20) -> bytes:
    """A FAT file system holding EFI/BOOT/BOOTX64.EFI, made with mkfs.vfat and mtools (Debian dosfstools,
    mtools). No partition table: OVMF's FAT driver mounts a whole-disk ("superfloppy") file system."""
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        image = os.path.join(tmp, "esp.img")
        app = os.path.join(tmp, "BOOTX64.EFI")
        with open(image, "wb") as handle:
            handle.truncate(size)
        with open(app, "wb") as handle:
            handle.write(efi_application())
        subprocess.run(["mkfs.vfat", "-F", "16", "-n", "REFORGE", image], check=True, capture_output=True)
        for folder in ("::/EFI", "::/EFI/BOOT"):
            subprocess.run(["mmd", "-i", image, folder], check=True, capture_output=True)
        subprocess.run(["mcopy", "-i", image, app, "::/EFI/BOOT/BOOTX64.EFI"], check=True, capture_output=True)
        with open(image, "rb") as handle:
            return handle.read()


def bootable_image(efi: bool = False, chunk: int = 64 * 1024):
    """(offset, data) pieces of a bootable disk start, zero chunks left out (the disk is sparse)."""
    data = efi_system_partition() if efi else boot_sector()
    zero = bytes(chunk)
    pieces = []
    for offset in range(0, len(data), chunk):
        piece = data[offset:offset + chunk]
        if piece != zero[:len(piece)]:
            pieces.append((offset, piece))
    return pieces
