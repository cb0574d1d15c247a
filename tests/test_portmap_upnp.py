"""UPnP IGD, the pure parts: SSDP, the device description and SOAP, on what miniupnpd really sent
(fixtures/upnp/) and on hostile or broken input (fuzzed)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.services.portmap import upnp
from torrentish.services.portmap.upnp import UpnpError, UpnpFault

NO_DEADLINE = settings(deadline=None)  # hypothesis's time limit per case is a timing assertion
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "upnp"
SSDP_REPLY = (FIXTURES / "miniupnpd-ssdp-reply.bin").read_bytes()
DESCRIPTION = (FIXTURES / "miniupnpd-rootDesc.xml").read_bytes()
LOCATION = "http://192.168.77.1:44645/rootDesc.xml"
WANIP2 = "urn:schemas-upnp-org:service:WANIPConnection:2"


def test_m_search_is_an_ssdp_discover():
    text = upnp.m_search(upnp.IGD_SEARCH_TARGETS[0], mx=2).decode()
    assert text.startswith("M-SEARCH * HTTP/1.1\r\n") and text.endswith("\r\n\r\n")
    assert "HOST: 239.255.255.250:1900\r\n" in text and 'MAN: "ssdp:discover"\r\n' in text
    assert "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" in text and "MX: 2\r\n" in text


def test_miniupnpds_search_reply():
    reply = upnp.parse_ssdp_reply(SSDP_REPLY, "192.168.77.1")
    assert reply.location == LOCATION
    assert reply.search_target == upnp.IGD_SEARCH_TARGETS[0]
    assert "MiniUPnPd" in reply.server


@pytest.mark.parametrize(
    "data, source, why",
    [
        (SSDP_REPLY, "192.168.77.9", "another host"),  # a LOCATION elsewhere than its sender
        (SSDP_REPLY.replace(b"http://192.168.77.1", b"https://192.168.77.1"), "192.168.77.1", "http://"),
        (SSDP_REPLY.replace(b"LOCATION", b"X-NOTHING"), "192.168.77.1", "LOCATION"),
        (b"NOTIFY * HTTP/1.1\r\nHOST: x\r\n\r\n", "192.168.77.1", "not an SSDP search reply"),
        (b"HTTP/1.1 404 Not Found\r\n\r\n", "192.168.77.1", "not an SSDP search reply"),
        (b"HTTP/1.1 200 OK\r\nbroken line\r\n\r\n", "192.168.77.1", "without a colon"),
        ("HTTP/1.1 200 OK\r\nLOCATION: http://192.168.77.1/é\r\n\r\n".encode(), "192.168.77.1", "ASCII"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 1000, "192.168.77.1", "at most"),
        (SSDP_REPLY.replace(b"192.168.77.1:44645", b"[::1:44645"), "192.168.77.1", "another host"),
        (SSDP_REPLY.replace(b":44645", b":99999"), "192.168.77.1", "another host"),  # no such port
    ],
)
def test_bad_search_replies_are_refused(data, source, why):
    with pytest.raises(UpnpError, match=why):
        upnp.parse_ssdp_reply(data, source)


def test_miniupnpds_description_gives_its_wanipconnection_2_control_url():
    service = upnp.find_connection_service(DESCRIPTION, LOCATION)
    assert service == upnp.ConnectionService(WANIP2, "http://192.168.77.1:44645/ctl/IPConn")


def _description(services: str, url_base: str = "") -> bytes:
    base = f"<URLBase>{url_base}</URLBase>" if url_base else ""
    return (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">' + base
        + "<device><deviceList><device><serviceList>" + services + "</serviceList></device></deviceList></device></root>"
    ).encode()


def _service(kind: str, control: str) -> str:
    return f"<service><serviceType>{kind}</serviceType><controlURL>{control}</controlURL></service>"


def test_wanpppconnection_and_urlbase():
    xml = _description(_service("urn:schemas-upnp-org:service:WANPPPConnection:1", "ctl/ppp"),
                       url_base="http://10.0.0.1:5000/")
    service = upnp.find_connection_service(xml, "http://10.0.0.1:5000/desc.xml")
    assert service.control_url == "http://10.0.0.1:5000/ctl/ppp"
    both = _description(_service("urn:schemas-upnp-org:service:WANPPPConnection:1", "/ppp")
                        + _service("urn:schemas-upnp-org:service:WANIPConnection:1", "/ip"))
    assert upnp.find_connection_service(both, "http://10.0.0.1/d.xml").control_url == "http://10.0.0.1/ip"


@pytest.mark.parametrize(
    "xml, why",
    [
        (_description(_service("urn:schemas-upnp-org:service:Layer3Forwarding:1", "/l3f")), "no WANIPConnection"),
        (_description(_service(WANIP2, "http://8.8.8.8/ctl")), "own host"),  # steering us elsewhere
        (_description(_service(WANIP2, "/ctl"), url_base="http://10.9.9.9/"), "own host"),
        (_description(_service(WANIP2, "ftp://10.0.0.1/ctl")), "plain HTTP"),
        (_description(_service(WANIP2, "http://10.0.0.1:70000/ctl")), "own host"),
        (_description(_service(WANIP2, "/ctl"), url_base="http://[10.0.0.1/"), "own host"),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><root>&a;</root>', "DTD"),
        (b"<root><device>", "well-formed"),
        (b"<html><body>router login</body></html>", "not <root>"),
        (b"<root>" + b" " * upnp.MAX_DESCRIPTION + b"</root>", "at most"),
    ],
)
def test_bad_descriptions_are_refused(xml, why):
    with pytest.raises(UpnpError, match=why):
        upnp.find_connection_service(xml, "http://10.0.0.1/desc.xml")


def test_soap_request_carries_the_action_and_its_arguments_in_order():
    args = upnp.add_port_mapping_args("tcp", 6881, 6882, "192.168.77.2", 3600, "torrentish <&>")
    headers, body = upnp.soap_request(WANIP2, "AddPortMapping", args)
    assert headers["SOAPAction"] == f'"{WANIP2}#AddPortMapping"'
    assert headers["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(body)
    action = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body/{%s}AddPortMapping" % WANIP2)
    assert [(child.tag, child.text or "") for child in action] == [
        ("NewRemoteHost", ""), ("NewExternalPort", "6881"), ("NewProtocol", "TCP"), ("NewInternalPort", "6882"),
        ("NewInternalClient", "192.168.77.2"), ("NewEnabled", "1"),
        ("NewPortMappingDescription", "torrentish <&>"), ("NewLeaseDuration", "3600"),
    ]
    assert upnp.delete_port_mapping_args("udp", 6881)[2] == ("NewProtocol", "UDP")


def test_miniupnpds_soap_replies():
    address = upnp.parse_soap_reply(200, (FIXTURES / "miniupnpd-GetExternalIPAddress.xml").read_bytes(),
                                    "GetExternalIPAddress")
    assert upnp.external_address_of(address) == "100.128.77.1"
    assert upnp.parse_soap_reply(200, (FIXTURES / "miniupnpd-AddPortMapping.xml").read_bytes(), "AddPortMapping") == {}
    with pytest.raises(UpnpFault) as fault:
        upnp.parse_soap_reply(500, (FIXTURES / "miniupnpd-fault-718.xml").read_bytes(), "AddPortMapping")
    assert fault.value.code == upnp.ERROR_CONFLICT and "ConflictInMappingEntry" in str(fault.value)
    spread = (FIXTURES / "miniupnpd-fault-718.xml").read_bytes().replace(b"Conflict", b"Conflict\n  in\n")
    with pytest.raises(UpnpFault, match="^UPnP error 718: Conflict in InMappingEntry$"):
        upnp.parse_soap_reply(500, spread, "AddPortMapping")


def test_soap_replies_that_are_not_answers():
    with pytest.raises(UpnpError, match="HTTP status 500"):
        upnp.parse_soap_reply(500, b"Internal error", "AddPortMapping")
    with pytest.raises(UpnpError, match="does not answer AddPortMapping"):
        upnp.parse_soap_reply(200, (FIXTURES / "miniupnpd-GetExternalIPAddress.xml").read_bytes(), "AddPortMapping")
    with pytest.raises(UpnpError, match="not <Envelope>"):
        upnp.parse_soap_reply(200, b"<root/>", "AddPortMapping")
    long_value = b"<s:Envelope xmlns:s='e'><s:Body><AResponse><X>" + b"1" * 2000 + b"</X></AResponse></s:Body></s:Envelope>"
    with pytest.raises(UpnpError, match="too long"):
        upnp.parse_soap_reply(200, long_value, "A")
    assert upnp.external_address_of({"NewExternalIPAddress": ""}) is None


@NO_DEADLINE
@given(st.binary(max_size=600), st.sampled_from(["192.168.77.1", "::1"]))
def test_any_ssdp_datagram_parses_or_is_refused(data, source):
    try:
        upnp.parse_ssdp_reply(data, source)
    except UpnpError as error:
        assert "\n" not in str(error)


def _mutations(document: bytes):
    """A real document cut, spliced or with bytes replaced: near-valid input, where parsers break."""
    return st.tuples(st.integers(0, len(document)), st.integers(0, len(document)), st.binary(max_size=40)).map(
        lambda t: document[: min(t[0], t[1])] + t[2] + document[max(t[0], t[1]):]
    )


@NO_DEADLINE
@given(st.one_of(st.binary(max_size=400), _mutations(DESCRIPTION)))
def test_any_description_gives_a_service_or_a_one_line_error(data):
    try:
        service = upnp.find_connection_service(data, LOCATION)
    except UpnpError as error:
        assert "\n" not in str(error)
    else:
        assert service.control_url.startswith("http://192.168.77.1")


@NO_DEADLINE
@given(st.integers(100, 599), st.one_of(st.binary(max_size=300),
                                        _mutations((FIXTURES / "miniupnpd-fault-718.xml").read_bytes())))
def test_any_soap_reply_gives_values_or_an_error(status, data):
    try:
        values = upnp.parse_soap_reply(status, data, "AddPortMapping")
    except UpnpError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(values, dict)
