"""CLEAR MOT per joint, counted the way poseval counts it with py-motmetrics (>= 1.2).

Each joint has its own accumulator per sequence. Per frame the objects are GT people that have
the joint, the hypotheses predicted people that have it, and a pair may match when its PCKh
distance is <= 0.5. As in motmetrics: pairs matched in the previous frame are kept if still
within reach, the rest are assigned by minimum total distance (scipy's linear_sum_assignment
on the same cost matrix motmetrics builds), and a GT person matched to a new id is a switch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frames import NUM_JOINTS, PCKH_THRESHOLD


def _motmetrics_lsa(costs: np.ndarray) -> list[tuple[int, int]]:
    """Pairs motmetrics' scipy solver returns: nan/inf edges priced out, then dropped."""
    valid = np.isfinite(costs)
    if not valid.any():
        return []
    rows_with, cols_with = valid.sum(axis=1), valid.sum(axis=0)
    if rows_with.max() <= 1 and cols_with.max() <= 1:
        # No two candidate pairs compete: every optimal assignment contains them all.
        return list(zip(*np.nonzero(valid)))
    if valid.all():
        finite = costs.copy()
    else:
        c = np.abs(costs[valid]).max() + 1
        finite = np.where(valid, costs, 2 * min(costs.shape) * c + 1)
    from scipy.optimize import linear_sum_assignment  # lazily: importing it costs ~0.3 s

    rows, cols = linear_sum_assignment(finite)
    return [(i, j) for i, j in zip(rows, cols) if valid[i, j]]


class JointAccumulator:
    """MOT event counts for one joint over one sequence (motmetrics' MOTAccumulator rules)."""

    def __init__(self) -> None:
        self.last_hyp: dict[int, int] = {}  # object -> hypothesis it was last matched to
        self.last_obj: dict[int, int] = {}  # hypothesis -> object of its last assignment (step 2)
        self.matched_objs: set[int] = set()
        self.matched_hyps: set[int] = set()
        self.objects = self.matches = self.switches = self.misses = self.false_positives = 0
        self.sum_d = 0.0

    def update(self, oids: list[int], hids: list[int], pairs: list[tuple[int, int, float]]) -> None:
        """One frame: object and hypothesis ids, and the (object index, hypothesis index,
        distance) pairs that may match (distance <= threshold), in row-major order."""
        no, nh = len(oids), len(hids)
        self.objects += no
        if not pairs:
            self.misses += no
            self.false_positives += nh
            return
        # poseval sums the accumulator's whole event table, whose RAW rows hold every
        # candidate pair's distance: MOTP therefore counts all pairs within reach.
        self.sum_d += sum(p[2] for p in pairs)
        reach = {(i, j): d for i, j, d in pairs}
        o_done, h_done = [False] * no, [False] * nh
        h_index = {h: j for j, h in enumerate(hids)}
        for i, o in enumerate(oids):  # 1. carry on last frame's pairs
            h_prev = self.last_hyp.get(o)
            j = None if h_prev is None else h_index.get(h_prev)
            if j is not None and not h_done[j] and (i, j) in reach:
                o_done[i] = h_done[j] = True
                self.matches += 1
                self.sum_d += reach[i, j]
                self.matched_objs.add(o)
                self.matched_hyps.add(h_prev)
        rest = [(i, j, d) for i, j, d in pairs if not o_done[i] and not h_done[j]]
        for i, j, d in _assign(rest, no, nh):  # 2. assign the rest by total distance
            o, h = oids[i], hids[j]
            if o in self.last_hyp and self.last_hyp[o] != h:
                self.switches += 1
                if h not in self.matched_hyps:
                    self.sum_d += d  # motmetrics' ASCEND event carries the distance again
            else:
                self.matches += 1
            if h in self.last_obj and self.last_obj[h] != o:
                self.sum_d += d  # TRANSFER event
                if o not in self.matched_objs:
                    self.sum_d += d  # MIGRATE event
            self.sum_d += d
            self.matched_hyps.add(h)
            self.matched_objs.add(o)
            o_done[i] = h_done[j] = True
            self.last_hyp[o] = h
            self.last_obj[h] = o
        self.misses += no - sum(o_done)
        self.false_positives += nh - sum(h_done)


def _assign(pairs: list[tuple[int, int, float]], no: int, nh: int) -> list[tuple[int, int, float]]:
    """Step 2 of motmetrics' update on the remaining candidate pairs.

    motmetrics prices forbidden pairs so high that its solver first maximises the number of
    allowed pairs, then minimises their distance sum; that optimum splits over the connected
    groups of competing pairs. Small groups with one clear optimum are solved here by
    enumeration (same answer, no scipy import); anything else goes to scipy on the full matrix
    exactly as motmetrics calls it, so ties break the same way.
    """
    if not pairs:
        return []
    chosen = []
    for group in _groups(pairs):
        if len(group) == 1:
            chosen += group
            continue
        best = _unique_best_matching(group)
        if best is None:
            costs = np.full((no, nh), np.nan)
            for i, j, d in pairs:
                costs[i, j] = d
            return [(i, j, costs[i, j]) for i, j in _motmetrics_lsa(costs)]
        chosen += best
    return chosen


