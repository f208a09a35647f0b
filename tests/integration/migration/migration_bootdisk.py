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
