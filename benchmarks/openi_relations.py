"""Relations of the built-in extractor on real Open-i reports: does the graph reach the side
and the location that the report's MeSH *major* headings state for a finding?

Silver tuples. Open-i indexes each report with MeSH major headings such as
``Opacity/lung/base/left``: a *subject* ("Opacity") and qualifiers. One heading gives one
silver tuple ``(finding, side, locations)``:

* finding: the lexicon's observation concepts in the subject ("Pulmonary Atelectasis" ->
  ``atelectasis``; MeSH's inverted "Catheters, Indwelling" is read "Indwelling Catheters");
  when the subject is anatomy ("Costophrenic Angle/left/blunted") the observation concepts
  of the qualifiers, and the subject is then a location;
* side: a qualifier ``left``, ``right`` or ``bilateral``;
* locations: the other anatomy parts that name a structure or a zone (``base``,
  ``upper lobe``, ``hilum``, ``thoracic vertebrae``), except ``lung`` (MeSH names it for
  every lung finding). A location is its structure keys, any of which names it
  (synonyms: vertebra = spine; "thoracic vertebrae" = ``spine|thorax``), plus its zone
  word, if any ("lower lobe" = a lung word + zone ``lower``, which
  "left lower lobe", "LLL" and "left lower lung" all give).

Score. A *matching observation* is an extracted observation entity (not absent) whose
lexicon concept is one of the finding's. A tuple's side is **reached** when, from some
matching observation, an anatomy entity with that laterality is at most 2 hops away over
``modify``/``located_at`` edges (either direction: "opacity -located_at-> lobe
<-modify- left"), counted from the observation and from the observations it modifies
("consolidative -modify-> opacity" is one finding), or the side is spelled inside such an
observation word itself ("levoscoliosis": RadGraph keeps it one observation entity, and
the lexicon gives the term its side); ``bilateral`` also counts for ``left`` and ``right``, and ``left`` plus
``right`` together for ``bilateral`` (from one observation, or from two mentions of the
finding: "left effusion ... right effusion"), as does a paired structure named in the plural
("the lung bases", "the hemidiaphragms"). A location is reached when its structure key (and
zone) are among the anatomy within 2 hops. The **baseline** asks the same of the anatomy
entities in the same sentence as a matching observation. Tuples whose finding has no
matching observation are counted separately ("finding not extracted"): they measure
entities, not relations.

Data. Only the development reports of NegBio's Open-i gold standard
(``../shared/data/negbio-openi/openi_gold_dev.csv``) are read: archive members are filtered
by their file name (``ecgen-radiology/<n>.xml`` is report ``CXR<n>``) *before* they are
parsed, so no other report's headings are ever read. The development ids are split into a
*tuning* half (``sha256(id) % 2 == 0``, the same split as ``openi_labels.py``; the only
half whose misses are ever printed) and a *check* half; both are reported.

Run from the repository root::

    .venv/bin/python benchmarks/openi_relations.py                 # -> benchmarks/results/openi_relations.{json,md}
    .venv/bin/python benchmarks/openi_relations.py --show-misses 20 # tuning-half misses, printed only
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import tarfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, record  # noqa: E402
from openi_labels import DEFAULT_GOLD, half_of  # noqa: E402

SIDES = ("left", "right", "bilateral")
#: structure keys MeSH and report wording name differently: MeSH's "vertebrae" are the
#: report's "spine"; MeSH's "upper lobe" is often the report's "upper lung" or "upper
#: zone" (a lobe location is its zone, so "lower lobe" = a lung word + zone lower)
SAME_STRUCTURE = {"vertebra": "spine", "lobe": "lung", "zone": "lung", "middle": "lung"}
#: the organ every lung heading names: not a location
NOT_LOCATIONS = frozenset({"lung"})
MAX_HOPS = 2
#: paired structures: named in the plural they state both sides ("the lung bases")
PAIRED = frozenset({"base", "apex", "lung", "hilum", "diaphragm", "costophrenic angle",
                    "clavicle", "shoulder", "humerus", "hemithorax"})
HALVES = ("tuning", "check")


@dataclass(frozen=True)
class Silver:
    """One silver tuple from a MeSH major heading."""

    heading: str
    subject: str
    concepts: frozenset[str]
    side: str | None
    locations: tuple[tuple[str, str | None], ...]  # ("key|key", zone or None)


def _words(part: str) -> list[str]:
    if "," in part:  # MeSH inversion: "Catheters, Indwelling" -> "Indwelling Catheters"
        head, rest = part.split(",", 1)
        part = f"{rest} {head}"
    return re.findall(r"[A-Za-z]+|-", part)


def _structure(key: str) -> str:
    return SAME_STRUCTURE.get(key, key)


def _location(terms: list[Any]) -> tuple[str, str | None] | None:
    """(structure key, zone) of an anatomy heading part, or None if it names neither."""
    anat = [t for t in terms if t.kind == "anatomy"]
    heads = [t for t in anat if t.category == "head"]
    zones = [t.zone for t in anat if t.zone]
    if heads:
        key = heads[-1].key
    elif zones:
        key = anat[-1].key
    else:
        return None
    if key in NOT_LOCATIONS:
        return None
    zone = zones[0] if zones and not (heads and heads[-1].zone) else None
    # every structure word of the part names it: "thoracic vertebrae" = spine or thoracic
    words = {_structure(t.key) for t in anat if t.category == "head" or not (t.zone or t.laterality)}
    return "|".join(sorted(words | {_structure(key)})), zone


def silver_tuple(heading: str, lexicon: Any) -> Silver | None:
    """The silver tuple of one heading, or None when it names no observation concept.

    >>> from graphclr.reports.extract.lexicon import default_lexicon
    >>> s = silver_tuple("Opacity/lung/base/left", default_lexicon())
    >>> sorted(s.concepts), s.side, s.locations
    (['opacity'], 'left', (('base', None),))
    >>> silver_tuple("Costophrenic Angle/left/blunted", default_lexicon()).locations
    (('costophrenic angle', None),)
    """
    parts = [p.strip() for p in heading.split("/") if p.strip()]
    if not parts:
        return None
    matched = [[t for _s, _e, t in lexicon.match(lexicon.keys(_words(p))) if t.kind != "trigger"]
               for p in parts]

    def concepts(terms: list[Any]) -> set[str]:
        return {t.key for t in terms if t.kind == "observation" and t.category != "modifier"}

    found = concepts(matched[0])
    quals = list(range(1, len(parts)))
    loc_parts = quals
    if not found:
        found = set().union(*(concepts(matched[i]) for i in quals)) if quals else set()
        loc_parts = [0, *quals]
    if not found:
        return None
    side = next((p.lower() for p in parts[1:] if p.lower() in SIDES), None)
    locations = []
    for i in loc_parts:
        if parts[i].lower() in SIDES:
            continue
        loc = _location(matched[i])
        if loc is not None and loc not in locations:
            locations.append(loc)
    return Silver(heading, parts[0], frozenset(found), side, tuple(locations))


def _entity_concept(lexicon: Any, tokens: str) -> tuple[str | None, list[Any]]:
    """(observation concept, anatomy terms) of an entity's words."""
    terms = [t for _s, _e, t in lexicon.match(lexicon.keys(tokens.split())) if t.kind != "trigger"]
    obs = [t.key for t in terms if t.kind == "observation"]
    return (obs[-1] if obs else None), [t for t in terms if t.kind == "anatomy"]


