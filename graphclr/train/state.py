"""Training checkpoints: model + optimiser + scheduler + scaler + RNG + data position.

Each checkpoint is a graphclr model checkpoint (:func:`graphclr.models.save_checkpoint`:
config, vocabulary, preprocessing, weights) with the training state added, written
atomically as ``checkpoints/step-XXXXXXXX.pt``; ``checkpoints/latest.json`` names the
newest complete one. Everything is plain data, so the files load with
``torch.load(weights_only=True)``. RNG states are stored per rank (Python ``random``,
NumPy, torch CPU and CUDA).

Recovery: :func:`checkpoint_candidates` lists the newest checkpoint first and then the
older kept ones, so a resumed run whose newest file is truncated (a crash or a full disk
while it was written) falls back to the previous one, loudly; :func:`clean_temp_files`
removes the ``.*.tmp`` files a killed writer can leave.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphclr.utils import atomic_write

log = logging.getLogger(__name__)

__all__ = ["capture_rng", "restore_rng", "checkpoint_dir", "latest_checkpoint",
           "checkpoint_candidates", "write_latest", "prune_checkpoints", "clean_temp_files",
           "resume_point"]


def capture_rng() -> dict[str, Any]:
    """This process's RNG states as weights-only-loadable data."""
    version, mt, gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [int(version), [int(x) for x in mt], gauss],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng`."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    npk = state["numpy"]
    np.random.set_state(("MT19937", npk["keys"].numpy().astype(np.uint32), npk["pos"],
                         npk["has_gauss"], npk["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / "checkpoints"


def checkpoint_candidates(out_dir: str | Path) -> list[Path]:
    """A run's checkpoints to resume from, best first: the one ``latest.json`` names, then
    every ``step-*.pt`` from the newest down."""
    d = checkpoint_dir(out_dir)
    pointer = d / "latest.json"
    found: list[Path] = []
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text(encoding="utf-8"))["file"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise ValueError(f"{pointer}: unreadable ({err})") from None
        if (d / name).is_file():
            found.append(d / name)
    found += [p for p in sorted(d.glob("step-*.pt"), reverse=True) if p not in found]
    return found


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest checkpoint of a run (via ``latest.json``), or ``None``."""
    found = checkpoint_candidates(out_dir)
    return found[0] if found else None


def clean_temp_files(out_dir: str | Path) -> list[Path]:
    """Delete the temporary files (``.NAME.XXXX.tmp``) of writes that never finished."""
    removed = []
    for folder in (Path(out_dir), checkpoint_dir(out_dir)):
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_latest(out_dir: str | Path, path: Path, step: int) -> None:
    with atomic_write(checkpoint_dir(out_dir) / "latest.json") as fh:
        json.dump({"file": path.name, "step": step}, fh)


def prune_checkpoints(out_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` numbered checkpoints."""
    if keep < 1:
        return
    for old in sorted(checkpoint_dir(out_dir).glob("step-*.pt"))[:-keep]:
        old.unlink(missing_ok=True)


def resume_point(out: Path, is_main: bool) -> tuple[Path | None, dict[str, Any] | None]:
    """The newest readable checkpoint of ``out`` and its contents; older ones on failure."""
    from graphclr.models.factory import load_checkpoint

    failed = []
    for path in checkpoint_candidates(out):
        try:
            return path, load_checkpoint(path, map_location="cpu")
        except ValueError as err:
            failed.append(str(err))
            if is_main:
                log.warning("cannot resume from %s; trying the previous checkpoint: %s", path, err)
    if failed:
        raise ValueError(f"{checkpoint_dir(out)}: no readable checkpoint to resume from: "
                         + "; ".join(failed))
    return None, None
