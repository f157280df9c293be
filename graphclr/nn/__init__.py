"""DGL modules of the graph encoder: featurizers, RGCN stack, component pooling and transformer.

* :mod:`graphclr.nn.featurizers` -- token, hashed n-gram and pretrained-text node features,
  and the featurizer registry (each paired with its data side in :mod:`graphclr.graphs.features`);
* :mod:`graphclr.graphs.text_spans` (data side, re-exported) -- entity-span embeddings;
* :mod:`graphclr.nn.rgcn` -- ``dgl.nn.RelGraphConv`` stack with an exact fast forward;
* :mod:`graphclr.nn.dedup` -- exact deduplication of repeated computation trees;
* :mod:`graphclr.nn.pooling` -- gated attention pooling per weakly connected component;
* :mod:`graphclr.nn.transformer` -- transformer over component vectors + [GRAPH] token;
* :mod:`graphclr.nn.igcl` -- the reference implementation's virtual-node variant;
* :mod:`graphclr.nn.encoder` -- :class:`GraphEncoder` putting them together by variant;
* :mod:`graphclr.nn.naive` -- slow pure-PyTorch twins used by the tests.

Importing this package imports torch and DGL.
"""

from graphclr.nn.encoder import VARIANTS, GraphEncoder, GraphEncoderCfg, as_report_batch, homogeneous_view
from graphclr.nn.featurizers import (
    FEATURIZERS,
    REGISTRY,
    HashedNgramFeaturizer,
    PretrainedTextFeaturizer,
    TokenFeaturizer,
    hashed_ngram_ids,
)
from graphclr.nn.igcl import NodeTransformerMeanReadout, add_virtual_nodes
from graphclr.nn.pooling import ComponentAttentionPooling
from graphclr.nn.rgcn import EdgeList, EdgePlan, FastRelGraphConv, RGCNStack, edge_plan
from graphclr.graphs.text_spans import SpanEmbedder, default_text_model_dir
from graphclr.nn.transformer import ComponentTransformer

__all__ = [
    "VARIANTS", "GraphEncoder", "GraphEncoderCfg", "homogeneous_view", "as_report_batch",
    "FEATURIZERS", "REGISTRY",
    "HashedNgramFeaturizer", "PretrainedTextFeaturizer", "TokenFeaturizer", "hashed_ngram_ids",
    "NodeTransformerMeanReadout", "add_virtual_nodes", "ComponentAttentionPooling",
    "EdgeList", "EdgePlan", "FastRelGraphConv", "RGCNStack", "edge_plan", "SpanEmbedder",
    "default_text_model_dir", "ComponentTransformer",
]
