"""Small helpers shared across graphclr: atomic file writes, seeding, environment report."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_path", "paused_gc", "seed_everything", "env_report"]


def _file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask).

    Temporary files from ``mkstemp`` are 0o600; results, plots and checkpoints renamed from
    them should be as readable as any other file the user writes.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: read the umask the only portable way, and restore it
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    A crash or exception leaves any previous ``path`` untouched and no temporary file
    behind, so long jobs never leave a half-written checkpoint, store or result. For
    writers that insist on a file name (``dgl.save_graphs``, ``torch.save``, ``savefig``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a file that appears at ``path`` only once it is completely written
    (see :func:`atomic_path`)."""
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while creating many long-lived objects.

    Building thousands of DGL graphs allocates enough objects to trigger repeated full
    collections that rescan everything built so far; pausing them roughly doubles the
    build rate. The previous state is restored on exit.
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def seed_everything(seed: int) -> Any:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a seeded ``torch.Generator``."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    try:  # DGL keeps its own RNG for sampling ops
        import dgl

        dgl.seed(seed)
    except ImportError:  # pragma: no cover - dgl is a hard dependency
        pass
    return gen


def env_report() -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }
    for mod in ("graphclr", "torch", "dgl", "torchvision", "numpy", "spacy", "sklearn"):
        try:
            m = __import__(mod)
            info[mod] = getattr(m, "__version__", "unknown")
        except Exception as err:  # noqa: BLE001 - a report, never fatal
            info[mod] = f"unavailable ({type(err).__name__})"
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001
        pass
    return info
