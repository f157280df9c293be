"""graphclr: image-graph contrastive learning on chest X-rays, built on DGL.

Importing ``graphclr`` is cheap: torch and DGL load only when a function that needs
them is first used. Submodules:

* :mod:`graphclr.reports` -- the first stage: report graphs in the RadGraph schema and
  RadGraph JSON I/O (``reports.schema``), report readers (``reports.readers``), the
  built-in extractor (``reports.extract``) and the labeler (``reports.labels``);
* :mod:`graphclr.graphs` -- DGL heterographs, vocabulary, graph store, rendering;
* :mod:`graphclr.models` -- the contrastive models, their one registry and factory. Its
  open_clip-shaped entry points are also here, loaded on first use:
  :func:`create_model_and_transforms`, :func:`create_model`, :func:`create_model_for`,
  :func:`load_model`, :func:`list_models` and :func:`get_report_processor` (raw report
  text or graphs -> the model's batch, like open_clip's ``get_tokenizer``).

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

#: top-level names served from graphclr.models on first use (``import graphclr`` stays cheap)
_LAZY = {"create_model": "graphclr.models.factory", "create_model_and_transforms": "graphclr.models.factory",
         "create_model_for": "graphclr.models.factory", "load_model": "graphclr.models.factory",
         "list_models": "graphclr.models.registry", "get_report_processor": "graphclr.models.raw_reports"}

__all__ = [
    "Entity", "RadGraphCollection", "RadGraphFormatError", "Relation", "ReportGraph",
    "read_radgraph", "write_radgraph", "__version__", *_LAZY,
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'graphclr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
