"""Writers of small dataset trees in the exact released layouts, used by tests/test_data_*.py.

Nothing here is patient data: images are generated gradients with noise, reports are
hand-written sentences, ids follow the released patterns. The tests at the bottom check the
writers themselves against the layouts the docs describe.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from graphclr.data.label_table import CHEXPERT_LABELS


def write_image(path: Path, size: tuple[int, int] = (96, 80), seed: int = 0) -> Path:
    """A small greyscale image (JPEG or PNG by suffix) with a seeded pattern."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    arr = (xx * 255 / max(w - 1, 1) * 0.5 + yy * 255 / max(h - 1, 1) * 0.3
           + rng.normal(0, 10, (h, w)) + seed * 7) % 256
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode="L").save(path, quality=90)
    return path


def truncate_file(path: Path, keep: float = 0.5) -> None:
    """Corrupt an image the way an interrupted download does: cut its tail off."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def radgraph_record(text: str, entities: list[tuple[str, str, int, list[tuple[str, str]]]]) -> dict:
    """A RadGraph v1 record from (tokens, label, start_ix, relations) tuples (end = start + len - 1)."""
    ents = {}
    for i, (tokens, label, start, rels) in enumerate(entities, start=1):
        ents[str(i)] = {"tokens": tokens, "label": label, "start_ix": start,
                        "end_ix": start + len(tokens.split()) - 1,
                        "relations": [[t, str(target)] for t, target in rels]}
    return {"text": text, "entities": ents, "data_source": "MIMIC-CXR", "data_split": "inference"}


# ----------------------------------------------------------------------------------------
# MIMIC-CXR-JPG 2.0.0 + RadGraph 1.0
# ----------------------------------------------------------------------------------------
@dataclass
class MimicTree:
    root: Path
    graphs: Path
    #: dicom_id -> (subject_id, study_id, ViewPosition, split)
    images: dict[str, tuple[int, int, str, str]] = field(default_factory=dict)
    #: study_id -> 14 label values as written ('' = blank)
    labels: dict[int, list[str]] = field(default_factory=dict)
    #: study ids with a graph
    graph_studies: set[int] = field(default_factory=set)
    #: RadGraph key of a graph whose study has no image
    orphan_graph_key: str = "p19/p19999999/s59999999.txt"


def write_mimic_tree(root: Path, *, gz: bool = True) -> MimicTree:
    """3 patients, 4 studies, 8 images (5 frontal), 3 of 4 studies with graphs + 1 orphan graph."""
    images = {
        # dicom_id: (subject, study, view, split)
        "aaaa0001-11111111-22222222-33333333-44444444": (10000032, 50414267, "PA", "train"),
        "aaaa0002-11111111-22222222-33333333-44444444": (10000032, 50414267, "LATERAL", "train"),
        "aaaa0003-11111111-22222222-33333333-44444444": (10000032, 53189527, "AP", "train"),
        "bbbb0001-11111111-22222222-33333333-44444444": (10000764, 57375967, "PA", "validate"),
        "bbbb0002-11111111-22222222-33333333-44444444": (10000764, 57375967, "LL", "validate"),
        "cccc0001-11111111-22222222-33333333-44444444": (18004941, 58821758, "AP", "test"),
        "cccc0002-11111111-22222222-33333333-44444444": (18004941, 58821758, "PA", "test"),
        "cccc0003-11111111-22222222-33333333-44444444": (18004941, 58821758, "", "test"),
    }
    suffix = ".csv.gz" if gz else ".csv"
    root.mkdir(parents=True, exist_ok=True)
    meta = pd.DataFrame([{"dicom_id": d, "subject_id": s, "study_id": t,
                          "PerformedProcedureStepDescription": "CHEST (PA AND LAT)",
                          "ViewPosition": v or None, "Rows": 3056, "Columns": 2544,
                          "StudyDate": 21800506, "StudyTime": 213014.531,
                          "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
                          "ViewCodeSequence_CodeMeaning": "postero-anterior",
                          "PatientOrientationCodeSequence_CodeMeaning": "Erect"}
                         for d, (s, t, v, _) in images.items()])
    meta.to_csv(root / f"mimic-cxr-2.0.0-metadata{suffix}", index=False)
    split = pd.DataFrame([{"dicom_id": d, "study_id": t, "subject_id": s, "split": sp}
                          for d, (s, t, _, sp) in images.items()])
    split.to_csv(root / f"mimic-cxr-2.0.0-split{suffix}", index=False)
    labels = {
        50414267: ["", "", "1.0", "", "", "-1.0", "", "", "1.0", "0.0", "", "", "", ""],
        53189527: ["1.0", "", "", "", "", "", "", "", "", "", "", "", "", ""],
        57375967: ["", "", "0.0", "1.0", "", "", "1.0", "-1.0", "", "", "1.0", "", "", "1.0"],
        58821758: ["", "1.0", "1.0", "", "", "1.0", "", "", "", "", "-1.0", "", "", ""],
    }
    subj = {t: s for s, t, _, _ in images.values()}
    rows = []
    for study, vals in labels.items():
        row = {"subject_id": subj[study], "study_id": study}
        row.update({name: (float(v) if v else None) for name, v in zip(CHEXPERT_LABELS, vals)})
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / f"mimic-cxr-2.0.0-chexpert{suffix}", index=False)
    neg = pd.DataFrame(rows)
    neg["Cardiomegaly"] = 0.0
    neg.to_csv(root / f"mimic-cxr-2.0.0-negbio{suffix}", index=False)
    for k, (d, (s, t, _, _)) in enumerate(images.items()):
        write_image(root / "files" / f"p{str(s)[:2]}" / f"p{s}" / f"s{t}" / f"{d}.jpg", seed=k)
    graph_studies = {50414267, 57375967, 58821758}
    records = {}
    for study in sorted(graph_studies):
        s = subj[study]
        records[f"p{str(s)[:2]}/p{s}/s{study}.txt"] = radgraph_record(
            "small left pleural effusion . no pneumothorax .",
            [("small", "OBS-DP", 0, [("modify", "4")]), ("left", "ANAT-DP", 1, []),
             ("pleural", "ANAT-DP", 2, []), ("effusion", "OBS-DP", 3, [("located_at", "2")]),
             ("pneumothorax", "OBS-DA", 6, [])])
    tree = MimicTree(root, root / "MIMIC-CXR_graphs.json", images, labels, graph_studies)
    records[tree.orphan_graph_key] = radgraph_record("clear lungs .", [("clear", "OBS-DP", 0, [])])
    tree.graphs.write_text(json.dumps(records), encoding="utf-8")
    return tree


# ----------------------------------------------------------------------------------------
# CheXpert-v1.0-small (train/valid) and the 500-study test set layouts
# ----------------------------------------------------------------------------------------
CHEXPERT_HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS]


@dataclass
class ChexpertTree:
    parent: Path
    dataset_dir: Path
    train_rows: list[list[str]]
    valid_rows: list[list[str]]


def write_chexpert_tree(parent: Path, name: str = "CheXpert-v1.0-small") -> ChexpertTree:
    """train: 4 patients, 7 images (5 frontal); valid: 2 patients, 3 images (2 frontal)."""
    d = parent / name
    blank = [""] * 14

    def lab(**kw: str) -> list[str]:
        out = list(blank)
        for k, v in kw.items():
            out[CHEXPERT_LABELS.index(k.replace("_", " "))] = v
        return out

    train = [
        ("train/patient00001/study1/view1_frontal.jpg", "Female", "68", "Frontal", "AP",
         lab(No_Finding="1.0", Support_Devices="1.0")),
        ("train/patient00002/study2/view1_frontal.jpg", "Female", "87", "Frontal", "AP",
         lab(Cardiomegaly="-1.0", Lung_Opacity="1.0", Edema="-1.0", Atelectasis="-1.0")),
        ("train/patient00002/study1/view1_frontal.jpg", "Female", "83", "Frontal", "AP",
         lab(Cardiomegaly="1.0", Pleural_Effusion="0.0")),
        ("train/patient00002/study1/view2_lateral.jpg", "Female", "83", "Lateral", "",
         lab(Cardiomegaly="1.0", Pleural_Effusion="0.0")),
        ("train/patient00003/study1/view1_frontal.jpg", "Male", "41", "Frontal", "AP",
         lab(Edema="1.0", Consolidation="0.0")),
        ("train/patient00004/study1/view1_frontal.jpg", "Female", "20", "Frontal", "PA",
         lab(Atelectasis="1.0", Pleural_Effusion="1.0")),
        ("train/patient00004/study1/view2_lateral.jpg", "Female", "20", "Lateral", "",
         lab(Atelectasis="1.0", Pleural_Effusion="1.0")),
    ]
    valid = [
        ("valid/patient64541/study1/view1_frontal.jpg", "Male", "73", "Frontal", "AP",
         ["0.0"] * 2 + ["1.0"] + ["0.0"] * 11),
        ("valid/patient64542/study1/view1_frontal.jpg", "Male", "70", "Frontal", "PA",
         ["1.0"] + ["0.0"] * 13),
        ("valid/patient64542/study1/view2_lateral.jpg", "Male", "70", "Lateral", "",
         ["1.0"] + ["0.0"] * 13),
    ]
    out = {}
    for split, rows in (("train", train), ("valid", valid)):
        lines = [",".join(CHEXPERT_HEADER)]
        table_rows = []
        for k, (rel, sex, age, fl, appa, labels) in enumerate(rows):
            full = [f"{name}/{rel}", sex, age, fl, appa, *labels]
            lines.append(",".join(full))
            table_rows.append(full)
            write_image(parent / name / rel, seed=k + (100 if split == "valid" else 0))
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[split] = table_rows
    return ChexpertTree(parent, d, out["train"], out["valid"])


def write_chexpert_test(root: Path, style: str = "groundtruth") -> dict[str, list[int]]:
    """3 test studies (4 images, 3 frontal) in the AIMI layout with a label file.

    ``style="groundtruth"``: cheXpert-test-set-labels' study-level ``groundtruth.csv``;
    ``style="chexlocalize"``: image-level ``test_labels.csv`` with ``Path``;
    ``style="chexzero"``: the study-level ``groundtruth.csv`` at ``root`` with the images under
    ``root/CheXpert/test/`` (how CheXzero's README arranges its ``data/`` folder).
    Returns study -> 14 labels.
    """
    studies = {
        "patient64741/study1": [0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        "patient64742/study1": [0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        "patient64750/study1": [1] + [0] * 13,
    }
    views = {"patient64741/study1": ["view1_frontal"], "patient64742/study1": ["view1_frontal", "view2_lateral"],
             "patient64750/study1": ["view1_frontal"]}
    img_dir = {"groundtruth": root / "CheXpert-v1.0" / "test", "chexzero": root / "CheXpert" / "test",
               "chexlocalize": root / "test"}[style]
    k = 0
    for s, vs in views.items():
        for v in vs:
            write_image(img_dir / s / f"{v}.jpg", seed=200 + k)
            k += 1
    if style in ("groundtruth", "chexzero"):
        lines = [",".join(["Study", *CHEXPERT_LABELS])]
        lines += [",".join([f"CheXpert-v1.0/test/{s}", *map(str, lab)]) for s, lab in studies.items()]
        (root / "groundtruth.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        lines = [",".join(["Path", *CHEXPERT_LABELS])]
        for s, vs in views.items():
            lines += [",".join([f"test/{s}/{v}.jpg", *map(str, studies[s])]) for v in vs]
        (root / "test_labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return studies


# ----------------------------------------------------------------------------------------
# Open-i: NLMCXR_reports.tgz (ecgen-radiology/<n>.xml) + NLMCXR_png
# ----------------------------------------------------------------------------------------
OPENI_REPORTS = {
    # uid: (findings, impression, image ids), the ids spelled as the released XML spells them:
    # only CXR1 carries "_1_" (CXR1_1_IM-0001-3001); the others are CXR<uid>_IM-<n>-<n>, a
    # few hundred with a "-0001"/"-0002" suffix (CXR1021_IM-0017-1001-0001)
    1: ("The heart is normal in size. The lungs are clear.", "No acute disease.",
        ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]),
    2: ("Small left pleural effusion. Heart size is enlarged.", "Cardiomegaly.",
        ["CXR2_IM-0652-1001"]),
    3: ("Right upper lobe opacity.", "Pneumonia is possible.", ["CXR3_IM-1384-1001",
                                                                 "CXR3_IM-1384-2001-0001"]),
    4: ("No pneumothorax.", "Normal chest.", []),
}


def openi_xml(uid: int, findings: str, impression: str, images: list[str]) -> str:
    parents = "".join(
        f'<parentImage id="{i}"><figureId>F{k + 1}</figureId><caption>view</caption>'
        f'<panel type="single"><url>/hadoop/storage/radiology/extract/{i}.jpg</url></panel></parentImage>'
        for k, i in enumerate(images))
    return (f'<?xml version="1.0" encoding="utf-8"?><eCitation><meta type="rr"/><uId id="CXR{uid}"/>'
            f'<pmcId id="{uid}"/><docSource>CXR</docSource><IUXRId id="{uid}"/>'
            f'<MedlineCitation Owner="Indiana University" Status="supplied by publisher">'
            f'<Article PubModel="Electronic"><Abstract>'
            f'<AbstractText Label="COMPARISON">None.</AbstractText>'
            f'<AbstractText Label="INDICATION">Test.</AbstractText>'
            f'<AbstractText Label="FINDINGS">{findings}</AbstractText>'
            f'<AbstractText Label="IMPRESSION">{impression}</AbstractText>'
            f'</Abstract></Article></MedlineCitation><MeSH><major>normal</major></MeSH>'
            f'{parents}</eCitation>')


def write_openi_tree(root: Path, missing: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """``root/NLMCXR_reports.tgz`` and ``root/NLMCXR_png/`` (minus ``missing`` image ids)."""
    root.mkdir(parents=True, exist_ok=True)
    tgz = root / "NLMCXR_reports.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        info = tarfile.TarInfo("ecgen-radiology")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for uid, (f, imp, imgs) in OPENI_REPORTS.items():
            data = openi_xml(uid, f, imp, imgs).encode("utf-8")
            info = tarfile.TarInfo(f"ecgen-radiology/{uid}.xml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    png = root / "NLMCXR_png"
    k = 0
    for _, (_, _, imgs) in OPENI_REPORTS.items():
        for i in imgs:
            if i not in missing:
                write_image(png / f"{i}.png", seed=300 + k)
            k += 1
    return tgz, png


@dataclass
class FakeReport:
    """Stands in for graphclr.reports.readers.Report where a test needs only the contract."""

    id: str
    text: str
    source: str = "openi"
    metadata: dict = field(default_factory=dict)


def openi_reports() -> list[FakeReport]:
    return [FakeReport(f"CXR{u}", f"FINDINGS: {f} IMPRESSION: {i}", metadata={"images": list(imgs)})
            for u, (f, i, imgs) in OPENI_REPORTS.items()]


# ----------------------------------------------------------------------------------------
# the writers themselves
# ----------------------------------------------------------------------------------------
def test_mimic_tree_matches_the_released_layout(tmp_path: Path) -> None:
    tree = write_mimic_tree(tmp_path / "mimic")
    jpgs = sorted(p.relative_to(tree.root).as_posix() for p in tree.root.rglob("*.jpg"))
    assert jpgs[0] == "files/p10/p10000032/s50414267/aaaa0001-11111111-22222222-33333333-44444444.jpg"
    assert len(jpgs) == 8
    meta = pd.read_csv(tree.root / "mimic-cxr-2.0.0-metadata.csv.gz")
    assert list(meta.columns[:5]) == ["dicom_id", "subject_id", "study_id",
                                      "PerformedProcedureStepDescription", "ViewPosition"]
    lab = pd.read_csv(tree.root / "mimic-cxr-2.0.0-chexpert.csv.gz")
    assert list(lab.columns) == ["subject_id", "study_id", *CHEXPERT_LABELS]
    keys = json.loads(tree.graphs.read_text())
    assert "p18/p18004941/s58821758.txt" in keys


def test_chexpert_tree_matches_the_released_layout(tmp_path: Path) -> None:
    tree = write_chexpert_tree(tmp_path)
    text = (tree.dataset_dir / "train.csv").read_text().splitlines()
    assert text[0].startswith("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,")
    assert text[1].startswith("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,")
    assert (tmp_path / "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg").is_file()


def test_openi_archive_holds_ecgen_xml(tmp_path: Path) -> None:
    tgz, png = write_openi_tree(tmp_path)
    with tarfile.open(tgz) as tar:
        names = tar.getnames()
    assert "ecgen-radiology/1.xml" in names and len([n for n in names if n.endswith(".xml")]) == 4
    assert (png / "CXR1_1_IM-0001-3001.png").is_file() and (png / "CXR2_IM-0652-1001.png").is_file()
    with tarfile.open(tgz) as tar:
        xml = tar.extractfile("ecgen-radiology/2.xml").read().decode()
    assert '<parentImage id="CXR2_IM-0652-1001">' in xml and "_1_" not in xml
