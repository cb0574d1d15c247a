"""Transmission RPC requests and responses, both envelopes, with limits for untrusted input.

Two envelopes arrive on the same URL:

- the old one (Transmission <= 4.0, transmission-remote 3.00, the PyPI transmission-rpc, the
  web client): ``{"method": "torrent-get", "arguments": {...}, "tag": 7}`` answered by
  ``{"result": "success" | "<error text>", "arguments": {...}, "tag": 7}``;
- JSON-RPC 2.0 (Transmission >= 4.1): ``{"jsonrpc": "2.0", "method": "torrent_get",
  "params": {...}, "id": 7}`` answered by ``{"jsonrpc": "2.0", "result": {...}, "id": 7}`` or
  ``{"jsonrpc": "2.0", "error": {"code": -32602, "message": ..., "data": {"error_string": ...}},
  "id": 7}``; a batch is a JSON array of those; a request without "id" is a notification.

`parse_body` turns the bytes into `Request`s whose method and argument names are snake_case
whatever the spelling, or raises `RpcError`; `encode_response` writes the answer in the
request's envelope and spelling. The argument readers (`get_bool`, `get_int`, `get_ids`, ...)
check types and bounds and raise `RpcError(INVALID_PARAMS, ...)` with a one-line message.
Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from torrentish.rpc import names

# JSON-RPC 2.0 error codes (the old envelope carries only the message).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Transmission's own codes (libtransmission rpcimpl.h, JsonRpc::Error).
PATH_NOT_ABSOLUTE = 3
UNRECOGNIZED_INFO = 4
SYSTEM_ERROR = 5
FILE_INDEX_OUT_OF_RANGE = 6
HTTP_ERROR = 8
CORRUPT_TORRENT = 9

_MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
    PATH_NOT_ABSOLUTE: "path is not absolute",
    UNRECOGNIZED_INFO: "unrecognized info",
    SYSTEM_ERROR: "system error",
    FILE_INDEX_OUT_OF_RANGE: "file index out of range",
    HTTP_ERROR: "HTTP error from backend service",
    CORRUPT_TORRENT: "invalid or corrupt torrent file",
}


@dataclass(frozen=True)
class Limits:
    max_body: int = 16 * 1024 * 1024  # a base64 .torrent of a few MiB must fit
    max_batch: int = 64  # requests in one JSON-RPC batch
    max_ids: int = 100_000  # torrents named in one request
    max_list: int = 1_000_000  # file indices, labels, fields in one list
    max_string: int = 64 * 1024  # one path, name, URL or label (metainfo is exempt)
    max_depth: int = 32  # nesting of arrays/objects in a request


DEFAULT_LIMITS = Limits()


class RpcError(Exception):
    """A request that gets an error result. `str()` is the one-line text a person reads."""

    def __init__(self, code: int, detail: str = ""):
        self.code = code
        self.detail = detail
        super().__init__(detail or _MESSAGES.get(code, "error"))


@dataclass
class Request:
    method: str  # snake_case
    args: dict[str, Any]  # snake_case keys
    jsonrpc: bool  # the new envelope (and snake_case answers)
    tag: Any = None  # old envelope's "tag" / JSON-RPC "id"
    has_id: bool = True  # False: a JSON-RPC notification, no answer wanted
    raw_names: dict[str, str] = field(default_factory=dict)  # snake -> as the client spelled it


def parse_body(body: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[list[Request | RpcError], bool]:
    """The requests in a POST body, and whether it was a JSON-RPC batch.

    An entry that is not a usable request is an RpcError in its place (JSON-RPC answers each
    one); a body that is not JSON at all raises RpcError(PARSE_ERROR)."""
    if len(body) > limits.max_body:
        raise RpcError(INVALID_REQUEST, f"request body over {limits.max_body} bytes")
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise RpcError(PARSE_ERROR, "request nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise RpcError(PARSE_ERROR, f"malformed JSON: {_first_line(error)}") from None
    if _depth(document, limits.max_depth) > limits.max_depth:
        raise RpcError(INVALID_REQUEST, f"request nested deeper than {limits.max_depth}")
    if isinstance(document, list):
        if not document:
            raise RpcError(INVALID_REQUEST, "empty batch")
        if len(document) > limits.max_batch:
            raise RpcError(INVALID_REQUEST, f"batch of more than {limits.max_batch} requests")
        return [_one(item, limits, batch=True) for item in document], True
    return [_one(document, limits, batch=False)], False


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _depth(value: Any, limit: int) -> int:
    """Nesting depth, without recursion (a hostile body must not blow the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children if isinstance(child, (list, dict)))
    return deepest


