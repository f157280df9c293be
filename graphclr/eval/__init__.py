"""The evaluation protocol: linear probes, few-shot, zero-shot from prompt graphs, retrieval, metrics.

Everything works on plain feature arrays (:class:`FeatureSet`) or on any model that follows
the contrastive-model contract (``encode_image``, ``encode_report``, ``report_processor``),
so graph and text encoders are evaluated by the same code. Metrics come from scikit-learn.
:class:`EvalConfig` says which evaluations run and how; :func:`run_protocol` runs them all on
one model and writes ``results.json``, ``report.md`` and plots (``graphclr eval``; the
benchmark runner uses the same code). See ``docs/evaluation.md``.
"""

from graphclr.eval.config import EVALUATIONS, EvalConfig, Evaluation
from graphclr.eval.features import FeatureSet, encode_reports, extract_image_features
from graphclr.eval.metrics import (
    ReaderPoint,
    auroc,
    evaluate_scores,
    mcc_top_p,
    plot_roc_curves,
    read_reader_points,
    top_p_predictions,
)
from graphclr.eval.probe import LinearProbe, ProbeConfig, mean_auroc, probe_scores, train_linear_probe
from graphclr.eval.protocol import (
    DEFAULT_LABELS,
    few_shot_eval,
    fraction_key,
    fraction_subset,
    k_shot_subset_indices,
    laterality_task,
    linear_probe_eval,
    zero_shot_eval,
)
from graphclr.eval.retrieval import retrieval_recall
from graphclr.eval.run import evaluate_features, evaluate_model, run_protocol, write_outputs
from graphclr.eval.zeroshot import (
    PromptSet,
    ZeroShotClassifier,
    build_zero_shot_classifier,
    builtin_prompts,
    load_prompts,
    prompt_reports,
    zero_shot_scores,
)

__all__ = [
    "EVALUATIONS", "EvalConfig", "Evaluation", "evaluate_features", "evaluate_model", "run_protocol",
    "write_outputs",
    "DEFAULT_LABELS", "FeatureSet", "LinearProbe", "ProbeConfig", "PromptSet", "ReaderPoint",
    "ZeroShotClassifier", "auroc", "build_zero_shot_classifier", "builtin_prompts",
    "encode_reports", "evaluate_scores", "extract_image_features", "few_shot_eval",
    "fraction_key", "fraction_subset", "k_shot_subset_indices", "laterality_task",
    "linear_probe_eval", "load_prompts", "mcc_top_p", "mean_auroc", "plot_roc_curves",
    "probe_scores", "prompt_reports", "read_reader_points", "retrieval_recall",
    "top_p_predictions", "train_linear_probe", "zero_shot_eval", "zero_shot_scores",
]
