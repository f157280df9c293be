"""What a long run reports and how it stops: metrics lines, progress off a terminal,
optional TensorBoard scalars, signals, and write errors that name the file.

* :class:`MetricsLog` appends one JSON line per record to ``metrics.jsonl``. A crash in the
  middle of an append leaves a partial last line; on resume it is trimmed with a warning
  naming the file (a bad line anywhere else is an error naming the file and line).
* :class:`ProgressLine`: when stderr is not a terminal (``nohup``, a batch scheduler) a
  plain line every N steps, ``pretrain: step 20/100 (20%) epoch 0 loss 3.2101 lr 0.001
  41.3 pairs/s elapsed 0:00:12 eta 0:00:48``, instead of a progress bar.
* :class:`TensorBoardScalars`: the same records as TensorBoard scalars under
  ``OUT/tensorboard`` (needs the ``tensorboard`` package: ``pip install graphclr[tensorboard]``).
* :class:`StopSignals`: SIGINT / SIGTERM set a flag; the loop finishes the step, writes a
  checkpoint and returns. A second signal interrupts at once.
* :func:`write_error`: a failed write (full disk, I/O error; torch reports a full disk as
  ``RuntimeError: ... unexpected pos``) becomes an ``OSError`` naming the file, the cause
  and the free space left.

Examples:
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> _ = p.write_text('{"step": 1}\\n{"step": 2}\\n{"st')
    >>> MetricsLog(p, enabled=True, resume_step=2).path.read_text()
    '{"step": 1}\\n{"step": 2}\\n'
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from graphclr.utils import atomic_write

__all__ = ["MetricsLog", "ProgressLine", "TensorBoardScalars", "StopSignals", "write_error"]

log = logging.getLogger(__name__)


def write_error(path: Path, err: BaseException) -> OSError:
    """An ``OSError`` naming ``path``, the cause and the space left on its disk."""
    cause = " ".join(str(getattr(err, "strerror", None) or err).split()) or type(err).__name__
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    out = OSError(f"cannot write {path} ({cause}; {free} on the disk holding {path.parent})")
    out.errno = getattr(err, "errno", None)
    return out


class MetricsLog:
    """``metrics.jsonl`` (rank 0 only): on resume, records past the checkpoint are dropped
    and a partial last line is trimmed (see the module docstring)."""

    def __init__(self, path: Path, enabled: bool, resume_step: int | None) -> None:
        self.path = path
        self.enabled = enabled
        if not enabled:
            return
        if resume_step is not None and path.is_file():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            kept = []
            for i, line in enumerate(lines):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    if i == len(lines) - 1:
                        log.warning("%s: dropped a partial last line (%d characters; a run "
                                    "stopped while appending it)", path, len(line))
                        continue
                    raise ValueError(f"{path}: line {i + 1} is not JSON ({err.msg})") from None
                if record.get("step", 0) <= resume_step:
                    kept.append(line)
            with atomic_write(path) as fh:
                fh.write("".join(line + "\n" for line in kept))
        elif resume_step is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError as err:
            raise write_error(self.path, err) from None


def _clock(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class ProgressLine:
    """A plain progress line on stderr every ``every`` steps (for logs, not terminals)."""

    def __init__(self, total: int, start_step: int, every: int, pairs_per_step: int) -> None:
        self.total = total
        self.start_step = start_step
        self.every = max(1, every)
        self.pairs_per_step = pairs_per_step
        self.t0 = time.perf_counter()

    def line(self, step: int, epoch: int, loss: float, lr: float) -> str:
        elapsed = time.perf_counter() - self.t0
        done = step - self.start_step
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else 0.0
        return (f"pretrain: step {step}/{self.total} ({100 * step // max(self.total, 1)}%) epoch "
                f"{epoch} loss {loss:.4f} lr {lr:.3g} {rate * self.pairs_per_step:.1f} pairs/s "
                f"elapsed {_clock(elapsed)} eta {_clock(eta)}")

    def update(self, step: int, epoch: int, loss: float, lr: float) -> None:
        if step % self.every == 0 or step == self.total:
            print(self.line(step, epoch, loss, lr), file=sys.stderr, flush=True)


class TensorBoardScalars:
    """Metrics records as TensorBoard scalars in ``log_dir`` (lazy import, clear error)."""

    def __init__(self, log_dir: Path, purge_step: int | None) -> None:
        self.writer = self.check_installed()(log_dir=str(log_dir), purge_step=purge_step)

    @staticmethod
    def check_installed() -> Any:
        """torch's ``SummaryWriter``, or a ``ValueError`` saying what to install."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError("--tensorboard needs the tensorboard package: pip install "
                             "'graphclr[tensorboard]' (or pip install tensorboard)") from None
        return SummaryWriter

    def write(self, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key not in ("step", "epoch") and isinstance(value, (int, float)):
                self.writer.add_scalar(f"train/{key}", value, record["step"])

    def close(self) -> None:
        self.writer.close()


class StopSignals:
    """While active, SIGINT and SIGTERM only set :attr:`received` (the signal's name); a
    second signal raises ``KeyboardInterrupt``. Inactive outside the main thread."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.received: str | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            self.restore()
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        print(f"\n{self.received}: finishing this step and writing a checkpoint "
              "(send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                num = getattr(signal, name)
                self._old[num] = signal.signal(num, self._handle)
        return self

    def restore(self) -> None:
        for num, old in self._old.items():
            signal.signal(num, old)
        self._old = {}

    def __exit__(self, *exc: object) -> None:
        self.restore()
