"""Benchmark specs: one JSON file says what to pretrain, on what, under which budget, and how to
evaluate it.

A spec (format ``graphclr-benchmark/1``)::

    {"format": "graphclr-benchmark/1",
     "name": "my-benchmark",
     "dataset": {"kind": "synthetic", "n": 4000, "size": 64, "seed": 0},
     "labels": ["Atelectasis", "Cardiomegaly", ...],
     "model": {"embed_dim": 128, "image_cfg": {"backbone": "tiny-cnn", "image_size": 64}},
     "budget": {"steps": 600, "batch_size": 64, "lr": 0.001, ...},
     "seeds": [0, 1, 2],
     "encoders": [{"name": "graph", "model": "tiny"},
                  {"name": "text-transformer", "model": "text-transformer",
                   "overrides": {"text_cfg": {"width": 128, "layers": 2}}}],
     "evaluations": {"linear_probe": {"fractions": [0.01, 0.1, 1.0], "seeds": [0, 1, 2]},
                     "zero_shot": {"prompts": "chexpert5"}, ...},
     "quick": {"dataset": {"n": 600}, "budget": {"steps": 40}}}

* ``model`` is deep-merged into every encoder's config: it is how all encoders get the
  same image tower and shared-space size. ``budget`` is the one training config all of
  them use. An encoder's ``model`` is a shipped config name (a graph config of
  :mod:`graphclr.models` or a text config of :mod:`graphclr.text`), a JSON path, or a
  config object; its ``overrides`` are deep-merged last.
* ``seeds`` are the pretraining seeds (or ``seed``, one of them; not both): every encoder is
  pretrained and evaluated once per seed, and the report gives mean ± sd over seeds and
  paired per-seed differences (:mod:`graphclr.eval.multiseed`).
* ``quick`` is deep-merged over the spec by ``--quick``.
* Strings may use ``${VAR}`` (environment variables, e.g. data roots) and relative paths in
  ``dataset`` are relative to the spec file. ``--set a.b=value`` overrides any field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SPEC_FORMAT", "BenchmarkSpec", "load_spec", "default_spec_path", "apply_overrides",
           "parse_set", "resolve_env", "spec_fingerprint", "deep_merge", "read_json_object",
           "resolve_dataset_paths"]

SPEC_FORMAT = "graphclr-benchmark/1"
_TOP_LEVEL = {"format", "name", "description", "synthetic", "dataset", "labels", "model", "budget",
              "seed", "seeds", "encoders", "evaluations", "quick", "device", "in_memory_mb", "threads"}


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`graphclr.models.config.deep_merge` (imported on use: it pulls in torch)."""
    from graphclr.models.config import deep_merge as merge

    return merge(dict(base), dict(overrides))


