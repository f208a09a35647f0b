"""Pure logic of writes on a bad network (issue 12): how transport failures are classified, which requests
the client sends again, what settle_write decides after a lost answer, error texts from ExtendedInfo,
the order of a failure after a destructive step, and session answers without Location."""
from __future__ import annotations

import http.client
import ssl

import pytest
import requests
import urllib3

from ansible_collections.reforge.hci.plugins.module_utils.redfish import client as client_mod
from ansible_collections.reforge.hci.plugins.module_utils.redfish.client import (
    RedfishClient, RetryPolicy, error_text, transport_fault,
)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.errors import (
    RedfishBusyError, RedfishConnectionError, RedfishEndpointError, RedfishHTTPError, RedfishWriteUncertain,
)
from ansible_collections.reforge.hci.plugins.module_utils.redfish.vendors.generic import GenericAdapter
from ansible_collections.reforge.hci.plugins.module_utils.redfish.writes import (
    ABSENT, LANDED, UNKNOWN, Step, run_steps, settle_write,
)


def _chain(outer, inner):
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize("exc, kind", [
    (requests.exceptions.InvalidSchema("No connection adapters were found for 'htps://x/'"), "bad_url"),
    (_chain(requests.exceptions.SSLError("x"), ssl.SSLCertVerificationError(1, "CERTIFICATE_VERIFY_FAILED")),
     "tls_verify"),
    (requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls"),
    (requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        "Connection aborted.", http.client.RemoteDisconnected("Remote end closed connection without response"))), "lost"),
    (requests.exceptions.ReadTimeout("read timed out"), "lost"),
    (_chain(requests.exceptions.ConnectionError("x"), ConnectionRefusedError(111, "Connection refused")), "refused"),
    (requests.exceptions.ConnectTimeout("connect timed out"), "connect_timeout"),
    (_chain(requests.exceptions.ConnectionError("x"), OSError("something else")), "lost"),
])
def test_transport_failures_say_whether_the_request_left(exc, kind):
    assert transport_fault(exc) == kind


@pytest.mark.parametrize("body, text", [
    # iLO: the message is a pointer, the entry has only an id and its arguments
    ({"error": {"code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo for more information.",
                "@Message.ExtendedInfo": [{"MessageId": "Base.1.4.PropertyValueNotInList",
                                           "MessageArgs": ["Enabeld", "ProcVirtualization"]}]}},
     "Base.1.4.PropertyValueNotInList (Enabeld, ProcVirtualization)"),
    # iDRAC: the text is in the first entry; its id goes with it, the rest is counted
    ({"error": {"code": "Base.1.12.GeneralError", "message": "A general error has occurred. See ExtendedInfo for more information",
                "@Message.ExtendedInfo": [{"MessageId": "IDRAC.2.8.SYS403", "Message": "Unable to complete the operation."},
                                          {"MessageId": "IDRAC.2.8.SYS404", "Message": "Second."}]}},
     "Unable to complete the operation. [IDRAC.2.8.SYS403] (+1 more message)"),
    ({"error": {"code": "Base.1.0.InternalError", "message": "The request failed."}},
     "The request failed. [Base.1.0.InternalError]"),
    ({"error": {"message": "plain"}}, "plain"),
])
def test_error_text_is_the_first_extended_info_message_with_its_id(body, text):
    assert error_text(body) == text


# -- settle_write ---------------------------------------------------------------------------
class Sender:
    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def lost():
    exc = RedfishWriteUncertain("POST https://bmc/x: its answer was lost", method="POST", uri="/x")
    exc.record = dict(method="POST", uri="/x", outcome="lost", status=None)
    return exc


def test_a_write_that_landed_is_not_sent_again():
    send = Sender(lost())
    assert settle_write(send, lambda: (LANDED, "the task's result"), "update") == "the task's result"
    assert send.calls == 1


def test_a_write_that_provably_did_not_land_is_sent_once_more():
    send = Sender(lost(), "ok")
    assert settle_write(send, lambda: (ABSENT, None), "PATCH") == "ok"
    assert send.calls == 2
    twice = Sender(lost(), lost())
    with pytest.raises(RedfishWriteUncertain, match="did not take effect, after 2 sends"):
        settle_write(twice, lambda: (ABSENT, None), "PATCH")
    assert twice.calls == 2


