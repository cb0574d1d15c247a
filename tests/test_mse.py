"""The MSE handshake state machines (torrentish.wire.mse), without any I/O: fixed keys, every
crypto negotiation, random pads and splits, and hostile input that must end in `Failed`."""

from __future__ import annotations

import random
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import mse as forge
from torrentish.wire import mse

INFO_HASH = bytes(range(20))
OTHER_HASH = bytes(range(1, 21))
X_A = 0x1234567890ABCDEF1234567890ABCDEF12345678  # fixed private keys: tests are reproducible
X_B = 0xFEDCBA0987654321FEDCBA0987654321FEDCBA09
IA = b"\x13BitTorrent protocol" + bytes(8) + INFO_HASH + b"-TT0001-abcdefghijkl"
BOTH = mse.RC4 | mse.PLAINTEXT


def torrents(*hashes: bytes):
    table = {mse.skey_hash(h): h for h in hashes}
    return table.get


def initiator(provide=BOTH, pad=b"", payload=IA, pad_c_length=0, key=X_A, info_hash=INFO_HASH):
    return mse.Initiator(info_hash, payload, provide=provide, private_key=key, pad=pad,
                         pad_c_length=pad_c_length)


def responder(allowed=BOTH, prefer=mse.RC4, pad=b"", pad_d_length=0, key=X_B, find=None):
    return mse.Responder(find or torrents(INFO_HASH), allowed=allowed, prefer=prefer,
                         private_key=key, pad=pad, pad_d_length=pad_d_length)


def shake(a: mse.Initiator, b: mse.Responder):
    """Run the whole exchange in one piece per message; return both results."""
    out_b, result_b = b.receive_data(a.start())
    assert result_b is None
    out_a, result_a = a.receive_data(out_b)
    assert result_a is None
    out_b, result_b = b.receive_data(out_a)
    assert isinstance(result_b, mse.Established), result_b
    out_a, result_a = a.receive_data(out_b)
    assert out_a == b""
    assert isinstance(result_a, mse.Established), result_a
    return result_a, result_b


def secret(mine: int, theirs: int) -> bytes:
    return forge.shared_secret(mine, forge.public_key(theirs))


def keystream(name: bytes, s: bytes, skey: bytes = INFO_HASH):
    return forge.keystream(name, s, skey)


def forged_third(s: bytes, *, skey: bytes = INFO_HASH, ia: bytes = IA, **fields) -> bytes:
    return forge.forged_third(s, skey, ia, **fields)


# ----------------------------------------------------------------------------- fixed keys

def test_the_prime_is_the_768_bit_one_of_the_spec():
    assert mse.P.bit_length() == 768 and mse.G == 2
    assert hex(mse.P).endswith("a63a36210000000000090563")


def test_first_messages_are_the_public_keys_and_pads():
    a = initiator(pad=b"\xaa" * 7)
    ya = a.start()
    assert ya == pow(2, X_A, mse.P).to_bytes(96, "big") + b"\xaa" * 7
    out, result = responder(pad=b"\xbb" * 3).receive_data(ya[:96])
    assert result is None
    assert out == pow(2, X_B, mse.P).to_bytes(96, "big") + b"\xbb" * 3


def test_the_third_message_follows_the_spec_field_by_field():
    a = initiator(provide=mse.RC4, pad_c_length=5)
    a.start()
    out, _ = a.receive_data(pow(2, X_B, mse.P).to_bytes(96, "big"))
    assert out == forged_third(secret(X_A, X_B), provide=mse.RC4, pad_c=5)


def test_the_fourth_message_and_the_payload_follow_the_spec():
    b = responder(pad_d_length=4)
    b.receive_data(initiator().start())
    s = secret(X_B, X_A)
    out, done = b.receive_data(forged_third(s))
    assert isinstance(done, mse.Established) and done.payload == IA and done.info_hash == INFO_HASH
    expected = keystream(b"keyB", s).update(bytes(8) + (2).to_bytes(4, "big") + (4).to_bytes(2, "big") + bytes(4))
    assert out == expected
    # RC4 continues: what the responder encrypts next is the same keystream, further on.
    reference = keystream(b"keyB", s)
    reference.update(expected)
    assert done.encrypt.update(b"payload") == reference.update(b"payload")


def test_a_whole_exchange_with_fixed_keys():
    a_done, b_done = shake(initiator(pad=b"p" * 100, pad_c_length=3), responder(pad=b"q" * 200, pad_d_length=9))
    assert a_done.method == b_done.method == mse.RC4
    assert b_done.payload == IA and a_done.payload == b""
    assert a_done.info_hash == b_done.info_hash == INFO_HASH
    assert b_done.decrypt.update(a_done.encrypt.update(b"ping")) == b"ping"
    assert a_done.decrypt.update(b_done.encrypt.update(b"pong")) == b"pong"


def test_the_payload_after_the_handshake_is_decrypted_with_it():
    a, b = initiator(), responder()
    out_b, _ = b.receive_data(a.start())
    out_a, _ = a.receive_data(out_b)
    out_b, b_done = b.receive_data(out_a)
    _, a_done = a.receive_data(out_b + b_done.encrypt.update(b"their handshake and more"))
    assert a_done.payload == b"their handshake and more"


