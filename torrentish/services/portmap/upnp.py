"""UPnP IGD, the pure parts: SSDP search and replies, the device description, SOAP actions.

    packet = m_search(IGD_SEARCH_TARGETS[0])              # multicast to 239.255.255.250:1900
    found = parse_ssdp_reply(datagram, source_host)       # -> SsdpReply (its LOCATION checked)
    service = find_connection_service(xml, found.location)   # WANIPConnection / WANPPPConnection
    headers, body = soap_request(service.service_type, "AddPortMapping", add_port_mapping_args(...))
    values = parse_soap_reply(status, reply_body, "AddPortMapping")   # raises UpnpFault

Everything here arrives from some device on the LAN, so it is bounded (datagram, description and
reply sizes), parsed strictly and answered with a one-line `UpnpError`. Two rules keep a hostile
device from steering our requests elsewhere: the description must be on the host that answered
the search, and the control URL on the host that served the description. XML comes through the
standard library's parser after refusing any document with a DTD (no entity can expand, nothing
external is fetched; an IGD description never needs one).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from torrentish.errors import ProtocolError

__all__ = [
    "SSDP_GROUP",
    "SSDP_PORT",
    "IGD_SEARCH_TARGETS",
    "CONNECTION_SERVICE_TYPES",
    "MAX_SSDP_REPLY",
    "MAX_DESCRIPTION",
    "MAX_SOAP_REPLY",
    "UpnpError",
    "UpnpFault",
    "SsdpReply",
    "ConnectionService",
    "m_search",
    "parse_ssdp_reply",
    "find_connection_service",
    "soap_request",
    "parse_soap_reply",
    "add_port_mapping_args",
    "delete_port_mapping_args",
    "external_address_of",
    "ERROR_CONFLICT",
    "ERROR_ONLY_PERMANENT_LEASES",
]

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
# IGD:2 devices must answer an IGD:1 search too; asking for both finds IGD:1-only ones.
IGD_SEARCH_TARGETS = (
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
)
# The services that hold port mappings, preferred in this order (version 2 first).
CONNECTION_SERVICE_TYPES = (
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
)
MAX_SSDP_REPLY = 4096
MAX_DESCRIPTION = 256 * 1024  # real gateways' descriptions are 3-30 KB
MAX_SOAP_REPLY = 64 * 1024
MAX_VALUE = 1024  # characters in one SOAP output argument

ERROR_CONFLICT = 718  # ConflictInMappingEntry: that external port is someone else's
ERROR_ONLY_PERMANENT_LEASES = 725  # OnlyPermanentLeasesSupported: ask again with lease 0

_SOAP_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
_SOAP_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"


class UpnpError(ProtocolError):
    """A UPnP device said something malformed or unusable."""


class UpnpFault(UpnpError):
    """A SOAP action answered with a UPnP error (`code`, e.g. 718 for a conflicting mapping)."""

    def __init__(self, code: int | None, description: str):
        self.code = code
        self.description = description
        super().__init__(f"UPnP error {code}: {description}" if code is not None else description)


# -- SSDP -------------------------------------------------------------------------------------------


def m_search(target: str, mx: int = 2) -> bytes:
    """An SSDP M-SEARCH for `target`; devices answer within `mx` seconds (UPnP DA 1.1, 1.3.2)."""
    return (
        "M-SEARCH * HTTP/1.1\r\n"
        f"HOST: {SSDP_GROUP}:{SSDP_PORT}\r\n"
        'MAN: "ssdp:discover"\r\n'
        f"MX: {mx}\r\n"
        f"ST: {target}\r\n"
        "\r\n"
    ).encode("ascii")


@dataclass(frozen=True)
class SsdpReply:
    location: str  # the device description's URL, on the host that answered
    search_target: str
    usn: str
    server: str


def _headers(text: str) -> tuple[str, dict[str, str]]:
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            break
        name, sep, value = line.partition(":")
        if not sep:
            raise UpnpError(f"SSDP header line without a colon: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _same_host(url: str, host: str) -> bool:
    """Whether `url` is a usable URL (its port in range) on the host with address `host`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
        found = parts.hostname
        return found is not None and ipaddress.ip_address(found) == ipaddress.ip_address(host)
    except ValueError:
        return False


def parse_ssdp_reply(data: bytes, source_host: str) -> SsdpReply:
    """A unicast answer to our M-SEARCH, from `source_host`. Raises UpnpError if it is not one,
    or if its LOCATION is not plain HTTP on `source_host` itself."""
    if len(data) > MAX_SSDP_REPLY:
        raise UpnpError(f"SSDP reply of {len(data)} bytes (at most {MAX_SSDP_REPLY})")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise UpnpError("SSDP reply is not ASCII") from None
    status, headers = _headers(text)
    parts = status.split(None, 2)
    if len(parts) < 2 or not parts[0].upper().startswith("HTTP/1.") or parts[1] != "200":
        raise UpnpError(f"not an SSDP search reply: {status[:60]!r}")
    location = headers.get("location", "")
    if not location.lower().startswith("http://"):
        raise UpnpError(f"SSDP reply without an http:// LOCATION: {location[:80]!r}")
    if not _same_host(location, source_host):
        raise UpnpError(f"SSDP reply from {source_host} points at another host: {location[:80]!r}")
    return SsdpReply(location, headers.get("st", ""), headers.get("usn", ""), headers.get("server", ""))


# -- the device description -------------------------------------------------------------------------


