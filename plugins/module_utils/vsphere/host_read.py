# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a sync reads disk bytes from: vCenter's datastore ``/folder`` or the ESXi host's own.

``read_via: vcenter`` (the default) reads ``https://<vcenter>/folder/...?dcPath=<dc>`` with the
vCenter session cookie: every byte passes through vCenter. ``read_via: esxi_host`` reads
``https://<host>/folder/...?dcPath=ha-datacenter&dsName=<ds>`` on the host that runs the VM, with
a generic service ticket (``SessionManager.AcquireGenericServiceTicket``) as cookie
``vmware_cgi_ticket``: vCenter only issues tickets and is out of the data path.

The vSphere API documents such a ticket as valid for the one request spec (method + URL) it was
acquired for and usable once, so by default every Range request gets a fresh ticket; ``ticket_uses``
lets one ticket serve several requests where hosts are known to accept that. A ticket is dropped
and a new one acquired when the host answers 401/403 or when it is older than ``ticket_max_age``.
Tickets are credentials: they appear in no message, result or journal.

Everything else (backoff on 503, Content-Range checks, TLS verified like the vCenter connection)
is :class:`RangeReader`'s.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import socket
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from ansible_collections.reforge.hci.plugins.module_utils.vsphere.datastore import (
    RangeReader, flat_path, folder_url, parse_datastore_path)
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import VsphereError

READ_VIA = ("vcenter", "esxi_host")
ESX_DATACENTER = "ha-datacenter"  # the only datacenter an ESXi host knows
TICKET_COOKIE = "vmware_cgi_ticket"
DEFAULT_TICKET_MAX_AGE = 60.0


class ServiceTicketCookie:
    """``cookie()``/``renew()`` for :class:`RangeReader`: generic service tickets for one URL.

    ``acquire(url, method)`` returns a ticket id. With ``uses=1`` each call of :meth:`cookie` acquires a
    ticket of its own (no lock held during the vCenter call, so parallel streams do not queue); with more,
    one ticket is shared until it has served ``uses`` requests, is ``max_age`` seconds old, or a stream
    that used it calls :meth:`renew` after a 401/403 (other streams then get the new one; a stream whose
    ticket was already replaced does not throw the replacement away).
    """

    def __init__(self, acquire: Callable[[str, str], str], url: str, method: str = "httpGet", uses: int = 1,
                 max_age: float = DEFAULT_TICKET_MAX_AGE, clock: Callable[[], float] = time.monotonic) -> None:
        if uses < 1:
            raise VsphereError("esxi_ticket_uses must be at least 1")
        self._acquire = acquire
        self.url = url
        self.method = method
        self.uses = int(uses)
        self.max_age = float(max_age)
        self._clock = clock
        self._lock = threading.Lock()
        self._acquiring = threading.Lock()
        self._local = threading.local()
        self._current: Optional[Tuple[str, float, int]] = None  # (id, acquired at, uses left)
        self.acquired = 0
        self.renewals = 0

    def __repr__(self) -> str:  # never the ticket itself
        return "ServiceTicketCookie(%r, acquired=%d, renewals=%d)" % (self.url.split("?")[0], self.acquired,
                                                                      self.renewals)

    def _new(self) -> str:
        ticket = self._acquire(self.url, self.method)
        if not ticket:
            raise VsphereError("vCenter returned an empty service ticket for %s" % self.url.split("?")[0])
        with self._lock:
            self.acquired += 1
        return ticket

    def cookie(self) -> str:
        ticket = self._new() if self.uses == 1 else self._shared()
        self._local.last = ticket
        return "%s=%s" % (TICKET_COOKIE, ticket)

    def _take_current(self) -> Optional[str]:
        with self._lock:
            current = self._current
            if current is not None and current[2] > 0 and self._clock() - current[1] < self.max_age:
                self._current = (current[0], current[1], current[2] - 1)
                return current[0]
            self._current = None
            return None

    def _shared(self) -> str:
        ticket = self._take_current()
        if ticket is not None:
            return ticket
        with self._acquiring:  # one vCenter call when several streams find the ticket spent at once
            ticket = self._take_current()
            if ticket is None:
                ticket = self._new()
                with self._lock:
                    self._current = (ticket, self._clock(), self.uses - 1)
        return ticket

    def renew(self) -> None:
        """The host refused the ticket this thread sent: drop it, unless another stream already did."""
        with self._lock:
            self.renewals += 1
            if self._current is not None and self._current[0] == getattr(self._local, "last", None):
                self._current = None


