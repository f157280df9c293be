"""``check_dataset``: what is missing, unreadable or inconsistent in a dataset on disk.

Run it (or ``graphclr data check DIR --format ...``) once after downloading, before
training: it reads every label file and probes every image, and lists

* ``missing_file``: a table the layout requires (metadata, labels) is absent;
* ``missing_image`` / ``unreadable_image``: listed images that are absent or cannot be read
  (``level="header"`` catches truncated JPEG/PNG files without decoding; ``"decode"`` decodes,
  and also catches a JPEG cut short whose end marker was put back);
* ``oversized_image``: images over the pixel limit (read from the header; an error, since
  training would refuse them: see :mod:`graphclr.data.images`);
* ``bad_label``: label cells outside 1 / 0 / -1 / blank, by file, line and column;
* ``report_without_graph``: reports (studies) that have images but no graph;
* ``graph_without_image``: graphs whose report has no (existing) image;
* ``malformed_graph``: graph records that do not parse as RadGraph;
* ``duplicate_id`` / ``bad_row``: manifest rows that repeat an id or lack a path;
* ``unlisted_image``: Open-i images that no report names;

plus counts (images, studies, patients, reports, graphs, label rows).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from graphclr.data.images import IMAGE_EXTENSIONS, ImageLoadError, probe_image
from graphclr.data.label_table import CHEXPERT_LABELS, parse_label_columns

__all__ = ["CheckReport", "check_dataset", "FORMATS", "PROBLEM_KINDS"]

FORMATS: tuple[str, ...] = ("mimic", "chexpert", "openi", "csv", "folder")
PROBLEM_KINDS: tuple[str, ...] = ("missing_file", "missing_image", "unreadable_image",
                                  "oversized_image", "bad_label",
                                  "report_without_graph", "graph_without_image", "malformed_graph",
                                  "duplicate_id", "bad_row", "unlisted_image")


@dataclass
class CheckReport:
    """The result of :func:`check_dataset`.

    Attributes:
        root: what was checked.
        format: the layout it was checked against.
        counts: named counts (``images``, ``studies``, ``patients``, ``graphs``, ...).
        problems: problem kind -> ``"where: detail"`` strings, every occurrence.
    """

    root: str
    format: str
    counts: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    #: facts worth knowing that are not problems (e.g. reports that still need graphs)
    notes: list[str] = field(default_factory=list)
    #: the pixel limit images are checked against (``None``: the default in force)
    max_pixels: int | None = None

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def add(self, kind: str, where: str, detail: str = "") -> None:
        self.problems.setdefault(kind, []).append(f"{where}: {detail}" if detail else where)

    def num(self, kind: str) -> int:
        return len(self.problems.get(kind, []))

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "format": self.format, "ok": self.ok, "counts": self.counts,
                "problems": self.problems, "notes": self.notes}

    def summary(self, max_per_kind: int = 10) -> str:
        """Human-readable report: counts, then each problem kind with its first examples."""
        lines = [f"{self.format} dataset at {self.root}"]
        for k, v in self.counts.items():
            lines.append(f"  {k}: {v}")
        lines.extend(f"note: {n}" for n in self.notes)
        if self.ok:
            lines.append("no problems found")
            return "\n".join(lines)
        for kind in PROBLEM_KINDS + tuple(k for k in self.problems if k not in PROBLEM_KINDS):
            items = self.problems.get(kind) or []
            if not items:
                continue
            lines.append(f"{kind}: {len(items)}")
            lines.extend(f"  {x}" for x in items[:max_per_kind])
            if len(items) > max_per_kind:
                lines.append(f"  ... {len(items) - max_per_kind} more")
        return "\n".join(lines)


def _probe_all(report: CheckReport, paths: list[tuple[str, Path]], level: str, workers: int,
               progress: bool) -> set[str]:
    """Probe images in threads (I/O bound); record problems; return the ids that are fine."""
    from tqdm import tqdm

    def one(item: tuple[str, Path]) -> tuple[str, ImageLoadError | None]:
        try:
            probe_image(item[1], level, max_pixels=report.max_pixels)
            return item[0], None
        except ImageLoadError as err:
            return item[0], err

    good: set[str] = set()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for key, err in tqdm(pool.map(one, paths, chunksize=64), total=len(paths), desc="images",
                             unit="img", disable=not progress or None):
            if err is None:
                good.add(key)
            else:
                report.add(f"{err.reason}_image", err.path, err.detail)
    return good


def _labels(report: CheckReport, path: Path, columns: Iterable[str]) -> pd.DataFrame | None:
    try:
        table = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as err:
        report.add("missing_file", str(path), f"unreadable CSV ({err})")
        return None
    _, bad = parse_label_columns(table, [c for c in columns if c in table.columns])
    for b in bad:
        report.add("bad_label", b.where(str(path)), f"value {b.value!r} is not 1, 0, -1 or blank")
    return table


def _graph_lookup(report: CheckReport, graphs: Any, key_fn: Callable[[str], str | None]) -> Any:
    from graphclr.data.graphsource import GraphLookup
    from graphclr.reports.schema import RadGraphFormatError

    try:
        lookup = GraphLookup.from_any(graphs, key_fn)
    except (RadGraphFormatError, OSError) as err:
        report.add("malformed_graph", str(graphs), str(err))
        return None
    for err in lookup.validate_all():
        report.add("malformed_graph", str(err))
    report.counts["graphs"] = len(lookup)
    return lookup


def check_dataset(root: str | os.PathLike[str], format: str, *, graphs: Any = None,
                  reports: Any = None, level: str = "header", views: Iterable[str] | None = None,
                  workers: int = 8, progress: bool = False, max_pixels: int | None = None) -> CheckReport:
    """Check a dataset directory against its released layout.

    Args:
        root: MIMIC-CXR-JPG folder, CheXpert folder (or its parent), Open-i ``NLMCXR_png``
            folder, a manifest CSV / manifest folder, or an image folder.
        format: ``"mimic"``, ``"chexpert"``, ``"openi"``, ``"csv"`` or ``"folder"``.
        graphs: report graphs to check against the images (RadGraph JSON path, mapping or
            graphs). For ``csv`` the manifest's own ``graphs.json`` is used by default.
        reports: Open-i report archive (default: torchxrayvision's copy) or report objects.
        level: image probe depth, ``"exists"``, ``"header"`` (default) or ``"decode"``.
        views: only check images of these views (MIMIC ``ViewPosition``; default all).
        workers: threads probing images.
        progress: show a progress bar.
        max_pixels: pixel limit for ``oversized_image`` (default: the loaders' limit,
            :func:`graphclr.data.images.max_pixels`).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: not found")
    report = CheckReport(str(root), format, max_pixels=max_pixels)
    fn = {"mimic": _check_mimic, "chexpert": _check_chexpert, "openi": _check_openi,
          "csv": _check_csv, "folder": _check_folder}[format]
    fn(report, root, graphs=graphs, reports=reports, level=level, views=views, workers=workers,
       progress=progress)
    return report


def _check_mimic(report: CheckReport, root: Path, *, graphs: Any, level: str, views: Any,
                 workers: int, progress: bool, **_: Any) -> None:
    from graphclr.data.mimic import find_mimic_file, mimic_image_path, mimic_study_key

    meta_path = find_mimic_file(root, "metadata")
    if meta_path is None:
        report.add("missing_file", str(root / "mimic-cxr-2.0.0-metadata.csv.gz"),
                   "the metadata table is required")
        return
    meta = pd.read_csv(meta_path, low_memory=False)
    need = [c for c in ("dicom_id", "subject_id", "study_id", "ViewPosition") if c not in meta.columns]
    if need:
        report.add("missing_file", str(meta_path), f"missing column(s) {need}")
        return
    if views is not None:
        meta = meta[meta["ViewPosition"].isin(list(views))]
    for kind in ("split", "chexpert", "negbio"):
        p = find_mimic_file(root, kind)
        if p is None:
            report.add("missing_file", str(root / f"mimic-cxr-2.0.0-{kind}.csv.gz"))
        elif kind != "split":
            table = _labels(report, p, CHEXPERT_LABELS)
            if table is not None:
                report.counts[f"{kind}_label_rows"] = len(table)
    report.counts["images"] = len(meta)
    report.counts["frontal_images"] = int(meta["ViewPosition"].isin(("PA", "AP")).sum())
    report.counts["studies"] = int(meta["study_id"].nunique())
    report.counts["patients"] = int(meta["subject_id"].nunique())
    paths = [(str(d), root / mimic_image_path(s, t, d)) for s, t, d in
             zip(meta["subject_id"], meta["study_id"], meta["dicom_id"])]
    good = _probe_all(report, paths, level, workers, progress)
    if graphs is not None:
        lookup = _graph_lookup(report, graphs, mimic_study_key)
        if lookup is None:
            return
        keys = set(lookup.keys())
        study_of = dict(zip(meta["dicom_id"].astype(str), meta["study_id"].astype(int).astype(str)))
        with_image = {study_of[d] for d in good}
        for s in sorted(set(study_of.values()) & with_image - keys):
            report.add("report_without_graph", f"study s{s}", "has images but no graph")
        for k in sorted(keys - with_image):
            report.add("graph_without_image", lookup.raw_keys.get(k, k), "no existing image of this study")


def _check_chexpert(report: CheckReport, root: Path, *, level: str, workers: int, progress: bool,
                    **_: Any) -> None:
    from graphclr.data.chexpert import CHEXPERT_TEST_LABEL_FILES, _resolver, find_chexpert_dir

    found = False
    for split in ("train", "valid", "test"):
        try:
            d = find_chexpert_dir(root, split)
        except FileNotFoundError:
            if split != "test":
                report.add("missing_file", str(root / f"{split}.csv"))
            continue
        found = True
        names = (f"{split}.csv",) if split != "test" else CHEXPERT_TEST_LABEL_FILES
        label_file = next(d / n for n in names if (d / n).is_file())
        table = _labels(report, label_file, CHEXPERT_LABELS)
        if table is None:
            continue
        col = "Path" if "Path" in table.columns else "Study" if "Study" in table.columns else None
        if col is None:
            report.add("missing_file", str(label_file), "no 'Path' or 'Study' column")
            continue
        base, fix = _resolver(d, table[col].astype(str).tolist())
        report.counts[f"{split}_rows"] = len(table)
        if col == "Study":
            paths = []
            for i, s in enumerate(table[col].astype(str)):
                imgs = sorted((base / fix(s)).glob("*.jpg"))
                if not imgs:
                    report.add("missing_image", f"{label_file}: line {i + 2}", f"no images in {base / fix(s)}")
                paths += [(str(p), p) for p in imgs]
        else:
            paths = [(p, base / fix(p)) for p in table[col].astype(str)]
        report.counts[f"{split}_images"] = len(paths)
        report.counts[f"{split}_patients"] = len({m.group(0) for p, _ in paths
                                                  if (m := re.search(r"patient\d+", p))})
        _probe_all(report, paths, level, workers, progress)
    if not found:
        report.add("missing_file", str(root), "no train.csv / valid.csv / test labels found")


def _check_openi(report: CheckReport, root: Path, *, graphs: Any, reports: Any, level: str,
                 workers: int, progress: bool, **_: Any) -> None:
    from graphclr.data.openi import openi_report_key

    if reports is None or isinstance(reports, (str, os.PathLike)):
        from graphclr.reports.readers import read_openi

        reports = read_openi(reports)
    reps = {openi_report_key(str(r.id)) or str(r.id): r for r in reports}
    on_disk = {p.stem for p in root.glob("*.png")}
    named: dict[str, str] = {}
    for rid, rep in reps.items():
        imgs = (rep.metadata or {}).get("images", []) or []
        for i in imgs:
            named[str(i)] = rid
    report.counts["reports"] = len(reps)
    report.counts["reports_without_images_in_xml"] = sum(
        1 for r in reps.values() if not (r.metadata or {}).get("images"))
    report.counts["images_named_by_reports"] = len(named)
    report.counts["png_files"] = len(on_disk)
    present = [(i, root / f"{i}.png") for i in named if i in on_disk]
    for i in sorted(set(named) - on_disk):
        report.add("missing_image", str(root / f"{i}.png"), f"named by report {named[i]}")
    for i in sorted(on_disk - set(named)):
        report.add("unlisted_image", str(root / f"{i}.png"), "no report names this image")
    good = _probe_all(report, present, level, workers, progress)
    with_image = {named[i] for i in good}
    report.counts["reports_with_images"] = len(with_image)
    if graphs is not None:
        lookup = _graph_lookup(report, graphs, lambda k: openi_report_key(k) or k)
        if lookup is None:
            return
        keys = set(lookup.keys())
        for r in sorted(with_image - keys):
            report.add("report_without_graph", r, "has images but no graph")
        for k in sorted(keys - with_image):
            report.add("graph_without_image", lookup.raw_keys.get(k, k), "no existing image of this report")


def _check_csv(report: CheckReport, root: Path, *, graphs: Any, level: str, workers: int,
               progress: bool, **_: Any) -> None:
    from graphclr.data.manifest import (
        GRAPHS_NAME,
        manifest_label_columns,
        physical_lines,
        read_manifest,
        resolve_manifest,
        words_as_labels,
    )

    manifest = resolve_manifest(root)
    try:
        table = read_manifest(manifest)
    except ValueError as err:
        report.add("missing_file", str(manifest), str(err).removeprefix(f"{manifest}: "))
        return
    lines = physical_lines(manifest, len(table))
    labels, text_cols = manifest_label_columns(table)
    _, bad = parse_label_columns(words_as_labels(table, labels), labels)
    for b in bad:
        report.add("bad_label", f"{manifest}: line {lines[b.line - 2]}, column {b.column!r}",
                   f"value {b.value!r} is not 1, 0, -1, yes, no or blank")
    if text_cols:
        report.notes.append(f"column(s) {text_cols} hold no label values: not labels")
    report.counts["rows"] = len(table)
    report.counts["label_columns"] = len(labels)
    if "patient_id" in table.columns:
        report.counts["patients"] = int(table["patient_id"].nunique())
    ids = table["id"].astype(str) if "id" in table.columns else table["path"].astype(str)
    for i in table.index[ids.duplicated()]:
        report.add("duplicate_id", f"{manifest}: line {lines[i]}", f"id {ids.iat[i]!r}")
    paths = []
    for i, p in enumerate(table["path"]):
        if pd.isna(p):
            report.add("bad_row", f"{manifest}: line {lines[i]}", "empty path")
            continue
        full = Path(str(p)) if Path(str(p)).is_absolute() else manifest.parent / str(p)
        paths.append((str(i), full))
    has_graphs = "graph_id" in table.columns or "graph_json" in table.columns
    if not has_graphs:
        n_text = int(table["text"].notna().sum()) if "text" in table.columns else 0
        report.counts["text_reports_without_graphs"] = n_text
        if n_text:
            report.notes.append(
                f"{n_text} row(s) have report text but no graphs: a graph model's `graphclr "
                f"pretrain` extracts them on the fly; to do it once, run `graphclr extract "
                f"{manifest} --out {manifest.parent / GRAPHS_NAME}` and add a graph_id column "
                f"equal to id")
        elif len(table):
            report.notes.append("no text, graph_id or graph_json column: rows have no report "
                                "(usable for evaluation only)")
    good = {int(i) for i in _probe_all(report, paths, level, workers, progress)}
    report.counts["readable_images"] = len(good)
    if "graph_id" in table.columns:
        if graphs is None:
            graphs = manifest.parent / GRAPHS_NAME
            if not Path(graphs).is_file():
                report.add("missing_file", str(graphs), "rows have graph_id but there is no graphs file")
                return
        lookup = _graph_lookup(report, graphs, str)
        if lookup is None:
            return
        keys = set(lookup.keys())
        gid = table["graph_id"]
        for i in range(len(table)):
            if pd.isna(gid.iat[i]) or str(gid.iat[i]) not in keys:
                report.add("report_without_graph", f"{manifest}: line {lines[i]}",
                           f"graph_id {gid.iat[i]!r} not in {lookup.source or 'graphs'}")
        with_image = {str(gid.iat[i]) for i in good if pd.notna(gid.iat[i])}
        for k in sorted(keys - with_image):
            report.add("graph_without_image", f"graph {k!r}", "no row with an existing image uses it")
    elif "graph_json" in table.columns:
        from graphclr.reports.schema import RadGraphFormatError, ReportGraph

        for i, g in enumerate(table["graph_json"]):
            if pd.isna(g):
                report.add("report_without_graph", f"{manifest}: line {lines[i]}", "empty graph_json")
                continue
            try:
                ReportGraph.from_radgraph_record(str(ids.iat[i]), json.loads(g)).validate()
            except (json.JSONDecodeError, RadGraphFormatError) as err:
                report.add("malformed_graph", f"{manifest}: line {lines[i]}", str(err))


def _check_folder(report: CheckReport, root: Path, *, level: str, workers: int, progress: bool,
                  **_: Any) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    report.counts["images"] = len(files)
    good = _probe_all(report, [(str(p), p) for p in files], level, workers, progress)
    report.counts["readable_images"] = len(good)
