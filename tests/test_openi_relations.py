"""benchmarks/openi_relations.py: silver tuples from MeSH headings, reachability over the
graph against the same-sentence baseline, filtering to development ids before parsing, and
clear messages when the data is absent (hand-written headings, graphs and XML)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from graphclr.reports.extract.lexicon import default_lexicon
from graphclr.reports.schema import Entity, Relation, ReportGraph


@pytest.fixture(scope="module")
def rel(load_benchmark):
    return load_benchmark("openi_relations")


def test_silver_tuples_from_headings(rel) -> None:
    lex = default_lexicon()
    s = rel.silver_tuple("Opacity/lung/lower lobe/right/patchy", lex)
    assert s.concepts == {"opacity"} and s.side == "right"
    assert s.locations == (("lung", "lower"),)  # a lobe is a lung zone; "lung" alone is no location
    s = rel.silver_tuple("Catheters, Indwelling/right", lex)  # MeSH inversion read back
    assert s.concepts == {"catheter"} and s.side == "right" and s.locations == ()
    s = rel.silver_tuple("Thoracic Vertebrae/degenerative/mild", lex)  # anatomy subject
    assert s.concepts == {"degenerative_change"} and s.side is None
    assert s.locations == (("spine|thorax", None),)  # vertebra = spine; "thoracic" names it too
    assert rel.silver_tuple("Technical Quality of Image Unsatisfactory", lex) is None


def graph(words: str, ents: list[tuple[str, str, int]], rels: list[tuple[str, int, int]]) -> ReportGraph:
    return ReportGraph("g", words, [Entity(t, lab, i, i + len(t.split()) - 1) for t, lab, i in ents],
                       [Relation(typ, h, t) for typ, h, t in rels])


def test_reach_within_two_hops_against_the_baseline(rel) -> None:
    lex = default_lexicon()
    # "opacity in the right lower lobe . no left effusion ."
    g = graph("opacity in the right lower lobe . no left effusion .",
              [("opacity", "OBS-DP", 0), ("right", "ANAT-DP", 3), ("lower", "ANAT-DP", 4),
               ("lobe", "ANAT-DP", 5), ("left", "ANAT-DP", 9), ("effusion", "OBS-DA", 10)],
              [("located_at", 0, 3), ("modify", 1, 3), ("modify", 2, 3), ("located_at", 5, 4)])
    tuples = [rel.silver_tuple(h, lex) for h in
              ("Opacity/lung/lower lobe/right", "Opacity/lung/upper lobe/left", "Pleural Effusion/left")]
    rows = rel.score_graph(g, tuples, lex)
    assert rows[0] == {"found": True, "side": True, "locations": [True],
                       "side_baseline": True, "locations_baseline": [True]}
    assert rows[1]["side"] is False and rows[1]["locations"] == [False]
    assert rows[2]["found"] is False  # the only effusion is absent


def test_baseline_is_the_sentence_and_bilateral_counts_for_a_side(rel) -> None:
    lex = default_lexicon()
    # the graph has no relation; the sentence holds the side; "bibasilar" covers "left"
    g = graph("right base : opacity . bibasilar atelectasis .",
              [("right", "ANAT-DP", 0), ("base", "ANAT-DP", 1), ("opacity", "OBS-DP", 3),
               ("bibasilar", "ANAT-DP", 5), ("atelectasis", "OBS-DP", 6)],
              [("located_at", 4, 3)])
    op, at = rel.score_graph(g, [rel.silver_tuple("Opacity/lung/base/right", lex),
                                 rel.silver_tuple("Pulmonary Atelectasis/base/left", lex)], lex)
    assert (op["side"], op["side_baseline"]) == (False, False)  # ":" ends the sentence
    assert (at["side"], at["locations"]) == (True, [True])


def test_a_side_spelled_inside_the_observation_word_counts(rel) -> None:
    lex = default_lexicon()
    # "levoscoliosis" states left itself; "scoliosis" (no side in the word) does not
    g = graph("levoscoliosis of the spine . scoliosis .",
              [("levoscoliosis", "OBS-DP", 0), ("spine", "ANAT-DP", 3), ("scoliosis", "OBS-DP", 5)],
              [("located_at", 0, 1)])
    left, right = rel.score_graph(g, [rel.silver_tuple("Scoliosis/thoracic vertebrae/left", lex),
                                      rel.silver_tuple("Scoliosis/right", lex)], lex)
    assert (left["side"], left["side_baseline"], left["locations"]) == (True, True, [True])
    assert (right["side"], right["side_baseline"]) == (False, False)


def test_bilateral_is_reached_by_a_left_and_a_right_mention(rel) -> None:
    lex = default_lexicon()
    g = graph("left effusion . right effusion .",
              [("left", "ANAT-DP", 0), ("effusion", "OBS-DP", 1), ("right", "ANAT-DP", 3),
               ("effusion", "OBS-DP", 4)],
              [("located_at", 1, 0), ("located_at", 3, 2)])
    both, left = rel.score_graph(g, [rel.silver_tuple("Pleural Effusion/bilateral", lex),
                                     rel.silver_tuple("Pleural Effusion/left", lex)], lex)
    assert (both["side"], left["side"]) == (True, True)
    g1 = graph("left effusion .", [("left", "ANAT-DP", 0), ("effusion", "OBS-DP", 1)], [("located_at", 1, 0)])
    assert rel.score_graph(g1, [rel.silver_tuple("Pleural Effusion/bilateral", lex)], lex)[0]["side"] is False


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_only_development_ids_are_parsed(rel, tmp_path: Path) -> None:
    xml = ('<eCitation><uId id="CXR1"/><MedlineCitation><Article><Abstract>'
           '<AbstractText Label="FINDINGS">Synthetic: small left effusion.</AbstractText>'
           '</Abstract></Article></MedlineCitation><MeSH><major>Pleural Effusion/left/small</major>'
           '</MeSH></eCitation>').encode()
    archive = tmp_path / "reports.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        _member(tar, "ecgen-radiology/1.xml", xml)
        _member(tar, "ecgen-radiology/2.xml", b"<not xml")  # held out: would fail if parsed
    gold = tmp_path / "gold.csv"
    gold.write_text("filename,Effusion\nCXR1,1\n", encoding="utf-8")
    reports = list(rel.read_dev_reports(gold, archive))
    assert [r.id for r in reports] == ["CXR1"]
    assert reports[0].metadata["mesh_major"] == ["Pleural Effusion/left/small"]
    out = tmp_path / "rel.json"
    assert rel.main(["--gold", str(gold), "--archive", str(archive), "--out", str(out)]) == 0
    assert out.is_file() and out.with_suffix(".md").is_file()


def test_missing_data_is_said_clearly(rel, tmp_path: Path, capsys) -> None:
    assert rel.main(["--gold", str(tmp_path / "none.csv")]) == 2
    assert "development ids are not here" in capsys.readouterr().err
    gold = tmp_path / "gold.csv"
    gold.write_text("filename\nCXR1\n", encoding="utf-8")
    assert rel.main(["--gold", str(gold), "--archive", str(tmp_path / "absent.tgz")]) == 2
    assert "Open-i archive is not here" in capsys.readouterr().err