def host_address(host_name: str, addresses: Optional[Dict[str, str]]) -> str:
    """``host[:port]`` to connect to for an ESXi host: its override, else its name in vCenter."""
    address = str((addresses or {}).get(host_name) or host_name).strip()
    if "://" in address or "/" in address:
        raise VsphereError("esxi_host_addresses[%s] must be an address or address:port, not a URL: %r"
                           % (host_name, address))
    if address.count(":") > 1 and not address.startswith("["):
        address = "[%s]" % address  # a bare IPv6 literal
    return address


def split_address(address: str) -> Tuple[str, int]:
    if address.startswith("["):
        host, dummy, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 443
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return address, 443


def check_resolvable(host_name: str, address: str) -> None:
    """Fail fast and clearly (not after a minute of connection retries) when the address does not resolve."""
    host, port = split_address(address)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise VsphereError(
            "ESXi host %s: %s does not resolve on this machine (%s); map the host to a reachable address in "
            "esxi_host_addresses, e.g. {%s: 192.0.2.10}, or use read_via=vcenter"
            % (host_name, host, exc, host_name))


class DatastoreAccess:
    """The read options of a sync (``read_via``, ``esxi_host_addresses``, ``esxi_ticket_uses``)."""

    def __init__(self, read_via: str = "vcenter", host_addresses: Optional[Dict[str, str]] = None,
                 ticket_uses: int = 1, ticket_max_age: float = DEFAULT_TICKET_MAX_AGE) -> None:
        if read_via not in READ_VIA:
            raise VsphereError("read_via must be one of %s, not %r" % (", ".join(READ_VIA), read_via))
        if ticket_uses < 1:
            raise VsphereError("esxi_ticket_uses must be at least 1")
        self.read_via = read_via
        self.host_addresses = dict(host_addresses or {})
        self.ticket_uses = int(ticket_uses)
        self.ticket_max_age = float(ticket_max_age)

    @classmethod
    def from_params(cls, params: Dict[str, Any]) -> "DatastoreAccess":
        return cls(read_via=params.get("read_via") or "vcenter",
                   host_addresses=params.get("esxi_host_addresses") or {},
                   ticket_uses=params.get("esxi_ticket_uses", 1))

    def reader(self, conn: Any, vm: Any, datacenter: str, file_name: str) -> RangeReader:
        """A :class:`RangeReader` of the data file behind the VMDK descriptor ``file_name`` (``[ds] path``)."""
        datastore, path = parse_datastore_path(file_name)
        path = flat_path(path)
        if self.read_via == "vcenter":
            return RangeReader(folder_url(conn.base_url, datacenter, datastore, path), conn.http_verify,
                               conn.session_cookie, renew=conn.renew)
        host_name = vm_host_name(conn, vm)
        address = host_address(host_name, self.host_addresses)
        check_resolvable(host_name, address)
        url = folder_url("https://%s" % address, ESX_DATACENTER, datastore, path)
        tickets = ServiceTicketCookie(conn.acquire_service_ticket, url, uses=self.ticket_uses,
                                      max_age=self.ticket_max_age)
        hint = ("the ESXi host %s (%s) refused a fresh generic service ticket: a ticket is valid only for the "
                "exact URL it was issued for, so the address must reach that host directly (no proxy or "
                "redirect rewriting the URL), and the host must accept tickets from this vCenter"
                % (host_name, address))

        def describe() -> Dict[str, Any]:
            return {"via": "esxi_host", "host": host_name, "address": address,
                    "tickets": tickets.acquired, "ticket_renewals": tickets.renewals}

        return RangeReader(url, conn.http_verify, tickets.cookie, renew=tickets.renew, auth_hint=hint,
                           describe=describe)


def vm_host_name(conn: Any, vm: Any) -> str:
    """The name (in vCenter) of the ESXi host the VM is registered on: it has the VM's datastores mounted."""
    host = conn.call(lambda: vm.runtime.host)
    if host is None:
        raise VsphereError("VM %s is on no ESXi host (disconnected or orphaned): use read_via=vcenter"
                           % conn.call(lambda: vm.name))
    return conn.call(lambda: host.name)


def access_of(conn: Any) -> DatastoreAccess:
    """The connection's read options (set by the module from its options), else reads through vCenter."""
    return getattr(conn, "datastore_access", None) or DatastoreAccess()
