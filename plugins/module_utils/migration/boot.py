# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Define, boot and alive-check a converted VM: through libvirt (``virsh``) on a cluster node, or a direct
QEMU boot check where no libvirt runs (the lab without nodes)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import re
import shutil
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Optional

from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import CutoverError


def wait_for_marker(path: str, pattern: str, timeout: float, proc: Optional[subprocess.Popen] = None) -> str:
    """Poll the serial log until ``pattern`` matches; fail early if the emulator died."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
            if regex.search(text):
                return text
        if proc is not None and proc.poll() is not None:
            raise CutoverError("QEMU exited with %s before the guest was alive; serial output: %r"
                               % (proc.returncode, text[-500:]))
        time.sleep(0.1)
    raise CutoverError("no %r on the serial console within %ss; serial output: %r" % (pattern, timeout, text[-500:]))


def qemu_boot_check(argv: List[str], serial_log: str, marker: str, timeout: float) -> Dict[str, Any]:
    """Boot under QEMU (TCG here), wait for the marker, stop the emulator; the migrated disk is opened
    with ``snapshot=on`` so a failed check leaves the synced base intact."""
    if not shutil.which(argv[0]):
        raise CutoverError("%s not found (Debian package qemu-system-x86)" % argv[0])
    if os.path.exists(serial_log):
        os.unlink(serial_log)
    started = time.monotonic()
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        try:
            text = wait_for_marker(serial_log, marker, timeout, proc)
        except CutoverError as exc:
            stderr.seek(0)
            raise CutoverError("%s; qemu: %s" % (exc, stderr.read().decode("utf-8", "replace")[-300:]))
        return {"alive": True, "seconds_to_alive": round(time.monotonic() - started, 2),
                "serial_tail": text[-200:], "method": "qemu"}
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stderr.close()


class Virsh:
    """The few libvirt operations a cutover needs, through ``virsh -c <uri>`` (no libvirt-python needed)."""

    def __init__(self, uri: str = "qemu:///system") -> None:
        if not shutil.which("virsh"):
            raise CutoverError("virsh not found (Debian package libvirt-clients)")
        self.uri = uri

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["virsh", "-c", self.uri] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if check and proc.returncode != 0:
            raise CutoverError("virsh %s failed: %s" % (args[0], proc.stderr.strip()))
        return proc

    def define(self, xml: str) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as handle:
            handle.write(xml)
            handle.flush()
            self._run("define", handle.name)

    def state(self, name: str) -> Optional[str]:
        proc = self._run("domstate", name, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def start(self, name: str) -> None:
        if self.state(name) != "running":
            self._run("start", name)

    def stop(self, name: str) -> None:
        if self.state(name) == "running":
            self._run("destroy", name)
