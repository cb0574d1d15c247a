import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.formats.units import format_duration, format_rate, format_size, parse_rate, parse_size


@pytest.mark.parametrize(
    "text, expected",
    [
        ("16KiB", 16384),
        ("2MiB", 2 * 1024**2),
        ("1.5GB", 1_500_000_000),
        ("512k", 512 * 1024),
        ("512K", 512 * 1024),
        ("1048576", 1048576),
        ("0", 0),
        ("100B", 100),
        ("1.5 KiB", 1536),
        (" 4 mib ", 4 * 1024**2),
        ("2G", 2 * 1024**3),
        ("1TB", 10**12),
        ("500kB", 500_000),
        (".5KiB", 512),
        ("1.", 1),
        ("0.0004KB", 0),
        ("0.0006KB", 1),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1", "1..5MiB", "1 XB", "MiB", "1e6", "1,5MiB", "2MiB/s"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="size|unit"):
        parse_size(text)


def test_parse_size_rejects_non_text():
    with pytest.raises(ValueError):
        parse_size(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2MiB/s", 2 * 1024**2),
        ("500KB/s", 500_000),
        ("0", 0),
        ("unlimited", 0),
        ("512k", 512 * 1024),
        ("100kbps", 100_000),
        ("1MiB/sec", 1024**2),
    ],
)
def test_parse_rate(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "fast", "-5MiB/s", "5MiB/h", "/s"])
def test_parse_rate_rejects(text):
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate(text)


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (int(1.5 * 1024**3), "1.5 GiB"),
        (1024**2 - 1, "1.0 MiB"),  # would round to "1024.0 KiB"
        (1024**6, "1024.0 PiB"),
        (-2048, "-2.0 KiB"),
    ],
)
def test_format_size(n, expected):
    assert format_size(n) == expected


def test_format_rate():
    assert format_rate(2 * 1024**2) == "2.0 MiB/s"
    assert format_rate(0) == "0 B/s"
    assert format_rate(1500.7) == "1.5 KiB/s"


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (0, "0s"),
        (12, "12s"),
        (12.4, "12s"),
        (59.6, "1m00s"),
        (185, "3m05s"),
        (3725, "1h02m"),
        (86400 * 2 + 3600 * 3, "2d03h"),
        (-3, "0s"),
        (None, "--"),
        (float("inf"), "--"),
        (float("nan"), "--"),
    ],
)
def test_format_duration(seconds, expected):
    assert format_duration(seconds) == expected


@settings(max_examples=300)
@given(st.integers(0, 2**50))
def test_format_then_parse_is_close(n):
    """What we print parses back to within the rounding of one decimal place of the unit."""
    text = format_size(n)
    unit = parse_size("1" + text.split()[1])
    assert abs(parse_size(text) - n) <= unit * 0.05 + 0.5


@settings(max_examples=300)
@given(st.text(max_size=12))
def test_parse_random_text_only_value_error(text):
    for parse in (parse_size, parse_rate):
        try:
            value = parse(text)
        except ValueError:
            continue
        assert isinstance(value, int) and value >= 0
