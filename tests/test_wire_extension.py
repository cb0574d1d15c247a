"""BEP 10 extended handshake: leniency field by field, hard limits, and the id registry."""

from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.formats import bencoding
from torrentish.errors import ProtocolError
from torrentish.wire.extension import (
    MAX_EXTENSIONS,
    UT_METADATA,
    UT_PEX,
    ExtendedHandshake,
    ExtensionRegistry,
    decode_extended_handshake,
    encode_extended_handshake,
)


def test_bep10_example():
    # The example from BEP 10, with the length of "µT_PEX" corrected: it is 7 bytes in UTF-8,
    # and the BEP's "6:" would make the example itself invalid bencoding.
    payload = b"d1:md11:LT_metadatai1e7:\xc2\xb5T_PEXi2ee1:pi6881e1:v13:\xc2\xb5Torrent 1.2e"
    handshake = decode_extended_handshake(payload)
    assert handshake == ExtendedHandshake(m={"LT_metadata": 1, "µT_PEX": 2}, p=6881, v="µTorrent 1.2")


def test_libtorrent_style_handshake():
    payload = bencoding.encode(
        {
            "m": {"ut_metadata": 2, "ut_pex": 1, "lt_donthave": 7, "upload_only": 3},
            "metadata_size": 31235,
            "reqq": 500,
            "v": "qBittorrent/4.6.5",
            "yourip": b"\x7f\x00\x00\x01",
            "complete_ago": 1,
            "p": 51413,
        }
    )
    handshake = decode_extended_handshake(payload)
    assert handshake.m == {"ut_metadata": 2, "ut_pex": 1, "lt_donthave": 7, "upload_only": 3}
    assert (handshake.metadata_size, handshake.reqq, handshake.p) == (31235, 500, 51413)
    assert handshake.v == "qBittorrent/4.6.5" and handshake.yourip == b"\x7f\x00\x00\x01"
    assert handshake.extra == {b"complete_ago": 1}


def test_empty_dictionary_is_fine():
    assert decode_extended_handshake(b"de") == ExtendedHandshake()


@pytest.mark.parametrize(
    "value,expected",
    [
        ({"m": [1, 2]}, ExtendedHandshake()),
        ({"m": {"ut_pex": "1", "ut_metadata": 3}}, ExtendedHandshake(m={"ut_metadata": 3})),
        ({"m": {b"\xff\xfe": 1, "ok": 2}}, ExtendedHandshake(m={"ok": 2})),
        ({"m": {"ut_pex": 0}}, ExtendedHandshake(m={"ut_pex": 0})),
        ({"p": "6881"}, ExtendedHandshake()),
        ({"p": 0}, ExtendedHandshake()),
        ({"p": 70000}, ExtendedHandshake()),
        ({"v": 5}, ExtendedHandshake()),
        ({"v": b"evil\x1b[2Jname\n\xff"}, ExtendedHandshake(v="evil?[2Jname?\ufffd")),
        ({"v": "x" * 500}, ExtendedHandshake(v="x" * 100)),
        ({"reqq": "many"}, ExtendedHandshake()),
        ({"yourip": b"\x01\x02\x03"}, ExtendedHandshake()),
        ({"yourip": b"\x00" * 16}, ExtendedHandshake(yourip=b"\x00" * 16)),
        ({"metadata_size": [1]}, ExtendedHandshake()),
    ],
)
def test_wrong_types_are_ignored_field_by_field(value, expected):
    assert decode_extended_handshake(bencoding.encode(value)) == expected


