"""Stored encoder outputs on a fixed tiny fixture: the guard that refactors keep them bit-equal.

``tests/fixtures/encoder_embeddings.npz`` holds, for each case of :data:`CASES`, the
``[B, width]`` output of a freshly seeded :class:`graphclr.nn.GraphEncoder` (eval mode) on
the batch that the model's report processor makes of :func:`fixture_graphs`. The file was
written by this module *before* the report batch was reworked::

    .venv/bin/python tests/encoder_fixture.py      # rewrites the fixture: only on purpose

``tests/test_encoder_fixture.py`` recomputes every case and asserts ``torch.equal``.
The graphs are hand-written (no report text from any dataset) and use only relations the
schema pairs with their node types.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "encoder_embeddings.npz"


def fixture_graphs() -> list:
    """Hand-written report graphs: empty, single node, several components, every relation,
    every certainty, repeated entities (the deduplicated path) and a larger report."""
    from graphclr.reports.schema import Entity, Relation, ReportGraph

    def ents(*spec: tuple[str, str]) -> list:
        return [Entity(text, label, i, i) for i, (text, label) in enumerate(spec)]

    return [
        ReportGraph("single", "cardiomegaly", ents(("cardiomegaly", "OBS-DP"))),
        ReportGraph("empty", ""),
        ReportGraph("effusion", "small left pleural effusion",
                    ents(("small", "OBS-DP"), ("left", "ANAT-DP"), ("pleural", "ANAT-DP"),
                         ("effusion", "OBS-DP")),
                    [Relation("modify", 0, 3), Relation("located_at", 3, 2),
                     Relation("modify", 1, 2)]),
        ReportGraph("negatives", "no pneumothorax lungs clear heart normal",
                    ents(("pneumothorax", "OBS-DA"), ("lungs", "ANAT-DP"), ("clear", "OBS-DP"),
                         ("heart", "ANAT-DP"), ("normal", "OBS-DP")),
                    [Relation("located_at", 2, 1), Relation("located_at", 4, 3)]),
        ReportGraph("suggestive", "opacity may represent atelectasis or pneumonia at right base",
                    ents(("opacity", "OBS-DP"), ("atelectasis", "OBS-U"), ("pneumonia", "OBS-U"),
                         ("right", "ANAT-DP"), ("base", "ANAT-DP"), ("unseen word", "OBS-U")),
                    [Relation("suggestive_of", 0, 1), Relation("suggestive_of", 0, 2),
                     Relation("located_at", 0, 4), Relation("modify", 3, 4)]),
        ReportGraph("repeats", "clear lungs clear lungs heart normal heart normal",
                    ents(("clear", "OBS-DP"), ("lungs", "ANAT-DP"), ("clear", "OBS-DP"),
                         ("lungs", "ANAT-DP"), ("heart", "ANAT-DP"), ("normal", "OBS-DP"),
                         ("heart", "ANAT-DP"), ("normal", "OBS-DP")),
                    [Relation("located_at", 0, 1), Relation("located_at", 2, 3),
                     Relation("located_at", 5, 4), Relation("located_at", 7, 6)]),
        ReportGraph("long", "mild diffuse interstitial opacities both lungs likely edema "
                    "stable enlarged cardiac silhouette",
                    ents(("mild", "OBS-DP"), ("diffuse", "OBS-DP"), ("interstitial", "OBS-DP"),
                         ("opacities", "OBS-DP"), ("both lungs", "ANAT-DP"), ("edema", "OBS-U"),
                         ("stable", "OBS-DP"), ("enlarged", "OBS-DP"),
                         ("cardiac silhouette", "ANAT-DP")),
                    [Relation("modify", 0, 3), Relation("modify", 1, 3), Relation("modify", 2, 3),
                     Relation("located_at", 3, 4), Relation("suggestive_of", 3, 5),
                     Relation("modify", 6, 7), Relation("located_at", 7, 8)]),
    ]


def _cfg(**kw):
    from graphclr.nn.encoder import GraphEncoderCfg

    return GraphEncoderCfg(**kw)


#: the component readout before issue 10 (attention only, [GRAPH] token); the cases written
#: before the report-batch rework pin it, since the default changed afterwards
OLD_READOUT = {"pool_readout": "attention", "graph_readout": "token"}

#: case name -> (GraphEncoderCfg keyword arguments, fast paths on)
CASES: dict[str, tuple[dict, bool]] = {
    "components": ({**OLD_READOUT}, True),
    "components_stock": ({**OLD_READOUT}, False),
    "igcl": ({"variant": "igcl"}, True),
    "igcl_stock": ({"variant": "igcl"}, False),
    "rgcn-mean": ({"variant": "rgcn-mean"}, True),
    "rgcn-mean_stock": ({"variant": "rgcn-mean"}, False),
    "hashed": ({"featurizer": "hashed", "hash_buckets": 4096, **OLD_READOUT}, True),
    "bdd_sum": ({"regularizer": "bdd", "num_bases": 4, "norm": "sum", "width": 64,
                 "feature_dim": 32, "ff_dim": 128, "fc_layers": 1, **OLD_READOUT}, True),
    "text": ({"featurizer": "text", **OLD_READOUT}, True),
    # added with the issue-10 readout (attention + mean per component), after the rework
    "components_v2": ({}, True),
    "components_v2_stock": ({}, False),
}

TEXT_DIM = 12


class FakeSpanEmbedder:
    """Stands in for :class:`graphclr.graphs.text_spans.SpanEmbedder`: a deterministic vector
    per entity (a function of its text), so the ``"text"`` featurizer runs without a model."""

    dim = TEXT_DIM

    def __call__(self, reports):
        import zlib

        out = []
        for r in reports:
            rows = [np.random.default_rng(zlib.crc32(e.tokens.encode())).standard_normal(TEXT_DIM)
                    for e in r.entities]
            out.append(np.array(rows, dtype=np.float32).reshape(len(rows), TEXT_DIM))
        return out


def encoder_and_processor(name: str):
    """A seeded encoder (eval mode) and its report processor for case ``name``."""
    import torch

    from graphclr.graphs import Vocabulary
    from graphclr.models.processor import GraphReportProcessor
    from graphclr.nn.encoder import GraphEncoder

    kw, fast = CASES[name]
    cfg = _cfg(**kw)
    graphs = fixture_graphs()
    vocab = Vocabulary.from_graphs(graphs[:-1])  # the last report's words stay <unk>
    proc = GraphReportProcessor(vocab, cfg)
    text_dim = None
    if cfg.featurizer == "text":
        proc.features.embedder = FakeSpanEmbedder()
        text_dim = TEXT_DIM
    torch.manual_seed(0)
    enc = GraphEncoder(cfg, vocab_size=len(vocab), text_dim=text_dim, fast=fast).eval()
    return enc, proc


def compute(name: str):
    """``{"all": [B, width], "empty": [1, width]}`` outputs of case ``name``."""
    import torch

    enc, proc = encoder_and_processor(name)
    graphs = fixture_graphs()
    with torch.no_grad():
        return {"all": enc(proc(graphs)), "empty": enc(proc([graphs[1]])),
                "reversed": enc(proc(graphs[::-1]))}


def main() -> int:
    import torch

    torch.set_num_threads(1)
    # cases already stored keep their arrays (they are the reference); new cases are added
    stored = {}
    if FIXTURE.is_file():
        with np.load(FIXTURE) as data:
            stored = {k: data[k] for k in data.files}
    have = {k.split("/", 1)[0] for k in stored}
    arrays = dict(stored)
    arrays.update({f"{name}/{part}": t.numpy() for name in CASES if name not in have
                   for part, t in compute(name).items()})
    from graphclr.utils import atomic_write

    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(FIXTURE, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    print(f"wrote {len(arrays)} arrays to {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