def _side_ok(side: str, lats: set[str]) -> bool:
    if side == "bilateral":
        return "bilateral" in lats or {"left", "right"} <= lats
    return side in lats or "bilateral" in lats


def _loc_ok(loc: tuple[str, str | None], keys: set[str], zones: set[str]) -> bool:
    names, zone = loc
    return any(k in keys for k in names.split("|")) and (zone is None or zone in zones)


def _sentences(words: list[str]) -> list[int]:
    """Sentence id per token (sentences end at . ! ? ; : as in the rule engine)."""
    from graphclr.reports.extract.rules import SENTENCE_END

    out, s = [], 0
    for w in words:
        out.append(s)
        if w in SENTENCE_END:
            s += 1
    return out


def score_graph(graph: Any, tuples: Iterable[Silver], lexicon: Any) -> list[dict[str, Any]]:
    """For each silver tuple: whether the graph (and the sentence baseline) reach its side
    and locations. One dict per tuple: ``found`` (a matching observation exists),
    ``side`` / ``side_baseline`` (True/False, None when no side is stated) and
    ``locations`` / ``locations_baseline`` (one bool per location)."""
    ents = graph.entities
    info = [_entity_concept(lexicon, e.tokens) for e in ents]
    adj: list[set[int]] = [set() for _ in ents]
    modifies: list[set[int]] = [set() for _ in ents]  # observation -> observations it modifies
    for r in graph.relations:
        if r.type in ("modify", "located_at") and 0 <= r.head < len(ents) and 0 <= r.tail < len(ents):
            adj[r.head].add(r.tail)
            adj[r.tail].add(r.head)
            if r.type == "modify" and ents[r.head].is_observation and ents[r.tail].is_observation:
                modifies[r.head].add(r.tail)
    sent = _sentences(graph.text.split())

    def anatomy(indices: Iterable[int]) -> tuple[set[str], set[str], set[str]]:
        lats, keys, zones = set(), set(), set()
        for j in indices:
            if not ents[j].is_anatomy:
                continue
            last = ents[j].tokens.split()[-1]
            for t in info[j][1]:
                keys.add(_structure(t.key))
                if t.laterality:
                    lats.add(t.laterality)
                if t.key in PAIRED and lexicon.key(last) != last.lower():
                    lats.add("bilateral")  # "the lung bases", "both hemidiaphragms"
                if t.zone:
                    zones.add(t.zone)
        return lats, keys, zones

    def reach(i: int) -> set[int]:
        seen = {i} | modifies[i]  # "consolidative -modify-> opacity": one finding, no hop
        frontier = set(seen)
        for _ in range(MAX_HOPS):
            frontier = {k for j in frontier for k in adj[j]} - seen
            seen |= frontier
        return seen

    def own_side(i: int, sets: tuple[set[str], set[str], set[str]]) -> tuple[set[str], set[str], set[str]]:
        """The side an observation word spells itself ("levoscoliosis"), added to ``sets``."""
        for j in {i} | modifies[i]:
            if ents[j].is_observation:
                sets[0].update(t.laterality for _s, _e, t in lexicon.match(lexicon.keys(ents[j].tokens.split()))
                               if t.kind == "observation" and t.laterality)
        return sets

    out = []
    for s in tuples:
        cands = [i for i, e in enumerate(ents) if e.is_observation and e.label != "OBS-DA"
                 and info[i][0] in s.concepts]
        row: dict[str, Any] = {"found": bool(cands)}
        graph_sets = [own_side(i, anatomy(reach(i))) for i in cands]
        base_sets = [own_side(i, anatomy(j for j, e in enumerate(ents)
                                         if sent[e.start_ix] == sent[ents[i].start_ix]))
                     for i in cands]
        for name, sets in (("", graph_sets), ("_baseline", base_sets)):
            # "bilateral" is also reached by a left and a right mention of the finding
            sides = [x[0] for x in sets] + [set().union(*(x[0] for x in sets))] * (s.side == "bilateral")
            row["side" + name] = None if s.side is None else any(_side_ok(s.side, x) for x in sides)
            row["locations" + name] = [any(_loc_ok(loc, x[1], x[2]) for x in sets) for loc in s.locations]
        out.append(row)
    return out


