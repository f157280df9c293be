"""CheXpert (Irvin et al., AAAI 2019): train/valid as released, plus the 500-study test set.

Released layout (``CheXpert-v1.0-small.zip``; the full-resolution ``CheXpert-v1.0`` is the
same with bigger images)::

    PARENT/CheXpert-v1.0-small/
      train.csv   Path,Sex,Age,Frontal/Lateral,AP/PA,<14 labels>   (1.0 / 0.0 / -1.0 / blank)
      valid.csv   same columns, radiologist labels (1.0 / 0.0)
      train/patient00001/study1/view1_frontal.jpg
      valid/patient64541/study1/view1_frontal.jpg

``Path`` values start with the dataset directory's name
(``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``), so they are resolved
against its parent. ``root`` may be either directory.

The test set (500 studies, 668 images, consensus of 5 radiologists; the set CheXzero and
IGCL report on) comes as images ``test/patientXXXXX/studyN/viewN_frontal.jpg`` (Stanford
AIMI / CheXlocalize release) with either label file:

* ``groundtruth.csv`` (``rajpurkarlab/cheXpert-test-set-labels``): one row per *study*,
  column ``Study`` = ``CheXpert-v1.0/test/patient64741/study1``; every image of the study
  gets its labels;
* ``test_labels.csv`` (CheXlocalize): one row per *image*, column ``Path``.

The label file may also sit next to a ``CheXpert/`` (or ``CheXpert-v1.0[-small]/``) folder
that holds ``test/patientXXXXX/...`` (how CheXzero's instructions arrange
``groundtruth.csv``): the images are looked for there too.

**No Finding.** ``no_finding="keep"`` (default) leaves the other labels of a ``No Finding =
1`` row as written (blank stays NaN). ``no_finding="zero"`` is torchxrayvision's convention
(``CheX_Dataset``): such a row gets 0 for every label except ``No Finding`` and
``Support Devices``, whatever was written. For a row ``No Finding = 1, Edema = blank,
Support Devices = 1``:

>>> import numpy as np
>>> cols = ["No Finding", "Edema", "Support Devices"]
>>> apply_no_finding(np.array([[1.0, np.nan, 1.0]]), cols, "zero").tolist()
[[1.0, 0.0, 1.0]]
>>> apply_no_finding(np.array([[1.0, np.nan, 1.0]]), cols, "keep").tolist()
[[1.0, nan, 1.0]]
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from graphclr.data.base import CXRDataset, map_uncertain
from graphclr.data.label_table import CHEXPERT_LABELS, parse_label_columns

__all__ = ["CheXpertDataset", "find_chexpert_dir", "apply_no_finding", "CHEXPERT_TEST_LABEL_FILES",
           "NO_FINDING_POLICIES"]

#: label files searched for ``split="test"``, in order
CHEXPERT_TEST_LABEL_FILES: tuple[str, ...] = ("test_labels.csv", "groundtruth.csv", "test.csv")

#: ``no_finding=`` values of :class:`CheXpertDataset`
NO_FINDING_POLICIES: tuple[str, ...] = ("keep", "zero")
#: release folders a root may hold (searched for label files and for images)
_RELEASE_DIRS: tuple[str, ...] = ("CheXpert-v1.0-small", "CheXpert-v1.0", "CheXpert")

_PATIENT = re.compile(r"patient(\d+)")
_STUDY = re.compile(r"(patient\d+)/(study\d+)")


def find_chexpert_dir(root: str | os.PathLike[str], split: str) -> Path:
    """The directory holding ``<split>.csv`` (root itself or one known release folder below it)."""
    root = Path(root)
    names = (f"{split}.csv",) if split != "test" else CHEXPERT_TEST_LABEL_FILES
    candidates = [root] + [root / d for d in _RELEASE_DIRS]
    for c in candidates:
        if any((c / n).is_file() for n in names):
            return c
    raise FileNotFoundError(f"{root}: no {' or '.join(names)} here or in a CheXpert-v1.0[-small] "
                            "folder below it")


def _check_no_finding(policy: str) -> str:
    if policy not in NO_FINDING_POLICIES:
        raise ValueError(f"no_finding must be one of {', '.join(NO_FINDING_POLICIES)}, got {policy!r}")
    return policy


def apply_no_finding(labels: np.ndarray, pathologies: Sequence[str], policy: str) -> np.ndarray:
    """Labels of ``No Finding = 1`` rows under ``policy`` (see the module docstring)."""
    if _check_no_finding(policy) == "keep" or "No Finding" not in pathologies:
        return labels
    out = labels.copy()
    healthy = out[:, list(pathologies).index("No Finding")] == 1
    for j, name in enumerate(pathologies):
        if name not in ("No Finding", "Support Devices"):
            out[healthy, j] = 0
    return out


def _resolver(dataset_dir: Path, rel_paths: Sequence[str]) -> tuple[Path, Callable[[str], str]]:
    """Choose the base directory that CSV paths are relative to, once per file.

    Released paths start with the dataset folder's name, relative to its parent; CheXlocalize
    paths start with ``test/``, relative to the folder itself; a renamed folder (CheXzero's
    ``CheXpert/test/...`` next to ``groundtruth.csv``) is handled by dropping the first
    component and looking in the folder and in the release folders below it.
    """
    def keep(p: str) -> str:
        return p

    def drop(p: str) -> str:
        return str(PurePosixPath(*PurePosixPath(p).parts[1:])) if "/" in p else p

    sample = [p for p in rel_paths[:50] if isinstance(p, str)]
    first = PurePosixPath(sample[0]).parts[0] if sample else ""
    if first == dataset_dir.name:
        return dataset_dir.parent, keep
    below = [dataset_dir / d for d in _RELEASE_DIRS if (dataset_dir / d).is_dir()]
    if first in ("train", "valid", "test"):
        options = [(dataset_dir, keep)] + [(b, keep) for b in below]
    else:
        options = [(dataset_dir, keep), (dataset_dir, drop)] + [(b, drop) for b in below]
    for base, fix in options:
        if any((base / fix(p)).exists() for p in sample[:5]):
            return base, fix
    return options[0] if first in ("train", "valid", "test") else (dataset_dir, drop)


class CheXpertDataset(CXRDataset):
    """CheXpert images and labels.

    Args:
        root: ``CheXpert-v1.0-small`` (or ``CheXpert-v1.0``) or its parent.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        views: ``"Frontal"``/``"Lateral"`` values to keep (default frontal only; ``None``
            keeps all). Files without a ``Frontal/Lateral`` column use the file name.
        uncertain: mapping of ``-1`` (see :data:`~graphclr.data.base.LABEL_UNCERTAIN_POLICIES`);
            default ``"nan"`` (U-Ignore), as torchxrayvision.
        no_finding: ``"keep"`` (default: a ``No Finding = 1`` row keeps its other labels,
            blanks stay NaN) or ``"zero"`` (torchxrayvision's convention: every label but
            ``No Finding`` and ``Support Devices`` becomes 0 in such a row).
        pathologies: label columns (default the 14 CheXpert labels).
        csv_path: an explicit label file instead of the searched one.
        transform, strict, decode_size, cache: see :class:`~graphclr.data.base.CXRDataset`.
    """

    def __init__(self, root: str | os.PathLike[str], split: str = "train", *,
                 views: Sequence[str] | None = ("Frontal",), uncertain: str = "nan",
                 no_finding: str = "keep",
                 pathologies: Sequence[str] | None = None,
                 csv_path: str | os.PathLike[str] | None = None,
                 transform: Callable[[Any], Any] | None = None, strict: bool = True,
                 decode_size: int | None = None, cache: str | os.PathLike[str] | None = None) -> None:
        super().__init__(transform=transform, strict=strict, decode_size=decode_size, cache=cache)
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
        self.no_finding = _check_no_finding(no_finding)
        self.split = split
        self.pathologies = list(pathologies or CHEXPERT_LABELS)
        if csv_path is not None:
            label_file = Path(csv_path)
            dataset_dir = Path(root)
            if not label_file.is_file():
                raise FileNotFoundError(f"{label_file}: CheXpert label file not found")
        else:
            dataset_dir = find_chexpert_dir(root, split)
            names = (f"{split}.csv",) if split != "test" else CHEXPERT_TEST_LABEL_FILES
            label_file = next(dataset_dir / n for n in names if (dataset_dir / n).is_file())
        self.label_file = label_file
        try:
            table = pd.read_csv(label_file, low_memory=False)
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
            raise ValueError(f"{label_file}: not a readable CSV file ({err})") from None
        if "Path" not in table.columns and "Study" not in table.columns:
            raise ValueError(f"{label_file}: needs a 'Path' (image) or 'Study' column, "
                             f"found {list(table.columns)[:8]}")
        values, bad = parse_label_columns(table, self.pathologies)
        keep = np.ones(len(table), dtype=bool)
        for b in bad:
            self._problem("bad_label", b.where(str(label_file)),
                          f"value {b.value!r} is not 1, 0, -1 or blank")
            keep[b.line - 2] = False

        key_col = "Path" if "Path" in table.columns else "Study"
        base, fix = _resolver(dataset_dir, table[key_col].astype(str).tolist())
        self.root = base
        rows: list[dict[str, Any]] = []
        lab_rows: list[int] = []
        for i, rel in enumerate(table[key_col].astype(str)):
            if not keep[i]:
                continue
            rel = fix(rel)
            if key_col == "Study":  # one row per study: expand to its images
                images = sorted(p.relative_to(base).as_posix() for p in (base / rel).glob("*.jpg"))
                if not images:
                    self._problem("missing_image", f"{label_file}: line {i + 2}",
                                  f"study folder {base / rel} has no .jpg images",
                                  error=FileNotFoundError)
                    continue
            else:
                images = [rel]
            for img in images:
                row = {"path": img}
                if "Frontal/Lateral" in table.columns and key_col == "Path":
                    row["view"] = str(table["Frontal/Lateral"].iat[i])
                else:
                    name = PurePosixPath(img).name.lower()
                    row["view"] = "Lateral" if "lateral" in name else "Frontal"
                for extra in ("Sex", "Age", "AP/PA"):
                    if extra in table.columns:
                        row[extra] = table[extra].iat[i]
                rows.append(row)
                lab_rows.append(i)
        frame = pd.DataFrame(rows, columns=["path", "view"] + [c for c in ("Sex", "Age", "AP/PA")
                                                                 if c in table.columns])
        lab = values[np.asarray(lab_rows, dtype=np.int64)] if lab_rows else np.zeros((0, len(self.pathologies)))
        self.views = tuple(views) if views is not None else None
        if self.views is not None:
            sel = frame["view"].isin(self.views).to_numpy()
            frame, lab = frame[sel], lab[sel]
        frame = frame.copy()
        frame["id"] = [_image_id(p) for p in frame["path"]]
        frame["patient_id"] = [(_PATIENT.search(p).group(0) if _PATIENT.search(p) else None)
                               for p in frame["path"]]
        frame["study_id"] = ["/".join(m.groups()) if (m := _STUDY.search(p)) else None
                             for p in frame["path"]]
        self.uncertain = uncertain
        self.labels = map_uncertain(apply_no_finding(lab, self.pathologies, no_finding), uncertain)
        self.csv = frame
        self._finish()


def _image_id(path: str) -> str:
    """``patient00001/study1/view1_frontal`` from any CheXpert image path."""
    p = PurePosixPath(path)
    parts = p.with_suffix("").parts
    return "/".join(parts[-3:])
