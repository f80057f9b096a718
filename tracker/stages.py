"""Thread plumbing of the tracker: stages that run at once on consecutive items, in order.

`StageChain(source, stages)` yields `stage_n(...stage_1(item))` for every item of `source`, in
order. The source is read on its own thread and every stage runs on its own thread, joined by
bounded queues (`depth` items each), so while the caller works on item k, the last stage works
on item k+1, the one before it on item k+2, and memory stays flat. torch and OpenCV release the
GIL in their kernels, so the stages really run at the same time.

Errors keep their place: an exception in the source or in a stage reaches the caller after
every item before it, and stops the chain. Closing the iterator (the caller stopped, raised, or
got Ctrl-C) stops every thread after the item it is working on. `threaded=False` runs the same
stages one after another in the caller's thread (the serial reference the tests compare with).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from posenet.devices import cpu_cores

POLL_S = 0.05  # how often a waiting thread checks whether the chain was stopped
SOURCE_JOIN_S = 1.0  # a source blocked in a closed reader is left to end on its own (daemon)


class _End:
    """Marker that follows the last item: the source ended, or failed with `error`."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class StageChain:
    """Run `stages` ((name, function) pairs) over the items of `source` on threads; iterate
    the results in order (see module doc). Iterate once; `close()` stops every thread."""

    def __init__(
        self,
        source: Iterable[Any],
        stages: Sequence[tuple[str, Callable[[Any], Any]]],
        depth: int = 1,
        threaded: bool = True,
    ) -> None:
        self.source, self.stages = source, list(stages)
        self.threaded = threaded
        self._stop = threading.Event()
        self._queues = [queue.Queue(maxsize=depth) for _ in range(len(self.stages) + 1)]
        self._threads: list[threading.Thread] = []

    def __iter__(self) -> Iterator[Any]:
        if not self.threaded:
            return self._serial()
        self._start("source", self._read, self._queues[0])
        for k, (name, fn) in enumerate(self.stages):
            self._start(name, self._work, fn, self._queues[k], self._queues[k + 1])
        return self._results()

    def _serial(self) -> Iterator[Any]:
        for item in self.source:
            for _, fn in self.stages:
                item = fn(item)
            yield item

    def _start(self, name: str, target: Callable, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"tracker-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _put(self, out: queue.Queue, item: Any) -> bool:
        """Queue an item, waiting while the queue is full; False once the chain is stopped."""
        while not self._stop.is_set():
            try:
                out.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, inp: queue.Queue) -> Any:
        """The next item, or an _End once the chain is stopped."""
        while not self._stop.is_set():
            try:
                return inp.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return _End()

    def _read(self, out: queue.Queue) -> None:
        """Source thread: pull items until the source ends or fails, or the chain stops."""
        iterator = iter(self.source)
        while not self._stop.is_set():
            try:
                item = next(iterator)
            except StopIteration:
                self._put(out, _End())
                return
            except BaseException as err:  # reaches the caller in its place
                self._put(out, _End(err))
                return
            if not self._put(out, item):
                return

    def _work(self, fn: Callable[[Any], Any], inp: queue.Queue, out: queue.Queue) -> None:
        """Stage thread: apply `fn` to each item in order; pass the end marker on."""
        while True:
            item = self._get(inp)
            if isinstance(item, _End):
                self._put(out, item)
                return
            try:
                result = fn(item)
            except BaseException as err:
                self._put(out, _End(err))
                return
            if not self._put(out, result):
                return

    def _results(self) -> Iterator[Any]:
        try:
            while True:
                try:
                    item = self._queues[-1].get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop every thread after its current item and wait for the stages (the source
        thread only briefly: it may be blocked inside a source that will never answer)."""
        self._stop.set()
        for thread in self._threads[1:]:
            if thread is not threading.current_thread():
                thread.join()
        if self._threads and self._threads[0] is not threading.current_thread():
            self._threads[0].join(timeout=SOURCE_JOIN_S)


@contextmanager
def shared_cpu_cores(busy_stages: int = 2) -> Iterator[int]:
    """While the block runs, give each of the `busy_stages` stages that compute at once on a
    CPU (detection and pose) its share of the cores as torch and OpenCV threads (at least 1);
    yields the share and puts the process's thread counts back afterwards.

    Their thread pools are per process: left at one thread per core each, two stages ask for
    twice the cores and their spinning workers slow each other down (measured on 2 cores: R50
    pose crops 2x faster with 1 torch thread than with 2 while another stage computes). Set
    per tracking run, not per process, so the rest of a program keeps all its cores."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    share = max(1, cpu_cores() // busy_stages)
    torch.set_num_threads(share)
    cv2.setNumThreads(share)
    try:
        yield share
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
