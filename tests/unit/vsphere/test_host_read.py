"""Reads straight from the ESXi host: service tickets, host addresses, and RangeReader with tickets
against a local stand-in for hostd (plain HTTP, single-use tickets bound to the URL)."""
import concurrent.futures
import http.server
import threading
import types

import pytest

from ansible_collections.reforge.hci.plugins.module_utils.vsphere import host_read
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.datastore import RangeReader
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.errors import VsphereError
from ansible_collections.reforge.hci.plugins.module_utils.vsphere.host_read import (
    DatastoreAccess, ServiceTicketCookie, host_address, split_address)


class Issuer:
    """vCenter's AcquireGenericServiceTicket: numbered tickets, remembering the URL each was for."""

    def __init__(self):
        self.issued = {}
        self.lock = threading.Lock()

    def __call__(self, url, method):
        with self.lock:
            ticket = "T%04d-secret" % (len(self.issued) + 1)
            self.issued[ticket] = (url, method)
            return ticket


def ticket_of(cookie):
    name, dummy, value = cookie.partition("=")
    assert name == "vmware_cgi_ticket"
    return value


def test_one_ticket_per_request_by_default():
    issuer = Issuer()
    tickets = ServiceTicketCookie(issuer, "https://esx1/folder/a?dcPath=ha-datacenter&dsName=ds")
    seen = [ticket_of(tickets.cookie()) for dummy in range(3)]
    assert len(set(seen)) == 3 and tickets.acquired == 3
    assert set(issuer.issued.values()) == {("https://esx1/folder/a?dcPath=ha-datacenter&dsName=ds", "httpGet")}


def test_reused_ticket_replaced_after_uses_age_and_refusal():
    now = [100.0]
    tickets = ServiceTicketCookie(Issuer(), "https://esx1/folder/a", uses=3, max_age=60, clock=lambda: now[0])
    first = [ticket_of(tickets.cookie()) for dummy in range(3)]
    assert len(set(first)) == 1
    second = ticket_of(tickets.cookie())
    assert second != first[0], "spent after 3 uses"
    now[0] += 61
    third = ticket_of(tickets.cookie())
    assert third != second, "older than max_age"
    tickets.renew()  # the host refused `third`
    fourth = ticket_of(tickets.cookie())
    assert fourth != third and tickets.renewals == 1 and tickets.acquired == 4


def test_renew_from_a_stream_with_an_old_ticket_keeps_the_replacement():
    tickets = ServiceTicketCookie(Issuer(), "https://esx1/folder/a", uses=100)
    with concurrent.futures.ThreadPoolExecutor(1) as stream_b:
        old = ticket_of(tickets.cookie())  # stream A (this thread) sends `old`...
        assert stream_b.submit(lambda: ticket_of(tickets.cookie())).result() == old  # ...and so does B
        tickets.renew()  # the host refuses A's request: `old` is dropped
        new = ticket_of(tickets.cookie())
        assert new != old
        stream_b.submit(tickets.renew).result()  # B's refusal of `old` arrives late
        assert ticket_of(tickets.cookie()) == new, "the replacement survives"
    assert tickets.acquired == 2 and tickets.renewals == 2


def test_ticket_never_in_repr():
    tickets = ServiceTicketCookie(Issuer(), "https://esx1/folder/a?dsName=x")
    ticket = ticket_of(tickets.cookie())
    assert ticket not in repr(tickets) and "dsName" not in repr(tickets)


def test_host_addresses():
    assert host_address("esx1.campus", None) == "esx1.campus"
    assert host_address("DC0_H0", {"DC0_H0": "127.0.0.1:28444"}) == "127.0.0.1:28444"
    assert host_address("esx2", {"esx2": "fd00::12"}) == "[fd00::12]"
    assert split_address("[fd00::12]") == ("fd00::12", 443)
    assert split_address("[fd00::12]:8443") == ("fd00::12", 8443)
    assert split_address("esx1:9443") == ("esx1", 9443)
    with pytest.raises(VsphereError, match="not a URL"):
        host_address("esx1", {"esx1": "https://esx1/"})


def test_unresolvable_host_fails_fast_with_advice():
    with pytest.raises(VsphereError) as caught:
        host_read.check_resolvable("DC0_C0_H0", "no-such-esxi.invalid")
    assert "esxi_host_addresses" in str(caught.value) and "DC0_C0_H0" in str(caught.value)


def test_options_are_checked():
    with pytest.raises(VsphereError):
        DatastoreAccess("nfc")
    with pytest.raises(VsphereError):
        DatastoreAccess("esxi_host", ticket_uses=0)
    access = DatastoreAccess.from_params({"read_via": "esxi_host", "esxi_host_addresses": {"h": "a:1"},
                                          "esxi_ticket_uses": 2})
    assert (access.read_via, access.host_addresses, access.ticket_uses) == ("esxi_host", {"h": "a:1"}, 2)
    assert host_read.access_of(types.SimpleNamespace()).read_via == "vcenter"


