"""Every injected fault, observed on the wire, for every protocol (the table in portal/demo/faults.py)."""

from __future__ import annotations

import re
import socket
import time

import pytest
from lxml import etree

from portal.demo import data
from portal.demo.fault_payloads import STANDALONE, junk

pytestmark = pytest.mark.backoffice

N = "13800000000"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
HTTP_SYSTEMS = ["loyalty", "vas", "boss"]  # one per HTTP flavour: html, xml, soap
SOCKET_SYSTEMS = ["smsc", "mms", "mail"]  # line, length-prefixed, fixed-width


def no_entities_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def declared_entities(document: bytes) -> dict[str, str | None]:
    """name -> SYSTEM url (None for an internal entity) declared in the document's DTD.

    Read with a regular expression: libxml2 refuses to parse a billion-laughs
    document at all ("Maximum entity amplification factor exceeded"), even
    without expanding entities.
    """
    found = re.findall(rb'<!ENTITY (\w+) (?:SYSTEM "([^"]*)"|"[^"]*")>', document)
    return {name.decode(): url.decode() or None for name, url in found}


def assert_dropped(sock: socket.socket) -> None:
    """The server closed the connection without sending anything."""
    sock.settimeout(2)
    try:
        assert sock.recv(100) == b""
    except ConnectionResetError:
        pass


# --------------------------------------------------------------------------- latency


@pytest.mark.parametrize("system_id", ["vas", "smsc"])
def test_latency_answers_normally_but_late(backoffice, http, wire, system_id):
    ask = (lambda: wire.http(http, system_id).content) if system_id == "vas" else (lambda: wire.socket(system_id))
    normal = ask()
    backoffice.inject(system_id, "latency", seconds=0.3)
    started = time.monotonic()
    assert ask() == normal
    assert time.monotonic() - started >= 0.3


# --------------------------------------------------------------------------- http_error


def test_http_error_is_an_html_error_page_with_the_status(backoffice, http, wire):
    backoffice.inject("loyalty", "http_error")
    backoffice.inject("vas", "http_error", status=502)
    page = wire.http(http, "loyalty")
    assert page.status_code == 503 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>503 Service Unavailable</h1>" in page.text
    proxy = wire.http(http, "vas")
    assert proxy.status_code == 502 and proxy.headers["Content-Type"].startswith("text/html")