def read_dev_reports(gold: Path, archive: Path | None) -> Iterator[Any]:
    """Open-i reports whose id is in ``gold`` only, filtered by member name before parsing."""
    from graphclr.reports.readers import openi_archive_path, parse_openi_xml

    with gold.open(encoding="utf-8", newline="") as fh:
        dev = {row["filename"] for row in csv.DictReader(fh)}
    path = archive or openi_archive_path()
    with tarfile.open(path, "r:*") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".xml")
                   and f"CXR{Path(m.name).stem}" in dev]
        members.sort(key=lambda m: int(Path(m.name).stem))
        for m in members:
            fh = tar.extractfile(m)
            if fh is None:
                continue
            report = parse_openi_xml(fh.read(), f"{path}:{m.name}")
            if report.id != f"CXR{Path(m.name).stem}":  # the name filter must be the id
                raise SystemExit(f"{path}:{m.name}: holds report {report.id}, not "
                                 f"CXR{Path(m.name).stem}; cannot filter by file name")
            yield report


def _context(graph: Any, s: Silver, lexicon: Any) -> list[str]:
    """The sentences holding a matching observation, and that observation's relations."""
    words = graph.text.split()
    sent = _sentences(words)
    ents = graph.entities
    out = []
    for i, e in enumerate(ents):
        if not e.is_observation or _entity_concept(lexicon, e.tokens)[0] not in s.concepts:
            continue
        k = sent[e.start_ix]
        out.append(" ".join(w for w, j in zip(words, sent) if j == k))
        out.append(f"   {e.tokens} ({e.label}): " + ", ".join(
            f"{r.type} {ents[r.tail].tokens if r.head == i else '<- ' + ents[r.head].tokens}"
            for r in graph.relations if i in (r.head, r.tail)))
    return out


