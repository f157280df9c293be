"""Reading configuration dataclasses from JSON-like dicts, strictly: graphclr's one reader.

Every config dataclass (``GraphEncoderCfg``, ``ImageEncoderCfg``, ``ModelCfg``,
``TextTowerCfg``, ...) is read with :func:`dataclass_from_dict`. An unknown field, a field
of the wrong scalar type (``"width": "8"``, ``"freeze": 1``) or a value its ``__post_init__``
rejects is an error that names where the config came from and the field; a typo never
falls back to a default silently.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["dataclass_from_dict"]

_SCALARS = (bool, int, float, str)


def _accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` fits a scalar annotation (``int``, ``float | None``, ...).

    Non-scalar annotations (lists, dicts, classes) are left to the dataclass itself.
    """
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        return any(_accepts(a, value) for a in args) if all(
            a is type(None) or a in _SCALARS for a in args) else True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def dataclass_from_dict(cls: type[T], data: dict[str, Any], where: str) -> T:
    """``cls(**data)``, but an unknown or mistyped field is an error naming ``where``.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Cfg:
        ...     width: int = 4
        >>> dataclass_from_dict(Cfg, {"widht": 8}, "my.json: cfg")
        Traceback (most recent call last):
        ValueError: my.json: cfg: unknown field(s) ['widht']; known: ['width']
        >>> dataclass_from_dict(Cfg, {"width": "8"}, "my.json: cfg")
        Traceback (most recent call last):
        ValueError: my.json: cfg: field 'width' must be int; got '8'
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(names)}")
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: no type check
        hints = {}
    for key, value in data.items():
        hint = hints.get(key, Any)
        if not _accepts(hint, value):
            shown = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            raise ValueError(f"{where}: field {key!r} must be {shown}; got {value!r}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from None
