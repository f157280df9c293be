"""Raw reports -> a model's report batch: graphclr's analogue of open_clip's ``get_tokenizer``.

``get_report_processor(model)`` returns a picklable callable that takes report text, or
:class:`~graphclr.reports.schema.ReportGraph` objects, or cached ``GraphArrays`` (one or a
list), and returns the batch ``model.encode_report`` takes:

* graph models (``report_key == "graph"``): text goes through the built-in extractor
  (:func:`graphclr.reports.extract.extract_reports`, or ``extractor=``), then the model's
  ``report_processor`` batches the graphs;
* text models (``report_key == "text"``): a ``ReportGraph`` gives its ``.text``;
  ``GraphArrays`` hold no text and are refused with an error that says what to pass.

Examples:
    >>> from graphclr.models import create_model
    >>> from graphclr.reports.schema import Entity, ReportGraph
    >>> model = create_model("tiny", overrides={"graph_cfg": {"featurizer": "hashed"}})
    >>> process = get_report_processor(model)
    >>> g = ReportGraph("r1", "Small effusion .", [Entity("effusion", "OBS-DP", 1, 1)])
    >>> model.encode_report(process([g, g])).shape
    torch.Size([2, 32])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphclr.data.base import report_key_of

__all__ = ["ReportProcessor", "get_report_processor"]


def _extract(texts: Sequence[str]) -> list[Any]:
    from graphclr.reports.extract import extract_reports

    return list(extract_reports(list(texts)))


class ReportProcessor:
    """``reports -> batch`` for one model (see module doc); picklable with the default extractor.

    Args:
        processor: the model's ``report_processor``.
        report_key: ``"graph"`` or ``"text"`` (:func:`graphclr.data.base.report_key_of`).
        extractor: ``texts -> [ReportGraph]`` for graph models (default: the built-in one).
    """

    def __init__(self, processor: Callable[[list[Any]], Any], report_key: str,
                 extractor: Callable[[Sequence[str]], list[Any]] | None = None) -> None:
        self.processor = processor
        self.report_key = report_key
        self.extractor = extractor

    def _as_graphs(self, reports: list[Any]) -> list[Any]:
        texts = [(i, r) for i, r in enumerate(reports) if isinstance(r, str)]
        if texts:
            graphs = (self.extractor or _extract)([t for _, t in texts])
            for (i, _), g in zip(texts, graphs, strict=True):
                reports[i] = g
        return reports

    def _as_texts(self, reports: list[Any]) -> list[str]:
        out = []
        for i, r in enumerate(reports):
            text = r if isinstance(r, str) else getattr(r, "text", None)
            if not isinstance(text, str):
                raise TypeError(f"report {i}: a text model needs report text or a ReportGraph "
                                f"(with .text); got {type(r).__name__}")
            out.append(text)
        return out

    def __call__(self, reports: Any) -> Any:
        if isinstance(reports, str) or hasattr(reports, "_fields") or not isinstance(reports, Sequence):
            reports = [reports]          # one report (GraphArrays is a NamedTuple: a Sequence)
        reports = list(reports)
        if self.report_key == "text":
            return self.processor(self._as_texts(reports))
        return self.processor(self._as_graphs(reports))


def get_report_processor(model: Any, *, extractor: Callable[[Sequence[str]], list[Any]] | None = None
                         ) -> ReportProcessor:
    """The raw-report processor of ``model`` (a graphclr model, or a DDP wrapper of one)."""
    module = getattr(model, "module", model)
    if not callable(getattr(module, "report_processor", None)):
        raise TypeError(f"{type(module).__name__} has no report_processor: pass a graphclr model "
                        "(graphclr.create_model / load_model)")
    return ReportProcessor(module.report_processor, report_key_of(module), extractor)
