"""RadGraph files as they exist in the wild: RadGraph-XL labels (measurement, uncertain
anatomy), mixed labeler layouts, off-schema relations, strictness, and streamed reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphclr.constants import ABSENT, ANATOMY, OBSERVATION, UNCERTAIN
from graphclr.reports import radgraph_io
from graphclr.reports.schema import (
    RadGraphFormatError,
    ReportGraph,
    iter_radgraph,
    normalise_label,
    parse_radgraph,
    read_radgraph,
    write_radgraph,
)


def _ent(tokens: str, label: str, s: int, e: int, rels=()) -> dict:
    return {"tokens": tokens, "label": label, "start_ix": s, "end_ix": e, "relations": [list(r) for r in rels]}


XL = {
    "r1": {"text": "A 3 cm nodule in the left lung , possibly a granuloma .",
           "entities": {
               "1": _ent("3 cm", "Observation::measurement::definitely present", 1, 2, [("modify", "2")]),
               "2": _ent("nodule", "Observation::definitely present", 3, 3, [("located_at", "4")]),
               "3": _ent("left", "Anatomy::definitely present", 6, 6, [("modify", "4")]),
               "4": _ent("lung", "Anatomy::measurement::definitely present", 7, 7),
               "5": _ent("granuloma", "Observation::uncertain", 11, 11),
           },
           "data_source": None, "data_split": "inference"},
    "r2": {"text": "no visible left apex , possibly absent",
           "entities": {"1": _ent("left", "Anatomy::uncertain", 2, 2, [("modify", "2")]),
                        "2": _ent("apex", "Anatomy::definitely absent", 3, 3),
                        "3": _ent("absent", "Observation::measurement::definitely absent", 6, 6)}},
}


# --- RadGraph-XL labels -------------------------------------------------------------------
def test_xl_labels_normalise_to_v1_and_keep_what_was_read(tmp_path: Path) -> None:
    src = tmp_path / "xl.json"
    src.write_text(json.dumps(XL), encoding="utf-8")
    g1, g2 = read_radgraph(src)
    assert [e.label for e in g1.entities] == ["OBS-DP", "OBS-DP", "ANAT-DP", "ANAT-DP", "OBS-U"]
    assert [e.source_label for e in g1.entities] == [
        "Observation::measurement::definitely present", "Observation::definitely present",
        "Anatomy::definitely present", "Anatomy::measurement::definitely present",
        "Observation::uncertain"]
    assert [e.label for e in g2.entities] == ["ANAT-DP", "ANAT-DP", "OBS-DA"]
    # XL's anatomy certainty is kept
    assert [(e.kind, e.certainty) for e in g2.entities] == [
        (ANATOMY, UNCERTAIN), (ANATOMY, ABSENT), (OBSERVATION, ABSENT)]
    out = tmp_path / "back.json"
    write_radgraph(out, [g1, g2])
    assert out.read_text(encoding="utf-8") == json.dumps(XL, ensure_ascii=False)


def test_v1_labels_have_no_source_label() -> None:
    assert normalise_label("ANAT-DP") == ("ANAT-DP", None)
    assert normalise_label("Anatomy::uncertain") == ("ANAT-DP", "Anatomy::uncertain")
    assert normalise_label("Observation::measurement::uncertain") == (
        "OBS-U", "Observation::measurement::uncertain")
    with pytest.raises(KeyError):
        normalise_label("Observation::size::uncertain")


def test_unknown_xl_label_names_the_field() -> None:
    bad = {"r": {"text": "x", "entities": {"1": _ent("x", "Anatomy::size::definitely present", 0, 0)}}}
    with pytest.raises(RadGraphFormatError) as info:
        parse_radgraph(bad, source="f.json")
    assert str(info.value) == ("f.json: report 'r': entities['1'].label: unknown label "
                               "'Anatomy::size::definitely present' (expected a RadGraph v1 or "
                               "RadGraph-XL entity label)")


def test_pickled_entities_keep_the_source_label() -> None:
    import pickle

    g = parse_radgraph(XL)[1]
    assert pickle.loads(pickle.dumps(g)).entities == g.entities


# --- labelers ------------------------------------------------------------------------------
def test_labeler_applies_only_to_files_that_nest_labelers(radgraph_dir: Path) -> None:
    for lab in ("labeler_1", "labeler_2"):
        train = read_radgraph(radgraph_dir / "train.json", labeler=lab)
        assert len(train) == len(json.loads((radgraph_dir / "train.json").read_text()))
        assert all(g.annotator is None for g in train)
        test = read_radgraph(radgraph_dir / "test.json", labeler=lab)
        assert {g.annotator for g in test} == {lab}
    mixed = {**json.loads((radgraph_dir / "train.json").read_text()),
             **json.loads((radgraph_dir / "test.json").read_text())}
    graphs = parse_radgraph(mixed, labeler="labeler_2")
    assert [g.annotator for g in graphs] == [None] * (len(mixed) - 2) + ["labeler_2"] * 2


# --- off-schema relations are kept -----------------------------------------------------------
def test_off_schema_relations_are_kept_and_listed(tmp_path: Path) -> None:
    rec = {"r": {"text": "right lower lobe opacity",
                 "entities": {"1": _ent("right", "ANAT-DP", 0, 0, [("located_at", "2")]),
                              "2": _ent("lower lobe", "ANAT-DP", 1, 2),
                              "3": _ent("opacity", "OBS-DP", 3, 3, [("modify", "2"), ("located_at", "2")])}}}
    (g,) = parse_radgraph(rec)
    assert [(r.type, r.head, r.tail) for r in g.relations] == [
        ("located_at", 0, 1), ("modify", 2, 1), ("located_at", 2, 1)]
    assert [(r.type, r.head, r.tail) for r in g.off_schema_relations()] == [
        ("located_at", 0, 1), ("modify", 2, 1)]
    write_radgraph(tmp_path / "o.json", [g])
    assert json.loads((tmp_path / "o.json").read_text()) == rec


# --- strictness --------------------------------------------------------------------------------
def _record(**entities) -> dict:
    return {"text": "small left effusion", "entities": entities or {
        "1": _ent("small", "OBS-DP", 0, 0, [("modify", "3")]),
        "2": _ent("left", "ANAT-DP", 1, 1),
        "3": _ent("effusion", "OBS-DP", 2, 2, [("located_at", "2")])}}


SOFT = {
    "tokens": ({"1": _ent("smal", "OBS-DP", 0, 0), "2": _ent("left", "ANAT-DP", 1, 1)},
               "entities['1'].tokens: tokens 'smal' are not the text's tokens 'small' at [0, 0]"),
    "self relation": ({"1": _ent("small", "OBS-DP", 0, 0, [("modify", "1")])},
                      "entities['1'].relations[0]: modify relation from the entity to itself"),
    "duplicate relation": ({"2": _ent("left", "ANAT-DP", 1, 1),
                            "3": _ent("effusion", "OBS-DP", 2, 2, [("located_at", "2"), ("located_at", "2")])},
                           "entities['3'].relations[1]: repeats relations[0] (['located_at', '2'])"),
}


@pytest.mark.parametrize("case", sorted(SOFT))
def test_soft_problems_are_errors_or_counted_warnings(case: str) -> None:
    entities, problem = SOFT[case]
    data = {"ok": _record(), "bad": _record(**entities)}
    with pytest.raises(RadGraphFormatError) as info:
        parse_radgraph(data, source="g.json")
    assert str(info.value) == f"g.json: report 'bad': {problem}"
    lenient = parse_radgraph(data, strict=False, source="g.json")
    assert [g.id for g in lenient] == ["ok", "bad"] and lenient.num_skipped == 0
    assert [str(w) for w in lenient.warnings] == [f"g.json: report 'bad': {problem}"]
    # kept as read: writing it back gives the record
    assert lenient[1].to_radgraph_record() == data["bad"]


def test_soft_problems_in_a_labeler_name_the_labeler() -> None:
    rec = {"text": "small", "labeler_1": {"entities": {"1": _ent("smal", "OBS-DP", 0, 0)}}}
    with pytest.raises(RadGraphFormatError) as info:
        parse_radgraph({"t": rec})
    assert str(info.value) == ("report 't': labeler_1.entities['1'].tokens: tokens 'smal' are not "
                               "the text's tokens 'small' at [0, 0]")


def test_repeated_report_key_is_an_error_naming_the_record(tmp_path: Path) -> None:
    one = json.dumps(_record())
    src = tmp_path / "g.json"
    src.write_text(f'{{"a": {one},\n "b": {one},\n "a": {one}}}', encoding="utf-8")
    with pytest.raises(RadGraphFormatError) as info:
        read_radgraph(src)
    assert str(info.value) == f"{src}: report 'a': repeated report key (first at record 1)"
    coll = read_radgraph(src, strict=False)
    assert [g.id for g in coll] == ["a", "b"]
    assert [str(e) for e in coll.skipped] == [
        f"{src}: report 'a': repeated report key (first at record 1); this copy is skipped"]


def test_label_cli_counts_radgraph_warnings(tmp_path: Path, capsys) -> None:
    from graphclr.cli import main

    src = tmp_path / "g.json"
    src.write_text(json.dumps({"ok": _record(), "bad": _record(**SOFT["tokens"][0])}), encoding="utf-8")
    assert main(["label", str(src), "--out", str(tmp_path / "l.csv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert f"warning: {src}: report 'bad': {SOFT['tokens'][1]}" in err
    assert err[-1] == "1 warning(s) in the graphs read"
    assert main(["label", str(src), "--out", str(tmp_path / "l.csv"), "--strict"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"graphclr label: error: {src}: report 'bad': {SOFT['tokens'][1]}"]


# --- streamed reading ------------------------------------------------------------------------
def test_streamed_reading_equals_json_load_across_chunk_boundaries(radgraph_dir: Path, monkeypatch) -> None:
    for name in ("train.json", "test.json", "radgraph_xl_output.json"):
        whole = parse_radgraph(json.loads((radgraph_dir / name).read_text()), labeler="all")
        for chunk in (1, 7, 64, 1 << 20):
            monkeypatch.setattr(radgraph_io, "CHUNK", chunk)
            got = list(iter_radgraph(radgraph_dir / name, labeler="all"))
            assert [g.__reduce__()[1] for g in got] == [g.__reduce__()[1] for g in whole.graphs]


@pytest.mark.parametrize("text, where", [
    ('{"a": {"text": "x",\n "entities": {,}}}', "line 2, column 15): Expecting property name"),
    ('{"a": {"text": "x", "entities": {}}', "line 1, column 36): expected ',' or '}', got the end"),
    ('{"a": {"text": "x", "entities": {}}}\n{}', "line 2, column 1): extra data after"),
    ('[{"text": "x"}]', "line 1, column 1): expected '{' (a RadGraph file is an object"),
    ('{"a": {"text": "x", "entities": {}} "b": 1}', "line 1, column 37): expected ',' or '}', got '\"'"),
    ('{3: {}}', "line 1, column 2): expected a report id (a string)"),
])
def test_invalid_json_names_line_and_column(tmp_path: Path, monkeypatch, text: str, where: str) -> None:
    src = tmp_path / "g.json"
    src.write_text(text, encoding="utf-8")
    for chunk in (3, 1 << 20):
        monkeypatch.setattr(radgraph_io, "CHUNK", chunk)
        with pytest.raises(RadGraphFormatError) as info:
            read_radgraph(src)
        assert str(info.value).startswith(f"{src}: not valid JSON ({where}")


def test_not_utf8_names_the_file(tmp_path: Path) -> None:
    src = tmp_path / "g.json"
    src.write_bytes(b'{"a": {"text": "caf\xe9", "entities": {}}}')
    with pytest.raises(RadGraphFormatError) as info:
        read_radgraph(src)
    assert str(info.value) == f"{src}: not UTF-8 text (byte 0xe9)"


def test_streamed_reading_holds_one_record_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """The buffer never holds much more than one record plus one chunk: counted, not timed."""
    monkeypatch.setattr(radgraph_io, "CHUNK", 4096)
    record = json.dumps(_record())
    src = tmp_path / "big.json"
    src.write_text("{" + ",\n".join(f'"r{i}": {record}' for i in range(5000)) + "}", encoding="utf-8")
    biggest = [0]
    real_fill = radgraph_io._Reader.fill

    def fill(self, at_least=radgraph_io.CHUNK):
        out = real_fill(self, at_least)
        biggest[0] = max(biggest[0], len(self.buf))
        return out

    monkeypatch.setattr(radgraph_io._Reader, "fill", fill)
    n = sum(1 for _ in iter_radgraph(src))
    assert n == 5000 and src.stat().st_size > 100 * biggest[0]
    assert biggest[0] <= 2 * 4096 + 2 * len(record) + 64


def test_graph_arrays_keep_xl_anatomy_certainty() -> None:
    from graphclr.constants import CERTAINTY_ID
    from graphclr.graphs.arrays import encode_report

    g = parse_radgraph(XL)[1]
    arrays = encode_report(g)
    assert arrays.certainty.tolist() == [CERTAINTY_ID[UNCERTAIN], CERTAINTY_ID[ABSENT],
                                         CERTAINTY_ID[ABSENT]]
    assert arrays.certainty.tolist() == [CERTAINTY_ID[e.certainty] for e in g.entities]
