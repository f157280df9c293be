"""Label tables: the CheXpert label names and a validating reader for 1/0/-1/blank columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphclr.constants import CHEXPERT_LABELS, EVAL_LABELS

__all__ = ["CHEXPERT_LABELS", "EVAL_LABELS", "BadLabel", "parse_label_columns"]

_ALLOWED = (1.0, 0.0, -1.0)


@dataclass(frozen=True)
class BadLabel:
    """A label cell outside {1, 0, -1, blank}: file line (1-based, header = line 1), column, value."""

    line: int
    column: str
    value: str

    def where(self, source: str) -> str:
        return f"{source}: line {self.line}, column {self.column!r}"


def parse_label_columns(frame: pd.DataFrame, columns: Sequence[str],
                        allowed: Sequence[float] = _ALLOWED) -> tuple[np.ndarray, list[BadLabel]]:
    """Read label columns into a float32 array (blank -> NaN) and list invalid cells.

    Columns absent from ``frame`` come back all-NaN ("not given"). Invalid cells are NaN in
    the array; the caller decides whether they are fatal. Line numbers assume a header line
    and one line per row, as in the released CSV files.

    Examples:
        >>> df = pd.DataFrame({"A": [1.0, None, -1.0], "B": ["0", "2", "x"]})
        >>> arr, bad = parse_label_columns(df, ["A", "B", "C"])
        >>> arr.tolist()[0][:2], [(b.line, b.column, b.value) for b in bad]
        ([1.0, 0.0], [(3, 'B', '2'), (4, 'B', 'x')])
    """
    out = np.full((len(frame), len(columns)), np.nan, dtype=np.float32)
    bad: list[BadLabel] = []
    allowed_arr = np.asarray(allowed, dtype=np.float32)
    for j, col in enumerate(columns):
        if col not in frame.columns:
            continue
        raw = frame[col]
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        given = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
        ok = np.isin(num.astype(np.float32), allowed_arr) | ~given
        for i in np.flatnonzero(~ok):
            bad.append(BadLabel(int(i) + 2, col, str(raw.iat[i])))
        vals = np.where(ok & given, num, np.nan)
        out[:, j] = vals.astype(np.float32)
    bad.sort(key=lambda b: (b.line, b.column))
    return out, bad