@pytest.mark.parametrize(
    ("provide", "allowed", "prefer", "method"),
    [
        (BOTH, BOTH, mse.RC4, mse.RC4),
        (BOTH, BOTH, mse.PLAINTEXT, mse.PLAINTEXT),
        (mse.RC4, BOTH, mse.PLAINTEXT, mse.RC4),
        (mse.PLAINTEXT, BOTH, mse.RC4, mse.PLAINTEXT),
        (BOTH, mse.RC4, mse.RC4, mse.RC4),
        (BOTH, mse.PLAINTEXT, mse.PLAINTEXT, mse.PLAINTEXT),
    ],
)
def test_crypto_negotiation(provide, allowed, prefer, method):
    a_done, b_done = shake(initiator(provide=provide), responder(allowed=allowed, prefer=prefer))
    assert a_done.method == b_done.method == method
    if method == mse.PLAINTEXT:
        assert a_done.encrypt is a_done.decrypt is b_done.encrypt is b_done.decrypt is None


@pytest.mark.parametrize(("provide", "allowed"), [(mse.PLAINTEXT, mse.RC4), (mse.RC4, mse.PLAINTEXT)])
def test_no_common_method_fails_at_the_responder(provide, allowed):
    a, b = initiator(provide=provide), responder(allowed=allowed, prefer=allowed)
    out_b, _ = b.receive_data(a.start())
    out_a, _ = a.receive_data(out_b)
    _, result = b.receive_data(out_a)
    assert result == mse.Failed("peer provides no crypto method we accept")


def test_plaintext_selected_leaves_the_payload_alone():
    a, b = initiator(provide=mse.PLAINTEXT), responder()
    out_b, _ = b.receive_data(a.start())
    out_a, _ = a.receive_data(out_b)
    out_b, b_done = b.receive_data(out_a + b"plain bytes after IA")
    assert b_done.payload == IA + b"plain bytes after IA"
    _, a_done = a.receive_data(out_b + b"plain reply")
    assert a_done.payload == b"plain reply"


def test_the_responder_names_the_torrent_among_several():
    b = responder(find=torrents(OTHER_HASH, INFO_HASH))
    _, b_done = shake(initiator(), b)
    assert b_done.info_hash == INFO_HASH


def test_looks_plaintext():
    assert mse.looks_plaintext(b"") is None
    assert mse.looks_plaintext(b"\x13BitTorrent") is None
    assert mse.looks_plaintext(IA) is True
    assert mse.looks_plaintext(b"\x13BitTorrent protocoX") is False
    assert mse.looks_plaintext(b"\x14") is False


def test_arguments_out_of_range_are_refused():
    with pytest.raises(ValueError):
        initiator(pad=bytes(513))
    with pytest.raises(ValueError):
        initiator(key=1)
    with pytest.raises(ValueError):
        initiator(provide=4)
    with pytest.raises(ValueError):
        responder(pad_d_length=513)
    with pytest.raises(ValueError):
        responder(allowed=0)


# ------------------------------------------------------------------- random pads and splits

def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[i:j] for i, j in zip([0, *points], [*points, len(data)]) if j > i]


def _feed(machine, data: bytes, cuts: list[int]):
    """Feed `data` in pieces; return what the machine sent, its result, and the bytes that came
    after the handshake was established (a runtime passes those through the ciphers)."""
    out, result, after = bytearray(), None, b""
    for chunk in _split(data, cuts):
        if result is not None:
            after += chunk
            continue
        sent, result = machine.receive_data(chunk)
        out += sent
    return bytes(out), result, after


def _payload(done: mse.Established, after: bytes) -> bytes:
    return done.payload + (done.decrypt.update(after) if done.decrypt else after)


pads = st.integers(0, mse.MAX_PAD)
cuts = st.lists(st.integers(0, 2000), max_size=6)


@settings(max_examples=60, deadline=None)
@given(pad_a=pads, pad_b=pads, pad_c=pads, pad_d=pads, seed=st.integers(0, 2**32),
       cuts_a=cuts, cuts_b=cuts, cuts_c=cuts, cuts_d=cuts, provide=st.sampled_from([1, 2, 3]),
       ia=st.binary(max_size=300), extra=st.binary(max_size=200))
def test_any_pads_and_any_splits_establish(pad_a, pad_b, pad_c, pad_d, seed, cuts_a, cuts_b, cuts_c,
                                           cuts_d, provide, ia, extra):
    rng = random.Random(seed)
    a = initiator(provide=provide, pad=rng.randbytes(pad_a), pad_c_length=pad_c, payload=ia,
                  key=mse.random_private_key(rng))
    b = responder(pad=rng.randbytes(pad_b), pad_d_length=pad_d, key=mse.random_private_key(rng))
    out_b, result, _ = _feed(b, a.start(), cuts_a)
    assert result is None
    out_a, result, _ = _feed(a, out_b, cuts_b)
    assert result is None
    out_b, b_done, after_b = _feed(b, out_a, cuts_c)
    assert isinstance(b_done, mse.Established) and after_b == b""
    reply = b_done.encrypt.update(extra) if b_done.encrypt else extra
    _, a_done, after_a = _feed(a, out_b + reply, cuts_d)
    assert isinstance(a_done, mse.Established)
    assert b_done.payload == ia and _payload(a_done, after_a) == extra
    assert a_done.method == b_done.method == (mse.PLAINTEXT if provide == mse.PLAINTEXT else mse.RC4)