def _one(document: Any, limits: Limits, batch: bool) -> Request | RpcError:
    if not isinstance(document, dict):
        return RpcError(INVALID_REQUEST, "a request is a JSON object")
    jsonrpc = "jsonrpc" in document
    if jsonrpc and document["jsonrpc"] != "2.0":
        return _tagged(RpcError(INVALID_REQUEST, "JSON-RPC version is not 2.0"), None, True)
    if batch and not jsonrpc:
        return RpcError(INVALID_REQUEST, "a batch holds JSON-RPC 2.0 requests only")
    tag_key = "id" if jsonrpc else "tag"
    tag = document.get(tag_key)
    if tag is not None and (isinstance(tag, (bool, list, dict)) or (isinstance(tag, str) and len(tag) > 256)):
        return RpcError(INVALID_REQUEST, f"{tag_key} must be a number or a short string")
    method = document.get("method")
    if not isinstance(method, str) or not method or len(method) > 64:
        return _tagged(RpcError(INVALID_REQUEST, "method must be a method name"), tag, jsonrpc)
    args = document.get("params" if jsonrpc else "arguments", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return _tagged(RpcError(INVALID_PARAMS, "arguments must be a JSON object"), tag, jsonrpc)
    raw_names = {}
    canonical_args = {}
    for key, value in args.items():
        name = names.canonical(key)
        raw_names[name] = key
        canonical_args[name] = value
    return Request(
        method=names.canonical(method),
        args=canonical_args,
        jsonrpc=jsonrpc,
        tag=tag,
        has_id=not jsonrpc or tag_key in document,
        raw_names=raw_names,
    )


def _tagged(error: RpcError, tag: Any, jsonrpc: bool) -> RpcError:
    """An error for a request we could read the envelope of: answered in that envelope."""
    error.tag = tag  # type: ignore[attr-defined]
    error.jsonrpc = jsonrpc  # type: ignore[attr-defined]
    return error


# ------------------------------------------------------------------------------------ responses
def success(request: Request, result: dict[str, Any], *, in_torrent: bool = False) -> dict[str, Any]:
    """The success answer; `result` has snake_case keys unless a handler spelled them already."""
    if request.jsonrpc:
        return {"jsonrpc": "2.0", "result": result, "id": request.tag}
    answer: dict[str, Any] = {"result": "success", "arguments": names.to_legacy(result, in_torrent)}
    if request.tag is not None:
        answer["tag"] = request.tag
    return answer


def failure(request: Request | None, error: RpcError, *, jsonrpc: bool | None = None) -> dict[str, Any]:
    """The error answer in the envelope of `request` (or the one `jsonrpc` names)."""
    if request is not None:
        use_jsonrpc = request.jsonrpc
    else:
        use_jsonrpc = getattr(error, "jsonrpc", bool(jsonrpc))
    tag = request.tag if request is not None else getattr(error, "tag", None)
    if use_jsonrpc:
        body: dict[str, Any] = {"code": error.code, "message": _MESSAGES.get(error.code, str(error))}
        if error.detail:
            body["data"] = {"error_string": error.detail}
        return {"jsonrpc": "2.0", "error": body, "id": tag}
    answer: dict[str, Any] = {"result": str(error), "arguments": {}}
    if tag is not None:
        answer["tag"] = tag
    return answer


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


# ------------------------------------------------------------------------------ argument readers
def _spelled(request: Request, name: str) -> str:
    return request.raw_names.get(name, names.legacy_name(name) if not request.jsonrpc else name)


def _bad(request: Request, name: str, what: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"{_spelled(request, name)} must be {what}")


def get_bool(request: Request, name: str, default: bool | None = None) -> bool | None:
    value = request.args.get(name, default)
    if value is default:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # old clients send 0/1 for booleans
        return bool(value)
    raise _bad(request, name, "true or false")


def get_int(request: Request, name: str, default: int | None = None, *, low: int = 0,
            high: int = 2**53) -> int | None:
    value = request.args.get(name, default)
    if value is default:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(request, name, f"a whole number from {low} to {high}")
    return value


def get_number(request: Request, name: str, default: float | None = None, *, low: float = 0.0,
               high: float = 1e12) -> float | None:
    value = request.args.get(name, default)
    if value is default:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise _bad(request, name, f"a number from {low:g} to {high:g}")
    return float(value)


def get_str(request: Request, name: str, default: str | None = None, *,
            limits: Limits = DEFAULT_LIMITS, max_length: int | None = None) -> str | None:
    value = request.args.get(name, default)
    if value is default:
        return default
    longest = limits.max_string if max_length is None else max_length
    if not isinstance(value, str) or len(value) > longest:
        raise _bad(request, name, f"a string of at most {longest} characters")
    if "\x00" in value:
        raise _bad(request, name, "a string without NUL characters")
    return value


def get_int_list(request: Request, name: str, *, limits: Limits = DEFAULT_LIMITS) -> list[int] | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > limits.max_list:
        raise _bad(request, name, f"a list of at most {limits.max_list} indices")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**31 for i in value):
        raise _bad(request, name, "a list of file indices (whole numbers from 0)")
    return value


