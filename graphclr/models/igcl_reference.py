r"""``igcl-reference``: the reference IGCL model (rajpurkarlab/IGCL) as a graphclr model.

A :class:`~graphclr.models.contrastive.ContrastiveModel` whose report tower is
:class:`~graphclr.nn.igcl_reference.IGCLReferenceEncoder`, fed by
:class:`IGCLReferenceProcessor`, with every behaviour of the reference behind a named switch
of :class:`IGCLReferenceCfg` (``graph_cfg`` of a ``"model_type": "igcl-reference"`` config;
the defaults are the reference's):

* ``first_relation_only``: keep only each entity's first relation (the reference's
  ``relations[0]``); off keeps every relation;
* ``head_to_tail_only``: edges run head -> tail only (off: reverse edges too, with their
  own relation ids ``r + 3``);
* relation ids ``located_at = 0, modify = 1, suggestive_of = 2`` (:data:`RELATION_IDS`) and
  the dummy relation 3: ``num_rels = 4`` (7 with reverse edges);
* ``reaction_nodes``: :func:`~graphclr.nn.igcl_reference.reaction_transform` on every graph
  (it fires only with an isolated node and several components);
* ``mask_padding``: off = the reference's unmasked transformer (a graph's embedding then
  depends on the largest graph in its batch); on = a key-padding mask;
* ``fc_layers``: ``Linear + ReLU`` blocks after pooling (1 in the evaluated checkpoint);
* ``features``: ``"bert"`` = the reference's 772-d BERT span features
  (:class:`~graphclr.nn.bert_spans.BertSpanEmbedder` from ``text_model``, a local
  directory), ``"types"`` = the 4-way type one-hot alone (for smoke runs without a BERT);
* ``drop_empty_graphs``: :meth:`IGCLReferenceCfg.keep` says which reports the reference
  kept (those with at least one entity); the benchmark runner drops the others' pairs
  before pretraining (:meth:`IGCLReferenceCLIP.keep_pretrain_pairs`).

Self-loops are removed and duplicate typed edges merged, as PyG's ``coalesce`` did.

Examples:
    >>> from graphclr.reports.schema import Entity, Relation, ReportGraph
    >>> g = ReportGraph("r", "small left effusion", [Entity("small", "OBS-DP", 0, 0),
    ...     Entity("left", "ANAT-DP", 1, 1), Entity("effusion", "OBS-DP", 2, 2)],
    ...     [Relation("modify", 0, 2), Relation("located_at", 0, 1), Relation("located_at", 2, 1)])
    >>> reference_edges(g, IGCLReferenceCfg())          # entity 0's second relation dropped
    ([(0, 2, 1), (2, 1, 0)], 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from graphclr.models.contrastive import ContrastiveModel
from graphclr.models.image import ImageEncoder
from graphclr.nn._config import dataclass_from_dict
from graphclr.nn.bert_spans import REFERENCE_TYPE_ORDER
from graphclr.nn.igcl_reference import IGCLReferenceEncoder, reaction_transform
from graphclr.reports.schema import ReportGraph

__all__ = ["RELATION_IDS", "IGCLReferenceCfg", "reference_edges", "IGCLGraphBatch",
           "IGCLReferenceProcessor", "IGCLReferenceTower", "IGCLReferenceCLIP"]

#: The reference's relation ids (its ``get_edge_label``).
RELATION_IDS: dict[str, int] = {"located_at": 0, "modify": 1, "suggestive_of": 2}


@dataclass
class IGCLReferenceCfg:
    """Switches of the reference graph tower (see the module doc); defaults = the reference."""

    width: int = 512
    conv_layers: int = 2
    trans_layers: int = 1
    heads: int = 2
    fc_layers: int = 1
    first_relation_only: bool = True
    head_to_tail_only: bool = True
    reaction_nodes: bool = True
    mask_padding: bool = False
    features: str = "bert"            #: "bert" | "types"
    text_model: str | None = None     #: local bert-base-uncased directory (features="bert")
    text_dim: int = 768
    max_seq_len: int = 512
    span_cache_dir: str | None = None
    drop_empty_graphs: bool = True

    def __post_init__(self) -> None:
        if self.features not in ("bert", "types"):
            raise ValueError(f"graph_cfg.features must be 'bert' or 'types', got {self.features!r}")
        for name in ("width", "conv_layers", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"graph_cfg.{name} must be >= 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "graph_cfg") -> IGCLReferenceCfg:
        return dataclass_from_dict(cls, data, where)

    @property
    def num_rels(self) -> int:
        return 4 if self.head_to_tail_only else 7

    @property
    def feat_size(self) -> int:
        return (self.text_dim if self.features == "bert" else 0) + len(REFERENCE_TYPE_ORDER)

    def keep(self, graph: ReportGraph) -> bool:
        """Whether the reference kept this report (it dropped graphs without entities)."""
        return bool(graph.entities) or not self.drop_empty_graphs


def reference_edges(graph: ReportGraph, cfg: IGCLReferenceCfg) -> tuple[list[tuple[int, int, int]], int]:
    """``([(head, tail, relation id)], num_rels)`` of one report, sorted and deduplicated."""
    edges: set[tuple[int, int, int]] = set()
    seen: set[int] = set()
    for i, rel in enumerate(graph.relations):
        if rel.type not in RELATION_IDS:
            raise ValueError(f"report {graph.id!r}: relation {i} has type {rel.type!r}; the "
                             f"reference knows {sorted(RELATION_IDS)}")
        if cfg.first_relation_only:
            if rel.head in seen:
                continue
            seen.add(rel.head)
        if rel.head == rel.tail:
            continue
        r = RELATION_IDS[rel.type]
        edges.add((rel.head, rel.tail, r))
        if not cfg.head_to_tail_only:
            edges.add((rel.tail, rel.head, r + 4))      # 3 is the dummy relation
    return sorted(edges), cfg.num_rels


class IGCLGraphBatch(NamedTuple):
    """Reference graphs of a batch, already transformed: the encoder's tensors."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    batch: torch.Tensor
    num_graphs: int

    def to(self, device: Any) -> IGCLGraphBatch:
        return IGCLGraphBatch(self.x.to(device), self.edge_index.to(device),
                              self.edge_type.to(device), self.batch.to(device), self.num_graphs)


