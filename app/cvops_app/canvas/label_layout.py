"""Where the shape labels go so that none covers another: each label sits at its shape's top-left corner unless a
label placed before it (or a fixed one: a selected shape's) is there, then it moves down below it — the labels of
stacked or nearby shapes (a model's overlapping suggestions) form a column instead of a pile.

When no two labels overlap where they are wanted (the usual case) one vectorised test says so; otherwise labels are
placed top to bottom, left to right, and a grid of cells as large as the largest label finds the neighbours.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

MAX_MOVES = 64  # a label pushed down this many times stays where it got to
GAP = 2.0  # pixels kept free below a label (the selected shapes' label items are a pixel taller than the tabs)


def _any_overlap(spots: np.ndarray, sizes: np.ndarray) -> bool:
    """True when any two of the rectangles overlap."""
    x1, y1 = spots[:, 0], spots[:, 1]
    x2, y2 = x1 + sizes[:, 0], y1 + sizes[:, 1]
    overlap = ((x1[:, None] < x2[None, :]) & (x1[None, :] < x2[:, None]) &
               (y1[:, None] < y2[None, :]) & (y1[None, :] < y2[:, None]))
    np.fill_diagonal(overlap, False)
    return bool(overlap.any())


def place_labels(anchors: np.ndarray, sizes: np.ndarray, fixed: int = 0) -> np.ndarray:
    """Top-left positions for labels of ``sizes`` (``(n, 2)`` widths, heights) wanted at ``anchors`` (``(n, 2)``),
    in the same units (device pixels). The first ``fixed`` labels stay at their anchors (they are drawn elsewhere);
    the others are moved down, as little as needed, until they overlap no label placed before them (nor come within
    :data:`GAP` below one)."""
    n = len(anchors)
    out = np.array(anchors, dtype=float).reshape(n, 2)
    if n == 0:
        return out
    sizes = np.asarray(sizes, dtype=float).reshape(n, 2) + (0.0, GAP)
    if not _any_overlap(out, sizes):
        return out  # the usual case: nothing to move
    cell_w, cell_h = max(float(sizes[:, 0].max()), 1.0), max(float(sizes[:, 1].max()), 1.0)
    grid: dict[tuple[int, int], list[int]] = {}

    def cells(i: int) -> Iterator[tuple[int, int]]:
        x, y = out[i]
        w, h = sizes[i]
        for cx in range(math.floor(x / cell_w), math.floor((x + w) / cell_w) + 1):
            for cy in range(math.floor(y / cell_h), math.floor((y + h) / cell_h) + 1):
                yield cx, cy

    def blocking_bottom(i: int) -> float:
        """The lowest bottom edge among the placed labels that ``i`` overlaps (-inf: none)."""
        x, y = out[i]
        w, h = sizes[i]
        bottom = -math.inf
        for cell in cells(i):
            for j in grid.get(cell, ()):
                ox, oy = out[j]
                if ox < x + w and x < ox + sizes[j, 0] and oy < y + h and y < oy + sizes[j, 1]:
                    bottom = max(bottom, oy + sizes[j, 1])
        return bottom

    order = list(range(fixed)) + sorted(range(fixed, n), key=lambda i: (out[i, 1], out[i, 0]))
    for i in order:
        if i >= fixed:
            for _ in range(MAX_MOVES):
                bottom = blocking_bottom(i)
                if bottom == -math.inf:
                    break
                out[i, 1] = bottom
        for cell in cells(i):
            grid.setdefault(cell, []).append(i)
    return out
