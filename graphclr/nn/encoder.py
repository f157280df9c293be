r"""The graph encoder: featurizer -> RGCN stack -> a readout chosen by ``variant``.

For a batch of report graphs (a :class:`~graphclr.graphs.ReportBatch` from the model's
report processor; a DGL batch from :func:`graphclr.graphs.batch_graphs`, or its
homogeneous view, is converted to one):

1. node features :math:`x_v` from a featurizer (:mod:`graphclr.nn.featurizers`);
2. ``layers`` relational graph convolutions (:class:`~graphclr.nn.rgcn.RGCNStack`) give
   node states :math:`h_v`;
3. a readout, by ``variant``:

   * ``"components"`` (graphclr's encoder): gated attention pools each weakly connected
     component (:class:`~graphclr.nn.pooling.ComponentAttentionPooling`; by default the
     component mean is added, ``pool_readout="attention+mean"``, so every node keeps a
     share of at least :math:`1/|C|`), then a transformer over the graph's component
     vectors reads out a learned [GRAPH] token
     (:class:`~graphclr.nn.transformer.ComponentTransformer`). ``graph_readout`` picks
     what the graph embedding is: the token's output (``"token"``, the default), plus the
     mean of the component vectors (``"token+mean"``) or of the node states
     (``"token+nodemean"``), or the mean of every transformer output (``"mean"``); the
     three are ablations. Why the default changed (issue 10,
     ``benchmarks/results/readout_ablation.md``, 3 pretraining seeds): the attention-only
     readout scored the effusion side zero-shot 0.77 ± 0.10; attention + mean 0.86 ± 0.10,
     higher in every seed, with the same mean zero-shot AUROC (0.90). The attention
     itself does not drop the side node (it gets 0.23 of its component, against 0.27 for
     a uniform share); what is lost is the *difference* between "left" and "right",
     which is small next to what the two prompts share (cosine 0.97 after pooling). The
     mean terms are parameter-free, so checkpoints of the old readout load unchanged and
     are rebuilt with it (``pool_readout="attention"``);
   * ``"igcl"``: the reference implementation's encoder -- a virtual node per component
     plus a global node before the RGCN, a transformer over all nodes, mean pooling
     (:mod:`graphclr.nn.igcl`);
   * ``"rgcn-mean"``: the ablation without a transformer, :math:`e_g = \mathrm{mean}_v h_v`;

4. ``fc_layers`` x (Linear + ReLU), as the reference's FC head.

Every graph, including one with no entities, gets a finite ``[width]`` embedding.

Examples:
    >>> import torch
    >>> from graphclr.reports.schema import Entity, Relation, ReportGraph
    >>> from graphclr.graphs import ReportBatch, Vocabulary
    >>> rg = ReportGraph("r1", "small left effusion", [
    ...     Entity("small", "OBS-DP", 0, 0), Entity("left", "ANAT-DP", 1, 1),
    ...     Entity("effusion", "OBS-DP", 2, 2)],
    ...     [Relation("modify", 0, 2), Relation("located_at", 2, 1)])
    >>> empty = ReportGraph("r2", "")
    >>> vocab = Vocabulary.from_graphs([rg])
    >>> cfg = GraphEncoderCfg(feature_dim=16, width=32, pool_hidden=8, ff_dim=64)
    >>> enc = GraphEncoder(cfg, vocab_size=len(vocab)).eval()
    >>> enc(ReportBatch.from_reports([rg, empty], vocab)).shape
    torch.Size([2, 32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from graphclr.constants import NUM_RELATION_IDS
from graphclr.nn._config import dataclass_from_dict
from graphclr.nn._segment import segment_mean
from graphclr.nn.featurizers import REGISTRY
from graphclr.nn.igcl import NodeTransformerMeanReadout, add_virtual_nodes
from graphclr.nn.pooling import ComponentAttentionPooling
from graphclr.nn.rgcn import BagInput, EdgeList, RGCNStack, UniqueRows
from graphclr.nn.transformer import ComponentTransformer

if TYPE_CHECKING:  # pragma: no cover
    import dgl

    from graphclr.graphs.batch import ReportBatch

__all__ = ["GraphEncoderCfg", "GraphEncoder", "VARIANTS", "homogeneous_view", "as_report_batch"]

VARIANTS = ("components", "igcl", "rgcn-mean")
GRAPH_READOUTS = ("token", "token+mean", "token+nodemean", "mean")


@dataclass
class GraphEncoderCfg:
    """Architecture of the graph encoder (the ``graph_cfg`` of a model config).

    Defaults are the reference sizes: 2 RGCN layers of width 512, one transformer layer
    with 2 heads and a 1024-wide feed-forward block.
    """

    variant: str = "components"          #: "components" | "igcl" | "rgcn-mean"
    featurizer: str = "tokens"           #: "tokens" | "hashed" | "text"
    feature_dim: int = 256               #: token / n-gram embedding width
    max_tokens: int = 4                  #: tokens kept per entity
    hash_buckets: int = 65536            #: hashed featurizer: buckets
    ngram_min: int = 3
    ngram_max: int = 5
    max_ngrams: int = 64
    text_model: str | None = None        #: text featurizer: local HF dir; None = bundled MiniLM
    text_layers: int = 4                 #: text featurizer: last hidden layers summed
    width: int = 512                     #: RGCN width = transformer width
    layers: int = 2                      #: RGCN layers
    regularizer: str | None = "basis"    #: "basis" | "bdd" | None
    num_bases: int | None = None         #: bases ("basis", default num_rels) or blocks ("bdd")
    self_loop: bool = True
    dropout: float = 0.0                 #: after each RGCN layer
    norm: str = "mean"                   #: per-relation mean ("mean") or sum of messages
    layer_norm: bool = False             #: RelGraphConv's layer norm
    pool_gate: str = "gated"             #: "gated" | "linear"
    pool_hidden: int = 128               #: gated attention hidden width
    pool_readout: str = "attention+mean"  #: "attention+mean" | "attention" (before issue 10)
    graph_readout: str = "token"         #: "token" | "token+mean" | "token+nodemean" | "mean"
    transformer_layers: int = 1
    heads: int = 2
    ff_dim: int = 1024
    transformer_dropout: float = 0.1
    norm_first: bool = False
    fc_layers: int = 0                   #: Linear+ReLU layers after the readout

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"graph_cfg.variant must be one of {VARIANTS}, got {self.variant!r}")
        from graphclr.nn.pooling import READOUTS

        if self.pool_readout not in READOUTS:
            raise ValueError(f"graph_cfg.pool_readout must be one of {READOUTS}, got "
                             f"{self.pool_readout!r}")
        if self.graph_readout not in GRAPH_READOUTS:
            raise ValueError(f"graph_cfg.graph_readout must be one of {GRAPH_READOUTS}, got "
                             f"{self.graph_readout!r}")
        if self.featurizer not in REGISTRY:
            raise ValueError(f"graph_cfg.featurizer must be one of {tuple(REGISTRY)}, got "
                             f"{self.featurizer!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "graph_cfg") -> GraphEncoderCfg:
        return dataclass_from_dict(cls, data, where)


def homogeneous_view(g: dgl.DGLGraph) -> dgl.DGLGraph:
    """``g`` itself if it is already a homogeneous report batch, else ``to_homogeneous(g)``."""
    if len(g.ntypes) == 1 and "graph_id" in g.ndata:
        return g
    from graphclr.graphs import to_homogeneous

    return to_homogeneous(g)


def as_report_batch(batch: Any) -> ReportBatch:
    """``batch`` if it is a :class:`~graphclr.graphs.ReportBatch`; a DGL report graph
    (heterograph or homogeneous view) converted to one; otherwise a ``TypeError``."""
    from graphclr.graphs.batch import ReportBatch

    if isinstance(batch, ReportBatch):
        return batch
    if hasattr(batch, "canonical_etypes"):
        return ReportBatch.from_dgl(batch)
    raise TypeError(f"the graph encoder takes a ReportBatch (from the model's report_processor) "
                    f"or a DGL report graph, got {type(batch).__name__}")


def _node_mean(h: torch.Tensor | UniqueRows, graph_id: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean node state per graph (``rgcn-mean``'s readout; ``graph_readout="token+nodemean"``)."""
    return segment_mean(h.full() if isinstance(h, UniqueRows) else h, graph_id, batch_size)


