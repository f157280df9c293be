"""The extractor pipeline: sections, tokenization, RadGraph offsets and round trips, batch
and multiprocess extraction, error handling, the lexicon files, and a fuzz test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphclr.reports.extract import (
    ExtractionError,
    Extractor,
    LexiconError,
    default_lexicon,
    extract_report,
    extract_reports,
    load_lexicon,
    select_sections,
    split_sections,
)
from graphclr.reports.extract.lexicon import RESOURCE_DIR
from graphclr.reports.schema import read_radgraph, write_radgraph
from graphclr.reports.readers import Report, read_mimic_reports, read_openi

FIX = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def ex() -> Extractor:
    return Extractor()


# --- sections -------------------------------------------------------------------------
def test_sections_kept_and_excluded(ex: Extractor) -> None:
    text = ("INDICATION: Pneumonia?\nHISTORY: Effusion last year.\nCOMPARISON: None.\n"
            "FINDINGS: No effusion.\nIMPRESSION: Clear lungs.")
    g = ex.extract(text, "r")
    assert g.text == "FINDINGS : No effusion . IMPRESSION : Clear lungs ."
    assert g.metadata["sections"] == [["findings", 0, 4], ["impression", 5, 9]]
    assert [(e.tokens, e.label) for e in g.entities] == [
        ("effusion", "OBS-DA"), ("Clear", "OBS-DP"), ("lungs", "ANAT-DP")]


def test_sections_without_kept_ones_fall_back_to_unexcluded(ex: Extractor) -> None:
    text = "INDICATION: Cough.\nCLINICAL HISTORY: Asthma.\nWET READ: ok\nFINAL REPORT: Small effusion."
    assert ex.extract(text).text == "FINAL REPORT : Small effusion ."
    assert Extractor(fallback="none").extract(text).text == ""
    assert Extractor(fallback="all").extract(text).text.startswith("INDICATION : Cough .")


def test_text_without_headers_is_read_whole(ex: Extractor) -> None:
    g = ex.extract("Mild cardiomegaly.  No\nedema.")
    assert g.text == "Mild cardiomegaly . No edema ."
    assert g.metadata["sections"] == [["text", 0, 5]]


def test_section_header_rules() -> None:
    headers = default_lexicon().sections
    secs = split_sections("Findings: a.\n  impression : b. INDICATION: c. Reason for exam: d",
                          headers)
    assert [(s.name, s.header, s.body) for s in secs] == [
        ("findings", "Findings", "a."), ("impression", "impression", "b."),
        ("indication", "INDICATION", "c. Reason for exam: d")]
    assert [s.name for s in select_sections(secs, keep=("impression",))] == ["impression"]
    with pytest.raises(ValueError, match="fallback"):
        select_sections(secs, fallback="some")


def test_configurable_sections() -> None:
    text = "INDICATION: Possible pneumonia.\nFINDINGS: No effusion."
    g = Extractor(sections=("indication",)).extract(text)
    assert g.text == "INDICATION : Possible pneumonia ."
    with pytest.raises(ValueError, match="unknown section 'finding'"):
        Extractor(sections=("finding",))


def test_mimic_layout_and_masks(ex: Extractor) -> None:
    rep = next(r for r in read_mimic_reports(FIX / "reports" / "mimic")
               if r.id.endswith("s53189527.txt"))
    g = ex.extract(rep.text, rep.id)
    assert g.text.startswith("FINDINGS : Small left pleural effusion has increased .")
    assert "___" not in g.text and "INDICATION" not in g.text  # masks live in INDICATION only
    # no FINDINGS header: the findings follow HISTORY after a blank line
    no_header = next(r for r in read_mimic_reports(FIX / "reports" / "mimic")
                     if r.id.endswith("s51029426.txt"))
    g = ex.extract(no_header.text)
    assert g.text == ("Right internal jugular central venous catheter terminates in the low SVC . "
                      "No pneumothorax . Lungs are clear .")
    assert g.metadata["sections"] == [["text", 0, 18]]
    masked = ex.extract("FINDINGS: ___F with no effusion; ___ pneumothorax.")
    assert masked.text == "FINDINGS : ___ F with no effusion ; ___ pneumothorax ."
    assert [e.tokens for e in masked.entities] == ["effusion", "pneumothorax"]


# --- tokens and offsets -----------------------------------------------------------------
def test_tokens_follow_radgraph_convention(ex: Extractor) -> None:
    g = ex.extract("Left-sided effusion (small), s/p CABG. 2.5cm nodule; x-XXXX.")
    assert g.text == ("Left - sided effusion ( small ) , s / p CABG . 2.5 cm nodule ; x - XXXX .")
    toks = g.text.split()
    for e in g.entities:
        assert e.tokens == " ".join(toks[e.start_ix:e.end_ix + 1])
    assert [e.tokens for e in g.entities] == ["Left - sided", "effusion", "small", "CABG", "nodule"]


def test_every_lexicon_term_tokenizes_to_itself(ex: Extractor) -> None:
    tok = ex.nlp.tokenizer
    bad = []
    for path in RESOURCE_DIR.glob("*.tsv"):
        if path.name in ("sections.tsv", "inflections.tsv", "refinements.tsv", "concepts.tsv"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            term = line.split("\t")[0]
            if [t.text for t in tok(term)] != term.split():
                bad.append((path.name, term, [t.text for t in tok(term)]))
    assert bad == []


def test_round_trip_through_radgraph_json(ex: Extractor, tmp_path: Path) -> None:
    reports = list(read_openi(FIX / "openi")) + list(read_mimic_reports(FIX / "reports" / "mimic"))
    graphs = list(ex.pipe(reports))
    assert [g.id for g in graphs] == [r.id for r in reports]
    assert {g.metadata["data_source"] for g in graphs} == {"openi", "mimic"}
    path = tmp_path / "graphs.json"
    write_radgraph(path, graphs)
    back = list(read_radgraph(path))
    for a, b in zip(graphs, back):
        b.validate()
        assert (a.id, a.text, a.metadata) == (b.id, b.text, b.metadata)
        assert [(e.tokens, e.label, e.start_ix, e.end_ix) for e in a.entities] == \
            [(e.tokens, e.label, e.start_ix, e.end_ix) for e in b.entities]
        assert sorted(a.relations, key=repr) == sorted(b.relations, key=repr)


# --- batch, multiprocessing, errors -----------------------------------------------------
def test_pipe_accepts_pairs_reports_and_strings(ex: Extractor) -> None:
    texts = ["No effusion.", "FINDINGS: Small effusion.", ""]
    a = list(ex.pipe(list(zip("abc", texts)), batch_size=2))
    b = list(ex.pipe([Report(i, t, "csv") for i, t in zip("abc", texts)]))
    c = list(ex.pipe(texts))
    assert [g.id for g in a] == ["a", "b", "c"] and [g.id for g in c] == ["0", "1", "2"]
    assert [g.text for g in a] == [g.text for g in b] == [g.text for g in c]
    assert b[0].metadata["data_source"] == "csv" and a[2].entities == [] and a[2].text == ""
    assert [x.text for x in extract_reports(list(zip("ab", texts)))] == [g.text for g in a[:2]]
    assert extract_report("No effusion.", "z").entities[0].label == "OBS-DA"


def test_failing_report_is_named_and_skippable(ex: Extractor) -> None:
    items = [("good", "Effusion."), ("bad", None), ("also-good", "Edema.")]
    with pytest.raises(ExtractionError, match="report 'bad'"):
        list(ex.pipe(items))
    failed: list[str] = []
    out = list(ex.pipe(items, on_error=lambda rid, err: failed.append(rid)))
    assert [g.id for g in out] == ["good", "also-good"] and failed == ["bad"]
    with pytest.raises(ExtractionError, match="report 'x'"):
        ex.extract(None, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="item 0"):
        list(ex.pipe([42]))
    with pytest.raises(ValueError, match="n_process"):
        list(ex.pipe([], n_process=0))


@pytest.mark.slow
def test_multiprocess_matches_single_process(ex: Extractor) -> None:
    texts = [f"FINDINGS: {'Small' if i % 2 else 'No'} left effusion number {i}. Possible edema."
             for i in range(60)] + [None]
    items = [(f"r{i}", t) for i, t in enumerate(texts)]
    failed: list[str] = []
    single = list(ex.pipe(items, batch_size=7, on_error=lambda r, e: None))
    multi = list(ex.pipe(items, batch_size=7, n_process=2, on_error=lambda r, e: failed.append(r)))
    assert failed == ["r60"]
    assert [(g.id, g.text, g.entities, g.relations) for g in single] == \
        [(g.id, g.text, g.entities, g.relations) for g in multi]


# --- lexicon ----------------------------------------------------------------------------
def test_lexicon_normalisation_and_concepts() -> None:
    lex = default_lexicon()
    assert [lex.key(w) for w in ("Opacities", "bases", "hila", "Pneumothoraces", "XXXX")] == \
        ["opacity", "base", "hilum", "pneumothorax", "xxxx"]
    assert lex.lookup("airspace").key == "airspace" and lex.lookup("air space").key == "airspace"
    assert lex.concept("effusion").cxr14 == ("Effusion",)
    assert lex.refine("effusion", {"pericardium"}) == ("pericardial_effusion", False)
    assert lex.refine("effusion", {"lung"}) == ("effusion", False)


def _copy_lexicon(tmp_path: Path) -> Path:
    dst = tmp_path / "lex"
    shutil.copytree(RESOURCE_DIR, dst)
    return dst


@pytest.mark.parametrize("file,line,message", [
    ("anatomy.tsv", "wrongside\tleft\tmod\tmiddle\n", "unknown laterality 'middle'"),
    ("observations.tsv", "blob\tnot_a_concept\n", "concept 'not_a_concept' is not in concepts.tsv"),
    ("observations.tsv", "blobscoliosis\tscoliosis\t\tup\n", "unknown laterality 'up'"),
    ("triggers.tsv", "maybe not\tperhaps\n", "unknown trigger role 'perhaps'"),
    ("modifiers.tsv", "effusion\tsmall\tsize\n", "'effusion' is already defined"),
    ("concepts.tsv", "x\tbad\t-\t-\n", "unknown category 'bad'"),
    ("refinements.tsv", "effusion\tpleura\tnowhere\t+\n", "refined concept 'nowhere'"),
    ("grammar.tsv", "the\tdet\textra\n", "expected 2-2 tab-separated fields"),
])
def test_lexicon_errors_name_file_and_line(tmp_path: Path, file: str, line: str, message: str) -> None:
    root = _copy_lexicon(tmp_path)
    path = root / file
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)
    with pytest.raises(LexiconError, match=rf"{file}: line {n_lines + 1}: .*{message}"):
        load_lexicon(root)


def test_custom_lexicon_directory(tmp_path: Path) -> None:
    root = _copy_lexicon(tmp_path)
    with (root / "observations.tsv").open("a", encoding="utf-8") as fh:
        fh.write("zebra sign\tnodule\t\n")
    g = Extractor(lexicon_dir=root).extract("Zebra sign in the left lung.")
    assert [(e.tokens, e.label) for e in g.entities][0] == ("Zebra sign", "OBS-DP")
    with pytest.raises(LexiconError, match="missing lexicon file"):
        load_lexicon(tmp_path)


# --- fuzz ---------------------------------------------------------------------------------
_VOCAB = ["no", "not", "without", "possible", "may", "represent", "cannot", "be", "excluded",
          "consistent", "with", "left", "right", "lower", "lobe", "pleural", "effusion",
          "effusions", "opacity", "atelectasis", "heart", "size", "normal", "small", "mild",
          "stable", "or", "and", ",", ".", "?", ";", ":", "XXXX", "___", "in", "the", "is",
          "FINDINGS:", "IMPRESSION:", "INDICATION:", "no change", "not only", "\n\n", "\n", "-",
          "/", "(", ")", "2.5cm", "suspected", "which", "but", "there is", "air-space"]
_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(_VOCAB), st.text(max_size=6)), max_size=60).map(" ".join),
    st.lists(st.sampled_from(_VOCAB), max_size=80).map("".join),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT)
def test_fuzz_any_text_gives_a_valid_graph(ex: Extractor, text: str) -> None:
    g = ex.extract(text, "fuzz")
    g.validate()
    toks = g.text.split()
    assert " ".join(toks) == g.text
    for e in g.entities:
        assert 0 <= e.start_ix <= e.end_ix < len(toks)
        assert e.tokens == " ".join(toks[e.start_ix:e.end_ix + 1])
    spans = [(e.start_ix, e.end_ix) for e in g.entities]
    assert spans == sorted(spans) and all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    for r in g.relations:
        assert r.head != r.tail
    for name, first, last in g.metadata["sections"]:
        assert 0 <= first <= last < len(toks)
