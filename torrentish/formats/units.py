"""Human sizes, rates and durations, both ways.

Parsing conventions (the ones aria2c, mktorrent and most clients' settings use):

- IEC suffixes are binary: ``KiB`` ... ``PiB`` (1024-based).
- SI suffixes spelled with a ``B`` are decimal: ``kB``/``KB``, ``MB``, ``GB``, ``TB``, ``PB`` (1000-based).
- A bare letter is binary, as in aria2c's ``--max-download-limit=512K``: ``k``, ``M``, ``G``, ``T``.
- No suffix (or ``B``) means bytes. Letters are case-insensitive; fractions are allowed
  (``1.5GB``) and the result is rounded to whole bytes.

Formatting always uses binary units with one decimal: ``format_size(1536) == "1.5 KiB"``.
Bad input raises ``ValueError`` with a message naming the offending text; the CLI reports it as a
usage error.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_MULTIPLIERS: dict[str, int] = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtp", start=1):
    _MULTIPLIERS[_letter] = 1024**_power
    _MULTIPLIERS[_letter + "ib"] = 1024**_power
    _MULTIPLIERS[_letter + "b"] = 1000**_power

_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)
_RATE_SUFFIXES = ("/s", "ps", "/sec")
_UNLIMITED = {"0", "unlimited", "none", "inf"}
_FORMAT_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def parse_size(text: str) -> int:
    """``"16KiB"`` -> 16384, ``"1.5GB"`` -> 1500000000, ``"512k"`` -> 524288, ``"42"`` -> 42."""
    if not isinstance(text, str):
        raise ValueError(f"size must be text, not {type(text).__name__}")
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (try 16KiB, 2MiB, 1.5GB or a number of bytes)")
    number, suffix = match.groups()
    multiplier = _MULTIPLIERS.get(suffix.lower())
    if multiplier is None:
        raise ValueError(f"unknown size unit {suffix!r} in {text!r} (use B, KiB, MiB, GiB, KB, MB, GB)")
    try:
        value = Decimal(number) * multiplier
    except InvalidOperation:  # pragma: no cover - the regex only admits valid decimals
        raise ValueError(f"not a size: {text!r}") from None
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def parse_rate(text: str) -> int:
    """Bytes per second: ``"2MiB/s"`` -> 2097152, ``"500KB/s"`` -> 500000; 0 means unlimited."""
    if not isinstance(text, str):
        raise ValueError(f"rate must be text, not {type(text).__name__}")
    stripped = text.strip()
    if stripped.lower() in _UNLIMITED:
        return 0
    body = stripped
    for suffix in _RATE_SUFFIXES:
        if body.lower().endswith(suffix):
            body = body[: -len(suffix)]
            break
    try:
        return parse_size(body)
    except ValueError:
        raise ValueError(
            f"not a rate: {text!r} (try 2MiB/s, 500KB/s, 512k, or 0 for unlimited)"
        ) from None


def format_size(n: int | float) -> str:
    """``1536`` -> ``"1.5 KiB"``; below 1 KiB the exact count: ``"512 B"``."""
    if n < 0:
        return "-" + format_size(-n)
    if n < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in _FORMAT_UNITS[1:]:
        value /= 1024
        # Move up a unit when rounding would print "1024.0 KiB".
        if round(value, 1) < 1024 or unit == _FORMAT_UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_rate(bytes_per_second: int | float) -> str:
    """``2097152`` -> ``"2.0 MiB/s"``."""
    return format_size(bytes_per_second) + "/s"


def format_duration(seconds: int | float | None) -> str:
    """``3725`` -> ``"1h02m"``, ``185`` -> ``"3m05s"``, ``12`` -> ``"12s"``, ``2 days`` -> ``"2d00h"``.

    Unknown durations (``None``, infinity, NaN) give ``"--"``; negative ones (clock jitter in an ETA)
    count as zero.
    """
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "--"
    total = max(0, int(round(seconds)))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
