"""graphclr.data.open_dataset: one registry of dataset types for specs (runner and CLI)."""

from __future__ import annotations

import pytest
from test_data_fixtures import write_chexpert_tree
from test_data_manifest import write_manifest

from graphclr.data import DATASET_TYPES, CheXpertDataset, ManifestDataset, open_dataset


def test_open_dataset_builds_the_named_class_with_its_arguments(tmp_path):
    manifest = write_manifest(tmp_path / "m")
    ds = open_dataset({"type": "manifest", "manifest": str(manifest), "graphs": str(tmp_path / "m" / "graphs.json"),
                       "split": "train"})
    assert isinstance(ds, ManifestDataset) and len(ds) == 4 and ds.paired
    tree = write_chexpert_tree(tmp_path)
    valid = open_dataset({"type": "chexpert", "root": str(tree.dataset_dir), "split": "valid"})
    assert isinstance(valid, CheXpertDataset)
    assert len(valid) == len(CheXpertDataset(tree.dataset_dir, "valid"))
    assert set(DATASET_TYPES) == {"mimic", "chexpert", "manifest", "openi", "image_folder", "synthetic"}


def test_open_dataset_errors_name_the_spec_and_the_allowed_values(tmp_path):
    manifest = write_manifest(tmp_path / "m")
    with pytest.raises(ValueError, match=r"dataset.test.type must be one of mimic, chexpert, .*; got 'cxr'"):
        open_dataset({"type": "cxr", "root": "x"}, where="dataset.test")
    with pytest.raises(ValueError, match=r"dataset: type 'chexpert' needs 'root'"):
        open_dataset({"type": "chexpert", "split": "valid"})
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['splitt'\] for type 'manifest'; known: .*'split'"):
        open_dataset({"type": "manifest", "manifest": str(manifest), "splitt": "train"})
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        open_dataset({"type": "synthetic", "root": str(tmp_path / "nothing")})
