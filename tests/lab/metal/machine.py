"""One metal machine: a QEMU (TCG) q35 with OVMF, driven over QMP, and the Redfish BMC bound to it.

The BMC is the project's simulator (lab.redfish.bmc.BMC) with its power, boot override and virtual
media wired to the machine: power on starts QEMU with the boot order the override asks for (bootindex),
ForceOff is QMP ``quit``, a restart is QMP ``system_reset``, GracefulShutdown is QMP ``system_powerdown`` (the state turns Off only when the
guest really powers off), InsertMedia fetches the image over HTTP and connects it with
``blockdev-change-medium``, EjectMedia is ``eject``. PowerState follows the QEMU process.

Every reset, whoever asks for it (the BMC, the guest rebooting itself, a QMP client), goes through the
BMC's POST again, as on a real server: QEMU runs with ``-action reboot=shutdown``, its SHUTDOWN event
names the cause, and on a reset the BMC starts it again with the boot order of that POST (a boot-once
override is used by exactly one boot; bootindex is fixed for a QEMU process's life)."""
from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lab.redfish.bmc import BMC
from lab.redfish.errors import fail

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
CD_ID = "cd0"           # qdev id of the CD drive (virtual media)


class QMPError(RuntimeError):
    pass


def qmp(sock_path: str, command: str, timeout: float = 10.0, **arguments) -> dict:
    """One QMP command on a fresh connection; events that arrive meanwhile are skipped."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sk:
        sk.settimeout(timeout)
        sk.connect(sock_path)
        reader = sk.makefile("r")

        def answer() -> dict:
            while True:
                line = reader.readline()
                if not line:
                    raise QMPError(f"QMP connection closed during {command}")
                msg = json.loads(line)
                if "return" in msg or "error" in msg:
                    return msg
        if "QMP" not in json.loads(reader.readline()):
            raise QMPError("no QMP greeting")
        sk.sendall(b'{"execute": "qmp_capabilities"}\n')
        answer()
        sk.sendall(json.dumps({"execute": command, **({"arguments": arguments} if arguments else {})}).encode() + b"\n")
        msg = answer()
        if "error" in msg:
            raise QMPError(f"{command}: {msg['error'].get('desc')}")
        return msg["return"]


@dataclass
class MachineSpec:
    index: int
    name: str
    dir: Path
    netns: str
    nics: int

    def tap(self, i: int) -> str:
        return f"rm{self.index}n{i}"

    def mac(self, i: int) -> str:
        return f"52:54:00:4d:{self.index:02x}:{i:02x}"

    @property
    def boot_serial(self) -> str:
        return f"RMBOOT{self.index:04d}"

    @property
    def data_serial(self) -> str:
        return f"RMDATA{self.index:04d}"

    def describe(self) -> dict:
        return {"name": self.name, "dir": str(self.dir), "qmp": str(self.dir / "qmp.sock"),
                "serial_log": str(self.dir / "serial.log"), "serial_socket": str(self.dir / "serial.sock"),
                "boot_disk": {"serial": self.boot_serial, "by_id": f"/dev/disk/by-id/virtio-{self.boot_serial}"},
                "data_disk": {"serial": self.data_serial, "by_id": f"/dev/disk/by-id/virtio-{self.data_serial}"},
                "nics": [{"nic": i, "mac": self.mac(i), "tap": self.tap(i), "switch": "ab"[i % 2],
                          "bond_pair": i // 2} for i in range(self.nics)]}


class Machine:
    """The QEMU process of one machine (None while powered off)."""

    def __init__(self, spec: MachineSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self.boot_first: str | None = None      # "cd" | "disk" | "pxe": the order QEMU was started with
        self.media: Path | None = None          # the fetched image connected to the CD (survives power off)
        self.on_exit = lambda proc, reason: None     # called (watcher thread) when QEMU exits on its own

    @property
    def qmp_path(self) -> str:
        return str(self.spec.dir / "qmp.sock")

    @property
    def events_path(self) -> str:
        return str(self.spec.dir / "events.sock")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def argv(self, first: str) -> list[str]:
        s, d = self.spec, self.spec.dir
        order = {"cd": ["cd", "disk"], "disk": ["disk", "cd"], "pxe": ["nic", "disk", "cd"]}[first]
        index = {dev: n + 1 for n, dev in enumerate(order)}
        cd_file = f",file={self.media}" if self.media else ""
        argv = ["ip", "netns", "exec", s.netns, "qemu-system-x86_64", "-name", f"rm-{s.name}",
                "-machine", "q35,accel=tcg", "-smp", "1", "-m", "1024", "-nodefaults", "-no-user-config",
                "-display", "none", "-vga", "none",
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={d / 'OVMF_VARS.fd'}",
                "-drive", f"if=none,id=bootdisk,format=qcow2,file={d / 'boot.qcow2'}",
                "-device", f"virtio-blk-pci,drive=bootdisk,serial={s.boot_serial},bootindex={index['disk']}",
                "-drive", f"if=none,id=datadisk,format=qcow2,file={d / 'data.qcow2'}",
                "-device", f"virtio-blk-pci,drive=datadisk,serial={s.data_serial}",
                "-drive", f"if=none,id=cdmedia,media=cdrom,readonly=on{cd_file}",
                "-device", f"ide-cd,drive=cdmedia,bus=ide.2,id={CD_ID},bootindex={index['cd']}",
                "-chardev", f"socket,id=ser0,path={d / 'serial.sock'},server=on,wait=off,"
                            f"logfile={d / 'serial.log'},logappend=on",
                "-serial", "chardev:ser0",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-qmp", f"unix:{self.events_path},server=on,wait=off",
                "-action", "reboot=shutdown",
                "-pidfile", str(d / "qemu.pid")]
        for i in range(s.nics):
            boot = f",bootindex={index['nic']}" if "nic" in index and i == 0 else ""
            # csum=off: the guest computes its own TCP/UDP checksums. With checksum offload the guest hands QEMU
            # packets whose checksum is left for the NIC, the tap and OVS's userspace datapath forward them as they
            # are, and a kernel endpoint on the switch (the controller's leg) drops them as corrupt: the installed
            # node's SYN-ACKs never reached the controller. A real NIC fills the checksum in; this one cannot.
            # speed/duplex: a virtio NIC reports neither unless told, and the kernel's 802.3ad bond keeps a member
            # of unknown speed/duplex out of any aggregator ("failed to get link speed/duplex"): the installed node's
            # LACP bond then carried nothing. A server NIC reports both; 25000 is the example campus's speed.
            # Each NIC behind its own PCIe root port (slots 0x10.. of the root complex), as a server's NICs sit on
            # their own PCIe links: the firmware gives them buses 1..n, and the kernel names them enp1s0..enp<n>s0,
            # the names a campus definition uses (docs/examples/campus-network.yml names node2's NICs so).
            argv += ["-device", f"pcie-root-port,id=rp{i},bus=pcie.0,chassis={i + 1},addr={0x10 + i:#x}",
                     "-netdev", f"tap,id=net{i},ifname={s.tap(i)},script=no,downscript=no",
                     "-device", f"virtio-net-pci,bus=rp{i},netdev=net{i},mac={s.mac(i)},csum=off,speed=25000,"
                                f"duplex=full{boot}" + ("" if boot else ",romfile=")]
        return argv

    def start(self, first: str) -> None:
        log = open(self.spec.dir / "qemu.log", "ab")
        try:
            self.proc = subprocess.Popen(self.argv(first), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        finally:
            log.close()
        self.boot_first = first
        proc = self.proc
        deadline = time.monotonic() + 30
        while not (os.path.exists(self.qmp_path) and os.path.exists(self.events_path)):   # listening: QEMU is up
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"QEMU of {self.spec.name} did not start (rc={proc.poll()}): "
                                   f"{(self.spec.dir / 'qemu.log').read_text()[-500:]}")
            time.sleep(0.05)
        events = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        events.connect(self.events_path)
        events.sendall(b'{"execute": "qmp_capabilities"}\n')
        threading.Thread(target=self._watch, args=(proc, events), daemon=True).start()

    def _watch(self, proc: subprocess.Popen, events: socket.socket) -> None:
        """Read QEMU's events until it exits: the last SHUTDOWN says why (guest-shutdown, guest-reset,
        host-qmp-system-reset, host-qmp-quit...)."""
        reason = None
        with events, events.makefile("r") as reader:
            for line in reader:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("event") == "SHUTDOWN":
                    reason = msg.get("data", {}).get("reason")
        proc.wait()
        if self.proc is proc:
            self.proc = None
            for f in ("qmp.sock", "events.sock", "qemu.pid"):
                (self.spec.dir / f).unlink(missing_ok=True)
            self.on_exit(proc, reason)

    def quit(self) -> None:
        """Pull the plug: QMP quit, and kill what does not go."""
        proc = self.proc
        if proc is None:
            return
        try:
            qmp(self.qmp_path, "quit")
        except (OSError, QMPError, ValueError):
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self.proc is proc:
            self.proc = None            # stopped on purpose: the watcher reports nothing

    def command(self, command: str, **arguments) -> dict:
        return qmp(self.qmp_path, command, **arguments)


def fetch_to(url: str, dest: Path) -> None:
    """The BMC fetches the image over HTTP(S), as a real BMC does; the lab only reaches loopback."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise OSError(f"transfer protocol {parsed.scheme} is not supported by this BMC")
    host = parsed.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise OSError(f"{host} is outside the lab (only loopback image servers are reachable)")
    tmp = dest.with_suffix(".part")
    ca = os.environ.get("REFORGE_LAB_CA")
    handlers = [urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca))] if parsed.scheme == "https" else []
    with urllib.request.build_opener(*handlers).open(url, timeout=30) as resp, open(tmp, "wb") as out:
        while chunk := resp.read(1 << 20):
            out.write(chunk)
    tmp.replace(dest)


