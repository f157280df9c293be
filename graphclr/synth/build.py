"""Build the synthetic paired benchmark: Open-i report graphs -> rendered images + manifest.

Output directory (``graphclr synth build --out DIR``)::

    DIR/
      manifest.csv    one row per image (read by graphclr.data.ManifestDataset / CSVDataset)
      graphs.json     the report graphs, RadGraph JSON keyed by report id (CXR<n>)
      metadata.json   "synthetic": true, seeds, version, label columns, counts, timing
      images/synthetic-CXR<n>-v<k>.png

``manifest.csv`` columns, in order: ``id``, ``path`` (``images/...png``), ``patient_id``
(``synthetic-CXR<n>``: the variants of one report are one synthetic patient), ``split``
(``train``/``val``/``test``, by report, so patient-disjoint), ``graph_id`` (key into
``graphs.json``), the 0/1 ground-truth columns :data:`~graphclr.synth.render.LABEL_COLUMNS`
(what was *drawn*, never missing), then ``meta_report_id``, ``meta_variant``,
``meta_seed``, ``meta_background`` and ``meta_findings`` (JSON: every finding the graph
states, whether it was drawn, where and how big).

Report texts (inside ``graphs.json``) are Open-i text (CC BY-NC-ND 4.0): they are written to
the user's output directory at run time only; never commit or redistribute a built benchmark.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from graphclr.reports.schema import ReportGraph, read_radgraph, write_radgraph
from graphclr.synth.render import (
    DEFAULT_UNCERTAIN_PROB,
    EVAL_LABEL_COLUMNS,
    LABEL_COLUMNS,
    LATERALITY_COLUMNS,
    Renderer,
    case_metadata,
    plan_case,
    save_png,
)
from graphclr.utils import atomic_write

__all__ = ["build_synthetic_benchmark", "load_synthetic", "SYNTH_VERSION", "SPLIT_FRACTIONS",
           "synthetic_item_id", "report_split"]

log = logging.getLogger(__name__)

#: bump when the renderer or planning changes what a (seed, id) pair draws
SYNTH_VERSION = "1.0"
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}
NOTICE = ("images are synthetic: rendered by graphclr.synth from report graphs; they are not "
          "radiographs and carry no patient data. Ground-truth labels are what was drawn.")
LICENCE = ("graphs.json holds Open-i / Indiana University report text (CC BY-NC-ND 4.0), written "
           "at run time: keep it in this directory; do not commit or redistribute it.")


def synthetic_item_id(report_id: str, variant: int) -> str:
    """``synthetic-CXR12-v0``: every synthetic file and id says so."""
    return f"synthetic-{report_id}-v{variant}"


def report_split(report_id: str, seed: int, fractions: dict[str, float] = SPLIT_FRACTIONS) -> str:
    """Deterministic split of a report (and all its variants) from a hash of seed and id.

    Examples:
        >>> report_split("CXR1", 0) == report_split("CXR1", 0)
        True
    """
    u = zlib.crc32(f"{seed}:{report_id}".encode()) / 2**32
    total = sum(fractions.values())
    acc = 0.0
    for name, frac in fractions.items():
        acc += frac / total
        if u < acc:
            return name
    return list(fractions)[-1]


def _report_order(ids: Sequence[str], seed: int) -> list[str]:
    import numpy as np

    def key(rid: str) -> tuple[int, str]:
        digits = "".join(c for c in rid if c.isdigit())
        return (int(digits) if digits else -1, rid)

    ordered = sorted(ids, key=key)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    return [ordered[i] for i in perm]


def _render_chunk(args: tuple[list[tuple[str, str]], str, int, int, bool]) -> tuple[int, int, float]:
    """Worker: render the (item id, png path) pairs whose PNG is absent; returns counts."""
    tasks, plans_json, size, _, overwrite = args
    plans = json.loads(plans_json)
    renderer = Renderer(size)
    rendered = skipped = 0
    t0 = time.perf_counter()
    for item_id, png in tasks:
        if not overwrite and os.path.exists(png):
            skipped += 1
            continue
        case = _case_from_json(plans[item_id])
        save_png(renderer.render(case), png)
        rendered += 1
    return rendered, skipped, time.perf_counter() - t0


def _case_to_json(case: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(case)


def _case_from_json(d: dict[str, Any]) -> Any:
    from graphclr.synth.render import DrawnFinding, Patient, SyntheticCase

    return SyntheticCase(item_id=d["item_id"], seed=d["seed"], patient=Patient(**d["patient"]),
                         findings=[DrawnFinding(**f) for f in d["findings"]],
                         texture_seed=d["texture_seed"], background=d["background"])


def _load_graphs(reports: Any, graphs: Any, workers: int) -> tuple[list[ReportGraph], str]:
    if graphs is not None:
        if isinstance(graphs, (str, os.PathLike)):
            return list(read_radgraph(graphs)), str(graphs)
        return list(graphs), "given graphs"
    from graphclr.reports.extract import extract_reports
    from graphclr.reports.readers import read_openi

    items = read_openi(reports) if reports is None or isinstance(reports, (str, os.PathLike)) else reports
    source = f"graphclr.reports.extract over Open-i reports ({reports or 'torchxrayvision NLMCXR_reports.tgz'})"
    return list(extract_reports(items, n_process=max(1, workers))), source


def build_synthetic_benchmark(out: str | os.PathLike[str], n: int | None = None, size: int = 224,
                              seed: int = 0, *, backgrounds: str | os.PathLike[str] | None = None,
                              reports: Any = None, graphs: str | os.PathLike[str] | Iterable[ReportGraph] | None = None,
                              uncertain_prob: float = DEFAULT_UNCERTAIN_PROB,
                              split_fractions: dict[str, float] | None = None, workers: int = 1,
                              overwrite: bool = False, progress: bool = True,
                              train_counterfactuals: Sequence[str] = ()) -> dict[str, Any]:
    """Render the synthetic benchmark into ``out`` (resumable: existing PNGs are kept).

    Args:
        out: output directory.
        n: number of images (default: one per report). Beyond the number of reports, reports
            repeat as new variants (another synthetic patient, other random choices).
        size: image side in pixels (>= 32).
        seed: fixes report order, splits, anatomy, uncertain draws, texture and noise.
        backgrounds: a folder of real radiographs to draw findings onto instead of the
            synthetic anatomy (each item picks one, seeded).
        reports: Open-i archive/folder for :func:`graphclr.reports.readers.read_openi` (default its
            default), or report objects; ignored when ``graphs`` is given.
        graphs: report graphs to use instead of extracting them (RadGraph JSON or graphs).
        uncertain_prob: probability of drawing a finding the graph marks uncertain.
        split_fractions: report-level split (default 70/10/20 train/val/test).
        workers: processes for extraction and rendering.
        overwrite: re-render existing PNGs.
        progress: show progress bars.
        train_counterfactuals: counterfactual families (:data:`graphclr.synth.COUNTERFACTUAL_FAMILIES`)
            whose pairs are added for pretraining: one pair per *training* report (families
            in turn, :func:`graphclr.synth.counterfactual_set.training_pairs`), both versions
            as items of split ``pretrain`` (never probed) sharing a ``patient_id``, so
            ``TrainConfig.batch_groups="patient_id"`` makes each the other's hard negative.

    Returns:
        the metadata written to ``metadata.json``.
    """
    from tqdm import tqdm

    from graphclr import __version__
    from graphclr.data.images import IMAGE_EXTENSIONS

    out = Path(out)
    fractions = dict(split_fractions or SPLIT_FRACTIONS)
    if n is not None and n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    from graphclr.synth.counterfactual import FAMILIES

    bad = [f for f in train_counterfactuals if f not in FAMILIES]
    if bad:
        raise ValueError(f"train_counterfactuals: unknown families {bad} (allowed: {', '.join(FAMILIES)})")
    if train_counterfactuals and backgrounds:
        raise ValueError("train_counterfactuals draws on the synthetic anatomy; it cannot be combined "
                         "with backgrounds")
    from graphclr.reports.extract.pipeline import EXTRACTOR_NAME

    settings = {"seed": int(seed), "size": int(size), "uncertain_prob": float(uncertain_prob),
                "renderer_version": SYNTH_VERSION,
                # images drawn from extracted graphs are stale once the extractor changes
                "extractor": EXTRACTOR_NAME if graphs is None else "given graphs",
                "backgrounds": str(Path(backgrounds).resolve()) if backgrounds else None}
    meta_path = out / "metadata.json"
    if meta_path.is_file() and not overwrite:
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        clash = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if clash:
            raise ValueError(f"{out}: holds a synthetic benchmark built with other settings {clash}; "
                             "use another --out or --overwrite")
    bg_files: list[str] = []
    if backgrounds:
        bg_files = sorted(str(p) for p in Path(backgrounds).rglob("*")
                          if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not bg_files:
            raise FileNotFoundError(f"{backgrounds}: no images to use as backgrounds")
    Renderer(size)  # validates size early

    t_graphs = time.perf_counter()
    graph_list, graphs_source = _load_graphs(reports, graphs, workers)
    by_id = {}
    for g in graph_list:
        by_id.setdefault(g.id, g)
    if not by_id:
        raise ValueError("no report graphs to render")
    t_graphs = time.perf_counter() - t_graphs
    order = _report_order(list(by_id), seed)
    count = n if n is not None else len(order)

    (out / "images").mkdir(parents=True, exist_ok=True)
    rows, plans, tasks = [], {}, []
    for k in range(count):
        rid = order[k % len(order)]
        variant = k // len(order)
        item_id = synthetic_item_id(rid, variant)
        case = plan_case(by_id[rid], item_id, seed, uncertain_prob=uncertain_prob, backgrounds=bg_files)
        plans[item_id] = _case_to_json(case)
        rel = f"images/{item_id}.png"
        tasks.append((item_id, str(out / rel)))
        row = {"id": item_id, "path": rel, "patient_id": f"synthetic-{rid}",
               "split": report_split(rid, seed, fractions), "graph_id": rid}
        row.update(case.labels())
        row.update({"meta_report_id": rid, "meta_variant": variant, "meta_seed": seed,
                    "meta_background": os.path.basename(case.background) if case.background else "",
                    "meta_findings": json.dumps(case_metadata(case)["findings"], separators=(",", ":"))})
        rows.append(row)
    extra_graphs = _add_training_pairs(rows, plans, tasks, out, by_id, train_counterfactuals, seed,
                                       uncertain_prob) if train_counterfactuals else []

    t0 = time.perf_counter()
    chunk = 64
    plans_json = json.dumps(plans)  # one payload per chunk keeps workers stateless
    jobs = []
    for i in range(0, len(tasks), chunk):
        part = tasks[i:i + chunk]
        sub = json.dumps({t[0]: plans[t[0]] for t in part})
        jobs.append((part, sub, size, seed, overwrite))
    del plans_json
    rendered = skipped = 0
    bar = tqdm(total=len(tasks), desc="rendering synthetic images", unit="img", disable=not progress or None)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for r, s, _ in pool.map(_render_chunk, jobs):
                rendered, skipped = rendered + r, skipped + s
                bar.update(r + s)
    else:
        for job in jobs:
            r, s, _ = _render_chunk(job)
            rendered, skipped = rendered + r, skipped + s
            bar.update(r + s)
    bar.close()
    render_s = time.perf_counter() - t0

    used = [by_id[r] for r in dict.fromkeys(row["graph_id"] for row in rows) if r in by_id] + extra_graphs
    write_radgraph(out / "graphs.json", used)
    manifest = pd.DataFrame(rows, columns=["id", "path", "patient_id", "split", "graph_id",
                                           *LABEL_COLUMNS, "meta_report_id", "meta_variant",
                                           "meta_seed", "meta_background", "meta_findings"])
    with atomic_write(out / "manifest.csv") as fh:
        manifest.to_csv(fh, index=False)
    meta = {
        "name": "graphclr-synthetic-openi",
        "synthetic": True,
        "notice": NOTICE,
        "licence": LICENCE,
        "format_version": 1,
        **settings,
        "num_items": len(rows),
        "train_counterfactuals": list(train_counterfactuals),
        "num_reports": len(used) - len(extra_graphs),
        "num_backgrounds": len(bg_files),
        "graphs_source": graphs_source,
        "split_fractions": fractions,
        "split_counts": manifest["split"].value_counts().to_dict(),
        "label_columns": list(LABEL_COLUMNS),
        "eval_labels": list(EVAL_LABEL_COLUMNS),
        "laterality_columns": list(LATERALITY_COLUMNS),
        "laterality_convention": "patient side: Left = the patient's left = the image's right (PA display)",
        "label_counts": {c: int(manifest[c].sum()) for c in LABEL_COLUMNS},
        "files": {"manifest": "manifest.csv", "graphs": "graphs.json", "images": "images/"},
        "graphclr_version": __version__,
        "timing": {"graphs_seconds": round(t_graphs, 3), "render_seconds": round(render_s, 3),
                   "rendered": rendered, "skipped_existing": skipped,
                   "ms_per_rendered_image": round(1000 * render_s / rendered, 3) if rendered else None,
                   "workers": workers},
    }
    with atomic_write(meta_path) as fh:
        json.dump(meta, fh, indent=1)
    log.info("synthetic benchmark: %d images (%d rendered, %d kept) in %s", len(rows), rendered, skipped, out)
    return meta


def _add_training_pairs(rows: list[dict[str, Any]], plans: dict[str, Any], tasks: list[tuple[str, str]],
                        out: Path, by_id: dict[str, ReportGraph], families: Sequence[str], seed: int,
                        uncertain_prob: float) -> list[ReportGraph]:
    """Append both versions of one counterfactual pair per training report (split ``pretrain``)."""
    from dataclasses import replace

    from graphclr.synth.counterfactual_set import training_pairs

    train = [by_id[r["graph_id"]] for r in rows if r["split"] == "train" and r["meta_variant"] == 0]
    graphs = []
    for pair in training_pairs(train, list(families), seed=seed, uncertain_prob=uncertain_prob):
        for side, graph, case in zip("ab", pair.graphs, pair.cases):
            item_id = f"synthetic-{pair.pair_id}-{side}"
            gid = f"{pair.source_id}-counterfactual-{pair.family}-{side}"
            graphs.append(replace(graph, id=gid))
            plans[item_id] = _case_to_json(case)
            rel = f"images/{item_id}.png"
            tasks.append((item_id, str(out / rel)))
            row = {"id": item_id, "path": rel, "patient_id": f"synthetic-{pair.pair_id}", "split": "pretrain",
                   "graph_id": gid, **case.labels(), "meta_report_id": pair.source_id, "meta_variant": 0,
                   "meta_seed": seed, "meta_background": "",
                   "meta_findings": json.dumps(case_metadata(case)["findings"], separators=(",", ":"))}
            rows.append(row)
    return graphs


def load_synthetic(out: str | os.PathLike[str], split: str | None = None, **kwargs: Any) -> Any:
    """The built benchmark as a :class:`graphclr.data.ManifestDataset` (labels = LABEL_COLUMNS)."""
    from graphclr.data.specs import open_synthetic

    return open_synthetic(out, split=split, **kwargs)
