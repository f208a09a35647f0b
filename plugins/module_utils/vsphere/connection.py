# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vCenter/ESXi session through pyvmomi, with TLS verified against a CA bundle and renewal.

Why not ``vmware.vmware``'s ``PyvmomiClient``: it only loads the system trust
store (no CA bundle option, so a campus CA or the lab CA cannot be used without
turning verification off), it discards the password right after login (a copy
that runs for hours must log in again when vCenter expires the session), and it
registers an ``atexit`` disconnect per client. The connection options keep the
same names and ``VMWARE_*`` environment fallbacks, so ``module_defaults`` and
AWX credentials work for both collections.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import collections
import http.client
import inspect
import random
import ssl
import threading
import time
import traceback
from http.cookies import SimpleCookie
from typing import Any, Callable, List, Optional, TypeVar, Union

try:
    from pyVim import connect
    from pyVmomi import vim, vmodl
    PYVMOMI_IMPORT_ERROR = None
except ImportError:
    PYVMOMI_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import VsphereConnectError, TaskFailed

T = TypeVar("T")

# vCenter drops idle sessions after 30 minutes by default; log in again well before.
DEFAULT_RENEW_AFTER = 20 * 60
# Objects per RetrievePropertiesEx/ContinueRetrievePropertiesEx page: vCenter may answer fewer and a token.
DEFAULT_PAGE_SIZE = 1000