# ---------------------------------------------------------------------------- hostile input

def _responder_after_key():
    b = responder()
    b.receive_data(pow(2, X_A, mse.P).to_bytes(96, "big"))
    return b


def test_garbage_after_the_key_fails_at_the_end_of_the_628_byte_window():
    b = _responder_after_key()
    garbage = random.Random(5).randbytes(mse.MAX_PAD + 19)
    assert b.receive_data(garbage) == (b"", None)  # the hash could still start at offset 512
    _, result = b.receive_data(b"x")
    assert result == mse.Failed("no synchronisation hash within 628 bytes")
    assert b.receive_data(b"more") == (b"", result)  # and it stays failed


def test_the_sync_hash_at_the_last_offset_is_found():
    b = _responder_after_key()
    _, result = b.receive_data(bytes(mse.MAX_PAD) + forged_third(secret(X_B, X_A)))
    assert isinstance(result, mse.Established)


def test_a_pad_a_longer_than_512_bytes_fails():
    b = _responder_after_key()
    _, result = b.receive_data(bytes(mse.MAX_PAD + 1) + forged_third(secret(X_B, X_A)))
    assert isinstance(result, mse.Failed)


def test_no_verification_constant_within_the_window_fails_at_the_initiator():
    a = initiator()
    a.start()
    out, result = a.receive_data(pow(2, X_B, mse.P).to_bytes(96, "big") + bytes(mse.MAX_PAD + 7))
    assert out and result is None
    _, result = a.receive_data(b"\x00")
    assert result == mse.Failed("no verification constant within 616 bytes")


@pytest.mark.parametrize("key", [0, 1, mse.P - 1, mse.P, 2**768 - 1])
def test_degenerate_keys_fail(key):
    _, result = responder().receive_data(key.to_bytes(96, "big"))
    assert result == mse.Failed("degenerate Diffie-Hellman key")
    a = initiator()
    a.start()
    assert a.receive_data(key.to_bytes(96, "big")) == (b"", mse.Failed("degenerate Diffie-Hellman key"))


def test_an_oversized_pad_c_fails():
    b = _responder_after_key()
    _, result = b.receive_data(forged_third(secret(X_B, X_A), pad_c=mse.MAX_PAD + 1))
    assert result == mse.Failed("PadC of 513 bytes (at most 512)")


def test_a_wrong_verification_constant_fails():
    b = _responder_after_key()
    _, result = b.receive_data(forged_third(secret(X_B, X_A), vc=b"\x01" + bytes(7)))
    assert result == mse.Failed("wrong verification constant")


def test_an_unknown_torrent_fails():
    b = _responder_after_key()
    _, result = b.receive_data(forged_third(secret(X_B, X_A), skey=OTHER_HASH))
    assert result == mse.Failed("peer asked for a torrent we do not have")


def _initiator_after_key():
    a = initiator(provide=mse.RC4)
    a.start()
    a.receive_data(pow(2, X_B, mse.P).to_bytes(96, "big"))
    return a, keystream(b"keyB", secret(X_A, X_B))


@pytest.mark.parametrize("select", [0, mse.PLAINTEXT, 3, 4])
def test_a_crypto_select_we_did_not_offer_fails(select):
    a, stream = _initiator_after_key()
    _, result = a.receive_data(stream.update(bytes(8) + select.to_bytes(4, "big") + bytes(2)))
    assert result == mse.Failed(f"peer selected crypto {select:#x}, which we did not offer")


def test_an_oversized_pad_d_fails():
    a, stream = _initiator_after_key()
    _, result = a.receive_data(stream.update(bytes(8) + (2).to_bytes(4, "big") + (600).to_bytes(2, "big")))
    assert result == mse.Failed("PadD of 600 bytes (at most 512)")


def test_feeding_an_established_machine_is_a_caller_bug():
    a_done = initiator()
    b = responder()
    shake(a_done, b)
    with pytest.raises(RuntimeError):
        b.receive_data(b"x")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=1500), cut=cuts)
def test_random_bytes_never_raise_and_fail_within_the_window(data, cut):
    for machine in (responder(), initiator()):
        if isinstance(machine, mse.Initiator):
            machine.start()
        result = None
        for chunk in _split(data, cut):
            _, result = machine.receive_data(chunk)
            if result is not None:
                break
        assert result is None or isinstance(result, mse.Failed)
        if len(data) >= mse.RESPONDER_WINDOW and isinstance(machine, mse.Responder):
            assert isinstance(result, mse.Failed)  # random bytes do not hold HASH('req1', S)
        if len(data) >= mse.INITIATOR_WINDOW and isinstance(machine, mse.Initiator):
            assert isinstance(result, mse.Failed)
