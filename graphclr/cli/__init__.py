"""The ``graphclr`` command line.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``. Those modules
import only ``argparse`` at the top, and torch/DGL inside the command body, so that
``graphclr --help`` answers instantly.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser", "USER_ERRORS", "error_line"]

#: subcommand modules, in the order ``--help`` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "graphclr.cli.demo",
    "graphclr.cli.graphs",
    "graphclr.cli.extract",
    "graphclr.cli.label",
    "graphclr.cli.data",
    "graphclr.cli.synth",
    "graphclr.cli.pretrain",
    "graphclr.cli.benchmark",
    "graphclr.cli.eval",
)


def build_parser() -> argparse.ArgumentParser:
    from graphclr import __version__

    parser = argparse.ArgumentParser(
        prog="graphclr",
        description="Image-graph contrastive learning on chest X-rays: report graphs, "
                    "graph encoders, pretraining and evaluation.")
    parser.add_argument("--version", action="version", version=f"graphclr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a command not yet part of this install
            if err.name != name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # e.g. for a --resume hint
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if args.verbose:
            raise
        print(f"graphclr {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 2


#: what a user's input or environment causes (bad file, bad value, missing key, full disk):
#: one line on stderr and exit status 2, no traceback (``-v`` shows it)
USER_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError)


def error_line(err: BaseException) -> str:
    """``err`` as one line (a ``KeyError``'s message without the quotes ``repr`` adds).

    An error raised in a ``DataLoader`` worker reaches the main process with the worker's
    traceback in its message; only the original error's own message is kept.
    """
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if "Original Traceback" in text:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        last = lines[-1] if lines else text
        prefix = f"{type(err).__name__}: "
        text = last[len(prefix):] if last.startswith(prefix) else last
        if isinstance(err, KeyError) and len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
    return " ".join(text.split()) or type(err).__name__

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
