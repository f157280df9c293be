"""Datasets from JSON specs: one registry of dataset types, used by the benchmark runner and the CLI.

A dataset spec is an object ``{"type": TYPE, <first argument>: ..., <keyword arguments>...}``:

============== ============================================= ==================
``type``       class                                         first argument
============== ============================================= ==================
``mimic``      :class:`~graphclr.data.MIMICCXRDataset`        ``root``
``chexpert``   :class:`~graphclr.data.CheXpertDataset`        ``root``
``openi``      :class:`~graphclr.data.OpenIDataset`           ``root`` (``NLMCXR_png``)
``manifest``   :class:`~graphclr.data.ManifestDataset`        ``manifest``
``image_folder`` :class:`~graphclr.data.ImageFolderDataset`   ``root``
``synthetic``  the synthetic benchmark's manifest (:mod:`graphclr.synth`) ``root``
============== ============================================= ==================

The other keys are the class's keyword arguments (``split``, ``graphs``, ``pathologies``,
``cache``, ...); an unknown one is an error naming the spec and the accepted keys.

Examples:
    >>> open_dataset({"type": "mri"}, where="dataset.test")
    Traceback (most recent call last):
    ValueError: dataset.test.type must be one of mimic, chexpert, manifest, openi, image_folder, synthetic; got 'mri'
    >>> open_dataset({"type": "manifest"}, where="dataset.test")
    Traceback (most recent call last):
    ValueError: dataset.test: type 'manifest' needs 'manifest'
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DATASET_TYPES", "open_dataset", "open_synthetic"]

#: ``type`` -> (graphclr.data class name, the key holding its first argument)
DATASET_TYPES: dict[str, tuple[str, str]] = {
    "mimic": ("MIMICCXRDataset", "root"),
    "chexpert": ("CheXpertDataset", "root"),
    "manifest": ("ManifestDataset", "manifest"),
    "openi": ("OpenIDataset", "root"),
    "image_folder": ("ImageFolderDataset", "root"),
    "synthetic": ("open_synthetic", "root"),
}


def open_synthetic(root: str | os.PathLike[str], split: str | None = None, **kwargs: Any) -> Any:
    """A built synthetic benchmark (``metadata.json`` + ``manifest.csv``) as a
    :class:`~graphclr.data.ManifestDataset` whose labels are the benchmark's label columns."""
    from graphclr.data.manifest import ManifestDataset

    meta_path = Path(root) / "metadata.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: not found (build the synthetic benchmark first: graphclr synth)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not meta.get("synthetic"):
        raise ValueError(f"{root}: metadata.json does not mark this as synthetic")
    kwargs.setdefault("pathologies", meta["label_columns"])
    return ManifestDataset(root, split=split, **kwargs)


def _factory(kind: str) -> Any:
    import graphclr.data as gdata

    name = DATASET_TYPES[kind][0]
    return open_synthetic if name == "open_synthetic" else getattr(gdata, name)


def open_dataset(section: Mapping[str, Any], *, where: str = "dataset") -> Any:
    """The dataset a spec object describes (see the module doc)."""
    if not isinstance(section, Mapping):
        raise ValueError(f"{where}: expected an object with a 'type'; got {section!r}")
    kw = dict(section)
    kind = kw.pop("type", None)
    if kind not in DATASET_TYPES:
        raise ValueError(f"{where}.type must be one of {', '.join(DATASET_TYPES)}; got {kind!r}")
    first = DATASET_TYPES[kind][1]
    if first not in kw:
        raise ValueError(f"{where}: type {kind!r} needs {first!r}")
    factory = _factory(kind)
    params = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY or n == "split"]
        unknown = sorted(set(kw) - {first} - set(accepted))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown} for type {kind!r}; known: "
                             f"{sorted([first, *accepted])}")
    return factory(kw.pop(first), **kw)
