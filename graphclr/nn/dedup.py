r"""Exact deduplication of repeated computations in a batch of report graphs.

Radiology reports repeat themselves: "no pneumothorax", "the heart size is normal",
"lungs are clear" appear in thousands of reports. After :math:`k` relational graph
convolutions a node's state depends only on its *k-hop computation tree*: its own input,
and the multiset of (relation, neighbour state) of its in-neighbours one layer earlier.
Nodes with equal trees have equal states (without dropout), so each layer needs to be
computed once per distinct tree and gathered for the rest -- an exact saving (on batches
of 256 real Open-i reports, 2-hop trees are about 40% of the nodes).

Trees are identified exactly by colour refinement (the 1-dimensional Weisfeiler-Leman
step) over integer labels, with no hashing:

.. math::

    \ell_k(v) = \mathrm{id}\big(\ell_{k-1}(v),\ \mathrm{sorted}\{(r_e, \ell_{k-1}(u_e)) : e = u_e \to v\}\big)

where ``id`` numbers distinct tuples densely. Tuples are compared exactly: each node's
in-edges are sorted and folded into its label one position at a time with a 1-D
``torch.unique``.

Examples:
    >>> import torch
    >>> # two copies of "a -0-> b": the copies' nodes get the same labels
    >>> labels, n = refine_labels(torch.tensor([0, 1, 0, 1]), 2, torch.tensor([0, 2]),
    ...                           torch.tensor([1, 3]), torch.tensor([0, 0]), num_rels=1)
    >>> labels.tolist(), n
    ([0, 1, 0, 1], 2)
    >>> representatives(labels, n).tolist()
    [0, 1]
"""

from __future__ import annotations

import torch

__all__ = ["row_labels", "refine_labels", "representatives"]


def row_labels(rows: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Dense ids of the distinct rows of an integer matrix ``[N, W]`` (exact)."""
    n = rows.shape[0]
    labels = torch.zeros(n, dtype=torch.int64, device=rows.device)
    count = 1 if n else 0
    for j in range(rows.shape[1]):
        col = rows[:, j].long()
        base = int(col.max()) + 1 if n else 1
        if int(col.min()) < 0:
            col = col - int(col.min())
            base = int(col.max()) + 1
        uniq, labels = torch.unique(labels * base + col, return_inverse=True)
        count = uniq.numel()
    return labels, count


def refine_labels(labels: torch.Tensor, num_labels: int, src: torch.Tensor, dst: torch.Tensor,
                  rel: torch.Tensor, num_rels: int) -> tuple[torch.Tensor, int]:
    """One colour-refinement step (see the module doc); returns new labels and their count."""
    n = labels.shape[0]
    if src.numel() == 0 or n == 0:
        return labels, num_labels
    key = rel.long() * num_labels + labels.index_select(0, src)        # in [0, R * L)
    width = num_rels * num_labels + 1                                  # 0 = "no edge here"
    order = torch.argsort(dst * width + key)
    dst_s, key_s = dst[order], key[order]
    deg = torch.bincount(dst, minlength=n)
    start = torch.cumsum(deg, 0) - deg
    pos = torch.arange(dst_s.numel(), device=dst.device) - start.index_select(0, dst_s)
    cur = labels
    for p in range(int(deg.max())):
        at = pos == p
        col = torch.zeros(n, dtype=torch.int64, device=labels.device)
        col[dst_s[at]] = key_s[at] + 1
        uniq, cur = torch.unique(cur * width + col, return_inverse=True)
    return cur, int(cur.max()) + 1


def representatives(labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """The first node of each label, ``[num_labels]``."""
    first = torch.full((num_labels,), labels.numel(), dtype=torch.int64, device=labels.device)
    return first.scatter_reduce(0, labels, torch.arange(labels.numel(), device=labels.device),
                                reduce="amin", include_self=True)
