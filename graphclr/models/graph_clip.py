r"""``GraphCLIP``: an image tower and a report-graph tower projected into one space.

The maths and the shared contract (``encode_image``, ``encode_report``,
``forward(image, report)``, ``lock_image_tower``, the temperature) are in
:class:`graphclr.models.contrastive.ContrastiveModel`; here the report tower :math:`f_R` is
the graph encoder (:class:`graphclr.nn.GraphEncoder`), fed by a picklable
``report_processor`` that batches report graphs for data loaders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from graphclr.graphs import GraphArrays, ReportBatch, Vocabulary
from graphclr.models.config import ModelCfg
from graphclr.models.contrastive import ContrastiveModel
from graphclr.models.image import ImageEncoder
from graphclr.models.processor import GraphReportProcessor
from graphclr.nn.encoder import GraphEncoder
from graphclr.reports.schema import ReportGraph

if TYPE_CHECKING:  # pragma: no cover
    import dgl

__all__ = ["GraphCLIP"]


class GraphCLIP(ContrastiveModel):
    """Image-graph contrastive model (see module doc).

    Args:
        cfg: the model config (``model_type="graph"``).
        vocab: the token vocabulary (needed by the ``"tokens"`` featurizer; kept for the
            report processor and checkpoints).
        fast: the graph encoder's exact fast paths (``False``: stock DGL/PyTorch modules).
    """

    model_type = "graph"
    report_key = "graph"

    def __init__(self, cfg: ModelCfg, vocab: Vocabulary | None = None, *, fast: bool = True) -> None:
        super().__init__()
        if cfg.model_type != "graph" or cfg.graph_cfg is None:
            raise ValueError("GraphCLIP needs a graph model config (model_type='graph')")
        gcfg = cfg.graph_cfg
        self.cfg = cfg
        self.vocab = vocab
        self.report_processor = GraphReportProcessor(vocab, gcfg)
        if self.report_processor.features.needs_vocab and vocab is None:
            raise ValueError(f"this config uses the {gcfg.featurizer!r} featurizer: pass vocab= (a "
                             "graphclr.graphs.Vocabulary built on the training graphs), or use "
                             "graph_cfg.featurizer='hashed' which needs none")
        self.visual = ImageEncoder(cfg.image_cfg)
        self.graph = GraphEncoder(gcfg, vocab_size=len(vocab) if vocab is not None else None,
                                  fast=fast, **self.report_processor.module_kwargs())
        self._init_heads(self.visual.output_dim, self.graph.out_dim, cfg.embed_dim,
                         proj_bias=cfg.proj_bias, init_logit_scale=cfg.init_logit_scale,
                         max_logit_scale=cfg.max_logit_scale)

    @property
    def preprocess_cfg(self) -> dict[str, Any]:
        """Image preprocessing (size, channels, mean/std, ...), saved with checkpoints."""
        return self.cfg.image_cfg.preprocess_cfg()

    def encode_report(self, batch: Any, normalize: bool = False) -> torch.Tensor:
        """``[B, embed_dim]`` graph embeddings of a :class:`~graphclr.graphs.ReportBatch`
        from :attr:`report_processor`, or of a list of report graphs (run through it)."""
        return super().encode_report(self._as_batch(batch), normalize=normalize)

    def encode_graph(self, graphs: ReportBatch | Sequence[ReportGraph] | dgl.DGLGraph,
                     normalize: bool = False) -> torch.Tensor:
        """``[B, embed_dim]`` graph embeddings (the contract's :meth:`encode_report` under the
        graph tower's name): of ``[ReportGraph, ...]`` (batched by :attr:`report_processor`),
        of the ``ReportBatch`` it returns, or of a DGL report graph.

        Examples:
            >>> from graphclr.models import create_model
            >>> from graphclr.reports.schema import Entity, ReportGraph
            >>> model = create_model("tiny", overrides={"graph_cfg": {"featurizer": "hashed"}})
            >>> rg = ReportGraph("r", "effusion", [Entity("effusion", "OBS-DP", 0, 0)])
            >>> model.encode_graph([rg]).shape == (1, model.embed_dim)
            True
            >>> model.encode_graph("effusion")
            Traceback (most recent call last):
            ...
            TypeError: encode_graph takes a list of ReportGraph (it batches them with model.report_processor) or the ReportBatch model.report_processor(reports) returns; got str
        """
        return self.encode_report(graphs, normalize=normalize)

    def _as_batch(self, batch: Any) -> Any:
        if isinstance(batch, (list, tuple)) and batch and \
                all(isinstance(g, (ReportGraph, GraphArrays)) for g in batch):
            return self.report_processor(list(batch))
        if isinstance(batch, ReportBatch) or hasattr(batch, "canonical_etypes"):
            return batch
        what = type(batch).__name__
        if isinstance(batch, (list, tuple)):
            kinds = sorted({type(g).__name__ for g in batch})
            what = f"{what} of {', '.join(kinds)}" if kinds else f"an empty {what}"
        raise TypeError("encode_graph takes a list of ReportGraph (it batches them with "
                        "model.report_processor) or the ReportBatch model.report_processor(reports) "
                        f"returns; got {what}")
