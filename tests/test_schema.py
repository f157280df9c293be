"""RadGraph schema: exact round trips for every released layout, validation errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from graphclr.constants import ABSENT, ANATOMY, OBSERVATION, PRESENT, UNCERTAIN
from graphclr.reports.schema import (
    Entity,
    RadGraphFormatError,
    Relation,
    ReportGraph,
    parse_radgraph,
    read_radgraph,
    to_radgraph_dict,
    write_radgraph,
)

LAYOUTS = ["train.json", "dev.json", "MIMIC-CXR_graphs.json", "CheXpert_graphs.json",
           "radgraph_xl_output.json"]


def _keys_in_order(obj):
    """Every key path of a JSON object in document order, to compare layouts exactly."""
    if isinstance(obj, dict):
        return [(k, _keys_in_order(v)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [_keys_in_order(v) for v in obj]
    return None


@pytest.mark.parametrize("name", LAYOUTS)
def test_round_trip_is_exact(radgraph_dir: Path, tmp_path: Path, name: str) -> None:
    original = json.loads((radgraph_dir / name).read_text())
    graphs = read_radgraph(radgraph_dir / name)
    assert len(graphs) == len(original)
    out = tmp_path / name
    write_radgraph(out, graphs)
    written = json.loads(out.read_text())
    assert written == original
    assert _keys_in_order(written) == _keys_in_order(original)


def test_test_set_round_trip_keeps_both_labelers(radgraph_dir: Path, tmp_path: Path) -> None:
    original = json.loads((radgraph_dir / "test.json").read_text())
    graphs = read_radgraph(radgraph_dir / "test.json", labeler="all")
    assert [g.annotator for g in graphs] == ["labeler_1", "labeler_2"] * 2
    write_radgraph(tmp_path / "test.json", graphs)
    written = json.loads((tmp_path / "test.json").read_text())
    assert written == original
    assert _keys_in_order(written) == _keys_in_order(original)


def test_test_set_default_is_labeler_1_and_labeler_2_selectable(radgraph_dir: Path) -> None:
    first = read_radgraph(radgraph_dir / "test.json")
    second = read_radgraph(radgraph_dir / "test.json", labeler="labeler_2")
    key = "p15/p15001233/s53412345.txt"
    g1 = next(g for g in first if g.id == key)
    g2 = next(g for g in second if g.id == key)
    assert (len(g1.entities), len(g1.relations)) == (6, 4)
    assert (len(g2.entities), len(g2.relations)) == (4, 3)
    assert g2.entities[1].tokens == "Left basilar" and g2.entities[1].end_ix == 4


def test_every_relation_of_an_entity_is_kept(radgraph_dir: Path) -> None:
    g = read_radgraph(radgraph_dir / "train.json")[0]
    opacity = next(i for i, e in enumerate(g.entities) if e.tokens == "opacity")
    rels = [(r.type, g.entities[r.tail].tokens) for r in g.relations_of(opacity)]
    # the reference implementation kept only the first of these
    assert rels == [("located_at", "lobe"), ("suggestive_of", "pneumonia")]


def test_labels_map_to_kind_and_certainty(radgraph_dir: Path) -> None:
    xl = read_radgraph(radgraph_dir / "radgraph_xl_output.json")[0]
    assert [(e.kind, e.certainty) for e in xl.entities] == [
        (OBSERVATION, ABSENT), (ANATOMY, PRESENT), (OBSERVATION, PRESENT), (OBSERVATION, UNCERTAIN)]
    v1 = read_radgraph(radgraph_dir / "dev.json")[0]
    assert {e.label: (e.kind, e.certainty) for e in v1.entities} == {
        "OBS-DP": (OBSERVATION, PRESENT), "ANAT-DP": (ANATOMY, PRESENT),
        "OBS-U": (OBSERVATION, UNCERTAIN)}


def _record() -> dict:
    return {"text": "small left effusion",
            "entities": {
                "1": {"tokens": "small", "label": "OBS-DP", "start_ix": 0, "end_ix": 0,
                      "relations": [["modify", "3"]]},
                "2": {"tokens": "left", "label": "ANAT-DP", "start_ix": 1, "end_ix": 1,
                      "relations": []},
                "3": {"tokens": "effusion", "label": "OBS-DP", "start_ix": 2, "end_ix": 2,
                      "relations": [["located_at", "2"]]}},
            "data_source": "MIMIC-CXR", "data_split": "train"}


def _broken(mutate) -> dict:
    rec = copy.deepcopy(_record())
    mutate(rec)
    return rec


BAD_RECORDS = {
    "missing text": (lambda r: r.pop("text"), "text", "missing key"),
    "missing entities": (lambda r: r.pop("entities"), "entities", "missing key"),
    "missing label": (lambda r: r["entities"]["2"].pop("label"), "entities['2'].label", "missing key"),
    "missing relations": (lambda r: r["entities"]["1"].pop("relations"),
                          "entities['1'].relations", "missing key"),
    "dangling relation": (lambda r: r["entities"]["3"]["relations"].append(["modify", "9"]),
                          "entities['3'].relations[1]", "target '9' is not an entity"),
    "span past the text": (lambda r: r["entities"]["3"].update(end_ix=3),
                           "entities['3'].start_ix", "outside the text"),
    "reversed span": (lambda r: r["entities"]["3"].update(start_ix=2, end_ix=1),
                      "entities['3'].start_ix", "outside the text"),
    "negative span": (lambda r: r["entities"]["1"].update(start_ix=-1),
                      "entities['1'].start_ix", "outside the text"),
    "non-integer span": (lambda r: r["entities"]["1"].update(start_ix="0"),
                         "entities['1'].start_ix", "must be an integer"),
    "wrong label": (lambda r: r["entities"]["2"].update(label="ANAT-DA"),
                    "entities['2'].label", "unknown label 'ANAT-DA'"),
    "wrong relation type": (lambda r: r["entities"]["1"]["relations"].__setitem__(0, ["modifies", "3"]),
                            "entities['1'].relations[0]", "unknown relation type 'modifies'"),
    "malformed relation": (lambda r: r["entities"]["1"]["relations"].__setitem__(0, ["modify"]),
                           "entities['1'].relations[0]", "must be [type, target_id]"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_malformed_record_names_report_and_field(case: str) -> None:
    mutate, field, problem = BAD_RECORDS[case]
    data = {"good": _record(), "p1/p100/s200.txt": _broken(mutate)}
    with pytest.raises(RadGraphFormatError) as info:
        parse_radgraph(data, source="file.json")
    err = info.value
    assert err.report_id == "p1/p100/s200.txt"
    assert err.field == field
    assert problem in str(err)
    assert str(err).startswith("file.json: report 'p1/p100/s200.txt': " + field)


def test_non_strict_skips_and_counts_bad_records() -> None:
    data = {"a": _record(), "b": _broken(lambda r: r.pop("text")), "c": _record(),
            "d": _broken(lambda r: r["entities"]["2"].update(label="X"))}
    coll = parse_radgraph(data, strict=False)
    assert [g.id for g in coll] == ["a", "c"]
    assert coll.num_skipped == 2
    assert [e.report_id for e in coll.skipped] == ["b", "d"]


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "dev.json"
    bad.write_text('{"a": {"text": "x",\n "entities": {,}}}')
    with pytest.raises(RadGraphFormatError, match=r"dev\.json: not valid JSON \(line 2"):
        read_radgraph(bad)


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(RadGraphFormatError, match="top level must be an object"):
        parse_radgraph([_record()], source="x.json")


def test_validate_checks_constructed_graphs() -> None:
    good = ReportGraph("r", "no pneumothorax", [Entity("pneumothorax", "OBS-DA", 1, 1)])
    good.validate()
    bad_span = ReportGraph("r", "no pneumothorax", [Entity("pneumothorax", "OBS-DA", 1, 2)])
    with pytest.raises(RadGraphFormatError, match=r"report 'r': entities\[0\]\.start_ix"):
        bad_span.validate()
    bad_rel = ReportGraph("r", "no pneumothorax", [Entity("pneumothorax", "OBS-DA", 1, 1)],
                          [Relation("modify", 0, 1)])
    with pytest.raises(RadGraphFormatError, match=r"relations\[0\]: entity index 1 out of range"):
        bad_rel.validate()


def test_writer_numbers_entities_without_ids(tmp_path: Path) -> None:
    g = ReportGraph("r", "left effusion", [Entity("left", "ANAT-DP", 0, 0),
                                           Entity("effusion", "OBS-DP", 1, 1)],
                    [Relation("located_at", 1, 0)])
    record = to_radgraph_dict([g])["r"]
    assert record["entities"]["2"]["relations"] == [["located_at", "1"]]
    back = parse_radgraph(to_radgraph_dict([g]))[0]
    assert [(r.type, r.head, r.tail) for r in back.relations] == [("located_at", 1, 0)]


def test_write_is_atomic(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "graphs.json"
    path.write_text('{"old": 1}')
    g = ReportGraph("r", "left effusion", [Entity("left", "ANAT-DP", 0, 0)])

    def dump_then_crash(obj, fh, **kwargs):
        fh.write('{"r": {"text": "left')  # half a file, then the process "dies"
        raise OSError("disk full")

    import graphclr.reports.radgraph_io

    monkeypatch.setattr(graphclr.reports.radgraph_io.json, "dump", dump_then_crash)
    with pytest.raises(OSError, match="disk full"):
        write_radgraph(path, [g])
    assert json.loads(path.read_text()) == {"old": 1}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_graphs_pickle_to_equal_graphs(radgraph_dir: Path) -> None:
    import pickle

    graphs = list(read_radgraph(radgraph_dir / "test.json", labeler="all"))
    back = pickle.loads(pickle.dumps(graphs))
    assert back == graphs
    assert back[1].annotator == "labeler_2" and back[1].annotator_metadata == graphs[1].annotator_metadata


def test_atomic_files_get_the_usual_permissions(tmp_path: Path) -> None:
    import os

    from graphclr.utils import atomic_write

    mask = os.umask(0o022)
    os.umask(mask)
    with atomic_write(tmp_path / "r.json") as fh:
        fh.write("{}")
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o666 & ~mask