@pytest.mark.parametrize(
    "payload,match",
    [
        (b"", "extended handshake: invalid bencoding"),
        (b"d1:mde", "extended handshake: invalid bencoding"),
        (b"dexx", "extended handshake: invalid bencoding"),
        (b"li1ee", "not a dictionary"),
        (b"4:spam", "not a dictionary"),
        (bencoding.encode({"m": {"ut_pex": 256}}), "'ut_pex' id 256, outside 0..255"),
        (bencoding.encode({"m": {"ut_pex": -1}}), "outside 0..255"),
        (bencoding.encode({"m": {f"x{i}": 0 for i in range(MAX_EXTENSIONS + 1)}}), "257 extensions"),
        (bencoding.encode({"reqq": 0}), "reqq 0"),
        (bencoding.encode({"metadata_size": 0}), "metadata_size 0"),
        (bencoding.encode({"metadata_size": 10**12}), "metadata_size 1000000000000"),
        (b"d" * 100 + b"e" * 100, "invalid bencoding"),
    ],
)
def test_bad_payloads_raise_protocol_error(payload, match):
    with pytest.raises(ProtocolError, match=match):
        decode_extended_handshake(payload)


def test_roundtrip():
    ours = ExtendedHandshake(
        m={UT_METADATA: 1, UT_PEX: 2},
        v="torrentish 0.1.0",
        p=6881,
        reqq=250,
        yourip=b"\x0a\x00\x00\x02",
        metadata_size=12345,
        extra={b"upload_only": 1},
    )
    payload = encode_extended_handshake(**asdict(ours))
    assert payload.startswith(b"d1:md11:ut_metadatai1e6:ut_pexi2ee")  # keys sorted, as bencoding wants
    assert decode_extended_handshake(payload) == ours
    assert encode_extended_handshake({}) == b"d1:mdee"
    assert encode_extended_handshake(m={}, p=6881, v="x") == b"d1:mde1:pi6881e1:v1:xe"


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_give_a_handshake_or_protocol_error(payload):
    try:
        decode_extended_handshake(payload)
    except ProtocolError:
        pass


bencodable = st.recursive(
    st.one_of(st.integers(-(2**70), 2**70), st.binary(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.binary(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
handshake_like = st.fixed_dictionaries(
    {},
    optional={
        b"m": st.one_of(
            st.dictionaries(st.sampled_from([b"ut_pex", b"ut_metadata", b"\xff"]), bencodable),
            bencodable,
        ),
        b"v": bencodable,
        b"p": st.one_of(st.integers(-5, 70000), bencodable),
        b"reqq": st.one_of(st.integers(-5, 5000), bencodable),
        b"yourip": bencodable,
        b"metadata_size": st.one_of(st.integers(-5, 2**40), bencodable),
    },
)


@settings(max_examples=300)
@given(st.one_of(handshake_like, bencodable), st.data())
def test_generated_and_mutated_dictionaries(value, data):
    payload = bytearray(bencoding.encode(value))
    if data.draw(st.booleans()) and payload:
        position = data.draw(st.integers(0, len(payload) - 1))
        payload[position] = data.draw(st.integers(0, 255))
    try:
        handshake = decode_extended_handshake(bytes(payload))
    except ProtocolError as error:
        assert "\n" not in str(error)
        return
    assert all(isinstance(n, str) and 0 <= i <= 255 for n, i in handshake.m.items())
    assert handshake.p is None or 1 <= handshake.p <= 65535
    assert handshake.v is None or handshake.v.isprintable()


# -- registry -------------------------------------------------------------------------------------


def test_registry_keeps_one_table_per_direction():
    registry = ExtensionRegistry({UT_METADATA: 1, UT_PEX: 2})
    assert registry.local == {UT_METADATA: 1, UT_PEX: 2}
    assert registry.local_name(1) == UT_METADATA and registry.local_name(3) is None
    assert registry.peer_id(UT_METADATA) is None
    registry.peer_update({UT_METADATA: 3, UT_PEX: 0, "lt_donthave": 7})
    assert registry.peer_id(UT_METADATA) == 3 and registry.peer_id(UT_PEX) is None
    # a later handshake is additive; 0 disables one name and leaves the others alone
    registry.peer_update({UT_PEX: 4, "lt_donthave": 0})
    assert registry.peer == {UT_METADATA: 3, UT_PEX: 4}
    # our own ids never change because of the peer's
    assert registry.local_name(1) == UT_METADATA


@pytest.mark.parametrize("local", [{"a": 0}, {"a": 256}, {"a": 1, "b": 1}])
def test_registry_rejects_bad_local_ids(local):
    with pytest.raises(ValueError):
        ExtensionRegistry(local)
