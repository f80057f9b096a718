"""Plan which process of a torchrun launch tracks which videos.

Longest-first to the least-loaded process (the LPT rule): each video, from the longest down,
goes to the process with the fewest frames so far, so the processes finish close together;
round-robin would leave one process with all the long videos when lengths are uneven.
"""

from __future__ import annotations

from collections.abc import Sequence


def fill_unknown(lengths: Sequence[int | None]) -> list[float]:
    """Lengths with each unknown one (None: a stream or a container that does not say) set to
    the mean of the known ones, the best guess of its load; 1 each when none is known."""
    known = [n for n in lengths if n is not None]
    guess = sum(known) / len(known) if known else 1.0
    return [float(guess if n is None else n) for n in lengths]


def plan_shards(lengths: Sequence[int | None], world_size: int) -> list[list[int]]:
    """Indices into `lengths` for each of `world_size` processes, longest video first to the
    process with the least load (ties: the longer video first, then the lower index; among
    equally loaded processes the lower rank). Each list is in the order its process tracks."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    weights = fill_unknown(lengths)
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    shards: list[list[int]] = [[] for _ in range(world_size)]
    loads = [0.0] * world_size
    for i in order:
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        shards[rank].append(i)
        loads[rank] += weights[i]
    return shards
