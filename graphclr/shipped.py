"""JSON files shipped inside the package (model configs, prompt sets, benchmark specs,
example data), and graphclr's one JSON file reader.

A shipped file is addressed by its folder under ``graphclr/`` and its stem
(``shipped_json("model_configs", "tiny")``); a user's file by its path. Errors name the
file and the line, or the shipped names that exist.

Examples:
    >>> "tiny" in shipped_names("model_configs")
    True
    >>> find_json("tiny", "model_configs").name
    'tiny.json'
    >>> find_json("no-such", "model_configs", what="model config")
    Traceback (most recent call last):
    FileNotFoundError: no model config 'no-such' (not a file, and not one of the shipped: ...)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["PACKAGE_DIR", "shipped_dir", "shipped_names", "looks_like_path", "find_json", "read_json"]

PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(folder: str) -> Path:
    """The folder ``graphclr/<folder>`` (``"model_configs"``, ``"eval/prompts"``, ...)."""
    return PACKAGE_DIR / folder


def shipped_names(folder: str) -> list[str]:
    """The stems of the ``*.json`` files shipped in ``graphclr/<folder>``, sorted."""
    return sorted(p.stem for p in shipped_dir(folder).glob("*.json"))


def looks_like_path(name: str | os.PathLike[str]) -> bool:
    """A path rather than a shipped name: ends in ``.json`` or holds a path separator."""
    text = os.fspath(name)
    return text.endswith(".json") or os.path.sep in text or (os.path.altsep or os.path.sep) in text


def find_json(name_or_path: str | os.PathLike[str], folder: str, *, what: str = "file") -> Path:
    """A user's JSON file by path, else the shipped ``graphclr/<folder>/<name>.json``.

    An existing file wins; a name that is neither is a ``FileNotFoundError`` listing the
    shipped names.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_dir(folder) / f"{os.fspath(name_or_path)}.json"
    if not looks_like_path(name_or_path) and shipped.is_file():
        return shipped
    raise FileNotFoundError(f"no {what} {os.fspath(name_or_path)!r} (not a file, and not one of the "
                            f"shipped: {', '.join(shipped_names(folder))})")


def read_json(path: str | os.PathLike[str]) -> Any:
    """The parsed JSON of ``path``; invalid JSON is a ``ValueError`` naming file and line."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file ({err.reason})") from None
