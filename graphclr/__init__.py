"""graphclr: image-graph contrastive learning on chest X-rays, built on DGL.

Importing ``graphclr`` is cheap: torch and DGL load only when a function that needs
them is first used. Submodules:

* :mod:`graphclr.reports` -- the first stage: report graphs in the RadGraph schema and
  RadGraph JSON I/O (``reports.schema``), report readers (``reports.readers``), the
  built-in extractor (``reports.extract``) and the labeler (``reports.labels``);
* :mod:`graphclr.graphs` -- DGL heterographs, vocabulary, graph store, rendering.

Module paths of graphclr 0.1 that moved (``graphclr.schema``, ``graphclr.extract``, ...)
still import, with a DeprecationWarning (:mod:`graphclr._compat`).
"""

import os as _os

# DGL asks for a backend on first import and writes ~/.dgl/config.json when none is set;
# graphclr only works with PyTorch, so say so up front (a default, never an override).
_os.environ.setdefault("DGLBACKEND", "pytorch")

from graphclr import _compat  # noqa: E402

_compat.install()

from graphclr.reports.schema import (  # noqa: E402
    Entity,
    RadGraphCollection,
    RadGraphFormatError,
    Relation,
    ReportGraph,
    read_radgraph,
    write_radgraph,
)

__version__ = "0.1.0"

__all__ = [
    "Entity", "RadGraphCollection", "RadGraphFormatError", "Relation", "ReportGraph",
    "read_radgraph", "write_radgraph", "__version__",
]
