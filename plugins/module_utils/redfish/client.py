# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport client for Redfish services, built on DMTF's ``redfish`` library.

The library does the HTTP and session bookkeeping; this layer adds what BMCs in
the field need and the library lacks: TLS verification by default, retries with
exponential backoff and jitter that honour ``Retry-After``, busy-BMC detection
(Dell RAC0679), re-login when a session dies (the BMC reset itself during an
update), ``If-Match`` on every PATCH with one re-read on 412, and typed errors.

Only reads are retried blindly. A write is sent again only when it provably never
left (the connection was refused or never opened) or when the BMC answered "not
done" (503, 429, a busy MessageId). A write whose answer was lost raises
``RedfishWriteUncertain``; the operation then reads the state back and decides
(``writes.settle_write``). Every write is recorded before it is sent
(``writes``), with its outcome afterwards, so a failure can list what may have
reached the BMC. Mistakes in the endpoint itself (refused at first contact, a
scheme that is not http/https, TLS against a plain-HTTP port and the reverse)
fail at once with their cause.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import email.utils
import random
import socket
import ssl
import time
import traceback

from ansible.module_utils.six.moves.urllib.parse import urlparse

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import (
    RedfishAuthError, RedfishBusyError, RedfishConnectionError, RedfishEndpointError, RedfishError, RedfishHTTPError,
    RedfishNotFound, RedfishPreconditionFailed, RedfishTimeoutError, RedfishTLSError, RedfishWriteUncertain,
)

REDFISH_IMP_ERR = None
try:
    import redfish
    from redfish.rest.v1 import (
        AuthMethod, InvalidCredentialsError, JsonDecodingError, RetriesExhaustedError, ServerDownOrUnreachableError,
    )
    import requests
    HAS_REDFISH = True
except ImportError:  # pragma: no cover - exercised only without the library
    HAS_REDFISH = False
    REDFISH_IMP_ERR = traceback.format_exc()

MIN_REDFISH_VERSION = (3, 1, 0)

# Message ids that mean "the BMC is busy with another job, try again later".
BUSY_MESSAGE_IDS = ("RAC0679", "SYS518", "JobRunning", "ServiceTemporarilyUnavailable")
# "Not now" answers: retried for every method (the BMC says it did not do it).
BUSY_STATUS = (429, 503)
# Server and gateway errors: retried for reads; for a write, 502/504 come from a gateway that lost the
# BMC's answer (the write may have landed), a 500 is the BMC's own answer and is reported.
READ_RETRY_STATUS = (500, 502, 504)
LOST_ANSWER_STATUS = (502, 504)
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
# What became of a write: recorded before it is sent ("sending"), then one of these.
SENT_OUTCOMES = ("acknowledged", "rejected", "lost")
# error.message texts that only point at @Message.ExtendedInfo (iLO, iDRAC): never the message shown.
_POINTER_TEXTS = ("see @message.extendedinfo", "see extendedinfo")


def redfish_library_problem():
    """Return None when the redfish library is usable, else a reason string."""
    if not HAS_REDFISH:
        return "missing"
    version = tuple(int(p) for p in redfish.__version__.split(".")[:3] if p.isdigit())
    if version < MIN_REDFISH_VERSION:
        return "redfish >= %s required, found %s" % (".".join(map(str, MIN_REDFISH_VERSION)), redfish.__version__)
    return None


def message_ids(body):
    """All MessageIds in a Redfish error body or task, e.g. ``['IDRAC.2.8.RAC0679']``."""
    if not isinstance(body, dict):
        return []
    found = []
    error = body.get("error", body)
    if error.get("code"):
        found.append(error["code"])
    for info in error.get("@Message.ExtendedInfo", []) + body.get("Messages", []):
        if isinstance(info, dict) and info.get("MessageId"):
            found.append(info["MessageId"])
    return found


def _is_pointer(text):
    return any(p in (text or "").lower() for p in _POINTER_TEXTS)


