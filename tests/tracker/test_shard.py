"""plan_shards: longest first to the least-loaded process, worked out by hand."""

from __future__ import annotations

import pytest

from tracker.shard import fill_unknown, plan_shards


def test_longest_first_to_least_loaded():
    # Order 8(#2), 7(#4), 5(#0), 3(#1), 2(#3): p0 8, p1 7, p1 7+5=12, p0 8+3=11, p0 11+2=13.
    assert plan_shards([5, 3, 8, 2, 7], 2) == [[2, 1, 3], [4, 0]]


def test_not_round_robin():
    # Round-robin by length would give p0 {10, 1}, p1 {9, 1}... LPT puts the two short ones
    # together: p0 10, p1 9, then 1 to p1 (10), then 1 to p0 (11).
    assert plan_shards([1, 10, 1, 9], 2) == [[1, 2], [3, 0]]
    # Order 6(#0), 5(#1), 5(#6), 4(#2), 3(#3), 2(#4), 2(#5): p0 6, p1 5, p2 5; 4 to p1 (tie
    # with p2, lower rank) = 9; 3 to p2 = 8; 2 to p0 = 8; 2 to p0 (p0 8, p2 8: lower rank) = 10.
    lengths = [6, 5, 4, 3, 2, 2, 5]
    shards = plan_shards(lengths, 3)
    assert shards == [[0, 4, 5], [1, 2], [6, 3]]
    assert [sum(lengths[i] for i in s) for s in shards] == [10, 9, 8]


def test_more_processes_than_videos_and_none():
    assert plan_shards([4, 9], 4) == [[1], [0], [], []]
    assert plan_shards([], 2) == [[], []]


def test_unknown_length_counts_as_the_mean_of_the_known():
    assert fill_unknown([10, None, 20]) == [10.0, 15.0, 20.0]
    assert fill_unknown([None, None]) == [1.0, 1.0]
    # 20(#2), 15(#1 unknown), 10(#0): p0 20, p1 15, p1 25.
    assert plan_shards([10, None, 20], 2) == [[2], [1, 0]]


def test_bad_world_size():
    with pytest.raises(ValueError, match="world_size"):
        plan_shards([1], 0)
