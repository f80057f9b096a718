"""Assign current people to tracks from a similarity matrix: greedy (the paper) or Hungarian."""
from __future__ import annotations

from typing import Callable

import numpy as np

Match = tuple[np.ndarray, np.ndarray, np.ndarray]


def _result(rows: list[int], cols: list[int], num_rows: int, num_cols: int) -> Match:
    pairs = np.array(list(zip(rows, cols)), dtype=np.int64).reshape(-1, 2)
    unmatched_rows = np.setdiff1d(np.arange(num_rows), pairs[:, 0]).astype(np.int64)
    unmatched_cols = np.setdiff1d(np.arange(num_cols), pairs[:, 1]).astype(np.int64)
    return pairs, unmatched_rows, unmatched_cols


def _check(sim: np.ndarray) -> np.ndarray:
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity matrix must be 2-D, got shape {sim.shape}")
    return np.nan_to_num(sim, nan=-np.inf)


def greedy_match(sim: np.ndarray, min_sim: float) -> Match:
    """Take the most similar free pair, again and again, while its similarity is >= `min_sim`.

    Returns (pairs (P,2) of (row, col), unmatched rows, unmatched cols).
    """
    sim = _check(sim)
    num_rows, num_cols = sim.shape
    rows, cols = [], []
    if sim.size:
        order = np.argsort(-sim, axis=None, kind="stable")
        used_r = np.zeros(num_rows, dtype=bool)
        used_c = np.zeros(num_cols, dtype=bool)
        for flat in order:
            r, c = divmod(int(flat), num_cols)
            if sim[r, c] < min_sim:
                break
            if used_r[r] or used_c[c]:
                continue
            used_r[r] = used_c[c] = True
            rows.append(r)
            cols.append(c)
            if len(rows) == min(num_rows, num_cols):
                break
    return _result(rows, cols, num_rows, num_cols)


def hungarian_match(sim: np.ndarray, min_sim: float) -> Match:
    """The assignment with the largest total similarity among pairs with similarity >= `min_sim`
    (Jonker-Volgenant through `lap`); pairs below the threshold stay unmatched."""
    import lap

    sim = _check(sim)
    num_rows, num_cols = sim.shape
    rows, cols = [], []
    allowed = sim >= min_sim
    if allowed.any():
        # Forbidden pairs cost more than leaving both sides unmatched (cost_limit).
        top = sim[allowed].max()
        cost = np.where(allowed, top - sim, 1e6)
        limit = top - min_sim + 1.0
        _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=limit)
        for r, c in enumerate(x):
            if c >= 0 and allowed[r, c]:
                rows.append(r)
                cols.append(int(c))
    return _result(rows, cols, num_rows, num_cols)


MATCHERS: dict[str, Callable[[np.ndarray, float], Match]] = {
    "greedy": greedy_match,
    "hungarian": hungarian_match,
}