def test_a_state_that_cannot_tell_is_reported_never_resent():
    send = Sender(lost())
    first = send.outcomes[0]
    with pytest.raises(RedfishWriteUncertain, match="update of BIOS: the answer was lost and no task appeared") as err:
        settle_write(send, lambda: (UNKNOWN, "no task appeared"), "the update of BIOS")
    assert send.calls == 1 and first.record["read_back"] == "unknown" and err.value.record is first.record


def test_a_failure_after_a_destructive_step_says_so_first():
    ran = []
    steps = [Step(lambda: ran.append("delete"), "volume Disk.Virtual.0", destroys=True),
             Step(Sender(RedfishBusyError("PATCH failed with HTTP 503", status=503)), "mode")]
    with pytest.raises(RedfishBusyError) as err:
        run_steps(steps, lambda: "mode raid, 0 volume(s) left")
    assert err.value.message.startswith("DATA ALREADY DESTROYED: volume Disk.Virtual.0 was deleted")
    assert err.value.message.index("mode raid") < err.value.message.index("HTTP 503")
    assert err.value.details["destroyed"] == ["volume Disk.Virtual.0"]


def test_no_destructive_step_no_prefix():
    with pytest.raises(RedfishBusyError) as err:
        run_steps([Step(Sender(RedfishBusyError("busy", status=503)), "mode")], lambda: "unused")
    assert err.value.message == "busy"


# -- the client's request loop ----------------------------------------------------------------
class Raw:
    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.dict = body or {}
        self.text = "{}" if body is not None else ""
        self._http_response = type("H", (), {"headers": headers or {}})()

    def getheader(self, name):
        return {k.lower(): v for k, v in self._http_response.headers.items()}.get(name.lower())


class Conn:
    """Stands in for the library's connection: answers from a script, one entry per request."""

    login_url = "/redfish/v1/SessionService/Sessions"

    def __init__(self, *script):
        self.script = list(script)
        self.sent = []
        self.location = self.token = None

    def _rest_request(self, uri, method="GET", body=None, headers=None, allow_redirects=True):
        self.sent.append((method, uri))
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise client_mod.RetriesExhaustedError() from step
        return step

    def set_session_key(self, key):
        self.token = key

    def set_session_location(self, location):
        self.location = location

    def set_authorization_key(self, key):
        pass

    def get_session_location(self):
        return self.location


def client_with(*script, contacted=True):
    client = RedfishClient("https://bmc.example:443", "root", "pw", retry_policy=RetryPolicy(retries=2, sleep=lambda s: None))
    client._conn = Conn(*script)
    client._host, client._port, client._contacted = "bmc.example", 443, contacted
    return client


RESET = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
    "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")))
REFUSED = _chain(requests.exceptions.ConnectionError("refused"), ConnectionRefusedError(111, "Connection refused"))


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_a_write_whose_answer_was_lost_is_not_sent_again(method):
    client = client_with(RESET, Raw(200))
    with pytest.raises(RedfishWriteUncertain, match="may have taken effect"):
        client.request(method, "/redfish/v1/x", body={})
    assert client._conn.sent == [(method, "/redfish/v1/x")]
    assert client.writes_sent() == [dict(method=method, uri="/redfish/v1/x", outcome="lost", status=None)]


def test_reads_are_retried_after_a_lost_answer():
    client = client_with(RESET, requests.exceptions.ReadTimeout("t"), Raw(200, {"Id": "1"}))
    assert client.get("/redfish/v1/Systems/1") == {"Id": "1"}
    assert len(client._conn.sent) == 3


def test_a_write_that_never_left_is_retried_and_not_listed():
    client = client_with(REFUSED, Raw(204))
    assert client.request("PATCH", "/redfish/v1/x", body={}).status == 204
    assert [w["outcome"] for w in client.writes] == ["not_sent", "acknowledged"]
    assert [w["outcome"] for w in client.writes_sent()] == ["acknowledged"]