def error_text(body):
    """A short human text out of a Redfish error body: the first @Message.ExtendedInfo message and its MessageId.

    iLO and iDRAC put only "See @Message.ExtendedInfo for more information" in ``error.message``; iLO's
    ExtendedInfo entries often carry a MessageId (and MessageArgs) without a Message."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error", body)
    infos = [i for i in error.get("@Message.ExtendedInfo") or [] if isinstance(i, dict)
             and (i.get("Message") or i.get("MessageId"))]
    generic = error.get("message") if not _is_pointer(error.get("message")) else None
    if not infos:
        code = error.get("code")
        text = generic or ""
        if code and not code.endswith("ExtendedInfo") and code not in text:
            text = "%s [%s]" % (text, code) if text else code
        return text
    first = infos[0]
    mid = first.get("MessageId")
    text = first.get("Message") or generic
    if not text:
        args = first.get("MessageArgs") or []
        text = "%s%s" % (mid, " (%s)" % ", ".join(str(a) for a in args) if args else "")
    elif mid and mid not in text:
        text = "%s [%s]" % (text, mid)
    if len(infos) > 1:
        text += " (+%d more message%s)" % (len(infos) - 1, "s" if len(infos) > 2 else "")
    return text


def _causes(exc):
    """The exception and everything it wraps (requests -> urllib3 -> socket/ssl)."""
    seen, todo = [], [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([getattr(current, "__cause__", None), getattr(current, "__context__", None),
                     getattr(current, "reason", None)])
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
    return seen


def _named(causes, *names):
    return any(any(k.__name__ in names for k in type(c).__mro__) for c in causes)


def transport_fault(exc):
    """What a transport failure means for the request that met it.

    ``bad_url`` (not an http/https URL), ``tls_verify`` (certificate not trusted), and the kinds where the
    request provably never left: ``refused``, ``unresolved``, ``connect_timeout``, ``unreachable``, ``tls``
    (the TLS handshake failed); or ``lost``: the request may have been sent and the answer never came
    (read timeout, connection reset or closed after sending). Only reads may be re-sent after ``lost``."""
    causes = _causes(exc)
    text = " ".join(str(c) for c in causes)
    if _named(causes, "InvalidSchema", "InvalidURL", "MissingSchema", "URLRequired", "LocationParseError"):
        return "bad_url"
    if _named(causes, "SSLCertVerificationError", "CertificateError") or "CERTIFICATE_VERIFY_FAILED" in text:
        return "tls_verify"
    if _named(causes, "ProtocolError", "ReadTimeout", "ReadTimeoutError", "RemoteDisconnected", "ChunkedEncodingError",
              "IncompleteRead"):
        return "lost"
    if _named(causes, "ConnectionRefusedError"):
        return "refused"
    if _named(causes, "NameResolutionError", "gaierror"):
        return "unresolved"
    if _named(causes, "ConnectTimeout", "ConnectTimeoutError"):
        return "connect_timeout"
    if _named(causes, "NewConnectionError"):
        return "unreachable"
    if _named(causes, "SSLError"):
        return "tls"
    return "lost"


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class Response(object):
    """What a caller needs from one HTTP exchange."""

    def __init__(self, status, body, headers, uri, method):
        self.status = status
        self.body = body
        self.headers = dict((k.lower(), v) for k, v in headers.items())
        self.uri = uri
        self.method = method

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def location(self):
        return self.header("location")

    @property
    def etag(self):
        return self.header("etag") or (self.body or {}).get("@odata.etag")


class RetryPolicy(object):
    """Exponential backoff with full jitter; ``Retry-After`` wins when given."""

    def __init__(self, retries=5, backoff=1.0, max_delay=30.0, sleep=time.sleep, rng=None):
        self.retries = retries
        self.backoff = backoff
        self.max_delay = max_delay
        self.sleep = sleep
        self.rng = rng or random.Random()

    def delay(self, attempt, retry_after=None):
        if retry_after is not None:
            return min(float(retry_after), self.max_delay)
        ceiling = min(self.max_delay, self.backoff * (2 ** attempt))
        # Jitter spreads retries of many hosts (a campus fan-out) over time.
        return ceiling / 2.0 + self.rng.uniform(0, ceiling / 2.0)


class RedfishClient(object):
    """A logged-in connection to one Redfish service.

    Use as a context manager so the session is always deleted::

        with RedfishClient("https://bmc", "root", "secret", ca_path="/ca.pem") as bmc:
            system = bmc.get(bmc.system_uri)
    """

    def __init__(self, endpoint, username=None, password=None, validate_certs=True, ca_path=None,
                 timeout=30, auth="session", retry_policy=None):
        if "://" not in endpoint:
            endpoint = "https://" + endpoint
        self.endpoint = endpoint.rstrip("/")
        self.username = username
        self._password = password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.auth = auth
        self.auth_used = None
        self.retry = retry_policy or RetryPolicy()
        # Every write, recorded before it is sent: dict(method, uri, outcome, status[, read_back]).
        self.writes = []
        self.warnings = []
        self.relogins = 0
        self._contacted = False
        self._host, self._port = None, None
        self._conn = None
        self._root = None
        self._cache = {}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()

    def _cafile(self):
        if not self.validate_certs:
            return None
        if self.ca_path:
            return self.ca_path
        # The library verifies only when its cafile is truthy and passes it to requests as
        # ``verify``: True means "the default trust store" (REQUESTS_CA_BUNDLE or certifi).
        return True

    def open(self):
        problem = redfish_library_problem()
        if problem:
            raise RedfishError("The redfish Python library is not usable: %s" % problem)
        self._check_endpoint()
        if not self.validate_certs:
            requests.packages.urllib3.disable_warnings(requests.packages.urllib3.exceptions.InsecureRequestWarning)
        # max_retry=0: this class owns retries (with backoff and jitter), the library
        # would otherwise sleep a fixed second and retry non-idempotent POSTs too.
        self._conn = redfish.redfish_client(
            base_url=self.endpoint, username=self.username, password=self._password,
            cafile=self._cafile(), timeout=self.timeout, max_retry=0, check_connectivity=False)
        self._root = self.get("/redfish/v1/")
        self._conn.root = self._root
        self._conn.root_resp = True  # the library only checks that it has fetched the root
        self._login()
        return self

    def _check_endpoint(self):
        """A URL that cannot be a Redfish service fails before anything is sent."""
        try:
            parsed = urlparse(self.endpoint)
            port = parsed.port
        except ValueError as exc:
            raise RedfishEndpointError("endpoint %r is not a valid URL: %s" % (self.endpoint, exc))
        if parsed.scheme.lower() not in ("http", "https"):
            raise RedfishEndpointError(
                "endpoint %r: the URL scheme %r is not http or https (Redfish services are https://host[:port])"
                % (self.endpoint, parsed.scheme + "://"))
        if not parsed.hostname:
            raise RedfishEndpointError("endpoint %r names no host" % self.endpoint)
        self._host = parsed.hostname
        self._port = port or (443 if parsed.scheme.lower() == "https" else 80)

    def _login(self):
        sessions_uri = ((self._root.get("Links") or {}).get("Sessions") or {}).get("@odata.id")
        self._conn.login_url = sessions_uri or "/redfish/v1/SessionService/Sessions"
        if self.auth == "session" and self._session_login():
            self.auth_used = "session"
            return
        # Services without a SessionService (or with it disabled) still take Basic auth.
        try:
            self._call(lambda: self._conn.login(auth=AuthMethod.BASIC), "GET", self._conn.login_url)
        except InvalidCredentialsError:
            raise RedfishAuthError("%s rejected the credentials of user %r" % (self.endpoint, self.username))
        self.auth_used = "basic"

    def _session_login(self):
        """Create a session; False when the service offers none (then Basic auth is tried).

        The session's URI (for the logout) comes from ``Location``, else from the answer's ``@odata.id``;
        some firmware sends neither, and then the session can only be used, not deleted (it ends after
        the service's SessionTimeout; a warning says so)."""
        url = self._conn.login_url
        raw = self._call(lambda: self._conn._rest_request(
            url, method="POST", body={"UserName": self.username, "Password": self._password}, allow_redirects=False),
            "POST", url)
        try:
            body = raw.dict if raw.text else {}
        except Exception:  # noqa: BLE001 - a session answer that is not JSON still carries its token
            body = {}
        body = body if isinstance(body, dict) else {}
        if any(mid.endswith("PasswordChangeRequired") for mid in message_ids(body)):
            raise RedfishAuthError("%s: the password of user %r must be changed before it can be used"
                                   % (self.endpoint, self.username))
        if raw.status == 401:
            raise RedfishAuthError("%s rejected the credentials of user %r" % (self.endpoint, self.username))
        token = raw.getheader("X-Auth-Token")
        if raw.status not in (200, 201, 202, 204) or not token:
            return False
        location = raw.getheader("Location") or body.get("@odata.id")
        self._conn.set_authorization_key(None)
        self._conn.set_session_key(token)
        self._conn.set_session_location(location)
        if not location:
            self.warnings.append(
                "%s created a session without telling its URI (no Location header, no @odata.id): it cannot be "
                "deleted at the end and stays open until the service's SessionTimeout" % self.endpoint)
        return True

    def close(self):
        """Delete our session. Never raises: a failed logout must not hide the real result."""
        if self._conn is None:
            return
        try:
            location = self._conn.get_session_location() if self.auth_used == "session" else None
            if location:
                self._conn._rest_request(urlparse(location).path or location, method="DELETE")
        except Exception:  # noqa: BLE001 - logout is best effort by design (BMC may be rebooting)
            pass
        try:
            self._conn.set_session_key(None)
            self._conn.set_session_location(None)
            self._conn._session.close()
        except Exception:  # noqa: BLE001
            pass
        self._conn = None

    def relogin(self):
        """Open a fresh session, e.g. after the BMC reset and forgot ours."""
        self.relogins += 1
        self._conn.set_session_key(None)
        self._conn.set_session_location(None)
        self._conn.set_authorization_key(None)
        self._login()

    # -- HTTP ------------------------------------------------------------------------------
    def _call(self, fn, method, uri):
        """Run one library call, mapping transport failures to typed errors.

        Each error's details say whether the request was ``sent`` (False: it provably never left) and
        whether it is ``transient`` (worth retrying); mistakes in the endpoint are never transient."""
        try:
            result = fn()
        except RetriesExhaustedError as exc:
            raise self._transport_error(exc.__cause__ or exc, method, uri)
        except ServerDownOrUnreachableError as exc:
            raise RedfishConnectionError("%s: %s" % (self.endpoint, exc))
        self._contacted = True
        return result

    def _transport_error(self, cause, method, uri):
        kind = transport_fault(cause)
        where = "%s:%s" % (self._host, self._port)
        first = not self._contacted
        if kind == "bad_url":
            return RedfishEndpointError("endpoint %r is not a URL this client can use: %s" % (self.endpoint, cause))
        if kind == "tls_verify":
            return RedfishTLSError(
                "TLS verification of %s failed: %s. Give the BMC's CA bundle in ca_path, "
                "or set validate_certs: false for a lab." % (self.endpoint, cause))
        if first and kind == "refused":
            return RedfishEndpointError("%s refused the connection: nothing listens on %s (wrong port, or the BMC's "
                                        "web service is off)" % (self.endpoint, where))
        if first and kind == "unresolved":
            return RedfishEndpointError("%s: the host name %r does not resolve" % (self.endpoint, self._host))
        if first and kind == "tls":
            if self._speaks(tls=False):
                return RedfishEndpointError("%s answers in plain HTTP, not TLS: use http://%s, or the BMC's HTTPS port "
                                            "(this is not a certificate problem)" % (self.endpoint, where))
            return RedfishEndpointError("the TLS handshake with %s failed: %s (not a certificate problem; is %s a "
                                        "Redfish HTTPS port?)" % (self.endpoint, cause, where))
        if first and kind == "lost" and self.endpoint.lower().startswith("http:") and self._speaks(tls=True):
            return RedfishEndpointError("%s speaks TLS: plain HTTP was sent to a TLS port; use https://%s"
                                        % (self.endpoint, where))
        sent = kind == "lost"
        if kind in ("connect_timeout", "lost") and _named(_causes(cause), "Timeout", "TimeoutError", "timeout"):
            return RedfishTimeoutError("%s did not answer %s %s within %s s" % (self.endpoint, method, uri, self.timeout),
                                       uri=uri, method=method, transient=True, sent=sent)
        return RedfishConnectionError("cannot reach %s (%s %s): %s" % (self.endpoint, method, uri, cause), uri=uri,
                                      method=method, transient=True, sent=sent)

    def _speaks(self, tls):
        """Whether the endpoint's port completes a TLS handshake (tls) or answers plain HTTP: a probe used
        only to explain a failed first contact."""
        try:
            sock = socket.create_connection((self._host, self._port), timeout=min(float(self.timeout), 5.0))
        except (OSError, socket.error):
            return False
        try:
            if tls:
                ctx = ssl.SSLContext(getattr(ssl, "PROTOCOL_TLS_CLIENT", ssl.PROTOCOL_SSLv23))
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                ctx.wrap_socket(sock, server_hostname=self._host).close()
                return True
            sock.sendall(b"HEAD /redfish/v1/ HTTP/1.0\r\nHost: " + self._host.encode("ascii", "replace") + b"\r\n\r\n")
            return sock.recv(5) == b"HTTP/"
        except (OSError, socket.error, ssl.SSLError):
            return False
        finally:
            sock.close()

    def _record_write(self, method, uri):
        record = dict(method=method, uri=uri, outcome="sending", status=None)
        self.writes.append(record)
        return record

    def writes_sent(self):
        """The writes that may have reached the BMC (all but those that provably never left)."""
        return [w for w in self.writes if w["outcome"] != "not_sent"]

    def request(self, method, uri, body=None, headers=None, allow_status=()):
        """Send one request with retries; return a Response or raise a typed error.

        ``allow_status`` lists error statuses the caller wants back instead of an exception.
        """
        method = method.upper()
        write = method in WRITE_METHODS
        relogged = False
        attempt = 0
        while True:
            record = self._record_write(method, uri) if write else None
            try:
                raw = self._call(lambda: self._conn._rest_request(uri, method=method, body=body, headers=headers),
                                 method, uri)
            except (RedfishTimeoutError, RedfishConnectionError) as exc:
                sent = exc.details.get("sent", False)
                if record is not None:
                    record["outcome"] = "lost" if sent else "not_sent"
                if write and sent:
                    raise self._uncertain(record, "its answer was lost (%s)" % exc.message)
                if not exc.details.get("transient") or attempt >= self.retry.retries:
                    raise
                self.retry.sleep(self.retry.delay(attempt))
                attempt += 1
                continue
            if record is not None:
                record.update(status=raw.status, outcome="acknowledged" if raw.status < 400 else "rejected")
            resp = Response(raw.status, self._body(raw, method, uri), dict(raw._http_response.headers), uri, method)
            if resp.status in allow_status:
                return resp
            if write and resp.status in LOST_ANSWER_STATUS:
                record["outcome"] = "lost"
                raise self._uncertain(record, "a gateway answered HTTP %s: the BMC's answer was lost" % resp.status)
            if resp.status == 401 and self.auth_used == "session" and not relogged and uri != self._conn.login_url:
                # Sessions die when a BMC resets (firmware update) or times them out.
                relogged = True
                self.relogin()
                continue
            ids = message_ids(resp.body)
            busy = resp.status in BUSY_STATUS or (
                resp.status >= 400 and any(b in mid for mid in ids for b in BUSY_MESSAGE_IDS))
            retry = busy or (not write and resp.status in READ_RETRY_STATUS)
            if retry and attempt < self.retry.retries:
                self.retry.sleep(self.retry.delay(attempt, parse_retry_after(resp.header("retry-after"))))
                attempt += 1
                continue
            if resp.status >= 400:
                raise self._http_error(resp, ids, busy)
            return resp

    def _uncertain(self, record, why):
        exc = RedfishWriteUncertain(
            "%s %s%s: %s after the request was sent, so the write may have taken effect; it is not sent again "
            "blindly" % (record["method"], self.endpoint, record["uri"], why),
            method=record["method"], uri=record["uri"], may_have_landed=True)
        exc.record = record
        return exc

    def _body(self, raw, method, uri):
        """The JSON body; error pages from proxies or half-booted BMCs are often HTML."""
        try:
            return raw.dict if raw.text else {}
        except JsonDecodingError:
            if raw.status >= 400:
                return {"error": {"message": raw.text[:300]}}
            raise RedfishHTTPError("%s %s%s answered %s with a body that is not JSON"
                                   % (method, self.endpoint, uri, raw.status), status=raw.status, uri=uri, method=method)

    def _http_error(self, resp, ids, busy):
        text = error_text(resp.body) or "HTTP %s" % resp.status
        msg = "%s %s%s failed with HTTP %s: %s" % (resp.method, self.endpoint, resp.uri, resp.status, text)
        if resp.status == 401:
            return RedfishAuthError(msg, status=401)
        if resp.status == 412:
            return RedfishPreconditionFailed(msg, status=412, message_ids=ids, uri=resp.uri, method=resp.method)
        if resp.status == 404:
            return RedfishNotFound(msg, status=404, message_ids=ids, uri=resp.uri, method=resp.method)
        if busy:
            return RedfishBusyError(msg + " (still busy after %d retries)" % self.retry.retries, status=resp.status,
                                    message_ids=ids, uri=resp.uri, method=resp.method)
        return RedfishHTTPError(msg, status=resp.status, message_ids=ids, uri=resp.uri, method=resp.method)

    # -- resource helpers ------------------------------------------------------------------
    def get(self, uri, cached=False):
        if cached and uri in self._cache:
            return self._cache[uri]
        body = self.request("GET", uri).body
        self._cache[uri] = body
        return body

    def get_response(self, uri):
        return self.request("GET", uri)

    def try_get(self, uri):
        """GET that returns None when an optional resource is not there (404) or not implemented (405/501).

        A server error is not an absence: a 500 on, say, the Storage collection is retried like any
        failed read and then raised, never returned as "no storage" (that silently downgraded a
        server in the reuse report)."""
        resp = self.request("GET", uri, allow_status=(404, 405, 501))
        return resp.body if resp.status < 400 else None

    def members(self, collection_uri, optional=False):
        """The expanded members of a collection (one GET each; $expand is not universal).

        ``optional``: a collection the service links but does not implement yields [].
        """
        collection = self.try_get(collection_uri) if optional else self.get(collection_uri)
        return [self.get(m["@odata.id"]) for m in (collection or {}).get("Members", [])]

    def post(self, uri, body=None, headers=None):
        return self.request("POST", uri, body=body if body is not None else {}, headers=headers)

    def put(self, uri, body, headers=None):
        return self.request("PUT", uri, body=body, headers=headers)

    def delete(self, uri):
        return self.request("DELETE", uri)

    def patch(self, uri, body, etag=None):
        """PATCH with If-Match; on 412 re-read the resource's ETag and retry once.

        A 412 means someone changed the resource since we read it; the caller
        computed ``body`` as a desired state, not a delta, so one retry with the
        fresh ETag is safe.
        """
        if etag is None:
            etag = self.get_response(uri).etag
        try:
            return self.request("PATCH", uri, body=body, headers={"If-Match": etag} if etag else None)
        except RedfishPreconditionFailed:
            fresh = self.get_response(uri).etag
            return self.request("PATCH", uri, body=body, headers={"If-Match": fresh} if fresh else None)

    # -- service layout --------------------------------------------------------------------
    @property
    def root(self):
        return self._root

    def first_member_uri(self, collection_key):
        link = (self._root.get(collection_key) or {}).get("@odata.id")
        if not link:
            raise RedfishNotFound("%s has no %s collection" % (self.endpoint, collection_key))
        members = self.get(link, cached=True).get("Members", [])
        if not members:
            raise RedfishNotFound("%s: %s collection is empty" % (self.endpoint, collection_key))
        return members[0]["@odata.id"]

    @property
    def system_uri(self):
        return self.first_member_uri("Systems")

    @property
    def manager_uri(self):
        return self.first_member_uri("Managers")