def fake_conn(issuer):
    host = types.SimpleNamespace(name="esx-a.campus")
    vm = types.SimpleNamespace(name="db01", runtime=types.SimpleNamespace(host=host))
    conn = types.SimpleNamespace(base_url="https://vc.campus:443", http_verify="/ca.pem",
                                 call=lambda func: func(), acquire_service_ticket=issuer,
                                 session_cookie=lambda: "vmware_soap_session=s", renew=lambda: None)
    return conn, vm


def test_reader_urls_for_both_paths():
    conn, vm = fake_conn(Issuer())
    reader = DatastoreAccess().reader(conn, vm, "campus-dc", "[ds 1] db01/db01.vmdk")
    assert reader.url == "https://vc.campus:443/folder/db01/db01-flat.vmdk?dcPath=campus-dc&dsName=ds+1"
    assert reader.report()["via"] == "vcenter"
    access = DatastoreAccess("esxi_host", host_addresses={"esx-a.campus": "127.0.0.1:9443"})
    reader = access.reader(conn, vm, "campus-dc", "[ds 1] db01/db01.vmdk")
    assert reader.url == "https://127.0.0.1:9443/folder/db01/db01-flat.vmdk?dcPath=ha-datacenter&dsName=ds+1"
    assert reader.verify == "/ca.pem", "TLS trust of the vCenter connection"
    assert reader.report()["host"] == "esx-a.campus" and reader.report()["address"] == "127.0.0.1:9443"


# ---- RangeReader with tickets against a stand-in hostd ----

DATA = bytes(range(256)) * 4096  # 1 MiB


class FakeHostd(http.server.BaseHTTPRequestHandler):
    """Serves DATA at /folder/disk-flat.vmdk to a single-use ticket issued for that URL."""
    issuer = None
    used = set()
    refuse = [0]      # refuse this many requests with a valid ticket as expired (401)
    forbid_all = [False]

    def log_message(self, *args):
        pass

    def do_GET(self):
        cookie = self.headers.get("Cookie", "")
        ticket = cookie.partition("vmware_cgi_ticket=")[2]
        url = "http://%s%s" % (self.headers["Host"], self.path)
        if self.forbid_all[0]:
            return self._status(403)
        if not ticket or ticket in self.used or self.issuer.issued.get(ticket, ("",))[0] != url:
            return self._status(401)
        self.used.add(ticket)
        if self.refuse[0] > 0:
            self.refuse[0] -= 1
            return self._status(401)
        first, last = (int(x) for x in self.headers["Range"].split("=")[1].split("-"))
        body = DATA[first:last + 1]
        self.send_response(206)
        self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, len(DATA)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _status(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def hostd():
    FakeHostd.issuer = Issuer()
    FakeHostd.used = set()
    FakeHostd.refuse = [0]
    FakeHostd.forbid_all = [False]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHostd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def reader_for(server, **kw):
    url = "http://127.0.0.1:%d/folder/disk-flat.vmdk?dcPath=ha-datacenter&dsName=ds" % server.server_address[1]
    tickets = ServiceTicketCookie(FakeHostd.issuer, url, **kw)
    reader = RangeReader(url, True, tickets.cookie, renew=tickets.renew, backoff=0.01,
                         auth_hint="host refused a fresh ticket",
                         describe=lambda: {"via": "esxi_host", "tickets": tickets.acquired})
    return reader, tickets


def test_single_use_tickets_read_in_parallel(hostd):
    reader, tickets = reader_for(hostd)
    chunks = {}
    threads = [threading.Thread(target=lambda i=i: chunks.__setitem__(i, reader.read(i * 65536, 65536)))
               for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert b"".join(chunks[i] for i in range(16)) == DATA
    assert tickets.acquired == 16 and reader.stats["renewals"] == 0
    assert reader.report() == dict(reader.stats, via="esxi_host", tickets=16)


def test_refused_ticket_is_renewed(hostd):
    reader, tickets = reader_for(hostd, uses=50)
    assert reader.read(0, 4096) == DATA[:4096]
    FakeHostd.used.clear()  # this stand-in allows reuse from here on
    FakeHostd.refuse[0] = 1
    assert reader.read(4096, 4096) == DATA[4096:8192]
    assert tickets.renewals == 1 and reader.stats["renewals"] == 1


def test_host_that_keeps_refusing_fails_clearly_without_the_ticket(hostd):
    FakeHostd.forbid_all[0] = True
    reader, tickets = reader_for(hostd)
    with pytest.raises(VsphereError) as caught:
        reader.read(0, 4096)
    message = str(caught.value)
    assert "HTTP 403" in message and "host refused a fresh ticket" in message
    assert tickets.acquired == 2, "one renewal, then give up"
    assert not any(t in message for t in FakeHostd.issuer.issued)
    assert "dsName" not in message, "the query is not repeated either"
