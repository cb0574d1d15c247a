"""NAT-PMP (RFC 6886) and PCP MAP (RFC 6887) messages, and the default gateway from the route
table: exact layouts, replies captured from miniupnpd 2.3.1, and fuzzing of the decoder."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.services.portmap import natpmp
from torrentish.services.portmap.gateway import default_gateway, default_gateway_from
from torrentish.services.portmap.natpmp import (
    NatPmpAddressReply,
    NatPmpMapReply,
    PcpMapReply,
    PortMapProtocolError,
    decode_reply,
)

NO_DEADLINE = settings(deadline=None)  # hypothesis's time limit per case is a timing assertion
NONCE = bytes(range(12))
# Replies miniupnpd 2.3.1 sent in a namespace test (external address 100.128.77.1).
MINIUPNPD_NATPMP_ADDRESS = bytes.fromhex("008000000000039764804d01")
MINIUPNPD_NATPMP_MAP = bytes.fromhex("00820000000003971bbc1bbc00000258")
MINIUPNPD_PCP_MAP = bytes.fromhex(
    "028100000000025800000397000000000000000000000000000102030405060708090a0b060000001bbd1bbd"
    "00000000000000000000ffff64804d01"
)
MINIUPNPD_PCP_ADDRESS_MISMATCH = bytes.fromhex(
    "0281000c0000000000000397000000000000000000000000000102030405060708090a0b060000001bbe1bbe"
    "00000000000000000000ffff00000000"
)


def test_natpmp_requests_have_the_rfc_layout():
    assert natpmp.natpmp_address_request() == b"\x00\x00"
    assert natpmp.natpmp_map_request("tcp", 6881, 6882, 7200) == bytes.fromhex("000200001ae11ae200001c20")
    assert natpmp.natpmp_map_request("udp", 6881, 0, 0) == bytes.fromhex("000100001ae1000000000000")
    with pytest.raises(ValueError):
        natpmp.natpmp_map_request("sctp", 1, 1, 1)
    with pytest.raises(ValueError):
        natpmp.natpmp_map_request("tcp", 70000, 1, 1)


def test_pcp_map_request_layout():
    packet = natpmp.pcp_map_request(NONCE, "udp", 6881, 6881, 3600, client_address="192.168.1.20")
    assert len(packet) == 60
    version, opcode, lifetime = struct.unpack_from("!BBxxI", packet)
    assert (version, opcode, lifetime) == (2, 1, 3600)
    assert packet[8:24] == bytes(10) + b"\xff\xff" + bytes([192, 168, 1, 20])  # IPv4-mapped
    assert packet[24:36] == NONCE
    assert packet[36] == 17 and packet[37:40] == bytes(3)
    assert struct.unpack_from("!HH", packet, 40) == (6881, 6881)
    assert packet[44:60] == bytes(10) + b"\xff\xff" + bytes(4)  # no preferred external address
    with pytest.raises(ValueError):
        natpmp.pcp_map_request(b"short", "tcp", 1, 1, 1, client_address="10.0.0.1")


def test_miniupnpd_replies_decode():
    assert decode_reply(MINIUPNPD_NATPMP_ADDRESS) == NatPmpAddressReply(0, 919, "100.128.77.1")
    assert decode_reply(MINIUPNPD_NATPMP_MAP) == NatPmpMapReply("tcp", 0, 919, 7100, 7100, 600)
    assert decode_reply(MINIUPNPD_PCP_MAP) == PcpMapReply(0, 600, 919, NONCE, "tcp", 7101, 7101, "100.128.77.1")
    mismatch = decode_reply(MINIUPNPD_PCP_ADDRESS_MISMATCH)
    assert mismatch.result == 12 and "address mismatch" in natpmp.result_text(2, mismatch.result)


def test_a_natpmp_gateway_refusing_pcp_is_recognised():
    # RFC 6886 section 3.5: a NAT-PMP server answers any other version with result 1.
    refusal = decode_reply(struct.pack("!BBHI", 0, 129, 1, 55))
    assert isinstance(refusal, NatPmpMapReply) and refusal.result == natpmp.UNSUPPORTED_VERSION
    header_only = decode_reply(struct.pack("!BBxBII12x", 2, 0x81, 1, 0, 55))
    assert isinstance(header_only, PcpMapReply) and header_only.result == 1 and header_only.nonce is None


@pytest.mark.parametrize(
    "data, why",
    [
        (b"", "empty"),
        (b"\x00\x02" + bytes(10), "request"),  # opcode < 128: a request, not a reply
        (b"\x00\x82\x00\x00\x00\x00", "too short"),
        (struct.pack("!BBHI", 0, 130, 0, 1), "without the mapping"),
        (struct.pack("!BBHI", 0, 128, 0, 1), "without the address"),
        (struct.pack("!BBHI", 0, 140, 0, 1), "unknown opcode"),
        (MINIUPNPD_PCP_MAP[:-1], "multiple of 4"),
        (MINIUPNPD_PCP_MAP[:24], "without the mapping"),
        (bytes([2, 0x01]) + MINIUPNPD_PCP_MAP[2:], "request"),
        (bytes([2, 0x82]) + MINIUPNPD_PCP_MAP[2:], "not MAP"),
        (MINIUPNPD_PCP_MAP + bytes(1100), "at most"),
        (b"\x01" + bytes(11), "unknown version"),
    ],
)
def test_malformed_replies_are_one_line_errors(data, why):
    with pytest.raises(PortMapProtocolError, match=why):
        decode_reply(data)


@NO_DEADLINE
@given(st.binary(max_size=1200))
def test_any_datagram_decodes_or_raises_the_protocol_error(data):
    try:
        decode_reply(data)
    except PortMapProtocolError as error:
        assert "\n" not in str(error)


ports = st.integers(0, 65535)
lifetimes = st.integers(0, 2**32 - 1)


@NO_DEADLINE
@given(st.sampled_from(["tcp", "udp"]), ports, ports, lifetimes, st.integers(0, 2**32 - 1))
def test_natpmp_mapping_replies_round_trip(transport, internal, external, lifetime, epoch):
    opcode = 128 + {"udp": 1, "tcp": 2}[transport]
    data = struct.pack("!BBHIHHI", 0, opcode, 0, epoch, internal, external, lifetime)
    assert decode_reply(data) == NatPmpMapReply(transport, 0, epoch, internal, external, lifetime)


@NO_DEADLINE
@given(st.binary(min_size=12, max_size=12), st.sampled_from(["tcp", "udp"]), ports, ports, lifetimes,
       st.ip_addresses(v=4).map(str), st.integers(0, 13), st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4]))
def test_pcp_replies_round_trip_whatever_options_follow(nonce, transport, internal, external, lifetime, address,
                                                        result, options):
    # A reply is a request with the R bit, the result and the epoch in the header: build one from ours.
    request = natpmp.pcp_map_request(nonce, transport, internal, external, lifetime, client_address="10.0.0.2",
                                     external_address=address)
    header = struct.pack("!BBxBII12x", 2, 0x81, result, lifetime, 77)
    reply = decode_reply(header + request[24:] + options)
    assert reply == PcpMapReply(result, lifetime, 77, nonce, transport, internal, external, address)


def test_retransmission_doubles_from_the_first_wait():
    assert natpmp.retransmit_delays(0.25, 4) == [0.25, 0.5, 1.0, 2.0]


ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t014DA8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t004DA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def test_the_default_route_with_the_lowest_metric_is_the_gateway(tmp_path):
    assert default_gateway_from(ROUTES) == ("192.168.77.1", "eth0")
    table = tmp_path / "route"
    table.write_text(ROUTES)
    assert default_gateway(table) == ("192.168.77.1", "eth0")
    assert default_gateway(tmp_path / "missing") is None


def test_no_default_route_or_a_down_one_is_none():
    header = ROUTES.splitlines()[0]
    assert default_gateway_from(header + "\n" + ROUTES.splitlines()[3]) is None
    down = header + "\neth0\t00000000\t014DA8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"
    assert default_gateway_from(down) is None


@NO_DEADLINE
@given(st.text(max_size=2000))
def test_any_route_table_text_gives_an_answer_not_an_exception(text):
    found = default_gateway_from(text)
    assert found is None or isinstance(found[0], str)
