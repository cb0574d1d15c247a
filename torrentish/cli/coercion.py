"""Convert the common parameter values (str, int, bool, Path, list[str]) without pydantic.

typer 0.29 converts every parameter value through a pydantic TypeAdapter, built on the first
conversion of each parameter; importing pydantic and building the adapters costs about 0.1 s of
CPU on every run of every command (bench/README.md, "Start-up time"), before a transfer moves a
byte. Most of our values are plain: a str stays the str, "6881" becomes 6881, a Path argument
becomes a Path. `use_plain_conversions` gives each such parameter a converter that does exactly
that, and hands every value it is not sure about (" 5", "1_000", a bool given as text, an int
out of its range, a float) to typer's own pydantic conversion, so results and error messages are
typer's in every case; tests/test_startup_imports.py checks the two agree.

It relies on typer internals (typer.core.build_runtime_param, typer._coercion): with another
typer version, where they are missing, it does nothing and typer converts as usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer.core

try:
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    from typer._param_types import coerce_cli_path
except ImportError:  # another typer: its own conversion, no pydantic in it or no way around it
    RuntimeParam = None  # type: ignore[assignment,misc]

# "Not sure": let typer (pydantic) convert this value.
UNSURE: Any = object()
# Decimal integers that int() and pydantic read alike (pydantic also takes " 5", "+5", "1_000",
# "1.0"; those go to pydantic). 18 digits stay far below any digit limit.
_PLAIN_INT = re.compile(r"-?[0-9]{1,18}")

Converter = Callable[[Any, Any, Any], Any]  # (value, param, ctx) -> result or UNSURE


def _to_str(value: Any, param: Any, ctx: Any) -> Any:
    return value if type(value) is str else UNSURE


def _to_int(value: Any, param: Any, ctx: Any) -> Any:
    if type(value) is int:
        return value
    if type(value) is str and _PLAIN_INT.fullmatch(value):
        return int(value)
    return UNSURE


def _bounded_int(low: int | None, high: int | None) -> Converter:
    """An int in [low, high] converted plainly; one outside goes to typer, for its error."""

    def to_int(value: Any, param: Any, ctx: Any) -> Any:
        number = _to_int(value, param, ctx)
        if number is UNSURE or (low is not None and number < low) or (high is not None and number > high):
            return UNSURE
        return number

    return to_int


def _to_bool(value: Any, param: Any, ctx: Any) -> Any:
    return value if type(value) is bool else UNSURE


def _to_str_list(value: Any, param: Any, ctx: Any) -> Any:
    if isinstance(value, (list, tuple)) and all(type(item) is str for item in value):
        return list(value)
    return UNSURE


def _path_converter(path_type: type[Path], descriptor: Any) -> Converter:
    info = descriptor.parameter_info

    def to_path(value: Any, param: Any, ctx: Any) -> Any:
        if type(value) is str:
            path = path_type(value)  # what pydantic makes of it
            if str(path) != value:  # "", "a//b/", "./x": typer checks the text, not the Path
                return UNSURE
        elif isinstance(value, path_type):  # a default
            path = value
        else:
            return UNSURE
        try:  # the checks typer runs on the Path (exists, file or directory, ...): its messages
            return coerce_cli_path(path, info, path_type=path_type, param=param, ctx=ctx)
        except ValueError:  # a NUL or a lone surrogate: pydantic turns it into a usage error
            return UNSURE

    return to_path


def _converter(descriptor: Any) -> Converter | None:
    """The plain converter for a parameter's type, or None: typer converts it."""
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or getattr(info, "parser", None) is not None:
        return None
    annotation = descriptor.annotation
    if annotation is str:
        return _to_str
    if annotation is int:
        if info.min is None and info.max is None:
            return _to_int
        return None if info.clamp else _bounded_int(info.min, info.max)
    if annotation is bool:
        return _to_bool
    if annotation == list[str]:
        return _to_str_list
    if isinstance(annotation, type) and issubclass(annotation, Path):
        if info.path_type is not None or info.allow_dash:
            return None  # "-" and path_type=str/bytes take other routes in typer
        return _path_converter(annotation, descriptor)
    return None


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):  # type: ignore[misc,valid-type]
        """typer's runtime conversion of one parameter, plain where possible (typer's
        RuntimeParam.coerce deals with None and multi-value checks, then calls _coerce_value)."""

        descriptor: TypeDescriptor
        convert: Converter

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            result = self.convert(value, param, ctx)
            if result is UNSURE:  # rare (odd input): typer's conversion, built for this value
                return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)
            return result


def plain_or_typer_runtime_param(descriptor: Any) -> Any:
    """The runtime conversion typer builds (lazily, on its first value) for a parameter."""
    convert = _converter(descriptor)
    if convert is None:
        return build_runtime_param(descriptor)
    return PlainRuntimeParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                             descriptor=descriptor, convert=convert)


def use_plain_conversions() -> None:
    """Make typer build plain conversions where a parameter's type has one (idempotent).

    It replaces the builder typer.core calls when a parameter converts its first value, rather
    than walking our commands, because typer makes some parameters (each command's --help) only
    while it parses. Only types listed in `_converter` are affected, with typer's result for each
    value, so another typer app in the same process (a test's) is converted as before."""
    if RuntimeParam is None or not hasattr(typer.core, "build_runtime_param"):
        return
    typer.core.build_runtime_param = plain_or_typer_runtime_param