def _groups(pairs: list[tuple[int, int, float]]) -> list[list[tuple[int, int, float]]]:
    """Pairs split into groups connected through shared objects or hypotheses."""
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        parent[find(("o", i))] = find(("h", j))
    groups: dict = {}
    for pair in pairs:
        groups.setdefault(find(("o", pair[0])), []).append(pair)
    return list(groups.values())


MAX_ENUMERATED_PAIRS = 10
TIE_TOLERANCE = 1e-9


def _unique_best_matching(
    group: list[tuple[int, int, float]],
) -> list[tuple[int, int, float]] | None:
    """The matching with most pairs, then least distance, if it is clearly unique; else None."""
    if len(group) > MAX_ENUMERATED_PAIRS:
        return None
    by_row: dict[int, list[tuple[int, int, float]]] = {}
    for pair in group:
        by_row.setdefault(pair[0], []).append(pair)
    rows = list(by_row)
    scored: list[tuple[int, float, list]] = []

    def walk(k: int, used: set, picked: list, cost: float) -> None:
        if k == len(rows):
            scored.append((len(picked), cost, list(picked)))
            return
        walk(k + 1, used, picked, cost)
        for pair in by_row[rows[k]]:
            if pair[1] not in used:
                used.add(pair[1])
                picked.append(pair)
                walk(k + 1, used, picked, cost + pair[2])
                picked.pop()
                used.discard(pair[1])

    walk(0, set(), [], 0.0)
    most = max(n for n, _, _ in scored)
    best = sorted((c, m) for n, c, m in scored if n == most)
    if len(best) > 1 and best[1][0] - best[0][0] <= TIE_TOLERANCE * max(1.0, abs(best[0][0])):
        return None
    return best[0][1]


def _max_per_joint(keys: np.ndarray, width: int) -> np.ndarray:
    """(15,) the most pairs any one object (or hypothesis) of each joint takes part in."""
    return (
        np.bincount(keys, minlength=NUM_JOINTS * width)
        .reshape(NUM_JOINTS, -1)
        .max(axis=1, initial=0)
    )


@dataclass
class MOTResult:
    """Per-joint MOTA, MOTP, precision, recall (percent; index 15: mean over joints) and counts."""

    mota: np.ndarray  # (16,)
    motp: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    num_switches: np.ndarray  # (15,) int
    num_misses: np.ndarray
    num_false_positives: np.ndarray
    num_objects: np.ndarray


