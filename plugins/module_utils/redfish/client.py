# -*- coding: utf-8 -*-
# Copyright (c) reforge.hci contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport client for Redfish services, built on DMTF's ``redfish`` library.

The library does the HTTP and session bookkeeping; this layer adds what BMCs in
the field need and the library lacks: TLS verification by default, retries with
exponential backoff and jitter that honour ``Retry-After``, busy-BMC detection
(Dell RAC0679), re-login when a session dies (the BMC reset itself during an
update), ``If-Match`` on every PATCH with one re-read on 412, and typed errors.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import email.utils
import random
import time
import traceback

from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import (
    RedfishAuthError, RedfishBusyError, RedfishConnectionError, RedfishError, RedfishHTTPError,
    RedfishNotFound, RedfishPreconditionFailed, RedfishTimeoutError, RedfishTLSError,
)

REDFISH_IMP_ERR = None
try:
    import redfish
    from redfish.rest.v1 import (
        AuthMethod, InvalidCredentialsError, JsonDecodingError, RetriesExhaustedError, ServerDownOrUnreachableError,
        SessionCreationError,
    )
    import requests
    HAS_REDFISH = True
except ImportError:  # pragma: no cover - exercised only without the library
    HAS_REDFISH = False
    REDFISH_IMP_ERR = traceback.format_exc()

MIN_REDFISH_VERSION = (3, 1, 0)

# Message ids that mean "the BMC is busy with another job, try again later".
BUSY_MESSAGE_IDS = ("RAC0679", "SYS518", "JobRunning", "ServiceTemporarilyUnavailable")
RETRYABLE_STATUS = (429, 502, 503, 504)
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


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


def error_text(body):
    """A short human text out of a Redfish error body."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error", body)
    texts = [i.get("Message") for i in error.get("@Message.ExtendedInfo", []) if isinstance(i, dict) and i.get("Message")]
    if not texts and error.get("message"):
        texts = [error["message"]]
    return "; ".join(texts)


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
        self.writes = []  # (method, uri) of every write sent, for reports and tests
        self.relogins = 0
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

    def _login(self):
        sessions_uri = ((self._root.get("Links") or {}).get("Sessions") or {}).get("@odata.id")
        self._conn.login_url = sessions_uri or "/redfish/v1/SessionService/Sessions"
        methods = ["session", "basic"] if self.auth == "session" else ["basic"]
        last = None
        for method in methods:
            try:
                self._call(lambda: self._conn.login(
                    auth=AuthMethod.SESSION if method == "session" else AuthMethod.BASIC), "POST", self._conn.login_url)
                self.auth_used = method
                return
            except InvalidCredentialsError:
                raise RedfishAuthError("%s rejected the credentials of user %r" % (self.endpoint, self.username))
            except SessionCreationError as exc:
                # Services without a SessionService (or with it disabled) still take Basic auth.
                last = exc
        raise RedfishAuthError("%s: could not log in (%s)" % (self.endpoint, last))

    def close(self):
        """Delete our session. Never raises: a failed logout must not hide the real result."""
        if self._conn is None:
            return
        try:
            if self.auth_used == "session":
                self._conn.logout()
            else:
                self._conn._session.close()
        except Exception:  # noqa: BLE001 - logout is best effort by design (BMC may be rebooting)
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
        """Run one library call, mapping transport failures to typed errors."""
        try:
            return fn()
        except RetriesExhaustedError as exc:
            cause = exc.__cause__
            if isinstance(cause, requests.exceptions.SSLError):
                raise RedfishTLSError(
                    "TLS verification of %s failed: %s. Give the BMC's CA bundle in ca_path, "
                    "or set validate_certs: false for a lab." % (self.endpoint, cause))
            if isinstance(cause, requests.exceptions.Timeout):
                raise RedfishTimeoutError("%s did not answer %s %s within %s s" % (self.endpoint, method, uri, self.timeout),
                                          uri=uri, method=method, transient=not isinstance(cause, requests.exceptions.ReadTimeout) or method == "GET")
            raise RedfishConnectionError("cannot reach %s (%s %s): %s" % (self.endpoint, method, uri, cause), uri=uri, method=method,
                                         transient=True)
        except ServerDownOrUnreachableError as exc:
            raise RedfishConnectionError("%s: %s" % (self.endpoint, exc))

    def request(self, method, uri, body=None, headers=None, allow_status=()):
        """Send one request with retries; return a Response or raise a typed error.

        ``allow_status`` lists error statuses the caller wants back instead of an exception.
        """
        method = method.upper()
        relogged = False
        attempt = 0
        while True:
            try:
                raw = self._call(lambda: self._conn._rest_request(uri, method=method, body=body, headers=headers),
                                 method, uri)
            except (RedfishTimeoutError, RedfishConnectionError) as exc:
                if isinstance(exc, RedfishTLSError) or not exc.details.get("transient") or attempt >= self.retry.retries:
                    raise
                self.retry.sleep(self.retry.delay(attempt))
                attempt += 1
                continue
            if method in WRITE_METHODS:
                self.writes.append((method, uri))
            resp = Response(raw.status, self._body(raw, method, uri), dict(raw._http_response.headers), uri, method)
            if resp.status in allow_status:
                return resp
            if resp.status == 401 and self.auth_used == "session" and not relogged and uri != self._conn.login_url:
                # Sessions die when a BMC resets (firmware update) or times them out.
                relogged = True
                self.relogin()
                continue
            ids = message_ids(resp.body)
            busy = resp.status in RETRYABLE_STATUS or (
                resp.status >= 400 and any(b in mid for mid in ids for b in BUSY_MESSAGE_IDS))
            if busy and attempt < self.retry.retries:
                self.retry.sleep(self.retry.delay(attempt, parse_retry_after(resp.header("retry-after"))))
                attempt += 1
                continue
            if resp.status >= 400:
                raise self._http_error(resp, ids, busy)
            return resp

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