def _rate(hit: int, total: int) -> float | None:
    return round(hit / total, 4) if total else None


def evaluate(reports: list[Any], graphs: list[Any], lexicon: Any,
             show_misses: int = 0) -> dict[str, Any]:
    """Side/location scores per half, the baseline, and per-finding misses."""
    counts = {h: Counter() for h in HALVES}
    per_finding: dict[str, dict[str, Counter]] = {h: defaultdict(Counter) for h in HALVES}
    shown = 0
    for report, graph in zip(reports, graphs):
        half = "tuning" if half_of(report.id) == "tuning" else "check"
        tuples = {}
        for h in report.metadata.get("mesh_major", []):
            s = silver_tuple(h, lexicon)
            if s is not None and (s.side or s.locations):
                tuples.setdefault((s.concepts, s.side, s.locations), s)
        c = counts[half]
        for s, row in zip(tuples.values(), score_graph(graph, tuples.values(), lexicon)):
            pf = per_finding[half][s.subject]
            for kind, stated, hits, base in (
                    ("side", [s.side] if s.side else [], [row["side"]] if s.side else [],
                     [row["side_baseline"]] if s.side else []),
                    ("location", list(s.locations), row["locations"], row["locations_baseline"])):
                for _x, hit, b in zip(stated, hits, base):
                    c[f"{kind}_stated"] += 1
                    pf[kind + "_stated"] += 1
                    if not row["found"]:
                        c[f"{kind}_finding_not_extracted"] += 1
                        pf[kind + "_finding_not_extracted"] += 1
                        continue
                    c[f"{kind}_scored"] += 1
                    pf[kind + "_scored"] += 1
                    c[f"{kind}_reached"] += hit
                    c[f"{kind}_baseline"] += b
                    pf[kind + "_missed"] += not hit
                    if half == "tuning" and not hit and shown < show_misses:
                        shown += 1
                        print(f"== {report.id} [{kind}] {s.heading}")
                        for line in _context(graph, s, lexicon):
                            print("  ", line)
    out: dict[str, Any] = {}
    for half in HALVES:
        c = counts[half]
        block: dict[str, Any] = {}
        for kind in ("side", "location"):
            block[kind] = {"stated": c[f"{kind}_stated"], "scored": c[f"{kind}_scored"],
                           "finding_not_extracted": c[f"{kind}_finding_not_extracted"],
                           "reached": _rate(c[f"{kind}_reached"], c[f"{kind}_scored"]),
                           "baseline_same_sentence": _rate(c[f"{kind}_baseline"], c[f"{kind}_scored"])}
        block["per_finding"] = {
            subj: {"side_scored": v["side_scored"], "side_missed": v["side_missed"],
                   "location_scored": v["location_scored"], "location_missed": v["location_missed"],
                   "finding_not_extracted": v["side_finding_not_extracted"] + v["location_finding_not_extracted"]}
            for subj, v in sorted(per_finding[half].items(),
                                  key=lambda kv: -(kv[1]["side_missed"] + kv[1]["location_missed"]))}
        out[half] = block
    return out


