"""Schema constants shared by every part of graphclr.

RadGraph (Jain et al., 2021) labels each entity with a kind (anatomy or observation)
and, for observations, a certainty. RadGraph-XL spells the same labels as
``"<Kind>::<certainty>"``. graphclr keeps the label string exactly as read and
derives ``(kind, certainty)`` from it, so both vocabularies map onto one model.
"""

from __future__ import annotations

# --- entity kinds and certainty -------------------------------------------------------
ANATOMY = "anatomy"
OBSERVATION = "observation"
NODE_TYPES: tuple[str, str] = (ANATOMY, OBSERVATION)

PRESENT = "present"
ABSENT = "absent"
UNCERTAIN = "uncertain"
CERTAINTIES: tuple[str, str, str] = (PRESENT, ABSENT, UNCERTAIN)
CERTAINTY_ID: dict[str, int] = {c: i for i, c in enumerate(CERTAINTIES)}

#: RadGraph v1 labels, in the order used for the 4-way entity-type one-hot of the
#: reference implementation.
RADGRAPH_V1_LABELS: tuple[str, ...] = ("ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA")

#: Every accepted label string -> (kind, certainty).
LABEL_TO_KIND_CERTAINTY: dict[str, tuple[str, str]] = {
    "ANAT-DP": (ANATOMY, PRESENT),
    "OBS-DP": (OBSERVATION, PRESENT),
    "OBS-DA": (OBSERVATION, ABSENT),
    "OBS-U": (OBSERVATION, UNCERTAIN),
    # RadGraph-XL spellings
    "Anatomy::definitely present": (ANATOMY, PRESENT),
    "Anatomy::definitely absent": (ANATOMY, ABSENT),
    "Anatomy::uncertain": (ANATOMY, UNCERTAIN),
    "Observation::definitely present": (OBSERVATION, PRESENT),
    "Observation::definitely absent": (OBSERVATION, ABSENT),
    "Observation::uncertain": (OBSERVATION, UNCERTAIN),
}
#: RadGraph-XL marks measurements ("3 cm") with a qualifier: "Anatomy::measurement::definitely
#: present", "Observation::measurement::definitely absent", ...
LABEL_TO_KIND_CERTAINTY.update({
    label.replace("::", "::measurement::", 1): kc for label, kc in list(LABEL_TO_KIND_CERTAINTY.items())
    if "::" in label})
ENTITY_LABELS: tuple[str, ...] = tuple(LABEL_TO_KIND_CERTAINTY)

_V1_LABEL: dict[tuple[str, str], str] = {
    (ANATOMY, PRESENT): "ANAT-DP",
    (OBSERVATION, PRESENT): "OBS-DP",
    (OBSERVATION, ABSENT): "OBS-DA",
    (OBSERVATION, UNCERTAIN): "OBS-U",
}


def v1_label(kind: str, certainty: str) -> str:
    """The RadGraph v1 label for ``(kind, certainty)``.

    v1 has no uncertain or absent anatomy; those (RadGraph-XL only) map to ANAT-DP.
    """
    if kind == ANATOMY:
        return "ANAT-DP"
    return _V1_LABEL[(kind, certainty)]


#: Node-type id = kind index * 3 + certainty index: a 6-way type that covers both the
#: v1 labels and RadGraph-XL's anatomy certainty.
NUM_ENTITY_TYPES = len(NODE_TYPES) * len(CERTAINTIES)


def entity_type_id(kind: str, certainty: str) -> int:
    return NODE_TYPES.index(kind) * len(CERTAINTIES) + CERTAINTY_ID[certainty]


# --- relations -------------------------------------------------------------------------
LOCATED_AT = "located_at"
MODIFY = "modify"
SUGGESTIVE_OF = "suggestive_of"
RELATIONS: tuple[str, str, str] = (LOCATED_AT, MODIFY, SUGGESTIVE_OF)
REVERSE_SUFFIX = "_rev"

#: Relation ids used on homogeneous graphs (``edata["rel"]``): forward relations first,
#: then their reverses. ``RelGraphConv`` therefore needs ``num_rels = NUM_RELATION_IDS``.
RELATION_IDS: dict[str, int] = {
    **{r: i for i, r in enumerate(RELATIONS)},
    **{r + REVERSE_SUFFIX: len(RELATIONS) + i for i, r in enumerate(RELATIONS)},
}
NUM_RELATION_IDS = len(RELATION_IDS)


# --- label sets ------------------------------------------------------------------------
#: the 14 CheXpert observations, in the column order of CheXpert's and MIMIC-CXR-JPG's files
CHEXPERT_LABELS: tuple[str, ...] = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)
#: the 6 labels of the IGCL / CheXzero CheXpert evaluation: the 5 CheXpert competition
#: tasks plus No Finding
EVAL_LABELS: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
                                "Pleural Effusion", "No Finding")
