"""parallel_map: the plain loop's results and first exception, from forked workers."""

from __future__ import annotations

import os

import pytest

from posenet.errors import DataError
from posenet.posetrack.evaluation import evaluate_posetrack, evaluate_sequences, load_folders
from posenet.posetrack.evaluation.parallel import _chunks, can_fork, parallel_map
from tests.conftest import shared_file

needs_fork = pytest.mark.skipif(not can_fork(), reason="forking is used on Linux only")


def test_shares_are_contiguous_and_balanced_by_weight():
    assert _chunks([1, 1, 1, 1], 2) == [range(0, 2), range(2, 4)]
    assert _chunks([5, 1, 1, 1, 1, 1], 2) == [range(0, 1), range(1, 6)]
    assert _chunks([1, 1], 4) == [range(0, 1), range(1, 2)]


@needs_fork
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_results_come_back_in_order_with_the_workers_pid(workers):
    parent = os.getpid()
    out = parallel_map(lambda x: (x * x, os.getpid() != parent), list(range(10)), workers=workers)
    assert [v for v, _ in out] == [x * x for x in range(10)]
    # The first share is computed here; with more processes the others are not.
    assert any(forked for _, forked in out) == (workers > 1)
    assert not out[0][1]


@needs_fork
def test_the_first_failure_in_item_order_is_raised_even_from_a_worker():
    def fn(x):
        if x in (7, 9):
            raise DataError(f"bad item {x}")
        return x

    with pytest.raises(DataError, match="bad item 7"):
        parallel_map(fn, list(range(10)), workers=2)  # 7 and 9 are in the worker's share

    def fn2(x):
        if x in (2, 8):
            raise DataError(f"bad item {x}")
        return x

    with pytest.raises(DataError, match="bad item 2"):
        parallel_map(fn2, list(range(10)), workers=2)


@needs_fork
def test_a_worker_that_dies_is_replaced_by_this_process():
    parent = os.getpid()

    def fn(x):
        if x == 8 and os.getpid() != parent:
            os._exit(3)  # the worker dies without sending anything
        return -x

    assert parallel_map(fn, list(range(10)), workers=2) == [-x for x in range(10)]


@needs_fork
def test_folder_scored_in_two_processes_equals_one():
    gt = shared_file("bonn-posetrack/posetrack18")
    one = evaluate_posetrack(gt, gt, workers=1)
    two = evaluate_posetrack(gt, gt, workers=2)
    assert one.to_dict() == two.to_dict() and one.tables() == two.tables()
    assert one.notes == two.notes and len(one.notes) > 0
    # Scoring in the workers and pooling here equals loading first and scoring after.
    data = load_folders(gt, gt, workers=2)
    after = evaluate_sequences(data.sequences)
    assert after.to_dict() | {"notes": []} == two.to_dict() | {"notes": []}
    assert data.notes + after.notes == two.notes