def write_markdown(result: dict[str, Any], path: Path) -> None:
    from graphclr.utils import atomic_write

    lines = ["# Open-i relations: side and location of MeSH major headings", "",
             f"Command: `{result['command']}`  ", f"Date: {result['date']}  ",
             f"Machine: {result['machine'].get('platform')}, {result['machine'].get('cpu_count')} CPUs  ",
             f"Reports: {result['reports']} development reports (tuning {result['reports_per_half']['tuning']}, "
             f"check {result['reports_per_half']['check']}); definitions in `benchmarks/openi_relations.py`.",
             "", "| half | measure | stated | scored | finding not extracted | graph (<= 2 hops) | same-sentence baseline |",
             "|---|---|---|---|---|---|---|"]
    for half in HALVES:
        for kind in ("side", "location"):
            b = result["scores"][half][kind]
            lines.append(f"| {half} | {kind} | {b['stated']} | {b['scored']} | {b['finding_not_extracted']} | "
                         f"{b['reached']} | {b['baseline_same_sentence']} |")
    lines += ["", "Per-finding misses (graph), both halves:", "",
              "| MeSH subject | side scored | side missed | location scored | location missed | not extracted |",
              "|---|---|---|---|---|---|"]
    merged: dict[str, Counter] = defaultdict(Counter)
    for half in HALVES:
        for subj, v in result["scores"][half]["per_finding"].items():
            merged[subj].update(v)
    for subj, v in sorted(merged.items(), key=lambda kv: -(kv[1]["side_missed"] + kv[1]["location_missed"])):
        lines.append(f"| {subj} | {v['side_scored']} | {v['side_missed']} | {v['location_scored']} | "
                     f"{v['location_missed']} | {v['finding_not_extracted']} |")
    with atomic_write(path) as fh:
        fh.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="NegBio Open-i development ids (CSV)")
    ap.add_argument("--archive", type=Path, default=None,
                    help="NLMCXR_reports.tgz (default: torchxrayvision's copy)")
    ap.add_argument("--show-misses", type=int, default=0, metavar="N",
                    help="print up to N tuning-half misses and exit (writes nothing)")
    ap.add_argument("--out", type=Path, default=RESULTS / "openi_relations.json")
    args = ap.parse_args(argv)
    if not args.gold.is_file():
        print(f"openi_relations: the development ids are not here: {args.gold} is missing "
              "(../shared is absent on this machine); nothing is measured.", file=sys.stderr)
        return 2
    from graphclr.reports.extract import Extractor

    try:
        reports = list(read_dev_reports(args.gold, args.archive))
    except FileNotFoundError as err:
        print(f"openi_relations: the Open-i archive is not here: {err}; nothing is measured.",
              file=sys.stderr)
        return 2
    ex = Extractor()
    graphs = list(ex.pipe(reports))
    scores = evaluate(reports, graphs, ex.lexicon, args.show_misses)
    if args.show_misses:
        return 0
    halves = Counter("tuning" if half_of(r.id) == "tuning" else "check" for r in reports)
    path = record("openi_relations", {"reports": len(reports), "reports_per_half": {h: halves[h] for h in HALVES},
                                      "split": "sha256(id) % 2 == 0 -> tuning, else check",
                                      "max_hops": MAX_HOPS, "scores": scores}, args.out)
    import json

    write_markdown(json.loads(path.read_text(encoding="utf-8")), path.with_suffix(".md"))
    for half in HALVES:
        s = scores[half]
        print(f"{half:6s} side {s['side']['reached']} (baseline {s['side']['baseline_same_sentence']}, "
              f"n={s['side']['scored']})  location {s['location']['reached']} "
              f"(baseline {s['location']['baseline_same_sentence']}, n={s['location']['scored']})")
    print(f"-> {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
