"""The first stage of the pipeline: radiology reports and their knowledge graphs.

* :mod:`graphclr.reports.schema` -- ``Entity``, ``Relation``, ``ReportGraph`` in the
  RadGraph schema, and exact RadGraph JSON read/write;
* :mod:`graphclr.reports.readers` -- report readers: Open-i archive, MIMIC-CXR report
  trees, CSV and text files (``Report`` records);
* :mod:`graphclr.reports.extract` -- the built-in report -> graph extractor;
* :mod:`graphclr.reports.labels` -- graph -> ChestX-ray14 / CheXpert image labels.

Importing this package is cheap (no torch, DGL or spaCy).
"""

from graphclr.reports.schema import (
    Entity,
    RadGraphCollection,
    RadGraphFormatError,
    Relation,
    ReportGraph,
    read_radgraph,
    write_radgraph,
)

__all__ = ["Entity", "RadGraphCollection", "RadGraphFormatError", "Relation", "ReportGraph",
           "read_radgraph", "write_radgraph"]
