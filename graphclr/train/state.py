"""Training checkpoints: model + optimiser + scheduler + scaler + RNG + data position.

Each checkpoint is a graphclr model checkpoint (:func:`graphclr.models.save_checkpoint`:
config, vocabulary, preprocessing, weights) with the training state added, written
atomically as ``checkpoints/step-XXXXXXXX.pt``; ``checkpoints/latest.json`` names the
newest complete one. Everything is plain data, so the files load with
``torch.load(weights_only=True)``. RNG states are stored per rank (Python ``random``,
NumPy, torch CPU and CUDA).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphclr.utils import atomic_write

__all__ = ["capture_rng", "restore_rng", "checkpoint_dir", "latest_checkpoint",
           "write_latest", "prune_checkpoints"]


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


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run (via ``latest.json``), or ``None``."""
    d = checkpoint_dir(out_dir)
    pointer = d / "latest.json"
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text(encoding="utf-8"))["file"]
        except (json.JSONDecodeError, KeyError) as err:
            raise ValueError(f"{pointer}: unreadable ({err})") from None
        path = d / name
        if path.is_file():
            return path
    found = sorted(d.glob("step-*.pt"))
    return found[-1] if found else None


def write_latest(out_dir: str | Path, path: Path, step: int) -> None:
    with atomic_write(checkpoint_dir(out_dir) / "latest.json") as fh:
        json.dump({"file": path.name, "step": step}, fh)


def prune_checkpoints(out_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` numbered checkpoints."""
    if keep < 1:
        return
    for old in sorted(checkpoint_dir(out_dir).glob("step-*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