def test_busy_answers_to_a_write_are_retried_gateway_errors_are_uncertain():
    client = client_with(Raw(503, {"error": {"message": "busy"}}), Raw(204))
    assert client.request("PATCH", "/redfish/v1/x", body={}).status == 204
    assert [(w["outcome"], w["status"]) for w in client.writes] == [("rejected", 503), ("acknowledged", 204)]
    gateway = client_with(Raw(504, {"error": {"message": "gateway timeout"}}), Raw(204))
    with pytest.raises(RedfishWriteUncertain, match="gateway answered HTTP 504"):
        gateway.request("POST", "/redfish/v1/x", body={})
    assert len(gateway._conn.sent) == 1
    failed = client_with(Raw(500, {"error": {"message": "internal"}}), Raw(204))
    with pytest.raises(RedfishHTTPError):
        failed.request("POST", "/redfish/v1/x", body={})
    assert len(failed._conn.sent) == 1                 # a 500 is the BMC's own answer: reported, not re-sent
    read = client_with(Raw(500, {"error": {"message": "internal"}}), Raw(200, {}))
    assert read.request("GET", "/redfish/v1/x").status == 200


def test_refused_at_first_contact_is_an_endpoint_error_mid_operation_a_transient_one():
    first = client_with(REFUSED, Raw(200, {}), contacted=False)
    with pytest.raises(RedfishEndpointError, match="refused the connection: nothing listens on bmc.example:443"):
        first.get("/redfish/v1/")
    assert len(first._conn.sent) == 1
    later = client_with(REFUSED, Raw(200, {}))
    assert later.request("GET", "/redfish/v1/Systems/1").status == 200


@pytest.mark.parametrize("endpoint", ["htps://bmc", "ftp://bmc:21", "https://", "https://bmc:notaport"])
def test_endpoints_that_cannot_be_redfish_fail_before_sending(endpoint):
    with pytest.raises(RedfishEndpointError):
        RedfishClient(endpoint, "root", "pw").open()


def test_a_connection_error_is_still_a_connection_error():
    assert issubclass(RedfishWriteUncertain, RedfishConnectionError)
    assert issubclass(RedfishEndpointError, RedfishConnectionError)


# -- sessions without Location --------------------------------------------------------------
SESSION = "/redfish/v1/SessionService/Sessions/7"


@pytest.mark.parametrize("headers, body, location", [
    ({"X-Auth-Token": "t", "Location": SESSION}, {"@odata.id": SESSION}, SESSION),
    ({"X-Auth-Token": "t"}, {"@odata.id": SESSION}, SESSION),
    ({"X-Auth-Token": "t"}, {}, None),
])
def test_session_location_falls_back_to_the_body_then_to_the_token_only(headers, body, location):
    client = client_with(Raw(201, body, headers), Raw(204))
    client._root = {"Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}}
    client._conn._session = type("S", (), {"close": lambda self: None})()
    conn = client._conn
    client._login()
    assert (client.auth_used, conn.token, conn.location) == ("session", "t", location)
    client.close()
    deletes = [s for s in conn.sent if s[0] == "DELETE"]
    if location:
        assert deletes == [("DELETE", SESSION)] and client.warnings == []
    else:
        assert deletes == [] and "SessionTimeout" in client.warnings[0]


# -- the adapters' wiring ---------------------------------------------------------------------
class NoTaskList(GenericAdapter):
    def task_uris(self):
        raise RedfishHTTPError("GET /redfish/v1/TaskService/Tasks failed with HTTP 500", status=500)


def test_a_task_list_that_cannot_be_read_does_not_stop_the_write_nor_invent_new_tasks():
    adapter = NoTaskList(client=None)
    send = Sender(lost(), "sent again")
    assert adapter.settled(send, lambda: (ABSENT, None), "DELETE of volume 1", tasks=True) == "sent again"
    with pytest.raises(RedfishWriteUncertain, match="no task appeared"):
        adapter.settled(Sender(lost()), None, "the firmware update of BIOS", tasks=True)
