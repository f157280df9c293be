"""``graphclr extract``: report text -> RadGraph-format JSON with the built-in extractor."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

READ_HELP = ("report inputs: NLMCXR_reports.tgz / ecgen-radiology folder / .xml (Open-i; "
             "the word 'openi' reads torchxrayvision's copy), a MIMIC-CXR files/ tree or "
             "reports zip, a .csv with id and text columns, .txt files or a folder of them")


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``extract`` and ``label``: inputs and extractor settings."""
    p.add_argument("--id-column", default="id", help="CSV id column (default: id)")
    p.add_argument("--text-column", default="text", help="CSV text column (default: text)")
    p.add_argument("--sections", default="findings,impression",
                   help="sections to read, comma-separated (default: findings,impression)")
    p.add_argument("--fallback", choices=["unexcluded", "all", "none"], default="unexcluded",
                   help="when a report has none of --sections: read the text outside "
                        "INDICATION/HISTORY/COMPARISON/... (unexcluded, default), all of it, or "
                        "nothing")
    p.add_argument("--alternatives-uncertain", action="store_true",
                   help="mark 'A or B' / 'A versus B' findings uncertain (RadGraph's habit) "
                        "instead of present")
    p.add_argument("--n-process", type=int, default=1,
                   help="worker processes (default 1; use more for large corpora)")
    p.add_argument("--batch-size", type=int, default=256, help="reports per batch (default 256)")
    p.add_argument("--limit", type=int, default=None, help="stop after this many reports")
    p.add_argument("--max-chars", type=int, default=1_000_000,
                   help="skip reports longer than this many characters (default 1,000,000)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first unreadable record or report that cannot be "
                        "processed, naming it (default: skip it, say why, count it)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="report text -> RadGraph-format graphs (built-in extractor)",
                       description="Extract RadGraph-schema knowledge graphs from radiology "
                                   "reports with graphclr's rule-based extractor (CPU, no model "
                                   "download) and write them as RadGraph JSON keyed by report id.")
    p.add_argument("inputs", nargs="+", help=READ_HELP)
    p.add_argument("--out", type=Path, required=True, help="RadGraph JSON file to write")
    p.add_argument("--indent", type=int, default=None, help="indent the JSON (default: compact)")
    add_input_arguments(p)
    p.set_defaults(func=run)


class _Printed(list):
    """A list that prints each message appended to it, one line on stderr."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def append(self, message: Any) -> None:
        print(f"{self.prefix}: {message}", file=sys.stderr)
        super().append(message)

    def extend(self, messages: Any) -> None:
        for message in messages:
            self.append(message)


class Problems:
    """Counts and prints what was skipped, one line each; nothing here is fatal."""

    def __init__(self) -> None:
        self.unreadable: list[Any] = _Printed("skipped")
        self.warned: list[Any] = _Printed("warning")
        self.failed = 0
        self.duplicates = 0

    def first_of_each_id(self, items: Iterable[Any], strict: bool, done: str) -> Iterator[Any]:
        """``items`` without repeats of an id already seen (each repeat is one line on
        stderr, or, with ``strict``, an error naming it); ``done`` says what was done
        to the first copy ("read", "labelled")."""
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                if strict:
                    raise ValueError(f"report {item.id!r}: id already {done}")
                self.duplicates += 1
                print(f"skipped report {item.id!r}: id already {done}", file=sys.stderr)
                continue
            seen.add(item.id)
            yield item

    def extraction_failed(self, report_id: str, err: BaseException) -> None:
        self.failed += 1
        print(f"skipped report {report_id!r}: {type(err).__name__}: {err}", file=sys.stderr)

    def summary(self) -> str:
        parts = []
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable record(s)")
        if self.failed:
            parts.append(f"{self.failed} report(s) that could not be processed")
        if self.duplicates:
            parts.append(f"{self.duplicates} repeated report id(s)")
        return ("skipped " + ", ".join(parts)) if parts else ""


def iter_reports(args: argparse.Namespace, problems: Problems) -> Iterator[Any]:
    """The reports named by ``args.inputs``; unreadable records are reported and skipped."""
    from itertools import islice

    from graphclr.reports.readers import read_reports

    reports = read_reports(args.inputs, id_column=args.id_column, text_column=args.text_column,
                           strict=args.strict, skipped=problems.unreadable)
    unique = problems.first_of_each_id(reports, args.strict, "read")
    return islice(unique, args.limit) if args.limit is not None else unique


def make_extractor(args: argparse.Namespace) -> Any:
    from graphclr.reports.extract import Extractor
    from graphclr.reports.extract.pipeline import spacy_without_torch

    with spacy_without_torch():  # this process never needs torch: start in 1 s, not 5
        import spacy  # noqa: F401

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    return Extractor(sections=sections, fallback=args.fallback,
                     alternatives_uncertain=args.alternatives_uncertain, max_chars=args.max_chars)


def quiet_gc() -> None:
    """Fewer, cheaper garbage collections for the rest of this (command-line) process.

    The lexicon, spaCy's vocabulary and the extractor live as long as the process: frozen,
    no collection walks them again. Reports and graphs hold no reference cycles (reference
    counting frees them), so collections can be rare. Measured on Open-i, collections
    took 20-40% of a run before this.
    """
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def iter_graphs(args: argparse.Namespace, problems: Problems, desc: str) -> Iterator[Any]:
    """Extracted graphs for ``args.inputs``, with a progress bar."""
    from tqdm import tqdm

    from graphclr.reports.extract import ExtractionError

    extractor = make_extractor(args)
    quiet_gc()
    graphs = extractor.pipe(iter_reports(args, problems), batch_size=args.batch_size,
                            n_process=args.n_process,
                            on_error=None if args.strict else problems.extraction_failed)
    try:
        yield from tqdm(graphs, desc=desc, unit="report", disable=None, total=args.limit)
    except ExtractionError as err:  # --strict: the one-line error names the report
        raise ValueError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    import json

    from graphclr.utils import atomic_write

    problems = Problems()
    n = n_ent = n_rel = 0
    with atomic_write(args.out) as fh:  # streamed: a 227k-report corpus never sits in memory
        fh.write("{")
        for graph in iter_graphs(args, problems, "extracting"):
            record = json.dumps(graph.to_radgraph_record(), indent=args.indent, ensure_ascii=False)
            fh.write(("," if n else "") + ("\n" if args.indent is not None else "")
                     + json.dumps(graph.id, ensure_ascii=False) + ": " + record)
            n += 1
            n_ent += len(graph.entities)
            n_rel += len(graph.relations)
        fh.write("\n}\n" if args.indent is not None else "}")
    print(f"{n} reports, {n_ent} entities, {n_rel} relations -> {args.out}")
    if problems.summary():
        print(problems.summary(), file=sys.stderr)
    return 0
