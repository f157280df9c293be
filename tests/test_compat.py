"""Module paths of graphclr 0.1 still import, as the very same modules, with a warning."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from graphclr._compat import MOVED, new_name


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module_with_a_warning(old: str) -> None:
    code = (
        "import importlib, warnings, sys\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({MOVED[old]!r})\n"
        "assert old is new, (old, new)\n"
        f"msgs = [str(x.message) for x in w if x.category is DeprecationWarning and {old!r} in str(x.message)]\n"
        f"assert msgs and {MOVED[old]!r} in msgs[0], [str(x.message) for x in w]\n"
    )
    # a fresh interpreter: the modules must not be imported already
    subprocess.run([sys.executable, "-c", code], check=True)


def test_submodule_of_a_moved_package_is_not_loaded_twice() -> None:
    import graphclr.reports.extract.rules as new

    with pytest.warns(DeprecationWarning, match="graphclr.reports.extract"):
        old = importlib.import_module("graphclr.extract.rules")
    assert old is new
    assert new_name("graphclr.extract.rules") == "graphclr.reports.extract.rules"
    assert new_name("graphclr.extractor") is None     # a prefix, not a package boundary


def test_train_keeps_the_synthetic_dataset_name() -> None:
    import graphclr.train as train
    from graphclr.synth import SyntheticPairDataset

    with pytest.warns(DeprecationWarning, match="graphclr.synth.pairs"):
        assert train.SyntheticPairDataset is SyntheticPairDataset
