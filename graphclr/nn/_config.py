"""Reading configuration dataclasses from JSON-like dicts, strictly."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], data: dict[str, Any], where: str) -> T:
    """``cls(**data)``, but an unknown or mistyped field is an error naming ``where``.

    A typo must never fall back to a default silently.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Cfg:
        ...     width: int = 4
        >>> dataclass_from_dict(Cfg, {"widht": 8}, "my.json: cfg")
        Traceback (most recent call last):
        ValueError: my.json: cfg: unknown field(s) ['widht']; known: ['width']
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(names)}")
    try:
        return cls(**data)
    except TypeError as err:
        raise ValueError(f"{where}: {err}") from None
