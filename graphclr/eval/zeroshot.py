"""Zero-shot classification from prompt graphs.

For each label there is a *positive* and a *negative* prompt ("There is a pleural
effusion." / "No pleural effusion."). A graph model sees each prompt as the report graph
our extractor builds from it (or as a RadGraph record given directly); a text model sees
the prompt text. An image is scored by the cosine gap

.. math::
    s_j(x) = \\cos\\big(f(x), g(P^+_j)\\big) - \\cos\\big(f(x), g(P^-_j)\\big),

where :math:`f` is the image encoder and :math:`g(P)` the mean of the normalised report
embeddings of the prompts on that side, renormalised (the CLIP prompt ensemble). The gap
needs no threshold and is what AUROC/MCC then rank.

Prompts live in editable JSON files (``graphclr/eval/prompts/*.json``, format
``graphclr-prompts/1``)::

    {"format": "graphclr-prompts/1",
     "labels": {"Edema": {"positive": ["There is pulmonary edema."],
                          "negative": ["No pulmonary edema."]}}}

A prompt is report text or a RadGraph record (``{"text": ..., "entities": {...}}``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PromptSet", "load_prompts", "builtin_prompts", "prompt_reports", "ZeroShotClassifier",
           "build_zero_shot_classifier", "zero_shot_scores", "default_graph_extractor"]

log = logging.getLogger(__name__)

PROMPT_FORMAT = "graphclr-prompts/1"
_PROMPTS = "eval/prompts"   #: the shipped prompt sets' folder (graphclr.shipped)
Prompt = str | Mapping[str, Any]


@dataclass
class PromptSet:
    """Per label, the positive and the negative prompts."""

    labels: dict[str, tuple[list[Prompt], list[Prompt]]]
    source: str = ""

    @property
    def names(self) -> list[str]:
        return list(self.labels)

    def select(self, names: Sequence[str]) -> PromptSet:
        missing = [n for n in names if n not in self.labels]
        if missing:
            raise ValueError(f"no prompts for label(s) {missing} in {self.source or 'the prompt set'}; "
                             f"it has {self.names}")
        return PromptSet({n: self.labels[n] for n in names}, self.source)


def builtin_prompts() -> list[str]:
    """Names of the prompt files shipped with graphclr (``chexpert5``, ...)."""
    from graphclr.shipped import shipped_names

    return shipped_names(_PROMPTS)


def load_prompts(name_or_path: str | os.PathLike[str] = "chexpert5") -> PromptSet:
    """Read a prompt file: a shipped name (see :func:`builtin_prompts`) or a path.

    Errors name the file and the offending label/field.

    Examples:
        >>> p = load_prompts("chexpert5")
        >>> p.names[:2], p.labels["Edema"][1][0]
        (['Atelectasis', 'Cardiomegaly'], 'No pulmonary edema.')
    """
    from graphclr.shipped import find_json, read_json   # the one shipped-JSON reader

    path = find_json(name_or_path, _PROMPTS, what="prompt set")
    data = read_json(path)
    if data.get("format") != PROMPT_FORMAT:
        raise ValueError(f"{path}: field 'format' must be {PROMPT_FORMAT!r}; got {data.get('format')!r}")
    labels = data.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise ValueError(f"{path}: field 'labels' must be a non-empty object")
    out: dict[str, tuple[list[Prompt], list[Prompt]]] = {}
    for name, sides in labels.items():
        pair = []
        for side in ("positive", "negative"):
            prompts = sides.get(side) if isinstance(sides, dict) else None
            if isinstance(prompts, (str, dict)):
                prompts = [prompts]
            if not prompts or not isinstance(prompts, list):
                raise ValueError(f"{path}: labels[{name!r}].{side} must be a non-empty list of prompts")
            for k, p in enumerate(prompts):
                if isinstance(p, dict) and not ("text" in p and "entities" in p):
                    raise ValueError(f"{path}: labels[{name!r}].{side}[{k}]: a RadGraph prompt needs "
                                     "'text' and 'entities'")
                if not isinstance(p, (str, dict)):
                    raise ValueError(f"{path}: labels[{name!r}].{side}[{k}] must be text or a RadGraph record")
            pair.append(list(prompts))
        out[str(name)] = (pair[0], pair[1])
    return PromptSet(out, str(path))


def default_graph_extractor() -> Callable[[Sequence[str]], list[Any]]:
    """graphclr's built-in report -> graph extractor, as ``texts -> [ReportGraph]``."""
    from graphclr.reports.extract import extract_reports

    def run(texts: Sequence[str]) -> list[Any]:
        return list(extract_reports(list(texts)))

    return run


