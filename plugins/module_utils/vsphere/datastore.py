# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read byte ranges of a datastore file over vCenter's ``/folder`` HTTP endpoint.

Used on the *frozen* base disk under a sync snapshot (the running VM writes to
the delta). Each calling thread has its own HTTP session so several Range
streams run in parallel. ESXi answers 503 when it rate-limits: back off with
jitter and honour ``Retry-After``. A ``200`` to a Range request (the server
ignored the range and would send the whole multi-TiB file) or a
``Content-Range`` other than the one asked for means the bytes cannot be
trusted at that offset: fatal, never retried.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import random
import re
import threading
import time
import traceback
from typing import Any, Callable, Dict, Optional, Union
from urllib.parse import quote, urlencode

try:
    import requests
    REQUESTS_IMPORT_ERROR = None
except ImportError:
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import RangeReadError, VsphereError

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
RETRYABLE_STATUS = (500, 502, 503, 504)


def parse_datastore_path(file_name: str):
    """``[ds1] vm/vm.vmdk`` → ``("ds1", "vm/vm.vmdk")``."""
    match = re.match(r"^\[([^\]]+)\]\s*(.*)$", file_name)
    if not match:
        raise VsphereError("not a datastore path: %r" % file_name)
    return match.group(1), match.group(2)


def flat_path(descriptor_path: str) -> str:
    """The data file of a flat/sparse VMDK descriptor: ``vm/disk.vmdk`` → ``vm/disk-flat.vmdk``."""
    if descriptor_path.endswith("-flat.vmdk") or not descriptor_path.endswith(".vmdk"):
        return descriptor_path
    return descriptor_path[:-len(".vmdk")] + "-flat.vmdk"


def folder_url(base_url: str, datacenter: str, datastore: str, path: str) -> str:
    return "%s/folder/%s?%s" % (base_url.rstrip("/"), quote(path),
                                urlencode({"dcPath": datacenter, "dsName": datastore}))


class RangeReader:
    """Thread-safe ``read(offset, length)`` over one datastore file URL."""

    def __init__(self, url: str, verify: Union[bool, str], cookie: Callable[[], str],
                 renew: Optional[Callable[[], None]] = None, timeout: float = 120,
                 max_retries: int = 8, backoff: float = 0.2, backoff_max: float = 10.0,
                 auth_hint: str = "", describe: Optional[Callable[[], Dict[str, Any]]] = None) -> None:
        """``cookie`` gives the credential of each request (called per attempt), ``renew`` is called once per
        read on 401/403; ``auth_hint`` is added to the error when the server still refuses after that;
        ``describe`` adds where the bytes came from to :meth:`report`. Credentials never reach a message."""
        if REQUESTS_IMPORT_ERROR:
            raise VsphereError("the requests library is required (Debian python3-requests)")
        self.url = url
        self.verify = verify
        self._cookie = cookie
        self._renew = renew
        self.auth_hint = auth_hint
        self._describe = describe
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._local = threading.local()
        self._stats_lock = threading.Lock()
        self.stats: Dict[str, int] = {"requests": 0, "retries": 0, "status_503": 0, "renewals": 0, "bytes": 0}

    def _session(self) -> "requests.Session":
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = self.verify
            self._local.session = session
        return session

    def _count(self, key: str, value: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += value

    def _sleep(self, attempt: int, retry_after: Optional[str]) -> None:
        delay = min(self.backoff_max, self.backoff * (2 ** attempt))
        delay = random.uniform(delay / 2, delay)  # jitter: parallel streams must not retry in lockstep
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(delay)

    def read(self, offset: int, length: int) -> bytes:
        last_problem = ""
        renewed = False
        attempt = 0
        while attempt <= self.max_retries:
            headers = {"Range": "bytes=%d-%d" % (offset, offset + length - 1), "Cookie": self._cookie()}
            self._count("requests")
            try:
                # verify per request: a session-level verify loses to REQUESTS_CA_BUNDLE in the environment
                # stream: a server that ignores Range would otherwise make us download the whole disk
                resp = self._session().get(self.url, headers=headers, timeout=self.timeout, verify=self.verify,
                                           stream=True)
            except requests.exceptions.SSLError as exc:
                raise VsphereError("TLS verification of the datastore endpoint %s failed: %s" % (self._redacted(), exc))
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = "connection: %s" % exc
                self._local.session = None
                self._count("retries")
                self._sleep(attempt, None)
                attempt += 1
                continue
            if resp.status_code != 206:
                resp.close()  # never drain an unexpected body (it may be the whole multi-TiB file)
            if resp.status_code == 206:
                try:
                    self._check_content_range(resp.headers.get("Content-Range", ""), offset, length)
                except RangeReadError:
                    resp.close()
                    raise
                try:
                    data = resp.content
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                    last_problem = "body: %s" % exc
                    self._local.session = None
                    self._count("retries")
                    self._sleep(attempt, None)
                    attempt += 1
                    continue
                if len(data) != length:
                    last_problem = "short body: %d of %d bytes" % (len(data), length)
                    self._count("retries")
                    self._sleep(attempt, None)
                    attempt += 1
                    continue
                self._count("bytes", length)
                return data
            if resp.status_code == 200:
                raise RangeReadError("%s answered 200 to a Range request at %d+%d: the server ignores ranges, "
                                     "refusing to read the whole file" % (self._redacted(), offset, length))
            if resp.status_code in (401, 403) and self._renew and not renewed:
                self._renew()
                renewed = True
                self._count("renewals")
                continue
            if resp.status_code in RETRYABLE_STATUS:
                if resp.status_code == 503:
                    self._count("status_503")
                last_problem = "HTTP %d" % resp.status_code
                self._count("retries")
                self._sleep(attempt, resp.headers.get("Retry-After"))
                attempt += 1
                continue
            hint = "; %s" % self.auth_hint if self.auth_hint and resp.status_code in (401, 403) else ""
            raise VsphereError("reading %s at %d+%d: HTTP %d%s"
                               % (self._redacted(), offset, length, resp.status_code, hint))
        raise VsphereError("reading %s at %d+%d failed after %d retries (last: %s)"
                           % (self._redacted(), offset, length, self.max_retries, last_problem))

    def _check_content_range(self, header: str, offset: int, length: int) -> None:
        match = _CONTENT_RANGE.match(header.strip())
        if not match or int(match.group(1)) != offset or int(match.group(2)) != offset + length - 1:
            raise RangeReadError("%s answered Content-Range %r to a request for bytes %d-%d"
                                 % (self._redacted(), header, offset, offset + length - 1))

    def report(self) -> Dict[str, Any]:
        """The counters plus where the bytes came from (``via``; host and tickets for host reads)."""
        with self._stats_lock:
            out: Dict[str, Any] = dict(self.stats)
        out.update(self._describe() if self._describe else {"via": "vcenter"})
        return out

    def _redacted(self) -> str:
        return self.url.split("?")[0]

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
