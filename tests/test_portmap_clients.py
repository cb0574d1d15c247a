"""The NAT-PMP/PCP and UPnP mappers on 127.0.0.1 against small scripted gateways: version
fallback, retransmission, ignoring replies that do not match, port conflicts, permanent-only
leases and refusing oversized replies. (Against a real gateway: tests/test_portmap_netns.py.)"""

from __future__ import annotations

import random
import socket
import struct

import h11
import pytest
import trio

from torrentish.services.portmap import natpmp, upnp
from torrentish.services.portmap.leases import Lease, PortMapFailure
from torrentish.services.portmap.pmp_client import PmpMapper
from torrentish.services.portmap.upnp_client import UpnpMapper

LOCALHOST = "127.0.0.1"
EXTERNAL = "198.51.100.7"


async def _udp_server(answer, *, task_status=trio.TASK_STATUS_IGNORED):
    """A UDP 'gateway' on 127.0.0.1: `answer(datagram)` gives the datagrams to send back."""
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        await sock.bind((LOCALHOST, 0))
        task_status.started(sock.getsockname()[1])
        while True:
            data, source = await sock.recvfrom(2048)
            for reply in answer(data):
                await sock.sendto(reply, source)


class NatPmpOnlyGateway:
    """Speaks NAT-PMP only (PCP gets "unsupported version"); ignores the first mapping request,
    and sends a garbled datagram before each real reply."""

    def __init__(self):
        self.requests: list[bytes] = []
        self.mappings = 0

    def __call__(self, data: bytes) -> list[bytes]:
        self.requests.append(data)
        if data[0] != 0:
            return [struct.pack("!BBHI", 0, 128 + data[1], natpmp.UNSUPPORTED_VERSION, 10)]
        if data[1] == 0:
            return [struct.pack("!BBHI4s", 0, 128, 0, 10, socket.inet_aton(EXTERNAL))]
        _, opcode, _, internal, suggested, lifetime = struct.unpack("!BBHHHI", data)
        self.mappings += 1
        if self.mappings == 1:
            return []  # lost: the client must send it again
        granted = suggested + 1 if lifetime else 0
        return [b"\x00\x99junk", struct.pack("!BBHIHHI", 0, 128 + opcode, 0, 10, internal, granted, lifetime)]


async def test_natpmp_after_pcp_is_refused_with_retransmission_and_junk(nursery):
    gateway = NatPmpOnlyGateway()
    port = await nursery.start(_udp_server, gateway)
    mapper = PmpMapper(LOCALHOST, random.Random(1), port=port, first_timeout=0.2, attempts=4)
    lease = await mapper.map("tcp", 6881, 6881, 7200)
    assert lease == Lease("natpmp", "tcp", 6881, 6882, EXTERNAL, 7200)
    assert mapper.name == "natpmp"
    assert gateway.requests[0][0] == natpmp.PCP_VERSION  # PCP first
    assert gateway.requests[1] == gateway.requests[2] == natpmp.natpmp_map_request("tcp", 6881, 6881, 7200)
    await mapper.unmap(lease)
    assert gateway.requests[-1] == natpmp.natpmp_map_request("tcp", 6881, 0, 0)


class PcpGateway:
    """Grants PCP MAP requests; each real reply comes after one for another nonce."""

    def __init__(self, result: int = 0):
        self.result = result
        self.requests: list[bytes] = []

    def __call__(self, data: bytes) -> list[bytes]:
        self.requests.append(data)
        lifetime = struct.unpack_from("!I", data, 4)[0]
        header = struct.pack("!BBxBII12x", 2, 0x81, self.result, min(lifetime, 1200), 99)
        body = bytearray(data[24:60])
        body[20:36] = bytes(10) + b"\xff\xff" + socket.inet_aton(EXTERNAL)
        other = bytearray(body)
        other[0] ^= 0xFF  # someone else's nonce
        return [header + bytes(other), header + bytes(body)]


async def test_pcp_matches_its_nonce_and_keeps_it_for_the_renewal_and_the_removal(nursery):
    gateway = PcpGateway()
    port = await nursery.start(_udp_server, gateway)
    mapper = PmpMapper(LOCALHOST, random.Random(1), port=port, first_timeout=1.0)
    lease = await mapper.map("udp", 6881, 6881, 7200)
    assert lease == Lease("pcp", "udp", 6881, 6881, EXTERNAL, 1200)  # the gateway's lifetime counts
    again = await mapper.map("udp", 6881, 6881, 7200)
    await mapper.unmap(again)
    nonces = {request[24:36] for request in gateway.requests}
    assert len(nonces) == 1
    assert gateway.requests[0][8:24] == bytes(10) + b"\xff\xff" + socket.inet_aton(LOCALHOST)  # our address
    assert struct.unpack_from("!I", gateway.requests[-1], 4)[0] == 0  # lifetime 0 deletes


async def test_a_pcp_refusal_is_a_failure_with_the_reason(nursery):
    port = await nursery.start(_udp_server, PcpGateway(result=2))
    mapper = PmpMapper(LOCALHOST, random.Random(1), port=port, versions=("pcp",), first_timeout=1.0)
    with pytest.raises(PortMapFailure, match="PCP: not authorized"):
        await mapper.map("tcp", 6881, 6881, 7200)


async def test_nobody_listening_fails_at_once():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOCALHOST, 0))
        closed = probe.getsockname()[1]  # nobody is there once the probe is closed
    mapper = PmpMapper(LOCALHOST, random.Random(1), port=closed, first_timeout=5.0, attempts=9)
    with pytest.raises(PortMapFailure, match="port unreachable"):
        await mapper.map("tcp", 6881, 6881, 7200)