def _to_graphs(prompts: Sequence[Prompt], extractor: Callable[[Sequence[str]], list[Any]] | None,
               prefix: str) -> list[Any]:
    from graphclr.reports.schema import ReportGraph

    out: list[Any] = [None] * len(prompts)
    texts = [(i, p) for i, p in enumerate(prompts) if isinstance(p, str)]
    if texts:
        extract = extractor or default_graph_extractor()
        graphs = extract([t for _, t in texts])
        for (i, _), g in zip(texts, graphs):
            out[i] = g
    for i, p in enumerate(prompts):
        if isinstance(p, Mapping):
            g = ReportGraph.from_radgraph_record(f"{prefix}{i}", p)
            g.validate()
            out[i] = g
    return out


def prompt_reports(prompts: PromptSet, report_input: str = "graph", *,
                   extractor: Callable[[Sequence[str]], list[Any]] | None = None
                   ) -> dict[str, tuple[list[Any], list[Any]]]:
    """The prompts as the reports a model takes: graphs (``"graph"``) or text (``"text"``)."""
    out = {}
    for name, (pos, neg) in prompts.labels.items():
        sides = []
        for side, ps in (("pos", pos), ("neg", neg)):
            if report_input == "text":
                sides.append([p if isinstance(p, str) else str(p["text"]) for p in ps])
            else:
                sides.append(_to_graphs(ps, extractor, f"prompt:{name}:{side}:"))
        out[name] = (sides[0], sides[1])
    return out


@dataclass
class ZeroShotClassifier:
    """Normalised positive and negative prompt embeddings, ``[L, D]`` each."""

    labels: list[str]
    positive: np.ndarray
    negative: np.ndarray


def _ensemble(emb: np.ndarray) -> np.ndarray:
    m = emb.mean(axis=0)
    return m / max(float(np.linalg.norm(m)), 1e-12)


def build_zero_shot_classifier(model: Any, prompts: PromptSet | str | os.PathLike[str] = "chexpert5", *,
                               labels: Sequence[str] | None = None,
                               extractor: Callable[[Sequence[str]], list[Any]] | None = None,
                               device: str = "cpu") -> ZeroShotClassifier:
    """Embed each label's prompts with ``model.encode_report``.

    Args:
        model: a contrastive model (``report_processor``, ``encode_report``); text models
            say ``report_key = "text"``.
        prompts: a :class:`PromptSet`, a shipped prompt-set name, or a JSON path.
        labels: the labels to build (default: all in the prompt set), in this order.
        extractor: ``texts -> [ReportGraph]`` for text prompts given to graph models
            (default: :func:`default_graph_extractor`).
        device: where the model runs.
    """
    from graphclr.data.base import report_key_of
    from graphclr.eval.features import encode_reports

    pset = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    if labels is not None:
        pset = pset.select(labels)
    reports = prompt_reports(pset, report_key_of(model), extractor=extractor)
    pos, neg = [], []
    for name in pset.names:
        p, n = reports[name]
        emb = encode_reports(model, list(p) + list(n), device=device, normalize=True)
        pos.append(_ensemble(emb[: len(p)]))
        neg.append(_ensemble(emb[len(p):]))
    return ZeroShotClassifier(pset.names, np.stack(pos), np.stack(neg))


def zero_shot_scores(image_features: np.ndarray, classifier: ZeroShotClassifier) -> np.ndarray:
    """Cosine gap ``cos(img, pos_j) - cos(img, neg_j)``, ``[N, L]``.

    ``image_features`` need not be normalised; they are here.

    Examples:
        >>> clf = ZeroShotClassifier(["A"], np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
        >>> zero_shot_scores(np.array([[2.0, 0.0], [0.0, 3.0]]), clf).ravel().tolist()
        [1.0, -1.0]
    """
    x = np.asarray(image_features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x @ classifier.positive.T - x @ classifier.negative.T
