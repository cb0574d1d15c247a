"""KRPC, the DHT's message format (BEP 5, BEP 32 ``nodes6``/``want``, BEP 42 ``ip``, BEP 43 ``ro``).

Every datagram is one bencoded dictionary: a query (``y=q``), a response (``y=r``) or an error
(``y=e``), tied together by the transaction id ``t``. ``decode_message`` turns bytes into one of
the dataclasses below or raises ``KrpcError``, whose ``tid`` and ``code`` let a node answer a
broken query with a BEP 5 error (203 protocol error, 204 unknown method) when it can.

What is refused: input beyond ``KRPC_LIMITS``; a transaction id or token longer than the limits;
node ids, targets and info hashes that are not 20 bytes; compact node lists that are not a whole
number of entries; values of the wrong type. What is tolerated, as peers in the wild need: unknown
top-level keys, unknown ``want`` entries, malformed single ``values`` entries (skipped) and node
entries with unusable addresses (skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from torrentish.formats import bencoding
from torrentish.formats.compact import dialable, pack_address, unpack_address
from torrentish.errors import BencodeError, ProtocolError

__all__ = [
    "NODE_ID_LENGTH",
    "KRPC_LIMITS",
    "GENERIC_ERROR",
    "SERVER_ERROR",
    "PROTOCOL_ERROR",
    "METHOD_UNKNOWN",
    "KrpcError",
    "QueryFailed",
    "NodeInfo",
    "Query",
    "Ping",
    "FindNode",
    "GetPeers",
    "AnnouncePeer",
    "UnknownQuery",
    "Response",
    "Error",
    "decode_message",
    "encode_message",
    "encode_within",
        "encode_nodes",
    "decode_nodes",
    "valid_address",
]

NODE_ID_LENGTH = 20
# A DHT datagram fits one Ethernet frame; 8 KiB leaves room for jumbo frames and nothing more.
KRPC_LIMITS = bencoding.Limits(max_size=8192, max_depth=6, max_items=1024, max_int_digits=20)
MAX_TRANSACTION_ID = 32
MAX_TOKEN = 64
MAX_VERSION = 16
MAX_METHOD = 32
MAX_ERROR_TEXT = 200

GENERIC_ERROR, SERVER_ERROR, PROTOCOL_ERROR, METHOD_UNKNOWN = 201, 202, 203, 204

Address = tuple[str, int]


class KrpcError(ProtocolError):
    """A datagram that is not valid KRPC. ``tid`` is set when the reply can name the transaction."""

    def __init__(self, message: str, *, tid: bytes | None = None, code: int = PROTOCOL_ERROR, query: bool = False):
        super().__init__(message)
        self.tid = tid
        self.code = code
        self.query = query  # the datagram was a query: the sender expects an answer


class QueryFailed(Exception):
    """A query of ours got no answer in time, or an error answer (the node's normal weather)."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: bytes
    host: str
    port: int

    @property
    def address(self) -> Address:
        return (self.host, self.port)


# -- messages --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Query:
    method: ClassVar[str] = ""
    tid: bytes
    node_id: bytes
    read_only: bool = False  # BEP 43: the sender does not answer queries
    version: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class Ping(Query):
    method: ClassVar[str] = "ping"


@dataclass(frozen=True, kw_only=True)
class FindNode(Query):
    method: ClassVar[str] = "find_node"
    target: bytes
    want: frozenset[str] = frozenset()  # BEP 32: "n4", "n6"


@dataclass(frozen=True, kw_only=True)
class GetPeers(Query):
    method: ClassVar[str] = "get_peers"
    info_hash: bytes
    want: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class AnnouncePeer(Query):
    method: ClassVar[str] = "announce_peer"
    info_hash: bytes
    port: int
    token: bytes
    implied_port: bool = False  # use the UDP source port instead of `port`


@dataclass(frozen=True, kw_only=True)
class UnknownQuery(Query):
    """A method we do not implement; answered with error 204."""

    name: str


@dataclass(frozen=True, kw_only=True)
class Response:
    tid: bytes
    node_id: bytes
    nodes: tuple[NodeInfo, ...] = ()
    nodes6: tuple[NodeInfo, ...] = ()
    values: tuple[Address, ...] = ()
    token: bytes | None = None
    ip: Address | None = None  # BEP 42: the address the responder saw us at
    version: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class Error:
    tid: bytes
    code: int
    message: str
    version: bytes | None = None


Message = Query | Response | Error

# -- compact forms ----------------------------------------------------------------------------------


def valid_address(host: str, port: int) -> bool:
    """An address a DHT message may send us to: an IP literal that can be a unicast host."""
    return dialable(host, port) is not None


def encode_nodes(nodes: tuple[NodeInfo, ...] | list[NodeInfo]) -> bytes:
    return b"".join(node.node_id + pack_address(node.host, node.port) for node in nodes)


def decode_nodes(raw: bytes, v6: bool) -> tuple[NodeInfo, ...]:
    """Compact node info (26 or 38 bytes each); entries with junk addresses are dropped."""
    size = 38 if v6 else 26
    if len(raw) % size:
        raise ValueError(f"{len(raw)} bytes is not a whole number of {size}-byte nodes")
    out = []
    for offset in range(0, len(raw), size):
        host, port = unpack_address(raw[offset + NODE_ID_LENGTH : offset + size])
        if valid_address(host, port):
            out.append(NodeInfo(raw[offset : offset + NODE_ID_LENGTH], host, port))
    return tuple(out)


# -- decoding ----------------------------------------------------------------------------------------


def _bytes(d: dict, key: bytes, what: str, tid: bytes | None, *, length: int | None = None,
           max_length: int | None = None, query: bool = False) -> bytes:
    value = d.get(key)
    if not isinstance(value, bytes):
        raise KrpcError(f"KRPC {what} is missing or not a string", tid=tid, query=query)
    if length is not None and len(value) != length:
        raise KrpcError(f"KRPC {what} is {len(value)} bytes, not {length}", tid=tid, query=query)
    if max_length is not None and len(value) > max_length:
        raise KrpcError(f"KRPC {what} is {len(value)} bytes (limit {max_length})", tid=tid, query=query)
    return value


def _want(args: dict) -> frozenset[str]:
    value = args.get(b"want")
    if not isinstance(value, list):
        return frozenset()
    return frozenset(item.decode("ascii") for item in value if item in (b"n4", b"n6"))


def _decode_query(top: dict, tid: bytes, version: bytes | None) -> Query:
    method_raw = _bytes(top, b"q", "method name", tid, max_length=MAX_METHOD, query=True)
    args = top.get(b"a")
    if not isinstance(args, dict):
        raise KrpcError("KRPC query has no argument dictionary", tid=tid, query=True)
    node_id = _bytes(args, b"id", "node id", tid, length=NODE_ID_LENGTH, query=True)
    common = dict(tid=tid, node_id=node_id, read_only=top.get(b"ro") == 1, version=version)
    method = method_raw.decode("ascii", errors="replace")
    if method == "ping":
        return Ping(**common)
    if method == "find_node":
        target = _bytes(args, b"target", "target", tid, length=NODE_ID_LENGTH, query=True)
        return FindNode(target=target, want=_want(args), **common)
    if method == "get_peers":
        info_hash = _bytes(args, b"info_hash", "info_hash", tid, length=NODE_ID_LENGTH, query=True)
        return GetPeers(info_hash=info_hash, want=_want(args), **common)
    if method == "announce_peer":
        info_hash = _bytes(args, b"info_hash", "info_hash", tid, length=NODE_ID_LENGTH, query=True)
        token = _bytes(args, b"token", "token", tid, max_length=MAX_TOKEN, query=True)
        implied = args.get(b"implied_port")
        implied_port = type(implied) is int and implied != 0
        port = args.get(b"port")
        if type(port) is not int or not (0 < port < 65536 or (implied_port and port == 0)):
            if not implied_port:
                raise KrpcError("KRPC announce_peer has no valid port", tid=tid, query=True)
            port = 0
        return AnnouncePeer(info_hash=info_hash, port=port, token=token, implied_port=implied_port, **common)
    return UnknownQuery(name=method, **common)


def _decode_response(top: dict, tid: bytes, version: bytes | None) -> Response:
    body = top.get(b"r")
    if not isinstance(body, dict):
        raise KrpcError("KRPC response has no 'r' dictionary", tid=tid)
    node_id = _bytes(body, b"id", "node id", tid, length=NODE_ID_LENGTH)
    nodes: dict[str, tuple[NodeInfo, ...]] = {"nodes": (), "nodes6": ()}
    for key in nodes:
        raw = body.get(key.encode())
        if raw is None:
            continue
        if not isinstance(raw, bytes):
            raise KrpcError(f"KRPC {key} is not a string", tid=tid)
        try:
            nodes[key] = decode_nodes(raw, v6=key == "nodes6")
        except ValueError as error:
            raise KrpcError(f"KRPC {key}: {error}", tid=tid) from None
    values: list[Address] = []
    raw_values = body.get(b"values")
    if raw_values is not None:
        if not isinstance(raw_values, list):
            raise KrpcError("KRPC values is not a list", tid=tid)
        for item in raw_values:
            if isinstance(item, bytes) and len(item) in (6, 18):
                address = unpack_address(item)
                if valid_address(*address) and address not in values:
                    values.append(address)
    token = None
    if b"token" in body:
        token = _bytes(body, b"token", "token", tid, max_length=MAX_TOKEN)
    ip = top.get(b"ip")
    seen_as = unpack_address(ip) if isinstance(ip, bytes) and len(ip) in (6, 18) else None
    return Response(tid=tid, node_id=node_id, nodes=nodes["nodes"], nodes6=nodes["nodes6"], values=tuple(values),
                    token=token, ip=seen_as, version=version)


def _decode_error(top: dict, tid: bytes, version: bytes | None) -> Error:
    body = top.get(b"e")
    code, text = GENERIC_ERROR, ""
    if isinstance(body, list):
        if body and type(body[0]) is int and 0 <= body[0] < 1000:
            code = body[0]
        if len(body) > 1 and isinstance(body[1], bytes):
            text = body[1][:MAX_ERROR_TEXT].decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return Error(tid=tid, code=code, message=text, version=version)


def decode_message(data: bytes) -> Message:
    """One KRPC datagram; raises KrpcError (a ProtocolError) when it is not valid."""
    try:
        top = bencoding.decode(data, KRPC_LIMITS)
    except BencodeError as error:
        raise KrpcError(f"KRPC datagram: {error}") from None
    if not isinstance(top, dict):
        raise KrpcError("KRPC datagram is not a dictionary")
    tid = top.get(b"t")
    if not isinstance(tid, bytes) or not 1 <= len(tid) <= MAX_TRANSACTION_ID:
        raise KrpcError(f"KRPC transaction id must be 1..{MAX_TRANSACTION_ID} bytes")
    v = top.get(b"v")
    version = v if isinstance(v, bytes) and len(v) <= MAX_VERSION else None
    kind = top.get(b"y")
    if kind == b"q":
        return _decode_query(top, tid, version)
    if kind == b"r":
        return _decode_response(top, tid, version)
    if kind == b"e":
        return _decode_error(top, tid, version)
    raise KrpcError("KRPC message type 'y' must be q, r or e", tid=tid, query=b"q" in top)


# -- encoding ----------------------------------------------------------------------------------------


def _query_args(message: Query) -> dict[str, Any]:
    args: dict[str, Any] = {"id": message.node_id}
    if isinstance(message, FindNode):
        args["target"] = message.target
    elif isinstance(message, GetPeers):
        args["info_hash"] = message.info_hash
    elif isinstance(message, AnnouncePeer):
        args.update(info_hash=message.info_hash, port=message.port, token=message.token)
        if message.implied_port:
            args["implied_port"] = 1
    if isinstance(message, (FindNode, GetPeers)) and message.want:
        args["want"] = sorted(message.want)
    return args


def encode_message(message: Message) -> bytes:
    """The datagram for a message."""
    top: dict[str, Any] = {"t": message.tid}
    if message.version is not None:
        top["v"] = message.version
    if isinstance(message, Query):
        method = message.name if isinstance(message, UnknownQuery) else message.method
        top.update(y="q", q=method, a=_query_args(message))
        if message.read_only:
            top["ro"] = 1
    elif isinstance(message, Response):
        body: dict[str, Any] = {"id": message.node_id}
        if message.nodes:
            body["nodes"] = encode_nodes(message.nodes)
        if message.nodes6:
            body["nodes6"] = encode_nodes(message.nodes6)
        if message.values:
            body["values"] = [pack_address(host, port) for host, port in message.values]
        if message.token is not None:
            body["token"] = message.token
        top.update(y="r", r=body)
        if message.ip is not None:
            top["ip"] = pack_address(*message.ip)
    elif isinstance(message, Error):
        top.update(y="e", e=[message.code, message.message])
    else:
        raise TypeError(f"cannot encode {type(message).__name__}")
    return bencoding.encode(top)


def encode_within(response: Response, budget: int) -> bytes:
    """Encode a response in at most ``budget`` bytes, dropping peers, then nodes, until it fits.

    This is what keeps a reply from being much larger than the request it answers (no
    amplification): the caller sets the budget from the request's size and whether its source is
    known to be real.
    """
    data = encode_message(response)
    while len(data) > budget:
        if response.values:
            excess = len(data) - budget
            drop = max(1, -(-excess // (len(pack_address(*response.values[-1])) + 3)))
            response = replace(response, values=response.values[: max(0, len(response.values) - drop)])
        elif response.nodes6:
            response = replace(response, nodes6=response.nodes6[:-1])
        elif response.nodes:
            response = replace(response, nodes=response.nodes[:-1])
        else:
            break  # the bare reply: id, token, ip; never larger than a query
        data = encode_message(response)
    return data