async def test_a_silent_gateway_fails_after_the_retransmissions(nursery, autojump_clock):
    port = await nursery.start(_udp_server, lambda data: [])
    mapper = PmpMapper(LOCALHOST, random.Random(1), port=port, first_timeout=0.25, attempts=4)
    with pytest.raises(PortMapFailure, match="no NAT-PMP/PCP answer .* in 3.75 s"):
        await mapper.map("tcp", 6881, 6881, 7200)


# -- UPnP -------------------------------------------------------------------------------------------


def _soap_fault(code: int, text: str) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client'
        "</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\">"
        f"<errorCode>{code}</errorCode><errorDescription>{text}</errorDescription></UPnPError></detail></s:Fault>"
        "</s:Body></s:Envelope>"
    ).encode()


def _soap_ok(action: str, values: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f'<u:{action}Response xmlns:u="{upnp.CONNECTION_SERVICE_TYPES[1]}">{values}</u:{action}Response>'
        "</s:Body></s:Envelope>"
    ).encode()


class ScriptedIgd:
    """An HTTP SOAP control URL on 127.0.0.1: answers each action from a list of (status, body)."""

    def __init__(self, script: dict[str, list[tuple[int, bytes]]]):
        self.script = script
        self.calls: list[tuple[str, bytes]] = []

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED):
        listeners = await trio.open_tcp_listeners(0, host=LOCALHOST)
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self.handle, listeners)

    async def handle(self, stream):
        connection = h11.Connection(h11.SERVER)
        body = b""
        action = ""
        async with stream:
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Request):
                    action = dict(event.headers).get(b"soapaction", b"").decode().strip('"').rpartition("#")[2]
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            self.calls.append((action, body))
            status, reply = self.script[action].pop(0)
            headers = [("Content-Type", 'text/xml; charset="utf-8"'), ("Content-Length", str(len(reply))),
                       ("Connection", "close")]
            await stream.send_all(connection.send(h11.Response(status_code=status, headers=headers)))
            await stream.send_all(connection.send(h11.Data(data=reply)) + connection.send(h11.EndOfMessage()))


def _argument(body: bytes, name: str) -> str:
    start = body.index(f"<{name}>".encode()) + len(name) + 2
    return body[start:body.index(f"</{name}>".encode())].decode()


async def _upnp_mapper(nursery, igd: ScriptedIgd, rng_seed: int = 3):
    import httpx

    port = await nursery.start(igd.serve)
    http = httpx.AsyncClient(timeout=5.0, trust_env=False)
    service = upnp.ConnectionService(upnp.CONNECTION_SERVICE_TYPES[1], f"http://{LOCALHOST}:{port}/ctl")
    return http, UpnpMapper(http, service, LOCALHOST, random.Random(rng_seed), "torrentish test")


async def test_upnp_takes_another_port_on_conflict_and_falls_back_to_a_permanent_lease(nursery):
    igd = ScriptedIgd({
        "AddPortMapping": [(500, _soap_fault(718, "ConflictInMappingEntry")),
                           (500, _soap_fault(725, "OnlyPermanentLeasesSupported")),
                           (200, _soap_ok("AddPortMapping")), (200, _soap_ok("AddPortMapping"))],
        "GetExternalIPAddress": [(200, _soap_ok("GetExternalIPAddress",
                                                f"<NewExternalIPAddress>{EXTERNAL}</NewExternalIPAddress>"))],
        "DeletePortMapping": [(200, _soap_ok("DeletePortMapping"))],
    })
    http, mapper = await _upnp_mapper(nursery, igd)
    async with http:
        lease = await mapper.map("tcp", 6881, 6881, 3600)
        other_port = int(_argument(igd.calls[1][1], "NewExternalPort"))
        assert lease == Lease("upnp", "tcp", 6881, other_port, EXTERNAL, 0)
        assert other_port != 6881 and 1024 <= other_port <= 65535
        asked = [(a, _argument(b, "NewExternalPort"), _argument(b, "NewLeaseDuration")) for a, b in igd.calls[:3]]
        assert asked == [("AddPortMapping", "6881", "3600"), ("AddPortMapping", str(other_port), "3600"),
                         ("AddPortMapping", str(other_port), "0")]
        assert _argument(igd.calls[0][1], "NewInternalClient") == LOCALHOST
        renewed = await mapper.map("tcp", 6881, other_port, 3600)  # from now on, only permanent leases
        assert renewed.lifetime == 0 and _argument(igd.calls[-1][1], "NewLeaseDuration") == "0"
        await mapper.unmap(lease)
        assert igd.calls[-1][0] == "DeletePortMapping"
        assert _argument(igd.calls[-1][1], "NewExternalPort") == str(other_port)


async def test_a_mapping_stands_when_the_gateway_will_not_say_its_address(nursery):
    igd = ScriptedIgd({"AddPortMapping": [(200, _soap_ok("AddPortMapping"))],
                       "GetExternalIPAddress": [(404, b"Not Found")]})
    http, mapper = await _upnp_mapper(nursery, igd)
    async with http:
        assert await mapper.map("tcp", 6881, 6881, 3600) == Lease("upnp", "tcp", 6881, 6881, None, 3600)


async def test_upnp_refusals_and_oversized_replies_are_failures(nursery):
    igd = ScriptedIgd({"AddPortMapping": [(500, _soap_fault(606, "Action not authorized")),
                                          (200, b"<x>" + b" " * upnp.MAX_SOAP_REPLY + b"</x>")]})
    http, mapper = await _upnp_mapper(nursery, igd)
    async with http:
        with pytest.raises(PortMapFailure, match="UPnP error 606: Action not authorized"):
            await mapper.map("udp", 6881, 6881, 3600)
        with pytest.raises(PortMapFailure, match="more than"):
            await mapper.map("udp", 6881, 6881, 3600)
