"""Assign current people to tracks from a similarity matrix: greedy (the paper) or Hungarian."""

from __future__ import annotations

from collections.abc import Callable

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
    (scipy's linear_sum_assignment, the solver the MOTA evaluator mirrors); pairs below the
    threshold stay unmatched."""
    from scipy.optimize import linear_sum_assignment  # lazily: importing it costs ~0.3 s

    sim = _check(sim)
    num_rows, num_cols = sim.shape
    rows, cols = [], []
    allowed = sim >= min_sim
    if allowed.any():
        # Leaving a row and a column unmatched gains 0, so a forbidden pair weighs 0 and is
        # dropped from scipy's full assignment afterwards; so is a negative similarity (only
        # possible with min_sim < 0), which could only lower the total.
        gain = np.where(allowed, np.maximum(sim, 0.0), 0.0)
        r, c = linear_sum_assignment(gain, maximize=True)
        ok = allowed[r, c] & (sim[r, c] >= 0)
        rows, cols = r[ok].tolist(), c[ok].tolist()
    return _result(rows, cols, num_rows, num_cols)


MATCHERS: dict[str, Callable[[np.ndarray, float], Match]] = {
    "greedy": greedy_match,
    "hungarian": hungarian_match,
}
