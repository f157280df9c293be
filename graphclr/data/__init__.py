"""Datasets for image-graph pretraining and labelled evaluation, with one contract.

Every dataset follows torchxrayvision's contract (``.csv``, ``.pathologies``, ``.labels``,
dict items; see :mod:`graphclr.data.base`):

* :class:`MIMICCXRDataset`: MIMIC-CXR-JPG 2.x + RadGraph 1.0 / extractor graphs;
* :class:`CheXpertDataset`: CheXpert train/valid and the 500-study test set;
* :class:`OpenIDataset`: Open-i reports (``graphclr.reports.readers.read_openi``) + ``NLMCXR_png``;
* :class:`ManifestDataset` (alias :data:`CSVDataset`): a generic CSV manifest, which is also
  what the synthetic benchmark (:mod:`graphclr.synth`) writes;
* :class:`ImageFolderDataset`: a folder of images (unpaired evaluation).

:func:`open_dataset` opens any of them from a JSON spec (``{"type": "chexpert", "root": ...}``),
for benchmark specs and ``graphclr eval``. Around them: :func:`check_dataset` (``graphclr data
check``), :mod:`graphclr.data.cache` (a memory-mapped pre-resized cache, and in-memory
transformed datasets), :mod:`graphclr.data.subsets` (patient-level label-fraction and K-shot
subsets) and :func:`collate_items`.
"""

from graphclr.data.base import (
    LABEL_UNCERTAIN_POLICIES,
    CXRDataset,
    Skipped,
    SubsetDataset,
    collate_items,
    dataset_reports,
    map_uncertain,
)
from graphclr.data.cache import ImageCache, build_image_cache
from graphclr.data.check import FORMATS, CheckReport, check_dataset
from graphclr.data.chexpert import CheXpertDataset
from graphclr.data.images import (
    GrayscaleToTensor,
    ImageLoadError,
    default_transform,
    load_image,
    probe_image,
    resize_square,
)
from graphclr.data.label_table import CHEXPERT_LABELS, EVAL_LABELS
from graphclr.data.manifest import CSVDataset, ImageFolderDataset, ManifestDataset
from graphclr.data.mimic import MIMICCXRDataset
from graphclr.data.openi import OpenIDataset
from graphclr.data.specs import DATASET_TYPES, open_dataset
from graphclr.data.subsets import (
    LABEL_FRACTIONS,
    k_shot_indices,
    k_shot_subset,
    label_fraction_indices,
    label_fraction_subset,
    patient_split_indices,
)

__all__ = [
    "CHEXPERT_LABELS", "CSVDataset", "DATASET_TYPES", "CXRDataset", "CheXpertDataset", "CheckReport", "EVAL_LABELS",
    "FORMATS", "GrayscaleToTensor", "ImageCache", "ImageFolderDataset", "ImageLoadError",
    "LABEL_FRACTIONS", "LABEL_UNCERTAIN_POLICIES", "MIMICCXRDataset", "ManifestDataset",
    "OpenIDataset", "Skipped", "SubsetDataset", "build_image_cache", "check_dataset",
    "collate_items", "dataset_reports", "default_transform", "k_shot_indices", "k_shot_subset",
    "label_fraction_indices", "label_fraction_subset", "load_image", "map_uncertain", "open_dataset",
    "patient_split_indices", "probe_image", "resize_square",
]
