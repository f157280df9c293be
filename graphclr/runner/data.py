"""The data a benchmark runs on: a paired pretraining set and labelled evaluation splits.

A spec's ``dataset`` section takes one of three forms:

``{"kind": "synthetic", "n": 4000, "size": 64, "seed": 0}``
    the synthetic paired benchmark rendered from the real Open-i reports
    (:mod:`graphclr.synth`), built on first use into ``OUT/data`` (resumable);
``{"kind": "manifest", "manifest": "pairs.csv", "graphs": "graphs.json"}``
    your own paired data as a CSV manifest (:class:`graphclr.data.ManifestDataset`) with a
    ``split`` column (``train``/``val``/``test``): pretraining and probe training use the
    train split, epoch selection the val split, and scores come from the test split;
``{"kind": "datasets", "pretrain": {...}, "probe_train": {...}, "probe_val": {...}, "test": {...}}``
    separate datasets, each a dataset spec opened by :func:`graphclr.data.open_dataset`
    (``{"type": "mimic"|"chexpert"|"manifest"|"openi"|"image_folder"|"synthetic", ...}``; the
    real protocol: pretrain on MIMIC-CXR-JPG + RadGraph, evaluate on CheXpert).

``graphclr eval`` reads the same sections with ``pretraining=False`` (no pretraining set
needed; ``pretrain`` may be left out of the ``datasets`` form).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphclr.data.specs import DATASET_TYPES, open_dataset, open_synthetic

__all__ = ["BenchmarkData", "prepare_data", "DATASET_TYPES"]

log = logging.getLogger(__name__)

_SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validate", "validation"), "test": ("test",)}


@dataclass
class BenchmarkData:
    """The datasets of one benchmark run (all following the graphclr dataset contract)."""

    pretrain: Any
    probe_train: Any
    probe_val: Any | None
    test: Any
    synthetic: bool
    description: str
    info: dict[str, Any] = field(default_factory=dict)

    def eval_sets(self) -> dict[str, Any]:
        out = {"train": self.probe_train, "test": self.test}
        if self.probe_val is not None:
            out["val"] = self.probe_val
        return out


def _check_labels(datasets: Mapping[str, Any], labels: Sequence[str]) -> None:
    for name, ds in datasets.items():
        if ds is None:
            continue
        missing = [lab for lab in labels if lab not in ds.pathologies]
        if missing:
            raise ValueError(f"dataset {name!r} has no label column(s) {missing}; it has {list(ds.pathologies)}. "
                             "Set the spec's 'labels' (graphclr eval: --labels) to labels your data has.")


def _split(table_split: Any, which: str) -> Any:
    return table_split.isin(_SPLIT_NAMES[which])


def _manifest_splits(manifest: str, kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    from graphclr.data import ManifestDataset

    full = ManifestDataset(manifest, **kwargs)
    if "split" not in full.csv.columns:
        raise ValueError(f"{manifest}: a benchmark manifest needs a 'split' column (train/val/test)")
    values = set(full.csv["split"].astype(str))
    known = {v for names in _SPLIT_NAMES.values() for v in names}
    if values - known:
        raise ValueError(f"{manifest}: column 'split' has value(s) {sorted(values - known)}; use train, val, test")
    parts = []
    for which in ("train", "val", "test"):
        name = next((v for v in _SPLIT_NAMES[which] if v in values), None)
        if name is None:
            if which == "val":
                parts.append(None)
                continue
            raise ValueError(f"{manifest}: no {which!r} rows in column 'split'")
        parts.append(ManifestDataset(manifest, split=name, **kwargs))
    return parts[0], parts[1], parts[2]


def _report_items(meta: Mapping[str, Any]) -> int:
    """Images of a synthetic build drawn from its reports (not the pretraining-only pairs)."""
    return int(meta.get("num_items", 0)) - int(meta.get("split_counts", {}).get("pretrain", 0))


def _built_synthetic(root: Path, section: Mapping[str, Any]) -> dict[str, Any] | None:
    """The metadata of an already complete build with these settings, else ``None``.

    Saves re-running the extractor over every Open-i report when a run resumes (the
    builder itself would re-extract before finding that every image exists).
    """
    import json

    meta_path = root / "metadata.json"
    if not meta_path.is_file() or not (root / "manifest.csv").is_file():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    same = (meta.get("size") == int(section.get("size", 64)) and meta.get("seed") == int(section.get("seed", 0))
            and (section.get("n") is None or _report_items(meta) == int(section["n"]))
            and meta.get("backgrounds") is None
            and list(meta.get("train_counterfactuals", [])) == list(section.get("train_counterfactuals", [])))
    if not same:
        return None
    images = root / "images"
    if not images.is_dir() or sum(1 for _ in images.glob("*.png")) < int(meta.get("num_items", 0)):
        return None
    return meta


def prepare_data(section: Mapping[str, Any], out_dir: str | Path, labels: Sequence[str], *,
                 progress: bool = True, pretraining: bool = True) -> BenchmarkData:
    """Build (synthetic) or open the datasets of a spec's ``dataset`` section.

    ``pretraining=False``: only the evaluation splits are needed (``graphclr eval``).
    """
    kind = section.get("kind")
    out_dir = Path(out_dir)
    if kind == "synthetic":
        from graphclr.synth import build_synthetic_benchmark

        root = Path(section.get("root") or out_dir / "data")
        meta = _built_synthetic(root, section)
        if meta is None:
            meta = build_synthetic_benchmark(root, n=section.get("n"), size=int(section.get("size", 64)),
                                             seed=int(section.get("seed", 0)),
                                             workers=int(section.get("workers", 1)), progress=progress,
                                             train_counterfactuals=list(section.get("train_counterfactuals", [])))
        train, val, test = (open_synthetic(root, split=s) for s in ("train", "val", "test"))
        # counterfactual pairs of training reports (split "pretrain") are pretrained on, never probed
        pretrain = open_synthetic(root, split=("train", "pretrain")) if meta.get("train_counterfactuals") else train
        desc = (f"synthetic images ({meta['size']} px) rendered by graphclr.synth from the graphs of "
                f"{meta['num_reports']} real Open-i reports; {_report_items(meta)} images")
        if meta.get("train_counterfactuals"):
            desc += (f", plus {len(pretrain) - len(train)} pretraining-only images: both versions of one "
                     f"counterfactual pair ({', '.join(meta['train_counterfactuals'])}) per training report")
        data = BenchmarkData(pretrain, train, val, test, True, desc,
                             {"root": str(root), "synthetic_metadata": {k: meta[k] for k in
                              ("name", "notice", "seed", "size", "num_items", "num_reports", "split_counts",
                               "label_counts", "renderer_version", "train_counterfactuals") if k in meta}})
    elif kind == "manifest":
        kw = {k: v for k, v in section.items() if k not in ("kind", "manifest", "synthetic", "description")}
        train, val, test = _manifest_splits(section["manifest"], kw)
        desc = section.get("description") or f"manifest {section['manifest']}"
        data = BenchmarkData(train, train, val, test, bool(section.get("synthetic", False)), desc)
    elif kind == "datasets":
        parts = {}
        for name in ("pretrain", "probe_train", "probe_val", "test"):
            if name not in section or (name == "pretrain" and not pretraining):
                if name == "probe_val" or not pretraining:
                    parts[name] = None
                    continue
                raise ValueError(f"dataset.{name} is missing (kind 'datasets' needs pretrain, probe_train, test)")
            parts[name] = open_dataset(section[name], where=f"dataset.{name}")
        desc = section.get("description") or ", ".join(
            f"{n}: {section[n].get('type')}" for n in ("pretrain", "probe_train", "probe_val", "test") if n in section)
        data = BenchmarkData(parts["pretrain"], parts["probe_train"], parts["probe_val"], parts["test"],
                             bool(section.get("synthetic", False)), desc)
    else:
        raise ValueError(f"dataset.kind must be 'synthetic', 'manifest' or 'datasets'; got {kind!r}")
    if pretraining and not getattr(data.pretrain, "paired", True):
        raise ValueError("the pretraining dataset has no reports (graphs/text): pretraining needs pairs")
    _check_labels(data.eval_sets(), labels)
    data.info.update({"n_pretrain": len(data.pretrain) if data.pretrain is not None else 0,
                      "n_train": len(data.probe_train),
                      "n_val": len(data.probe_val) if data.probe_val is not None else 0,
                      "n_test": len(data.test)})
    return data