class GraphEncoder(nn.Module):
    """Report graphs -> ``[B, width]`` embeddings (see module doc).

    Args:
        cfg: the architecture.
        vocab_size: vocabulary size (``"tokens"`` featurizer).
        text_dim: span-embedding width (``"text"`` featurizer).
        fast: use the exact fast paths (aggregate-then-transform RGCN, [GRAPH]-only last
            transformer layer); ``False`` runs DGL's and PyTorch's stock modules.
    """

    def __init__(self, cfg: GraphEncoderCfg, *, vocab_size: int | None = None,
                 text_dim: int | None = None, fast: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.fast = fast
        self.featurizer: nn.Module = REGISTRY[cfg.featurizer].build(cfg, vocab_size, text_dim=text_dim)
        in_dim = self.featurizer.out_dim
        num_rels = NUM_RELATION_IDS + (1 if cfg.variant == "igcl" else 0)
        self.num_rels = num_rels
        self.rgcn = RGCNStack(in_dim, cfg.width, cfg.layers, num_rels,
                              regularizer=cfg.regularizer, num_bases=cfg.num_bases,
                              self_loop=cfg.self_loop, dropout=cfg.dropout, norm=cfg.norm,
                              layer_norm=cfg.layer_norm, fast=fast)
        self.pool: ComponentAttentionPooling | None = None
        self.transformer: ComponentTransformer | None = None
        self.node_readout: NodeTransformerMeanReadout | None = None
        if cfg.variant == "components":
            self.pool = ComponentAttentionPooling(cfg.width, cfg.pool_hidden, cfg.pool_gate,
                                                  cfg.pool_readout)
            self.transformer = ComponentTransformer(cfg.width, cfg.heads, cfg.ff_dim,
                                                    cfg.transformer_layers,
                                                    cfg.transformer_dropout, cfg.norm_first)
        elif cfg.variant == "igcl":
            self.node_readout = NodeTransformerMeanReadout(cfg.width, cfg.heads, cfg.ff_dim,
                                                           cfg.transformer_layers,
                                                           cfg.transformer_dropout)
        self.head = nn.Sequential(*[m for _ in range(cfg.fc_layers)
                                    for m in (nn.Linear(cfg.width, cfg.width), nn.ReLU())])
        self.out_dim = cfg.width

    def forward(self, batch: ReportBatch | dgl.DGLGraph) -> torch.Tensor:
        """``[B, width]`` embeddings of a :class:`~graphclr.graphs.ReportBatch` (a DGL report
        graph is converted to one).

        The batch may stay on the CPU: the tensors the encoder needs are moved to the
        device of its parameters. The stock path (``fast=False``) runs DGL's modules on the
        batch's homogeneous DGL view, so it needs the model on the CPU (PyPI DGL).
        """
        b = as_report_batch(batch)
        self.rgcn.fast = self.fast
        device = next(self.rgcn.parameters()).device
        keys = set(getattr(self.featurizer, "requires", ())) | {"graph_id", "component_id"}
        nd = {k: b.ndata[k].to(device, non_blocking=True) for k in keys if k in b.ndata}
        n = b.num_nodes
        batch_size = b.batch_size
        hg: dgl.DGLGraph | None = None
        if self.fast:   # the batch's edges, sorted by relation
            src, dst, rel = (t.to(device, non_blocking=True) for t in (b.src, b.dst, b.rel))
        else:           # DGL's homogeneous view (edges by report, then edge type)
            hg = b.to_dgl(homogeneous=True)
            src, dst = hg.edges()
            rel = hg.edata["rel"]
        x = self._features(nd, n)
        graph_id = nd["graph_id"]
        if self.cfg.variant == "igcl":
            out = self._igcl(nd, src, dst, x, rel, graph_id, batch_size)
        else:
            h = self.rgcn(EdgeList(src, dst, n) if self.fast else hg, x, rel, unique=True,
                          presorted=self.fast)
            if self.cfg.variant == "rgcn-mean":
                out = _node_mean(h, graph_id, batch_size)
            else:
                out = self._components(nd, h, graph_id, batch_size)
        return self.head(out)

    def _features(self, nd: dict[str, torch.Tensor], n: int) -> torch.Tensor | BagInput:
        """Node features, or (fast path, token featurizers) a :class:`BagInput` when the
        batch has fewer distinct words than nodes: the first layer then multiplies the
        embedding table instead of every node (exact; see :class:`BagInput`)."""
        if self.fast and hasattr(self.featurizer, "bags") and n:
            bags = self.featurizer.bags(nd)
            if bags.table.shape[0] < n:
                return bags
        return self.featurizer(nd)

    def _components(self, nd: dict[str, torch.Tensor], h: torch.Tensor | UniqueRows,
                    graph_id: torch.Tensor, batch_size: int) -> torch.Tensor:
        assert self.pool is not None and self.transformer is not None
        comp = nd["component_id"]
        n_comp = int(comp.max()) + 1 if comp.numel() else 0
        comp_graph = torch.zeros(n_comp, dtype=torch.int64, device=graph_id.device)
        if n_comp:
            comp_graph.scatter_(0, comp, graph_id)
        pooled = self.pool(h, comp, n_comp)
        read = "mean" if self.cfg.graph_readout == "mean" else "token"
        out = self.transformer(pooled, comp_graph, batch_size, cls_only=self.fast, read=read)
        if self.cfg.graph_readout == "token+mean":
            out = out + segment_mean(pooled, comp_graph, batch_size)
        elif self.cfg.graph_readout == "token+nodemean":
            out = out + _node_mean(h, graph_id, batch_size)
        return out

    def _igcl(self, nd: dict[str, torch.Tensor], src: torch.Tensor, dst: torch.Tensor,
              x: torch.Tensor | BagInput, rel: torch.Tensor, graph_id: torch.Tensor,
              batch_size: int) -> torch.Tensor:
        assert self.node_readout is not None
        comp = nd["component_id"]
        n_comp = int(comp.max()) + 1 if comp.numel() else 0
        src, dst, rel, node_graph, n_total = add_virtual_nodes(
            src, dst, rel, comp, graph_id, n_comp, batch_size, NUM_RELATION_IDS)
        n_extra = n_total - comp.shape[0]
        if isinstance(x, BagInput):
            x = x.with_empty_nodes(n_extra)
        else:
            x = torch.cat([x, x.new_zeros((n_extra, x.shape[1]))], 0)
        h = self.rgcn(EdgeList(src, dst, n_total), x, rel)
        return self.node_readout(h, node_graph, batch_size)