def _type_rows(graph: ReportGraph) -> np.ndarray:
    from graphclr.constants import LABEL_TO_KIND_CERTAINTY, v1_label

    out = np.zeros((len(graph.entities), len(REFERENCE_TYPE_ORDER)), dtype=np.float32)
    for i, e in enumerate(graph.entities):
        if e.label not in LABEL_TO_KIND_CERTAINTY:
            raise ValueError(f"report {graph.id!r}: entity {i} has label {e.label!r}")
        out[i, REFERENCE_TYPE_ORDER.index(v1_label(*LABEL_TO_KIND_CERTAINTY[e.label]))] = 1.0
    return out


class IGCLReferenceProcessor:
    """``processor(reports) -> IGCLGraphBatch``: features, reference edges, reaction nodes.

    Picklable for data-loader workers (the BERT span embedder loads lazily and caches).
    """

    def __init__(self, cfg: IGCLReferenceCfg) -> None:
        self.cfg = cfg
        self.embedder = None
        if cfg.features == "bert" and not cfg.text_model:
            raise ValueError("graph_cfg.text_model: features='bert' needs a local bert-base-uncased "
                             "directory (or features='types')")
        if cfg.features == "bert":
            from graphclr.nn.bert_spans import BertSpanEmbedder

            self.embedder = BertSpanEmbedder(cfg.text_model, max_seq_len=cfg.max_seq_len,
                                             cache_dir=cfg.span_cache_dir)
            if self.embedder.dim != cfg.text_dim:
                raise ValueError(f"graph_cfg.text_dim={cfg.text_dim}, but {cfg.text_model} has "
                                 f"width {self.embedder.dim}")

    def precompute(self, reports: Sequence[ReportGraph], *, progress: bool = True) -> int:
        return self.embedder.precompute(reports, progress=progress) if self.embedder else 0

    def __call__(self, reports: Sequence[ReportGraph]) -> IGCLGraphBatch:
        if len(reports) == 0:
            raise ValueError("the report processor needs at least one report")
        spans = self.embedder(list(reports)) if self.embedder else [None] * len(reports)
        xs, eis, ets, batch, offset = [], [], [], [], 0
        for g, (report, span) in enumerate(zip(reports, spans)):
            types = torch.from_numpy(_type_rows(report))
            x = types if span is None else torch.cat([torch.from_numpy(np.asarray(span, np.float32)), types], 1)
            edges, _ = reference_edges(report, self.cfg)
            ei = torch.tensor([[h for h, _, _ in edges], [t for _, t, _ in edges]], dtype=torch.long).reshape(2, -1)
            et = torch.tensor([r for _, _, r in edges], dtype=torch.long)
            if self.cfg.reaction_nodes:
                x, ei, et = reaction_transform(x, ei, et)
            xs.append(x), eis.append(ei + offset), ets.append(et)
            batch.append(torch.full((x.shape[0],), g, dtype=torch.long))
            offset += x.shape[0]
        return IGCLGraphBatch(torch.cat(xs), torch.cat(eis, 1), torch.cat(ets), torch.cat(batch),
                              len(reports))


