import numpy as np
import pytest

from tracker.matching import MATCHERS, greedy_match, hungarian_match

SIM = np.array([[0.9, 0.8], [0.8, 0.1]])


def test_greedy_takes_best_pair_first():
    pairs, rows, cols = greedy_match(SIM, 0.05)
    assert sorted(map(tuple, pairs)) == [(0, 0), (1, 1)]  # 0.9 then the 0.1 left over
    assert len(rows) == 0 and len(cols) == 0


def test_hungarian_maximises_the_total():
    pairs, _, _ = hungarian_match(SIM, 0.05)
    assert sorted(map(tuple, pairs)) == [(0, 1), (1, 0)]  # 0.8 + 0.8 > 0.9 + 0.1


@pytest.mark.parametrize("match", [greedy_match, hungarian_match])
def test_pairs_below_threshold_stay_unmatched(match):
    pairs, rows, cols = match(np.array([[0.1, 0.05], [0.15, 0.6], [0.0, 0.0]]), 0.2)
    assert [tuple(p) for p in pairs] == [(1, 1)]
    np.testing.assert_array_equal(rows, [0, 2])
    np.testing.assert_array_equal(cols, [0])


@pytest.mark.parametrize("name", sorted(MATCHERS))
def test_empty_and_rectangular(name):
    match = MATCHERS[name]
    pairs, rows, cols = match(np.zeros((0, 3)), 0.2)
    assert pairs.shape == (0, 2) and len(rows) == 0 and list(cols) == [0, 1, 2]
    pairs, rows, cols = match(np.array([[0.3, 0.9, 0.5]]), 0.2)
    assert [tuple(p) for p in pairs] == [(0, 1)] and list(cols) == [0, 2]


def test_hungarian_beats_greedy_with_known_optimum():
    sim = np.array([[0.9, 0.85, 0.0], [0.8, 0.0, 0.0], [0.0, 0.7, 0.6]])
    # Greedy: 0.9 first, then 0.7: 1.6 with row 1 left over. Best: 0.85 + 0.8 + 0.6 = 2.25.
    pairs, rows, _ = greedy_match(sim, 0.5)
    assert sorted(map(tuple, pairs)) == [(0, 0), (2, 1)] and list(rows) == [1]
    pairs, rows, cols = hungarian_match(sim, 0.5)
    assert sorted(map(tuple, pairs)) == [(0, 1), (1, 0), (2, 2)]
    assert len(rows) == 0 and len(cols) == 0


def test_hungarian_prefers_larger_total_over_more_pairs():
    # (0,0) alone gives 0.95; the two 0.45 pairs together only 0.9.
    pairs, rows, cols = hungarian_match(np.array([[0.95, 0.45], [0.45, 0.0]]), 0.4)
    assert [tuple(p) for p in pairs] == [(0, 0)]
    assert list(rows) == [1] and list(cols) == [1]


def test_hungarian_rectangular_with_forbidden_pairs():
    sim = np.array([[0.3, 0.9, 0.1, 0.8], [0.1, 0.85, 0.1, 0.1]])
    # Row 1 can only take column 1 (0.85); row 0 then takes column 3: 1.65 > 0.9 alone.
    pairs, rows, cols = hungarian_match(sim, 0.5)
    assert sorted(map(tuple, pairs)) == [(0, 3), (1, 1)]
    assert len(rows) == 0 and list(cols) == [0, 2]
    pairs, rows, cols = hungarian_match(sim.T, 0.5)
    assert sorted(map(tuple, pairs)) == [(1, 1), (3, 0)]
    assert list(rows) == [0, 2] and len(cols) == 0


@pytest.mark.parametrize("name", sorted(MATCHERS))
def test_all_forbidden_matches_nothing(name):
    sim = np.array([[0.1, 0.05, np.nan], [0.0, 0.19, 0.1]])
    pairs, rows, cols = MATCHERS[name](sim, 0.2)
    assert pairs.shape == (0, 2) and list(rows) == [0, 1] and list(cols) == [0, 1, 2]