class MOTCollector:
    """Per-sequence joint accumulators, summed into per-joint counts across sequences.

    Track ids are mapped to compact per-sequence indices so that the common case, a joint
    whose candidate pairs are exactly last frame's pairs with no competition, is counted for
    all joints at once in numpy; other joints go through JointAccumulator.update.
    """

    FIELDS = ("objects", "matches", "switches", "misses", "false_positives", "sum_d")

    def __init__(self) -> None:
        self.totals = {name: np.zeros(NUM_JOINTS) for name in self.FIELDS}
        self._acc: list[JointAccumulator] = []
        self._fast = {name: np.zeros(NUM_JOINTS) for name in self.FIELDS}
        self._gt_keys = self._pr_keys = np.zeros(0, dtype=np.int64)
        self._last_hyp = np.zeros((NUM_JOINTS, 0), dtype=np.int64)

    def start_sequence(self, gt_track_ids: np.ndarray = (), pr_track_ids: np.ndarray = ()) -> None:
        """Close the running sequence (if any) and start fresh accumulators; the arguments are
        all GT and predicted track ids that will occur in the sequence."""
        self._flush()
        self._acc = [JointAccumulator() for _ in range(NUM_JOINTS)]
        self._gt_keys = np.unique(np.asarray(gt_track_ids, dtype=np.int64))
        self._pr_keys = np.unique(np.asarray(pr_track_ids, dtype=np.int64))
        self._last_hyp = np.full((NUM_JOINTS, len(self._gt_keys)), -1, dtype=np.int64)

    def _flush(self) -> None:
        for name in self.FIELDS:
            self.totals[name] += self._fast[name]
            self._fast[name][:] = 0
            for j, acc in enumerate(self._acc):
                self.totals[name][j] += getattr(acc, name)
        self._acc = []

    def _compact(self, keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
        index = np.searchsorted(keys, ids)
        if len(ids) and (
            index.max() >= len(keys) or (keys[np.minimum(index, len(keys) - 1)] != ids).any()
        ):
            raise ValueError("track id not announced in start_sequence()")
        return index

    def add(
        self,
        gt_ids: np.ndarray,
        gt_has: np.ndarray,
        pr_ids: np.ndarray,
        pr_has: np.ndarray,
        dist: np.ndarray | None,
    ) -> None:
        """One frame: dist (P, G, 15) PCKh distances, or None when P or G is 0."""
        fast = self._fast
        if dist is None:
            for name in ("objects", "misses", "false_positives"):
                fast[name] += 1  # poseval's stand-in: one miss and one false positive per joint
            return
        num_gt, num_pr = len(gt_ids), len(pr_ids)
        gt_c, pr_c = self._compact(self._gt_keys, gt_ids), self._compact(self._pr_keys, pr_ids)
        # Per joint, objects are GT people with the joint (in GT order) and hypotheses the
        # predicted people with it; candidate pairs are those within the threshold.
        pair_j, pair_g, pair_p = np.nonzero((dist <= PCKH_THRESHOLD).transpose(2, 1, 0))
        pair_d = dist[pair_p, pair_g, pair_j]
        n_obj, n_hyp = gt_has.sum(axis=0), pr_has.sum(axis=0)
        n_pairs = np.bincount(pair_j, minlength=NUM_JOINTS)
        carried = self._last_hyp[pair_j, gt_c[pair_g]] == pr_c[pair_p]
        row_max = _max_per_joint(pair_j * num_gt + pair_g, num_gt)
        col_max = _max_per_joint(pair_j * num_pr + pair_p, num_pr)
        all_carried = np.bincount(pair_j, weights=~carried, minlength=NUM_JOINTS) == 0
        steady = all_carried & (row_max <= 1) & (col_max <= 1)
        # Steady joint: step 1 re-matches every pair, nothing is left for step 2, no state changes.
        # Each matched distance enters the event table twice (RAW row and MATCH row).
        fast["objects"] += np.where(steady, n_obj, 0)
        fast["matches"] += np.where(steady, n_pairs, 0)
        fast["misses"] += np.where(steady, n_obj - n_pairs, 0)
        fast["false_positives"] += np.where(steady, n_hyp - n_pairs, 0)
        fast["sum_d"] += np.where(
            steady, 2 * np.bincount(pair_j, weights=pair_d, minlength=NUM_JOINTS), 0.0
        )
        if steady.all():
            return
        bounds = np.searchsorted(pair_j, np.arange(NUM_JOINTS + 1)).tolist()
        gt_c_list, pr_c_list = gt_c.tolist(), pr_c.tolist()
        for j in np.flatnonzero(~steady).tolist():
            gs, ps = np.flatnonzero(gt_has[:, j]).tolist(), np.flatnonzero(pr_has[:, j]).tolist()
            row = {g: i for i, g in enumerate(gs)}
            col = {p: i for i, p in enumerate(ps)}
            span = slice(bounds[j], bounds[j + 1])
            pairs = [
                (row[g], col[p], d)
                for g, p, d in zip(
                    pair_g[span].tolist(), pair_p[span].tolist(), pair_d[span].tolist()
                )
            ]
            oids = [gt_c_list[g] for g in gs]
            acc = self._acc[j]
            acc.update(oids, [pr_c_list[p] for p in ps], pairs)
            for o in oids:
                self._last_hyp[j, o] = acc.last_hyp.get(o, -1)

    def result(self) -> MOTResult:
        """poseval's final formulas: nan MOTA/recall without GT, MOTP 0 without detections."""
        self._flush()
        t = self.totals
        det = t["matches"] + t["switches"]
        with np.errstate(divide="ignore", invalid="ignore"):
            objects = np.where(t["objects"] > 0, t["objects"], np.nan)
            mota = 100 * (1.0 - (t["misses"] + t["switches"] + t["false_positives"]) / objects)
            motp = np.where(det == 0, 0.0, 100 * (1.0 - t["sum_d"] / det))
            shown = t["false_positives"] + det
            pre = 100 * det / np.where(shown > 0, shown, np.nan)
            rec = 100 * det / objects

        def with_mean(v: np.ndarray) -> np.ndarray:
            finite = v[~np.isnan(v)]
            return np.append(v, finite.mean() if len(finite) else np.nan)

        return MOTResult(
            mota=with_mean(mota),
            motp=with_mean(motp),
            precision=with_mean(pre),
            recall=with_mean(rec),
            num_switches=t["switches"].astype(int),
            num_misses=t["misses"].astype(int),
            num_false_positives=t["false_positives"].astype(int),
            num_objects=t["objects"].astype(int),
        )
