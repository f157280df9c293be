"""MIMIC-CXR-JPG 2.x images paired with RadGraph 1.0 (or extractor) report graphs.

Released layout (PhysioNet ``mimic-cxr-jpg/2.0.0`` and ``2.1.0``)::

    ROOT/
      mimic-cxr-2.0.0-metadata.csv.gz   dicom_id, subject_id, study_id, ViewPosition, ...
      mimic-cxr-2.0.0-split.csv.gz      dicom_id, study_id, subject_id, split (train/validate/test)
      mimic-cxr-2.0.0-chexpert.csv.gz   subject_id, study_id, 14 CheXpert labels (1/0/-1/blank)
      mimic-cxr-2.0.0-negbio.csv.gz     same columns, NegBio labeller
      files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg

Uncompressed ``.csv`` files are accepted too. Report graphs come from RadGraph 1.0's
``MIMIC-CXR_graphs.json`` (keys ``p18/p18004941/s58821758.txt``) or from any source whose
keys name the study (``s58821758``, ``58821758``), e.g. ``graphclr.reports.extract`` run over the
MIMIC-CXR report tree. Every image of a study shares its study's graph, as in IGCL.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphclr.data.base import CXRDataset, map_uncertain
from graphclr.data.graphsource import GraphInput, GraphLookup
from graphclr.data.label_table import CHEXPERT_LABELS, parse_label_columns

__all__ = ["MIMICCXRDataset", "mimic_image_path", "mimic_study_key", "find_mimic_file",
           "FRONTAL_VIEWS"]

log = logging.getLogger(__name__)

#: ``ViewPosition`` values treated as frontal
FRONTAL_VIEWS: tuple[str, ...] = ("PA", "AP")

_STUDY = re.compile(r"(?:^|[/_\\])s(\d+)(?:\.txt)?$|^(\d+)$")


def mimic_image_path(subject_id: int | str, study_id: int | str, dicom_id: str) -> str:
    """The released relative path of one image.

    Examples:
        >>> mimic_image_path(10000032, 50414267, "02aa804e")
        'files/p10/p10000032/s50414267/02aa804e.jpg'
    """
    subject = str(int(subject_id))
    return f"files/p{subject[:2]}/p{subject}/s{int(study_id)}/{dicom_id}.jpg"


def mimic_study_key(key: str) -> str | None:
    """A report key's study id as digits (``None`` if the key names no study).

    Examples:
        >>> mimic_study_key("p18/p18004941/s58821758.txt"), mimic_study_key("s58821758")
        ('58821758', '58821758')
        >>> mimic_study_key("58821758"), mimic_study_key("CXR12") is None
        ('58821758', True)
    """
    m = _STUDY.search(key.strip())
    if not m:
        return None
    return str(int(m.group(1) or m.group(2)))


def find_mimic_file(root: str | os.PathLike[str], kind: str) -> Path | None:
    """``ROOT/mimic-cxr-<version>-<kind>.csv[.gz]`` (newest version first), or ``None``."""
    root = Path(root)
    found = sorted(root.glob(f"mimic-cxr-*-{kind}.csv.gz")) + sorted(root.glob(f"mimic-cxr-*-{kind}.csv"))
    if not found:
        return None
    return sorted(found, key=lambda p: p.name, reverse=True)[0]


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (found {list(frame.columns)[:12]})")
    return frame


class MIMICCXRDataset(CXRDataset):
    """MIMIC-CXR-JPG images with CheXpert/NegBio labels and (optionally) report graphs.

    Args:
        root: the MIMIC-CXR-JPG directory (with ``files/`` and the CSV files).
        split: ``"train"``, ``"validate"``, ``"test"`` or ``None`` (all), from the split file.
        views: ``ViewPosition`` values to keep; default frontal (PA, AP); ``None`` keeps all.
        labels: ``"chexpert"``, ``"negbio"`` or ``None`` (no label file read; all NaN).
        graphs: RadGraph JSON path, a mapping ``key -> ReportGraph`` / raw record, or
            graphs (e.g. extractor output) whose ids name the study. When given, the dataset
            is paired and images whose study has no graph are left out (counted in
            :attr:`num_without_graph`: RadGraph covers 220,763 of 227,835 reports).
        uncertain: how ``-1`` labels map (see :data:`~graphclr.data.base.LABEL_UNCERTAIN_POLICIES`).
        pathologies: label columns to use (default: the 14 CheXpert labels).
        metadata_csv / split_csv / labels_csv: explicit file paths overriding the search in root.
        labeler: for RadGraph test-set style records, which annotation to read.
        transform, strict, decode_size, cache: see :class:`~graphclr.data.base.CXRDataset`.

    Examples:
        See ``docs/datasets/mimic-cxr.md``; the tests build a fixture tree in this layout.
    """

    def __init__(self, root: str | os.PathLike[str], *, split: str | None = None,
                 views: Sequence[str] | None = FRONTAL_VIEWS, labels: str | None = "chexpert",
                 graphs: GraphInput | None = None, uncertain: str = "nan",
                 pathologies: Sequence[str] | None = None,
                 metadata_csv: str | os.PathLike[str] | None = None,
                 split_csv: str | os.PathLike[str] | None = None,
                 labels_csv: str | os.PathLike[str] | None = None,
                 labeler: str | None = None,
                 transform: Callable[[Any], Any] | None = None, strict: bool = True,
                 decode_size: int | None = None, cache: str | os.PathLike[str] | None = None) -> None:
        super().__init__(transform=transform, strict=strict, decode_size=decode_size, cache=cache)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: MIMIC-CXR-JPG directory not found")
        if split not in (None, "train", "validate", "test"):
            raise ValueError(f"split must be 'train', 'validate', 'test' or None, got {split!r}")
        if labels not in (None, "chexpert", "negbio"):
            raise ValueError(f"labels must be 'chexpert', 'negbio' or None, got {labels!r}")
        self.pathologies = list(pathologies or CHEXPERT_LABELS)

        meta_path = Path(metadata_csv) if metadata_csv else find_mimic_file(self.root, "metadata")
        if meta_path is None or not meta_path.is_file():
            raise FileNotFoundError(f"{self.root}: no mimic-cxr-*-metadata.csv[.gz] "
                                    "(the MIMIC-CXR-JPG metadata file)")
        meta = _read_csv(meta_path, ["dicom_id", "subject_id", "study_id", "ViewPosition"])
        self.metadata_csv = meta_path
        self.num_images_total = len(meta)

        split_path = Path(split_csv) if split_csv else find_mimic_file(self.root, "split")
        if split_path is not None and split_path.is_file():
            sp = _read_csv(split_path, ["dicom_id", "split"])[["dicom_id", "split"]]
            meta = meta.merge(sp, on="dicom_id", how="left")
        elif split is not None:
            raise FileNotFoundError(f"{self.root}: split={split!r} needs mimic-cxr-*-split.csv[.gz]")
        else:
            meta["split"] = np.nan
        self.split = split
        if split is not None:
            meta = meta[meta["split"] == split]
        self.views = tuple(views) if views is not None else None
        if self.views is not None:
            meta = meta[meta["ViewPosition"].isin(self.views)]

        # labels: one row per study
        lab = np.full((len(meta), len(self.pathologies)), np.nan, dtype=np.float32)
        self.labels_csv = None
        if labels is not None:
            lab_path = Path(labels_csv) if labels_csv else find_mimic_file(self.root, labels)
            if lab_path is None or not lab_path.is_file():
                raise FileNotFoundError(f"{self.root}: labels={labels!r} needs "
                                        f"mimic-cxr-*-{labels}.csv[.gz]")
            self.labels_csv = lab_path
            table = _read_csv(lab_path, ["study_id"])
            values, bad = parse_label_columns(table, self.pathologies)
            bad_studies: set[int] = set()
            for b in bad:
                self._problem("bad_label", b.where(str(lab_path)),
                              f"value {b.value!r} is not 1, 0, -1 or blank")
                bad_studies.add(int(table["study_id"].iat[b.line - 2]))
            pos = {int(s): i for i, s in enumerate(table["study_id"].to_numpy())}
            rows = meta["study_id"].map(lambda s: pos.get(int(s), -1)).to_numpy()
            have = rows >= 0
            lab[have] = values[rows[have]]
            keep = ~meta["study_id"].isin(bad_studies).to_numpy()
            meta, lab = meta[keep], lab[keep]

        meta = meta.copy()
        meta["path"] = [mimic_image_path(s, t, d) for s, t, d in
                        zip(meta["subject_id"], meta["study_id"], meta["dicom_id"])]
        meta["id"] = meta["dicom_id"].astype(str)
        meta["patient_id"] = meta["subject_id"].astype(int).astype(str)
        meta["graph_key"] = meta["study_id"].astype(int).astype(str)

        self.graphs: GraphLookup | None = None
        self.num_without_graph = 0
        if graphs is not None:
            self.paired = True
            self.graphs = GraphLookup.from_any(graphs, mimic_study_key, labeler=labeler)
            has = meta["graph_key"].isin(set(self.graphs.keys())).to_numpy()
            self.num_without_graph = int((~has).sum())
            if self.num_without_graph:
                log.info("MIMIC-CXR: %d image(s) have no report graph and are left out",
                         self.num_without_graph)
            meta, lab = meta[has], lab[has]
        self.uncertain = uncertain
        self.labels = map_uncertain(lab, uncertain)
        self.csv = meta
        self._finish()

    def report(self, idx: int) -> tuple[Any, str | None]:
        if self.graphs is None:
            return None, None
        graph = self.graphs.get(str(self.csv["graph_key"].iat[idx]))
        return graph, graph.text

    def get_item(self, idx: int) -> dict[str, Any]:
        item = super().get_item(idx)
        item["study_id"] = str(self.csv["study_id"].iat[idx])
        return item