class IGCLReferenceTower(nn.Module):
    """The report tower: :class:`IGCLReferenceEncoder` on an :class:`IGCLGraphBatch`."""

    def __init__(self, cfg: IGCLReferenceCfg) -> None:
        super().__init__()
        self.encoder = IGCLReferenceEncoder(cfg.feat_size, cfg.width, cfg.num_rels, cfg.conv_layers,
                                            cfg.trans_layers, cfg.fc_layers, cfg.heads,
                                            mask_padding=cfg.mask_padding)
        self.out_dim = cfg.width

    def forward(self, b: IGCLGraphBatch) -> torch.Tensor:
        return self.encoder.forward_tensors(b.x, b.edge_index, b.edge_type, b.batch, b.num_graphs)


class IGCLReferenceCLIP(ContrastiveModel):
    """The reference image-graph model: ``cfg`` is a ``model_type="igcl-reference"`` config."""

    model_type = "igcl-reference"
    report_key = "graph"

    def __init__(self, cfg: Any, vocab: Any = None, **_: Any) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab = vocab                   # unused: features come from BERT or types
        self.report_processor = IGCLReferenceProcessor(cfg.graph_cfg)
        self.visual = ImageEncoder(cfg.image_cfg)
        self.graph = IGCLReferenceTower(cfg.graph_cfg)
        heads = {k: getattr(cfg, k) for k in ("proj_bias", "init_logit_scale", "max_logit_scale")}
        self._init_heads(self.visual.output_dim, self.graph.out_dim, cfg.embed_dim, **heads)

    #: image preprocessing (size, mean/std, ...), saved with checkpoints
    preprocess_cfg = property(lambda self: self.cfg.image_cfg.preprocess_cfg())

    def keep_pretrain_pairs(self, dataset: Any, echo: Any = None) -> Any:
        """``dataset`` without the pairs whose report graph the reference dropped
        (:meth:`IGCLReferenceCfg.keep`); the dataset itself when none is dropped."""
        from graphclr.data.base import SubsetDataset

        keep = [i for i in range(len(dataset))
                if (g := dataset.report(i)[0]) is None or self.cfg.graph_cfg.keep(g)]
        if len(keep) == len(dataset):
            return dataset
        if echo is not None:
            echo(f"igcl-reference: {len(dataset) - len(keep)} pretraining pairs with empty graphs dropped")
        return SubsetDataset(dataset, keep)