def ssl_context(validate_certs: bool, ca_path: Optional[str]) -> ssl.SSLContext:
    """Verification on unless explicitly disabled; a CA bundle replaces the system store when given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path or None)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class VsphereConnection:
    """One logged-in SOAP session that logs in again when it expires or is about to."""

    def __init__(self, hostname: str, username: str, password: str, port: int = 443,
                 validate_certs: bool = True, ca_path: Optional[str] = None, timeout: int = 60,
                 renew_after: float = DEFAULT_RENEW_AFTER) -> None:
        if PYVMOMI_IMPORT_ERROR:
            raise VsphereConnectError("pyvmomi is required (pip install pyvmomi, or Debian python3-pyvmomi)")
        self.hostname = hostname
        self.port = port
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.renew_after = renew_after
        self.renewals = 0
        self._username = username
        self._password = password
        self._lock = threading.RLock()
        self._logged_in_at = 0.0
        # How sync readers reach the datastore (host_read.DatastoreAccess); set by the module from its options.
        self.datastore_access: Any = None
        kwargs = {"sslContext": ssl_context(validate_certs, ca_path)}
        # Debian 12's python3-pyvmomi (6.7) has no connection timeout argument; newer ones do.
        if "httpConnectionTimeout" in inspect.signature(connect.SmartConnect).parameters:
            kwargs["httpConnectionTimeout"] = timeout
        try:
            self.si = connect.SmartConnect(host=hostname, port=port, user=username, pwd=password, **kwargs)
        except ssl.SSLError as exc:
            raise VsphereConnectError("TLS verification of %s:%s failed (%s); set ca_path to the CA that "
                                      "signed the vCenter certificate" % (hostname, port, exc))
        except vim.fault.InvalidLogin:
            raise VsphereConnectError("login to %s:%s as %s refused" % (hostname, port, username))
        except (OSError, vmodl.MethodFault) as exc:
            raise VsphereConnectError("cannot connect to %s:%s: %s" % (hostname, port, exc))
        # SOAP round trips by method name ("Fetch" is one lazy property read), for diagnostics and benchmarks.
        self.round_trips: collections.Counter = collections.Counter()
        self._count_round_trips(self.si._stub)  # pylint: disable=protected-access
        self.content = self.si.RetrieveContent()
        self._logged_in_at = time.monotonic()

    def _count_round_trips(self, stub: Any) -> None:
        """Count every request the stub sends: methods and the ``Fetch`` behind each lazy property read."""
        invoke = stub.InvokeMethod
        counter = self.round_trips

        def counted(mo: Any, info: Any, args: Any) -> Any:
            counter[info.wsdlName] += 1
            return invoke(mo, info, args)
        stub.InvokeMethod = counted

    @property
    def base_url(self) -> str:
        return "https://%s:%d" % (self.hostname, self.port)

    @property
    def http_verify(self) -> Union[bool, str]:
        """The ``verify`` argument for ``requests``: the same trust as the SOAP session."""
        if not self.validate_certs:
            return False
        return self.ca_path or True

    def _login(self) -> None:
        with self._lock:
            self.content.sessionManager.Login(self._username, self._password)
            self._logged_in_at = time.monotonic()
            self.renewals += 1

    def ensure_session(self) -> None:
        """Log in again when the session is old or vCenter no longer knows it."""
        with self._lock:
            if time.monotonic() - self._logged_in_at < self.renew_after:
                return
            try:
                alive = self.content.sessionManager.currentSession is not None
            except vim.fault.NotAuthenticated:
                alive = False
            if alive:
                self._logged_in_at = time.monotonic()
            else:
                self._login()

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a SOAP call; log in again on NotAuthenticated (expired session), back off on HTTP 503."""
        self.ensure_session()
        relogged = False
        for attempt in range(8):
            try:
                return func(*args, **kwargs)
            except vim.fault.NotAuthenticated:
                if relogged:
                    raise
                self._login()
                relogged = True
            except http.client.HTTPException as exc:
                # pyVmomi raises HTTPException("503 Service Unavailable") for non-SOAP answers
                if not str(exc).startswith("503") or attempt == 7:
                    raise
                time.sleep(random.uniform(0.5, 1.0) * min(10.0, 0.2 * 2 ** attempt))
        raise VsphereConnectError("unreachable")  # the loop returns or raises

    def retrieve_properties(self, spec: Any, page_size: int = DEFAULT_PAGE_SIZE) -> List[Any]:
        """Every ``ObjectContent`` a ``PropertyFilterSpec`` selects: RetrievePropertiesEx, then
        ContinueRetrievePropertiesEx while vCenter answers with a token. A token belongs to the session:
        when the session was renewed during the pages (the token is gone), the retrieval starts over, once."""
        collector = self.content.propertyCollector
        options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=page_size)
        for attempt in range(2):
            renewals = self.renewals
            objects: List[Any] = []
            token = None
            try:
                result = self.call(collector.RetrievePropertiesEx, specSet=[spec], options=options)
                while result is not None:
                    objects.extend(result.objects or [])
                    token = result.token
                    if not token:
                        return objects
                    result = self.call(collector.ContinueRetrievePropertiesEx, token=token)
                    token = None
                return objects
            except vmodl.fault.InvalidArgument:
                if attempt or self.renewals == renewals:
                    raise
            finally:
                if token:  # left before the last page: let vCenter drop the rest
                    try:
                        collector.CancelRetrievePropertiesEx(token=token)
                    except Exception:  # noqa: BLE001 - best effort; the session's end frees it too
                        pass
        raise VsphereConnectError("unreachable")  # the loop returns or raises

    def renew(self) -> None:
        """Force a new login (the HTTP reader calls this on 401/403)."""
        self._login()

    def session_cookie(self) -> str:
        """``vmware_soap_session=<id>`` for datastore HTTP requests, from the SOAP session."""
        raw = self.si._stub.cookie  # pylint: disable=protected-access
        cookie = SimpleCookie()
        cookie.load(raw)
        morsel = cookie.get("vmware_soap_session")
        if morsel is None:
            return raw.split(";")[0]
        return "vmware_soap_session=%s" % morsel.coded_value

    def acquire_service_ticket(self, url: str, method: str = "httpGet") -> str:
        """A generic service ticket for exactly one HTTP request (``method`` on ``url``) to an ESXi host,
        sent there as cookie ``vmware_cgi_ticket``. A credential: never log it."""
        spec = vim.SessionManager.HttpServiceRequestSpec(method=method, url=url)
        return self.call(lambda: self.content.sessionManager.AcquireGenericServiceTicket(spec=spec)).id

    def wait_for_task(self, task: Any, timeout: float = 600, poll: float = 0.2) -> Any:
        """Poll a task (own loop: pyvmomi's WaitForTask trips over vcsim's snapshot task entities)."""
        deadline = time.monotonic() + timeout
        delay = poll
        while True:
            info = self.call(lambda: task.info)
            if info.state == vim.TaskInfo.State.success:
                return info.result
            if info.state == vim.TaskInfo.State.error:
                msg = getattr(info.error, "msg", None) or str(info.error)
                raise TaskFailed("task %s failed: %s" % (info.descriptionId or info.key, msg))
            if time.monotonic() > deadline:
                raise TaskFailed("task %s did not finish within %ss" % (info.key, timeout))
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    def close(self) -> None:
        try:
            connect.Disconnect(self.si)
        except Exception:  # noqa: BLE001 - logout is best effort; the session expires anyway
            pass