def _parse_xml(data: bytes, limit: int, what: str) -> ElementTree.Element:
    if len(data) > limit:
        raise UpnpError(f"{what} of {len(data)} bytes (at most {limit})")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UpnpError(f"{what} declares a DTD or entities, which no UPnP document needs")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise UpnpError(f"{what} is not well-formed XML ({error})") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child_text(element: ElementTree.Element, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


@dataclass(frozen=True)
class ConnectionService:
    service_type: str  # one of CONNECTION_SERVICE_TYPES
    control_url: str  # absolute; where the SOAP actions go


def find_connection_service(data: bytes, location: str) -> ConnectionService:
    """The service to map ports with, from the description at `location`: WANIPConnection (v2,
    then v1) or WANPPPConnection. Raises UpnpError when the device has none."""
    root = _parse_xml(data, MAX_DESCRIPTION, "device description")
    if _local(root.tag) != "root":
        raise UpnpError(f"device description's root element is <{_local(root.tag)}>, not <root>")
    base = _child_text(root, "URLBase") or location
    found: dict[str, str] = {}
    for element in root.iter():
        if _local(element.tag) != "service":
            continue
        service_type = _child_text(element, "serviceType")
        control = _child_text(element, "controlURL")
        if service_type in CONNECTION_SERVICE_TYPES and control and service_type not in found:
            found[service_type] = control
    for service_type in CONNECTION_SERVICE_TYPES:
        if service_type in found:
            try:
                url = urljoin(base, found[service_type])
            except ValueError:  # a base URL urllib cannot split (a bad IPv6 literal, say)
                url = ""
            if not url.lower().startswith("http://") or not _same_host(url, urlsplit(location).hostname or ""):
                raise UpnpError(f"control URL {url[:80]!r} is not plain HTTP on the device's own host")
            return ConnectionService(service_type, url)
    raise UpnpError("the device offers no WANIPConnection or WANPPPConnection service")


# -- SOAP -------------------------------------------------------------------------------------------


def soap_request(service_type: str, action: str, args: list[tuple[str, str]]) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a SOAP POST of `action` with its arguments, in the order given (UPnP
    devices expect the order of the service description)."""
    arguments = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in args)
    body = (
        '<?xml version="1.0"?>\r\n'
        f'<s:Envelope xmlns:s="{_SOAP_ENVELOPE}" s:encodingStyle="{_SOAP_ENCODING}">'
        f'<s:Body><u:{action} xmlns:u="{escape(service_type)}">{arguments}</u:{action}></s:Body>'
        "</s:Envelope>\r\n"
    ).encode("utf-8")
    headers = {
        "Content-Type": 'text/xml; charset="utf-8"',
        "SOAPAction": f'"{service_type}#{action}"',
    }
    return headers, body


def _body(root: ElementTree.Element) -> ElementTree.Element:
    if _local(root.tag) != "Envelope":
        raise UpnpError(f"SOAP reply's root element is <{_local(root.tag)}>, not <Envelope>")
    for child in root:
        if _local(child.tag) == "Body":
            return child
    raise UpnpError("SOAP reply without a Body")


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def _fault(body: ElementTree.Element) -> UpnpFault | None:
    for element in body:
        if _local(element.tag) != "Fault":
            continue
        for inner in element.iter():
            if _local(inner.tag) == "UPnPError":
                code_text = _child_text(inner, "errorCode")
                description = _one_line(_child_text(inner, "errorDescription")) or "no description"
                code = int(code_text) if code_text.isdigit() and len(code_text) <= 6 else None
                return UpnpFault(code, description)
        return UpnpFault(None, _one_line(_child_text(element, "faultstring")) or "SOAP fault")
    return None


def parse_soap_reply(status: int, data: bytes, action: str) -> dict[str, str]:
    """The output arguments of `action` from the device's HTTP reply (`status`, body).
    Raises UpnpFault for a UPnP error, UpnpError for anything else that is not a reply."""
    try:
        root = _parse_xml(data, MAX_SOAP_REPLY, "SOAP reply")
    except UpnpError:
        if status != 200:
            raise UpnpError(f"HTTP status {status} from the gateway") from None
        raise
    body = _body(root)
    fault = _fault(body)
    if fault is not None:
        raise fault
    if status != 200:
        raise UpnpError(f"HTTP status {status} from the gateway")
    for element in body:
        if _local(element.tag) == f"{action}Response":
            values = {}
            for argument in element:
                text = (argument.text or "").strip()
                if len(text) > MAX_VALUE:
                    raise UpnpError(f"SOAP output argument {_local(argument.tag)} is too long")
                values[_local(argument.tag)] = text
            return values
    raise UpnpError(f"SOAP reply does not answer {action}")


def add_port_mapping_args(
    transport: str, external_port: int, internal_port: int, internal_client: str, lease: int, description: str
) -> list[tuple[str, str]]:
    """AddPortMapping's arguments (IGD WANIPConnection:1/2 and WANPPPConnection:1 share them).
    An empty NewRemoteHost means every remote host; a lease of 0 means until removed."""
    return [
        ("NewRemoteHost", ""),
        ("NewExternalPort", str(external_port)),
        ("NewProtocol", transport.upper()),
        ("NewInternalPort", str(internal_port)),
        ("NewInternalClient", internal_client),
        ("NewEnabled", "1"),
        ("NewPortMappingDescription", description),
        ("NewLeaseDuration", str(lease)),
    ]


def delete_port_mapping_args(transport: str, external_port: int) -> list[tuple[str, str]]:
    return [("NewRemoteHost", ""), ("NewExternalPort", str(external_port)), ("NewProtocol", transport.upper())]


def external_address_of(values: dict[str, str]) -> str | None:
    """GetExternalIPAddress's answer as an address, or None when the gateway has none (yet)."""
    text = values.get("NewExternalIPAddress", "")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
