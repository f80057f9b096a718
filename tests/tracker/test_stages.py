"""StageChain: stages on threads, results in order, errors in their place, threads stopped."""

from __future__ import annotations

import threading
import time

import pytest

from posenet.devices import cpu_cores
from tracker.stages import StageChain, shared_cpu_cores


def chain_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tracker-")]


def add(n: int):
    return lambda x: x + n


def test_results_in_order_through_every_stage():
    def jitter(x):  # uneven stage times must not reorder anything
        time.sleep(0.002 * (x % 3))
        return x * 10

    chain = StageChain(range(20), [("a", add(1)), ("b", jitter), ("c", add(5))], depth=2)
    assert list(chain) == [(x + 1) * 10 + 5 for x in range(20)]
    assert chain_threads() == []


def test_serial_mode_gives_the_same_results_in_the_callers_thread():
    seen = []

    def where(x):
        seen.append(threading.current_thread())
        return x

    assert list(StageChain(range(5), [("w", where)], threaded=False)) == list(range(5))
    assert set(seen) == {threading.current_thread()}


@pytest.mark.parametrize("threaded", [True, False])
def test_stage_error_comes_after_the_items_before_it(threaded):
    def fail_at_3(x):
        if x == 3:
            raise ValueError("stage failed at 3")
        return x

    chain = StageChain(range(10), [("a", add(0)), ("f", fail_at_3)], threaded=threaded)
    got = []
    with pytest.raises(ValueError, match="failed at 3"):
        for x in chain:
            got.append(x)
    assert got == [0, 1, 2]
    assert chain_threads() == []


def test_source_error_comes_after_the_items_before_it():
    def source():
        yield from range(4)
        raise KeyboardInterrupt  # even this travels from the source thread to the caller

    got = []
    with pytest.raises(KeyboardInterrupt):
        for x in StageChain(source(), [("a", add(1))]):
            got.append(x)
    assert got == [1, 2, 3, 4]
    assert chain_threads() == []


def test_caller_stopping_early_stops_every_thread_and_bounds_the_work():
    pulled = []

    def source():
        for x in range(1000):
            pulled.append(x)
            yield x

    chain = iter(StageChain(source(), [("a", add(0)), ("b", add(0))], depth=1))
    assert next(chain) == 0
    time.sleep(0.2)  # let the threads fill their queues
    # bounded queues: only a few items in flight (source, 2 stages, 3 queues of 1, caller)
    assert len(pulled) <= 8
    chain.close()
    assert chain_threads() == []


@pytest.fixture
def three_threads():
    """torch and OpenCV at 3 threads (not what a 2-stage share gives), put back afterwards."""
    cv2 = pytest.importorskip("cv2")
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(3)
    cv2.setNumThreads(3)
    yield torch, cv2
    torch.set_num_threads(before[0])
    cv2.setNumThreads(before[1])


def test_shared_cpu_cores_only_while_the_block_runs(three_threads):
    torch, cv2 = three_threads
    with shared_cpu_cores(busy_stages=8) as share:
        assert share == max(1, cpu_cores() // 8)
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (share, share)
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (3, 3)
    with pytest.raises(RuntimeError), shared_cpu_cores():
        raise RuntimeError("a failed run puts them back too")
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (3, 3)