def default_spec_path() -> Path:
    """The built-in default benchmark (synthetic, rendered from the real Open-i reports)."""
    from graphclr.shipped import find_json

    return find_json("default", "runner/specs", what="benchmark spec")


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``["budget.steps=100", "dataset.root=/data"]`` -> a nested override dict.

    Values are read as JSON when they parse (numbers, true/false, lists), else as strings.

    Examples:
        >>> parse_set(["budget.steps=100", "name=x", "evaluations.linear_probe.seeds=[0]"])
        {'budget': {'steps': 100}, 'name': 'x', 'evaluations': {'linear_probe': {'seeds': [0]}}}
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE (e.g. budget.steps=100)")
        key, raw = item.split("=", 1)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve_env(obj: Any, where: str = "spec") -> Any:
    """Replace ``${VAR}`` in every string with the environment variable (error if unset)."""
    if isinstance(obj, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                raise ValueError(f"{where}: environment variable {m.group(1)} is not set "
                                 f"(used in {obj!r}); export it or override the field with --set")
            return os.environ[m.group(1)]
        return _ENV.sub(sub, obj)
    if isinstance(obj, dict):
        return {k: resolve_env(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list):
        return [resolve_env(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


def apply_overrides(spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    return deep_merge(spec, overrides)


def spec_fingerprint(obj: Any) -> str:
    """A short hash of a JSON-able object (what a cached result was computed from)."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class BenchmarkSpec(dict):
    """A validated spec (a dict) plus where it came from."""

    source: str = ""

    @property
    def name(self) -> str:
        return str(self.get("name", "benchmark"))

    @property
    def synthetic(self) -> bool:
        return bool(self.get("synthetic", self.get("dataset", {}).get("kind") == "synthetic"))

    def seeds(self) -> list[int]:
        """The pretraining seeds: ``seeds``, else ``[seed]``."""
        return [int(x) for x in self.get("seeds") or [self.get("seed", 0)]]

    def seed_dir(self, out: str | os.PathLike[str], seed: int) -> Path:
        """Where one pretraining seed's encoders live: ``out`` itself for the first seed (so a
        one-seed run keeps its layout), ``out/seeds/seed-S`` for the others."""
        out = Path(out)
        return out if int(seed) == self.seeds()[0] else out / "seeds" / f"seed-{int(seed)}"

    def for_seed(self, seed: int) -> BenchmarkSpec:
        """This spec with pretraining seed ``seed`` (one seed's run)."""
        out = BenchmarkSpec({**self, "seed": int(seed)})
        out.source = self.source
        return out

    def encoder_names(self) -> list[str]:
        return [e["name"] for e in self["encoders"]]


def _validate(spec: Mapping[str, Any], where: str) -> None:
    if spec.get("format") != SPEC_FORMAT:
        raise ValueError(f"{where}: field 'format' must be {SPEC_FORMAT!r}; got {spec.get('format')!r}")
    unknown = sorted(set(spec) - _TOP_LEVEL)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(_TOP_LEVEL)}")
    for key in ("dataset", "encoders", "budget"):
        if key not in spec:
            raise ValueError(f"{where}: missing field {key!r}")
    if not isinstance(spec["dataset"], dict) or "kind" not in spec["dataset"]:
        raise ValueError(f"{where}: field 'dataset' must be an object with a 'kind'")
    encoders = spec["encoders"]
    if not isinstance(encoders, list) or not encoders:
        raise ValueError(f"{where}: field 'encoders' must be a non-empty list")
    names = []
    for i, enc in enumerate(encoders):
        if not isinstance(enc, dict) or "name" not in enc or "model" not in enc:
            raise ValueError(f"{where}: encoders[{i}] needs 'name' and 'model'")
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", str(enc["name"])):
            raise ValueError(f"{where}: encoders[{i}].name {enc['name']!r}: use letters, digits, '-', '_', '.'")
        names.append(enc["name"])
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: encoder names must be unique; got {names}")
    seeds = spec.get("seeds")
    if seeds is not None and (not isinstance(seeds, list) or not seeds or len(set(map(str, seeds))) != len(seeds)
                              or any(isinstance(x, bool) or not isinstance(x, int) for x in seeds)):
        raise ValueError(f"{where}: field 'seeds' must be a non-empty list of distinct integers "
                         f"(the pretraining seeds); got {seeds!r}")
    if seeds is not None and "seed" in spec:
        raise ValueError(f"{where}: fields 'seed' ({spec['seed']!r}) and 'seeds' {seeds} are both set; give the "
                         f"pretraining seeds as 'seeds' only (e.g. --set seeds=[{spec['seed']}])")
    from graphclr.eval.config import EvalConfig   # strict: a typo in an evaluation is named here

    EvalConfig.from_dict(spec.get("evaluations", {}), labels=spec.get("labels") or None,
                         where=f"{where}: evaluations")


#: dataset-section keys that hold paths (besides ``*_root``, ``*_path``, ``*_csv``, ``*_dir``, ``*_json``)
_PATH_KEYS = ("root", "manifest", "graphs", "reports", "backgrounds", "cache")


def resolve_dataset_paths(dataset: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths in the dataset section are relative to the spec file."""
    out = {}
    for k, v in dataset.items():
        if isinstance(v, dict):
            out[k] = resolve_dataset_paths(v, base)
        elif isinstance(v, str) and (k in _PATH_KEYS or k.endswith(("_root", "_path", "_csv", "_dir", "_json"))):
            p = Path(v).expanduser()
            out[k] = str(p if p.is_absolute() else (base / p).resolve())
        else:
            out[k] = v
    return out


def read_json_object(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """A JSON file that must hold an object; errors name the file and ``what`` it should be."""
    from graphclr.shipped import read_json   # the one JSON file reader

    p = Path(path)
    raw = read_json(p)
    if not isinstance(raw, dict):
        raise ValueError(f"{p}: {what} must be a JSON object")
    return dict(raw)


def load_spec(path: str | os.PathLike[str] | None = None, *, quick: bool = False,
              overrides: Mapping[str, Any] | None = None) -> BenchmarkSpec:
    """Read, merge (``--quick``, ``--set``), resolve and validate a spec.

    Args:
        path: a spec file, a shipped spec name (``default``, ``graphclr_chexpert``), or ``None``
            for the built-in default.
        quick: deep-merge the spec's ``quick`` section.
        overrides: a nested dict deep-merged last (from ``--set``).
    """
    if path is None:
        p = default_spec_path()
    else:
        from graphclr.shipped import find_json

        p = find_json(path, "runner/specs", what="benchmark spec")
    spec = read_json_object(p, "a benchmark spec")
    quick_section = spec.get("quick") or {}
    if quick:
        spec = deep_merge(spec, quick_section)
    if overrides:
        spec = deep_merge(spec, overrides)
    _validate(spec, str(p))
    spec = resolve_env(spec, str(p))
    spec["dataset"] = resolve_dataset_paths(spec["dataset"], p.parent)
    out = BenchmarkSpec(spec)
    out.source = str(p)
    return out
