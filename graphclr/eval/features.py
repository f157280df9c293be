"""Frozen image features, computed once per (model, dataset) and cached.

Every evaluation of the protocol (probes at three label fractions over several seeds,
few-shot, effusion laterality) reuses the same frozen features, so they are computed once
with ``model.encode_image(images, normalize=False)`` (the reference probes the projected,
un-normalised embedding) and kept in a ``.npz`` file beside the results.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FeatureSet", "extract_image_features", "encode_reports"]

log = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    """Image features with their labels and identities.

    Attributes:
        features: ``[N, D]`` float32 embeddings.
        labels: ``[N, L]`` float32 labels (NaN = not given).
        label_names: the ``L`` label names.
        ids: item ids.
        patient_ids: patient id per item (empty strings when unknown).
        report_features: ``[N, D]`` L2-normalised report embeddings of paired items
            (retrieval), or ``None``.
        groups: per item, its report text, lower-cased with whitespace normalised: items
            whose reports read the same (several images of one study, or the many identical
            normal reports) are one retrieval target. ``None`` without reports.
    """

    features: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    ids: list[str]
    patient_ids: list[str]
    report_features: np.ndarray | None = None
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.features)

    def subset(self, indices: Sequence[int] | np.ndarray) -> FeatureSet:
        idx = np.asarray(indices, dtype=np.int64)
        return FeatureSet(self.features[idx], self.labels[idx], list(self.label_names),
                          [self.ids[i] for i in idx], [self.patient_ids[i] for i in idx],
                          None if self.report_features is None else self.report_features[idx],
                          None if self.groups is None else [self.groups[i] for i in idx])

    def select_labels(self, names: Sequence[str]) -> FeatureSet:
        """The same items with label columns ``names`` (in that order)."""
        missing = [n for n in names if n not in self.label_names]
        if missing:
            raise ValueError(f"label(s) {missing} not in this feature set's labels {self.label_names}")
        cols = [self.label_names.index(n) for n in names]
        return FeatureSet(self.features, self.labels[:, cols], list(names), self.ids, self.patient_ids,
                          self.report_features, self.groups)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a ``.npz`` atomically."""
        from graphclr.utils import atomic_write

        path = Path(path)
        meta = {"label_names": self.label_names, "ids": self.ids, "patient_ids": self.patient_ids,
                "groups": self.groups}
        arrays = {"features": self.features, "labels": self.labels,
                  "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
        if self.report_features is not None:
            arrays["report_features"] = self.report_features
        with atomic_write(path, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureSet:
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            rep = z["report_features"] if "report_features" in z.files else None
            return cls(z["features"], z["labels"], meta["label_names"], meta["ids"], meta["patient_ids"],
                       rep, meta.get("groups"))


def _loader(dataset: Any, batch_size: int, num_workers: int) -> Any:
    from torch.utils.data import DataLoader

    from graphclr.data import collate_items

    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate_items, persistent_workers=False)


def extract_image_features(model: Any, dataset: Any, *, batch_size: int = 64, num_workers: int = 0,
                           device: str = "cpu", label_names: Sequence[str] | None = None,
                           with_reports: bool = False, progress: bool = True,
                           desc: str = "features") -> FeatureSet:
    """Encode every image of ``dataset`` with the frozen ``model``.

    Args:
        model: any model with ``encode_image(images, normalize=False)``.
        dataset: a graphclr dataset whose ``transform`` is the model's eval transform.
        batch_size, num_workers: data loading.
        device: where the model runs.
        label_names: the label columns to keep (default: all of ``dataset.pathologies``).
        with_reports: also embed each item's report (``model.report_key`` field, through
            ``model.report_processor``; items with report text only, as from a text-only
            manifest, through :func:`graphclr.get_report_processor`, which extracts a graph
            model's graphs with the built-in extractor) for retrieval; ``groups`` then holds the report
            texts, so identical reports count as one retrieval target.
        progress: show a tqdm bar.
        desc: the bar's label.
    """
    import torch
    from tqdm.auto import tqdm

    from graphclr.data.base import report_key_of
    from graphclr.device import move_batch

    names = list(dataset.pathologies)
    cols = [names.index(n) for n in label_names] if label_names is not None else list(range(len(names)))
    was_training = model.training
    model.eval()
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    ids: list[str] = []
    patients: list[str] = []
    reps: list[np.ndarray] = []
    groups: list[str] = []
    key = report_key_of(model)
    try:
        with torch.no_grad():
            for batch in tqdm(_loader(dataset, batch_size, num_workers), desc=desc, disable=not progress,
                              leave=False):
                emb = model.encode_image(batch["image"].to(device), normalize=False)
                feats.append(emb.float().cpu().numpy())
                labels.append(batch["labels"].numpy()[:, cols])
                ids.extend(str(i) for i in batch["id"])
                patients.extend(str(p) for p in batch.get("patient_id", [""] * len(batch["id"])))
                if with_reports:
                    if key not in batch and "text" not in batch:
                        raise ValueError(f"with_reports=True needs paired items with a {key!r} field "
                                         f"or report text; this dataset's items have {sorted(batch)}")
                    if key in batch:
                        reports = batch[key]
                        rb = move_batch(model.report_processor(list(reports)), device)
                    else:   # report text only (a text-only manifest): graphs extracted on the fly
                        from graphclr.models.raw_reports import get_report_processor

                        reports = list(batch["text"])
                        rb = move_batch(get_report_processor(model)(reports), device)
                    reps.append(model.encode_report(rb, normalize=True).float().cpu().numpy())
                    texts = batch.get("text") or [getattr(r, "text", str(r)) for r in reports]
                    groups.extend(" ".join(str(t).lower().split()) for t in texts)
    finally:
        model.train(was_training)
    dim = feats[0].shape[1] if feats else 0
    return FeatureSet(np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
                      np.concatenate(labels).astype(np.float32) if labels else np.zeros((0, len(cols)), np.float32),
                      [names[c] for c in cols], ids, patients,
                      np.concatenate(reps) if reps else None, groups if with_reports else None)


def encode_reports(model: Any, reports: Sequence[Any], *, batch_size: int = 64, device: str = "cpu",
                   normalize: bool = True) -> np.ndarray:
    """Embed reports (``ReportGraph`` or text, whatever ``model.report_processor`` takes).

    Returns ``[N, D]`` float32; L2-normalised unless ``normalize=False``.
    """
    import torch

    from graphclr.device import move_batch

    was_training = model.training
    model.eval()
    out: list[np.ndarray] = []
    try:
        with torch.no_grad():
            for start in range(0, len(reports), batch_size):
                batch = model.report_processor(list(reports[start:start + batch_size]))
                emb = model.encode_report(move_batch(batch, device), normalize=normalize)
                out.append(emb.float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
