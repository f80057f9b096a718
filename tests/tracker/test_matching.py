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