def test_http_error_on_soap_is_a_server_fault_not_a_not_found(backoffice, http, wire):
    backoffice.inject("boss", "http_error")
    answer = wire.http(http, "boss")
    assert answer.status_code == 500 and answer.headers["Content-Type"].startswith("text/xml")
    fault = etree.fromstring(answer.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault.findtext("faultcode") == "soap:Server"
    assert fault.findtext("faultstring").startswith("INTERNAL_ERROR") and "NO_SUCH_SUBSCRIBER" not in answer.text


def test_http_error_on_sockets_is_an_error_in_each_systems_own_format(backoffice, wire):
    for system_id in SOCKET_SYSTEMS:
        backoffice.inject(system_id, "http_error")
    assert wire.socket("smsc").startswith(b"ERR INTERNAL ")
    mms = wire.socket("mms")
    assert mms[4:].startswith(b"result=ERROR|code=INTERNAL|")
    mail = wire.socket("mail")
    assert len(mail) == 80 and mail.startswith(b"ER" + N.encode()) and mail.endswith(b"\n")


# --------------------------------------------------------------------------- garbage


def test_garbage_is_junk_for_html_and_broken_xml_for_xml_and_soap(backoffice, http, wire):
    for system_id in HTTP_SYSTEMS:
        backoffice.inject(system_id, "garbage")
    page = wire.http(http, "loyalty")
    assert page.status_code == 200 and page.content == junk("loyalty")  # deterministic
    assert wire.http(http, "loyalty").content == page.content
    for system_id in ("vas", "boss"):
        answer = wire.http(http, system_id)
        assert answer.status_code == 200 and answer.content.startswith(b"<?xml")
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(answer.content, no_entities_parser())


def test_garbage_on_sockets_is_a_junk_frame(backoffice, wire):
    for system_id in SOCKET_SYSTEMS:
        backoffice.inject(system_id, "garbage")
    line = wire.socket("smsc")
    assert line.endswith(b"\n") and not line.startswith((b"OK", b"ERR")) and len(line) == 513
    mms = wire.socket("mms")
    assert int.from_bytes(mms[:4], "big") == 512 and mms[4:] == junk("mms", 512)
    assert wire.socket("mail") == junk("mail", 80)


# --------------------------------------------------------------------------- hang


@pytest.mark.parametrize("system_id", ["wap", "mail"])
def test_hang_never_answers_and_clear_drops_the_request(backoffice, net, wire, system_id):
    backoffice.inject(system_id, "hang")
    port, request = wire.port(system_id), wire.request(system_id, N)
    sock = net.connect(port, timeout=0.3)
    sock.sendall(request)
    with pytest.raises(socket.timeout):
        sock.recv(100)
    [thread] = net.connection_threads(port, sock)
    backoffice.clear_faults(system_id)
    assert_dropped(sock)  # never answered, even once released
    sock.close()
    assert net.wait_until(lambda: not thread.is_alive())


def test_stop_releases_requests_hung_by_a_fault_quickly(backoffice, net, wire):
    backoffice.inject("boss", "hang")
    backoffice.inject("smsc", "hang")
    boss, smsc = wire.port("boss"), wire.port("smsc")
    clients = [net.connect(boss), net.connect(smsc)]
    clients[0].sendall(wire.http_request("boss", N))
    clients[1].sendall(wire.socket_request("smsc", N))
    assert net.wait_until(lambda: net.connection_threads(boss) and net.connection_threads(smsc))
    started = time.monotonic()
    backoffice.stop()
    assert time.monotonic() - started < 2.0
    assert not net.connection_threads(boss) and not net.connection_threads(smsc)
    for sock in clients:
        assert_dropped(sock)
        sock.close()
    assert backoffice.active_faults() == []  # stop clears faults, as it lifts hangs


# --------------------------------------------------------------------------- reset


@pytest.mark.parametrize("system_id", ["loyalty", "boss", "smsc", "mms"])
def test_reset_aborts_the_connection_with_rst(backoffice, net, wire, system_id):
    backoffice.inject(system_id, "reset")
    port, request = wire.port(system_id), wire.request(system_id, N)
    with net.connect(port) as sock:
        sock.sendall(request)
        with pytest.raises(ConnectionResetError):  # RST, not an orderly close (which would read b"")
            sock.recv(100)


# --------------------------------------------------------------------------- oversized


def test_oversized_http_is_streamed_with_or_without_a_length(backoffice, http, wire):
    backoffice.inject("loyalty", "oversized")
    backoffice.inject("vas", "oversized", bytes=300_000, declared=False)
    with wire.http(http, "loyalty", stream=True) as page:
        assert page.headers["Content-Length"] == "5000000"
        assert sum(len(chunk) for chunk in page.iter_content(65536)) == 5_000_000
    with wire.http(http, "vas", stream=True) as answer:
        assert "Content-Length" not in answer.headers and answer.headers["Connection"] == "close"
        body = b"".join(answer.iter_content(65536))
    assert len(body) == 300_000 and body.startswith(b'<?xml version="1.0"')


def test_oversized_on_sockets_breaks_each_framing(backoffice, net, wire):
    for system_id in SOCKET_SYSTEMS:
        backoffice.inject(system_id, "oversized", bytes=200_000)
    with net.connect(wire.port("smsc")) as sock:
        sock.sendall(wire.socket_request("smsc", N))
        line = net.recv_exactly(sock, 200_000)
    assert line.startswith(f"OK msisdn={N} ".encode()) and line.index(b"\n") == 199_999  # one huge line
    with net.connect(wire.port("mms")) as sock:
        sock.sendall(wire.socket_request("mms", N))
        assert int.from_bytes(net.recv_exactly(sock, 4), "big") == 200_000  # the prefix claims it all
        assert net.recv_exactly(sock, 200_000).startswith(b"result=OK|")
    with net.connect(wire.port("mail")) as sock:
        sock.sendall(wire.socket_request("mail", N))
        record = net.recv_exactly(sock, 200_000)
    assert record.startswith(f"OK{N}X".encode()) and b"\n" not in record


# --------------------------------------------------------------------------- xml_bomb and xxe


def test_xml_bomb_sits_inside_the_real_xml_and_soap_answers(backoffice, http, wire):
    backoffice.inject("vas", "xml_bomb")
    backoffice.inject("boss", "xml_bomb")
    for system_id, root in (("vas", b"vas:subscriptions"), ("boss", b"soap:Envelope")):
        answer = wire.http(http, system_id).content
        assert b"<!DOCTYPE " + root + b" [" in answer and b">&lol9;<" in answer
        entities = declared_entities(answer)
        assert entities["lol9"] is None and len(entities) == 10
    assert b"<tns:name>&lol9;</tns:name>" in wire.http(http, "boss").content  # where an adapter reads


def test_xxe_points_at_a_local_file_and_the_network(backoffice, http, wire):
    backoffice.inject("vas", "xxe")
    answer = wire.http(http, "vas").content
    assert declared_entities(answer) == {"xxe": "file:///etc/passwd", "xxenet": "http://127.0.0.1:1/"}
    assert b"<vas:name>&xxe;&xxenet;</vas:name>" in answer


@pytest.mark.parametrize("fault", ["xml_bomb", "xxe"])
def test_html_and_socket_systems_get_the_same_document_as_body_or_line(backoffice, http, wire, fault):
    for system_id in ("loyalty", *SOCKET_SYSTEMS):
        backoffice.inject(system_id, fault)
    document = STANDALONE[fault].encode()
    page = wire.http(http, "loyalty")
    assert page.content == document and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert wire.socket("smsc") == document.replace(b"\n", b" ") + b"\n"
    assert wire.socket("mms")[4:] == document
    assert wire.socket("mail") == document[:80]  # the first of its 80-byte records


# --------------------------------------------------------------------------- wrong_charset


def test_wrong_charset_http_keeps_the_declared_charset_and_changes_the_bytes(backoffice, http, wire):
    normal = {system_id: wire.http(http, system_id) for system_id in ("loyalty", "rbt", "vas")}
    for system_id in normal:
        backoffice.inject(system_id, "wrong_charset")
    page = wire.http(http, "loyalty")
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.content == normal["loyalty"].content.decode("utf-8").encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        page.content.decode("utf-8")
    rbt = wire.http(http, "rbt")
    assert rbt.headers["Content-Type"] == "text/html; charset=GBK"
    assert rbt.content == normal["rbt"].content.decode("gbk").encode("utf-8")
    vas = wire.http(http, "vas")
    assert vas.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert vas.content == normal["vas"].content.decode("utf-8").encode("gbk")


def test_wrong_charset_on_sockets(backoffice, wire):
    normal = {system_id: wire.socket(system_id) for system_id in SOCKET_SYSTEMS}
    for system_id in SOCKET_SYSTEMS:
        backoffice.inject(system_id, "wrong_charset")
    # UTF-16 (with its BOM): a reader of lines stops at the first 0x0A and leaves the NUL after it.
    assert wire.socket("smsc") == normal["smsc"].decode().encode("utf-16")[:-1]
    mms = wire.socket("mms")
    assert mms[4:] == normal["mms"][4:].decode("gbk").encode("utf-8")  # the frame stays honest
    assert data.mms(N).name.encode("utf-8") in mms
    assert wire.socket("mail") == normal["mail"].decode("ascii").encode("cp500")  # EBCDIC, still 80 bytes


# --------------------------------------------------------------------------- login_page


def test_login_page_instead_of_data(backoffice, http, wire):
    for system_id in ("loyalty", "complaints", "vas", "boss"):
        backoffice.inject(system_id, "login_page")
    for system_id in ("loyalty", "vas", "boss"):
        page = wire.http(http, system_id)
        assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert '<form id="login" method="post" action="/login">' in page.text
    backoffice.clear_faults("complaints")
    own = http.get(f"{backoffice.systems['complaints'].base_url}/login", timeout=5).content
    backoffice.inject("complaints", "login_page")
    assert wire.http(http, "complaints").content == own  # the system's real login page


def test_login_required_on_sockets(backoffice, wire):
    for system_id in SOCKET_SYSTEMS:
        backoffice.inject(system_id, "login_page")
    assert wire.socket("smsc") == b"LOGIN REQUIRED\n"
    assert wire.socket("mms")[4:] == b"LOGIN REQUIRED"
    mail = wire.socket("mail")
    assert mail.startswith(b"ER" + N.encode() + b"LOGIN REQUIRED") and len(mail) == 80
