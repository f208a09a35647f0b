# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target writers: where copied extents land (raw sparse file, qcow2 image, Ceph RBD image).

Every writer has the same small surface so the copy engine does not care:
``write(offset, data)``, ``zero(offset, length)`` (a hole/discard, never
written zeros where the format can avoid it), ``flush()`` (stable storage:
the journal confirms extents only after it), ``read(offset, length)`` for
verification, ``close()``. Writes may come from several threads.

``allocated()`` is the target's own map of ranges that may hold data (SEEK_DATA
on raw files, ``qemu-img map`` on qcow2, ``diff_iterate`` on RBD), and
``zero_outside(keep, capacity)`` makes every range outside ``keep`` read as
zeros, touching only what that map lists: a full sync onto an existing target
uses it so no block of an earlier copy survives where the source reads zeros.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import subprocess
import tempfile
import threading
from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.reforge.hci.plugins.module_utils.migration import extents as ext
from ansible_collections.reforge.hci.plugins.module_utils.migration.errors import TargetWriteError

_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02


def _libc_fallocate():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    func = libc.fallocate
    func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    return func


class TargetWriter:
    """Interface of a target; ``uri`` names it in journals and reports."""

    uri = ""

    def write(self, offset: int, data: bytes) -> None:
        raise NotImplementedError

    def zero(self, offset: int, length: int) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def allocated(self, capacity: int) -> Optional[List[ext.Extent]]:
        """Ranges of ``[0, capacity)`` that may read non-zero; None when the format gives no map (then all may)."""
        del capacity  # no map here: callers treat all of [0, capacity) as possibly data
        return None

    def zero_outside(self, keep: List[ext.Extent], capacity: int, done: Optional[List[ext.Extent]] = None,
                     on_flushed: Optional[Callable[[List[ext.Extent]], None]] = None,
                     batch_bytes: int = 1 << 30) -> int:
        """Make every range of ``[0, capacity)`` outside ``keep`` (and outside ``done``) read as zeros.

        Only ranges the target's allocation map lists are zeroed, so a fresh target costs nothing.
        Every ``batch_bytes`` zeroed and at the end the target is flushed and ``on_flushed`` gets the
        ranges now zero on stable storage (a journal records them, a resumed run passes them as ``done``).
        Returns the bytes zeroed.
        """
        outside = ext.subtract([(0, capacity)], list(keep) + list(done or []))
        mapped = self.allocated(capacity)
        todo = outside if mapped is None else ext.intersect(outside, mapped)
        zeroed = 0
        pending: List[ext.Extent] = []
        pending_bytes = 0
        for offset, length in ext.chunks(todo, min(batch_bytes, 64 << 20)):
            self.zero(offset, length)
            zeroed += length
            pending.append((offset, length))
            pending_bytes += length
            if pending_bytes >= batch_bytes:
                self.flush()
                if on_flushed:
                    on_flushed(pending)
                pending, pending_bytes = [], 0
        self.flush()
        if on_flushed:
            # the ranges that held nothing are zero too: record the whole outside as done
            on_flushed(outside)
        return zeroed

    def __enter__(self) -> "TargetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RawFileWriter(TargetWriter):
    """A sparse raw file: unwritten ranges stay holes, zero chunks are punched out."""

    def __init__(self, path: str, capacity: int) -> None:
        self.path = path
        self.uri = "raw:" + os.path.abspath(path)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(self._fd).st_size < capacity:
                os.ftruncate(self._fd, capacity)  # sparse: costs nothing until written
        except OSError as exc:
            raise TargetWriteError("cannot open raw target %s: %s" % (path, exc))
        try:
            self._fallocate = _libc_fallocate()
        except (OSError, AttributeError):
            self._fallocate = None

    def write(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                done = os.pwrite(self._fd, view, offset)
                view = view[done:]
                offset += done
        except OSError as exc:
            raise TargetWriteError("write of %d bytes at %d to %s failed: %s"
                                   % (len(view), offset, self.path, exc))

    def zero(self, offset: int, length: int) -> None:
        if self._fallocate is not None:
            mode = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
            if self._fallocate(self._fd, mode, offset, length) == 0:
                return
            err = ctypes.get_errno()
            if err not in (errno.EOPNOTSUPP, errno.ENOSYS):
                raise TargetWriteError("punching a hole at %d+%d in %s failed: %s"
                                       % (offset, length, self.path, os.strerror(err)))
        self.write(offset, bytes(length))  # file system without hole punching

    def flush(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise TargetWriteError("fsync of %s failed: %s" % (self.path, exc))

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def allocated(self, capacity: int) -> Optional[List[ext.Extent]]:
        """SEEK_DATA/SEEK_HOLE; a file system without them reports the whole file as data."""
        out: List[ext.Extent] = []
        pos = 0
        try:
            while pos < capacity:
                try:
                    start = os.lseek(self._fd, pos, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # no data after pos
                        break
                    raise
                if start >= capacity:
                    break
                end = min(os.lseek(self._fd, start, os.SEEK_HOLE), capacity)
                out.append((start, end - start))
                pos = end
        except (OSError, AttributeError):
            return None
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Qcow2Writer(TargetWriter):
    """A qcow2 image written through ``qemu-io`` batches (no NBD kernel module needed).

    ``qemu-io`` cannot read data from a pipe, so a batch of chunks is staged as
    small files in a private temporary directory and written with one
    ``qemu-io`` run per batch; zero chunks become ``write -z -u`` (unmapped
    clusters). ``flush()`` runs the pending batch plus a qemu-io ``flush``.
    """

    def __init__(self, path: str, capacity: int, batch_bytes: int = 64 * 1024 * 1024,
                 qemu_img: str = "qemu-img", qemu_io: str = "qemu-io") -> None:
        self.path = path
        self.uri = "qcow2:" + os.path.abspath(path)
        self._qemu_io = shutil.which(qemu_io)
        qemu_img_path = shutil.which(qemu_img)
        self._qemu_img = qemu_img_path or qemu_img
        if not self._qemu_io or not qemu_img_path:
            raise TargetWriteError("qcow2 targets need qemu-img and qemu-io (Debian package qemu-utils)")
        self._lock = threading.Lock()
        self._batch: List[Tuple[int, Optional[bytes], int]] = []
        self._batch_size = 0
        self._batch_bytes = batch_bytes
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._run([qemu_img_path, "create", "-q", "-f", "qcow2", path, str(capacity)])

    @staticmethod
    def _run(argv: List[str]) -> str:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              check=False)
        # qemu-io reports per-command failures on its output and still exits 0.
        if proc.returncode != 0 or "failed" in proc.stdout.lower() or "error" in proc.stdout.lower():
            raise TargetWriteError("%s failed: %s" % (" ".join(argv[:2]), proc.stdout.strip()[-500:]))
        return proc.stdout

    def write(self, offset: int, data: bytes) -> None:
        self._queue(offset, bytes(data), len(data))

    def zero(self, offset: int, length: int) -> None:
        self._queue(offset, None, length)

    def _queue(self, offset: int, data: Optional[bytes], length: int) -> None:
        with self._lock:
            self._batch.append((offset, data, length))
            self._batch_size += len(data) if data else 0
            if self._batch_size >= self._batch_bytes:
                self._drain(flush=False)

    def _drain(self, flush: bool) -> None:
        if not self._batch and not flush:
            return
        staging = tempfile.mkdtemp(prefix="reforge-qcow2-")
        try:
            argv = [self._qemu_io, "-f", "qcow2"]
            for index, (offset, data, length) in enumerate(self._batch):
                if data is None:
                    argv += ["-c", "write -q -z -u %d %d" % (offset, length)]
                else:
                    chunk_path = os.path.join(staging, str(index))
                    with open(chunk_path, "wb") as handle:
                        handle.write(data)
                    argv += ["-c", "write -q -s %s %d %d" % (chunk_path, offset, length)]
            if flush:
                argv += ["-c", "flush"]
            argv.append(self.path)
            self._run(argv)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._batch = []
        self._batch_size = 0

    def flush(self) -> None:
        with self._lock:
            self._drain(flush=True)

    def read(self, offset: int, length: int) -> bytes:
        with self._lock:
            self._drain(flush=False)
        proc = subprocess.run(
            [self._qemu_io, "-f", "qcow2", "-r", "-c", "read -v %d %d" % (offset, length), self.path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if proc.returncode != 0:
            raise TargetWriteError("qemu-io read failed: %s" % proc.stderr.strip())
        return _parse_qemu_io_dump(proc.stdout, length)

    def allocated(self, capacity: int) -> Optional[List[ext.Extent]]:
        """``qemu-img map``: every range not known to read zeros (data, or unallocated with a backing file)."""
        with self._lock:
            self._drain(flush=False)
        proc = subprocess.run([self._qemu_img, "map", "--output=json", "-f", "qcow2", self.path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if proc.returncode != 0:
            raise TargetWriteError("qemu-img map of %s failed: %s" % (self.path, proc.stderr.strip()[-500:]))
        return ext.clip(ext.normalize((int(e["start"]), int(e["length"])) for e in json.loads(proc.stdout)
                                      if not e.get("zero")), capacity)

    def close(self) -> None:
        with self._lock:
            self._drain(flush=False)


def _parse_qemu_io_dump(text: str, length: int) -> bytes:
    """Parse ``qemu-io read -v`` hexdump lines (``00000000:  de ad ...  ascii``)."""
    out = bytearray()
    for line in text.splitlines():
        head, sep, rest = line.partition(":  ")
        if not sep:
            continue
        out.extend(bytes.fromhex(rest.split("  ", 1)[0].replace(" ", "")))
    return bytes(out[:length])


class RbdWriter(TargetWriter):
    """A Ceph RBD image through librbd (Debian ``python3-rbd``), created at the disk's capacity."""

    def __init__(self, pool: str, image: str, capacity: int, conffile: str = "/etc/ceph/ceph.conf",
                 client_name: str = "client.admin") -> None:
        try:
            import rados  # pylint: disable=import-error
            import rbd  # pylint: disable=import-error
        except ImportError:
            raise TargetWriteError("RBD targets need the python3-rados and python3-rbd Debian packages "
                                   "on the node that runs the sync")
        self.uri = "rbd:%s/%s" % (pool, image)
        try:
            self._cluster = rados.Rados(conffile=conffile, name=client_name)
            self._cluster.connect(timeout=30)
            self._ioctx = self._cluster.open_ioctx(pool)
            if image not in rbd.RBD().list(self._ioctx):
                rbd.RBD().create(self._ioctx, image, capacity)
            self._image = rbd.Image(self._ioctx, image)
            if self._image.size() < capacity:
                self._image.resize(capacity)
        except (rados.Error, rbd.Error) as exc:
            raise TargetWriteError("cannot open RBD image %s: %s" % (self.uri, exc))
        self._errors = (rados.Error, rbd.Error)

    @classmethod
    def wrap(cls, image: object, uri: str, errors: Tuple[type, ...]) -> "RbdWriter":
        """A writer around an open ``rbd.Image``-like object (no cluster connection of its own)."""
        writer = cls.__new__(cls)
        writer.uri = uri
        writer._cluster = None
        writer._ioctx = None
        writer._image = image
        writer._errors = errors
        return writer

    def write(self, offset: int, data: bytes) -> None:
        try:
            self._image.write(bytes(data), offset)
        except self._errors as exc:
            raise TargetWriteError("RBD write at %d to %s failed: %s" % (offset, self.uri, exc))

    def zero(self, offset: int, length: int) -> None:
        # write_zeroes (librbd >= 15) deallocates whole objects and zeroes partial ones; a plain discard
        # may skip partial objects (rbd_skip_partial_discard), which would leave old data readable.
        try:
            if hasattr(self._image, "write_zeroes"):
                self._image.write_zeroes(offset, length)
            else:
                self._image.discard(offset, length)
        except self._errors as exc:
            raise TargetWriteError("RBD zeroing at %d+%d of %s failed: %s" % (offset, length, self.uri, exc))

    def flush(self) -> None:
        try:
            self._image.flush()
        except self._errors as exc:
            raise TargetWriteError("RBD flush of %s failed: %s" % (self.uri, exc))

    def read(self, offset: int, length: int) -> bytes:
        return self._image.read(offset, length)

    def allocated(self, capacity: int) -> Optional[List[ext.Extent]]:
        """``diff_iterate`` from the image's creation: the extents that exist (what ``rbd diff`` lists)."""
        out: List[ext.Extent] = []

        def collect(offset: int, length: int, exists: bool) -> int:
            if exists:
                out.append((offset, length))
            return 0

        try:
            self._image.diff_iterate(0, capacity, None, collect)
        except self._errors as exc:
            raise TargetWriteError("RBD diff of %s failed: %s" % (self.uri, exc))
        return ext.clip(ext.normalize(out), capacity)

    def close(self) -> None:
        self._image.close()
        if self._ioctx is not None:
            self._ioctx.close()
            self._cluster.shutdown()


def open_writer(spec: Dict[str, object], capacity: int) -> TargetWriter:
    """Build a writer from a target spec: ``{format: raw|qcow2|rbd, path: ...}`` or ``{format: rbd, pool, image}``."""
    fmt = spec.get("format", "raw")
    if fmt == "raw":
        return RawFileWriter(str(spec["path"]), capacity)
    if fmt == "qcow2":
        return Qcow2Writer(str(spec["path"]), capacity)
    if fmt == "rbd":
        return RbdWriter(str(spec["pool"]), str(spec["image"]), capacity,
                         conffile=str(spec.get("conffile") or "/etc/ceph/ceph.conf"),
                         client_name=str(spec.get("client_name") or "client.admin"))
    raise TargetWriteError("unknown target format %r" % fmt)


def target_uri(spec: Dict[str, object]) -> str:
    fmt = spec.get("format", "raw")
    if fmt == "rbd":
        return "rbd:%s/%s" % (spec["pool"], spec["image"])
    return "%s:%s" % (fmt, os.path.abspath(str(spec["path"])))


# ---- what the sync left on a target: fingerprints and sync-owned RBD snapshots ----
#
# Nothing but the sync may write to a synced target. After each commit the journal records the
# target's fingerprint, and the next sync compares it before trusting the committed changeId: a
# target someone booted, wrote to, replaced or deleted is fully resynced. Files: size, mtime, ctime,
# inode and device (ctime cannot be set back by hand). RBD images: one snapshot owned by the sync
# (``reforge-synced-<token>``, replaced at each commit) and librbd's ``diff_iterate`` from it.

RBD_MARK_PREFIX = "reforge-synced-"


def _file_fingerprint(path: str) -> Optional[Dict[str, object]]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TargetWriteError("cannot stat target %s: %s" % (path, exc))
    return {"kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "ino": st.st_ino, "dev": st.st_dev}


class _RbdImage:
    """An RBD image opened from a target spec for the mark functions (``image`` is None when it does not exist)."""

    def __init__(self, spec: Dict[str, object]) -> None:
        try:
            import rados  # pylint: disable=import-error
            import rbd  # pylint: disable=import-error
        except ImportError:
            raise TargetWriteError("RBD targets need the python3-rados and python3-rbd Debian packages "
                                   "on the node that runs the sync")
        self.errors = (rados.Error, rbd.Error)
        self.name = str(spec["image"])
        self.uri = target_uri(spec)
        self.image = None
        self._ioctx = None
        self._cluster = rados.Rados(conffile=str(spec.get("conffile") or "/etc/ceph/ceph.conf"),
                                    name=str(spec.get("client_name") or "client.admin"))
        try:
            self._cluster.connect(timeout=30)
            self._ioctx = self._cluster.open_ioctx(str(spec["pool"]))
            try:
                self.image = rbd.Image(self._ioctx, self.name)
            except rbd.ImageNotFound:
                self.image = None
        except self.errors as exc:
            self.close()
            raise TargetWriteError("cannot open RBD image %s: %s" % (self.uri, exc))

    def marks(self) -> List[str]:
        return [s["name"] for s in self.image.list_snaps() if s["name"].startswith(RBD_MARK_PREFIX)]

    def close(self) -> None:
        if self.image is not None:
            self.image.close()
        if self._ioctx is not None:
            self._ioctx.close()
        self._cluster.shutdown()


def mark_synced(spec: Dict[str, object], token: str) -> Optional[Dict[str, object]]:
    """Call after the target is flushed and closed, before the journal commit; returns the fingerprint to record.

    RBD: creates the sync-owned snapshot ``reforge-synced-<token>`` and then removes the older ones, so a
    kill between the two leaves an extra mark the next commit removes, never none.
    """
    if spec.get("format", "raw") != "rbd":
        return _file_fingerprint(str(spec["path"]))
    handle = _RbdImage(spec)
    try:
        if handle.image is None:
            raise TargetWriteError("RBD image %s vanished before its sync was committed" % handle.uri)
        name = RBD_MARK_PREFIX + token
        try:
            if name not in handle.marks():
                handle.image.create_snap(name)
            for old in handle.marks():
                if old != name:
                    handle.image.remove_snap(old)
            return {"kind": "rbd", "snapshot": name, "image_id": handle.image.id(), "size": handle.image.size()}
        except handle.errors as exc:
            raise TargetWriteError("marking the synced state of %s failed: %s" % (handle.uri, exc))
    finally:
        handle.close()


def target_changed(spec: Dict[str, object], fingerprint: Dict[str, object]) -> Optional[str]:
    """Why the target is no longer what the last commit left (a reason for a full resync), or None."""
    if spec.get("format", "raw") != "rbd":
        now = _file_fingerprint(str(spec["path"]))
        if now is None:
            return "the target %s is missing" % spec["path"]
        if (now["ino"], now["dev"]) != (fingerprint.get("ino"), fingerprint.get("dev")):
            return "the target %s was replaced (another file)" % spec["path"]
        changed = [k for k in ("size", "mtime_ns", "ctime_ns") if now[k] != fingerprint.get(k)]
        if changed:
            return "the target %s was modified after the last sync (%s differ)" % (spec["path"], ", ".join(changed))
        return None
    handle = _RbdImage(spec)
    try:
        if handle.image is None:
            return "the RBD image %s is missing" % handle.uri
        image = handle.image
        try:
            if image.id() != fingerprint.get("image_id"):
                return "the RBD image %s was replaced (image id %s, synced %s)" % (
                    handle.uri, image.id(), fingerprint.get("image_id"))
            if image.size() != fingerprint.get("size"):
                return "the RBD image %s was resized from %s to %d" % (handle.uri, fingerprint.get("size"), image.size())
            mark = str(fingerprint.get("snapshot"))
            if mark not in handle.marks():
                return "the sync's snapshot %s@%s is gone: what was written since cannot be told" % (handle.uri, mark)
            first: List[int] = []

            def seen(offset: int, length: int, exists: bool) -> int:
                del length, exists  # any extent listed since the mark is a write (data or discard)
                if not first:
                    first.append(offset)
                return 0

            # whole objects: with fast-diff, librbd answers from the object maps of the mark and of now
            # instead of asking every object of the image (a 2 TiB image is 524,288 objects)
            image.diff_iterate(0, image.size(), mark, seen, whole_object=True)
            if first:
                return "the RBD image %s was written after the last sync (since %s, first at offset %d)" % (
                    handle.uri, mark, first[0])
            return None
        except handle.errors as exc:
            raise TargetWriteError("checking %s against the sync's snapshot failed: %s" % (handle.uri, exc))
    finally:
        handle.close()


def release_sync_marks(spec: Dict[str, object]) -> List[str]:
    """Drop the sync-owned RBD snapshots of a target (after a successful cutover: no sync follows).

    Files carry no mark; returns the snapshots removed.
    """
    if spec.get("format", "raw") != "rbd":
        return []
    handle = _RbdImage(spec)
    try:
        if handle.image is None:
            return []
        removed = []
        try:
            for name in handle.marks():
                handle.image.remove_snap(name)
                removed.append(name)
        except handle.errors as exc:
            raise TargetWriteError("removing the sync snapshots of %s failed: %s" % (handle.uri, exc))
        return removed
    finally:
        handle.close()
