"""Module paths of graphclr 0.1 that moved in 0.2, kept as deprecated aliases for one release.

:data:`MOVED` maps each old module path to its new one. A meta-path finder serves an old
path, and anything under it, as *the same module object* as the new path (so a class is
never loaded twice and ``isinstance`` keeps working), after a :class:`DeprecationWarning`
that names the new path. The old paths go away in graphclr 0.3.

Examples:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     import graphclr.schema as old
    >>> import graphclr.reports.schema as new
    >>> old is new, caught[0].category.__name__
    (True, 'DeprecationWarning')
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

__all__ = ["MOVED", "MOVED_NAMES", "install", "moved_names_getattr"]

#: old module path -> new module path (prefixes: submodules follow their package)
MOVED: dict[str, str] = {
    "graphclr.schema": "graphclr.reports.schema",
    "graphclr.sources": "graphclr.reports.readers",
    "graphclr.extract": "graphclr.reports.extract",
    "graphclr.labels": "graphclr.reports.labels",
    "graphclr.benchmark.runner": "graphclr.runner.run",
    "graphclr.benchmark.report": "graphclr.eval.report",
    "graphclr.runner.report": "graphclr.eval.report",
    "graphclr.benchmark": "graphclr.runner",
    "graphclr.nn.reference": "graphclr.nn.naive",
    "graphclr.nn.text_spans": "graphclr.graphs.text_spans",
    "graphclr.models.clip": "graphclr.models.graph_clip",
    "graphclr.text.model": "graphclr.models.text_clip",
    "graphclr.text.text_clip": "graphclr.models.text_clip",
    "graphclr.text.factory": "graphclr.text",
    "graphclr.data.labels": "graphclr.data.label_table",
    "graphclr.train.synthetic_pairs": "graphclr.synth.pairs",
}
_OLD_BY_LENGTH = sorted(MOVED, key=len, reverse=True)

#: names that moved out of a package: package -> {old name: "new.module:new name"}. The
#: package's module ``__getattr__`` (:func:`moved_names_getattr`) serves them with a warning;
#: the package itself never imports the new module (no import cycle: graphclr.text may not
#: import graphclr.models).
MOVED_NAMES: dict[str, dict[str, str]] = {
    "graphclr.text": {
        "TextCLIP": "graphclr.models.text_clip:TextCLIP",
        "build_text_model": "graphclr.models.factory:build_text_model",
        "list_text_configs": "graphclr.models.registry:list_text_configs",
        "load_text_config": "graphclr.models.registry:load_text_config",
    },
    "graphclr.runner.run": {"resolve_model_config": "graphclr.models.registry:resolve_model_config"},
    "graphclr.runner.models": {"resolve_model_config": "graphclr.models.registry:resolve_model_config"},
}


def new_name(name: str) -> str | None:
    """The current path of an old module path (``None`` if ``name`` did not move).

    Examples:
        >>> new_name("graphclr.extract.rules"), new_name("graphclr.graphs")
        ('graphclr.reports.extract.rules', None)
    """
    for old in _OLD_BY_LENGTH:
        if name == old or name.startswith(old + "."):
            return MOVED[old] + name[len(old):]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} has moved to {self.target}; the old path is removed in "
                      "graphclr 0.3", DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:   # already executed under its new name
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if not name.startswith("graphclr."):
            return None
        moved = new_name(name)
        return None if moved is None else importlib.util.spec_from_loader(name, _AliasLoader(moved))


def moved_names_getattr(package: str):  # noqa: ANN201 - a module __getattr__
    """A module ``__getattr__`` for ``package`` serving its :data:`MOVED_NAMES`.

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     from graphclr.text import TextCLIP
        >>> TextCLIP.__module__, "graphclr.models.text_clip" in str(caught[0].message)
        ('graphclr.models.text_clip', True)
    """
    moved = MOVED_NAMES[package]

    def __getattr__(name: str) -> object:
        if name not in moved:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = moved[name].partition(":")
        warnings.warn(f"{package}.{name} has moved to {module}.{attr}; the old name is removed in "
                      "graphclr 0.3", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), attr)

    return __getattr__


def install() -> None:
    """Put the alias finder first on ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