def get_str_list(request: Request, name: str, *, limits: Limits = DEFAULT_LIMITS,
                 max_items: int | None = None, max_length: int = 256) -> list[str] | None:
    value = request.args.get(name)
    if value is None:
        return None
    most = limits.max_list if max_items is None else max_items
    if not isinstance(value, list) or len(value) > most:
        raise _bad(request, name, f"a list of at most {most} strings")
    if not all(isinstance(s, str) and len(s) <= max_length and "\x00" not in s for s in value):
        raise _bad(request, name, f"a list of strings of at most {max_length} characters")
    return value


RECENTLY_ACTIVE = "recently_active"


@dataclass(frozen=True)
class IdSelection:
    """Which torrents a request names: all of them, the recently active ones, or a list."""

    all: bool = False
    recently_active: bool = False
    ids: tuple[int | str, ...] = ()  # ints and lower-case 40-hex info hashes


def get_ids(request: Request, *, limits: Limits = DEFAULT_LIMITS) -> IdSelection:
    """The `ids` argument: absent (all), an id, a hash, "recently-active", or a list of ids/hashes."""
    if "ids" not in request.args:
        return IdSelection(all=True)
    value = request.args["ids"]
    if isinstance(value, str) and names.canonical(value) == RECENTLY_ACTIVE:
        return IdSelection(recently_active=True)
    items = value if isinstance(value, list) else [value]
    if len(items) > limits.max_ids:
        raise RpcError(INVALID_PARAMS, f"ids names more than {limits.max_ids} torrents")
    return IdSelection(ids=tuple(_one_id(item) for item in items))


def _one_id(item: Any) -> int | str:
    if isinstance(item, bool):
        raise RpcError(INVALID_PARAMS, "ids must be torrent ids (numbers) or info hashes (40 hex digits)")
    if isinstance(item, float) and item.is_integer():
        item = int(item)
    if isinstance(item, int) and 0 <= item < 2**31:
        return item
    if isinstance(item, str) and len(item) == 40:
        try:
            bytes.fromhex(item)
        except ValueError:
            pass
        else:
            return item.lower()
    shown = repr(item) if len(repr(item)) <= 60 else repr(item)[:57] + "..."
    raise RpcError(INVALID_PARAMS, f"not a torrent id or info hash: {shown}")