class MetalBMC(BMC):
    """The simulator's BMC with its power, boot and virtual media acting on a real QEMU machine."""

    def __init__(self, *args, machine: Machine, **kwargs) -> None:
        self.machine = machine
        super().__init__(*args, **kwargs)
        machine.on_exit = self._machine_exited
        self.system()["PowerState"] = "Off"

    def reset_state(self) -> None:
        super().reset_state()
        if getattr(self, "machine", None) is not None:
            self.system()["PowerState"] = "On" if self.machine.running() else "Off"

    def _machine_exited(self, proc: subprocess.Popen, reason: str | None) -> None:
        """QEMU ended without the BMC asking: a reset (re-POST, start again) or the guest powered off."""
        with self.lock:
            m = self.machine
            if m.proc is not None:                      # started again meanwhile (a power-on raced the exit)
                return
            self.hook_log.append(f"{time.strftime('%H:%M:%S')} {m.spec.name}: QEMU ended ({reason})")
            if reason in ("guest-reset", "host-qmp-system-reset", "host-ui") and \
                    self.system().get("PowerState") == "On":
                self.on_boot()
                m.start(self._first_device())
            else:
                self.system()["PowerState"] = "Off"

    def _first_device(self) -> str:
        source = self.boot_history[-1]["source"] if self.boot_history else "None"
        return {"Cd": "cd", "Pxe": "pxe", "Hdd": "disk"}.get(source, "disk")

    def _transition(self, during: str, final: str, *, boot: bool = False, restart: bool = False,
                    graceful: bool = False) -> None:
        m = self.machine
        if final == "On":
            if m.running():
                # A reset: QEMU ends with reason host-qmp-system-reset and the watcher re-POSTs it.
                m.command("system_reset")
            else:
                self.on_boot()                  # POST: the override is read (and a Once override cleared)
                m.start(self._first_device())
            self.system()["PowerState"] = "On"
        elif graceful:
            m.command("system_powerdown")       # ACPI power button: Off only once the guest powers off
        else:
            m.quit()
            self.system()["PowerState"] = "Off"

    def media_inserted(self, slot: dict, image: str) -> None:
        m = self.machine
        dest = m.spec.dir / "media.iso"
        try:
            fetch_to(image, dest)
        except OSError as exc:
            raise fail(400, "ActionParameterValueNotInList", image, "Image", "VirtualMedia.InsertMedia") from exc
        m.media = dest
        if m.running():
            m.command("blockdev-change-medium", id=CD_ID, filename=str(dest), format="raw",
                      **{"read-only-mode": "read-only"})

    def media_ejected(self, slot: dict) -> None:
        m = self.machine
        if m.running():
            m.command("eject", id=CD_ID, force=True)
        m.media = None
        (m.spec.dir / "media.iso").unlink(missing_ok=True)

    def lab_state(self) -> dict:
        state = super().lab_state()
        state["machine"] = {"running": self.machine.running(), "boot_first": self.machine.boot_first,
                            "media": str(self.machine.media) if self.machine.media else None}
        return state

    def shutdown(self) -> None:
        self.machine.on_exit = lambda proc, reason: None
        self.machine.quit()
