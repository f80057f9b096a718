"""CLEAR MOT per joint, counted the way poseval counts it with py-motmetrics (>= 1.2).

Each joint has its own accumulator per sequence. Per frame the objects are GT people that have
the joint, the hypotheses predicted people that have it, and a pair may match when its PCKh
distance is <= 0.5. As in motmetrics: pairs matched in the previous frame are kept if still
within reach, the rest are assigned by minimum total distance (scipy's linear_sum_assignment
on the same cost matrix motmetrics builds), and a GT person matched to a new id is a switch.

scipy is imported only for a competition that enumeration cannot settle (an exact tie, or more
than MAX_ENUMERATED_PAIRS pairs): the solver motmetrics used for poseval's numbers is scipy's
(no lap/lapsolver installed), and on ties only the same solver picks the same pairs. Scoring
the Bonn PoseTrack folders never gets there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batch import NUM_JOINTS, PCKH_THRESHOLD, SequenceBatch


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


def match_frame(
    oids: list[int],
    hids: list[int],
    pairs: list[tuple[int, int, float]],
    last_hyp: dict[int, int],
) -> tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]:
    """motmetrics' matching of one frame: (kept, assigned) lists of (object index, hypothesis
    index, distance). Kept: pairs matched last time (`last_hyp`: object -> hypothesis) still
    within reach, objects in order; assigned: the rest by least total distance (`_assign`)."""
    reach = {(i, j): d for i, j, d in pairs}
    o_done, h_done = [False] * len(oids), [False] * len(hids)
    h_index = {h: j for j, h in enumerate(hids)}
    kept = []
    for i, o in enumerate(oids):
        h_prev = last_hyp.get(o)
        j = None if h_prev is None else h_index.get(h_prev)
        if j is not None and not h_done[j] and (i, j) in reach:
            o_done[i] = h_done[j] = True
            kept.append((i, j, reach[i, j]))
    rest = [(i, j, d) for i, j, d in pairs if not o_done[i] and not h_done[j]]
    return kept, _assign(rest, len(oids), len(hids))


class JointAccumulator:
    """MOT event counts for one joint over one sequence (motmetrics' MOTAccumulator rules),
    frame by frame: the reference the vectorised `MOTCollector` is tested against."""

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
        kept, assigned = match_frame(oids, hids, pairs, self.last_hyp)
        for i, j, d in kept:  # 1. last frame's pairs carried on
            self.matches += 1
            self.sum_d += d
            self.matched_objs.add(oids[i])
            self.matched_hyps.add(hids[j])
        for i, j, d in assigned:  # 2. the rest, assigned by total distance
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
            self.last_hyp[o] = h
            self.last_obj[h] = o
        self.misses += no - len(kept) - len(assigned)
        self.false_positives += nh - len(kept) - len(assigned)


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
    """Per-joint CLEAR MOT counts summed over sequences, each sequence counted at once.

    Per joint, a frame whose candidate pairs share no object and no hypothesis matches them
    all, whatever the history (motmetrics keeps or assigns each lone pair); only frames with
    competing pairs need the history, and only those go through `match_frame`, in frame order.
    Once every frame's matches are known, the events (switch, transfer, ...) follow from each
    object's and hypothesis's previous match, found by sorting.
    """

    FIELDS = ("objects", "matches", "switches", "misses", "false_positives", "sum_d")

    def __init__(self) -> None:
        self.totals = {name: np.zeros(NUM_JOINTS) for name in self.FIELDS}

    def add_sequence(self, batch: SequenceBatch) -> None:
        """Count one sequence: all its frames but the last (poseval leaves that one out)."""
        self.add_counts(self.sequence_counts(batch))

    def add_counts(self, counts: dict[str, np.ndarray]) -> None:
        """Add one sequence's `sequence_counts` (computed here or in a worker process)."""
        for name in self.FIELDS:
            self.totals[name] += counts[name]

    @classmethod
    def sequence_counts(cls, batch: SequenceBatch) -> dict[str, np.ndarray]:
        """Per-joint event counts of one sequence, all its frames but the last."""
        t = {name: np.zeros(NUM_JOINTS) for name in cls.FIELDS}
        last = batch.num_frames - 1
        used = np.arange(batch.num_frames) < last
        # poseval's stand-in for a frame without GT or without predicted people: one object,
        # one miss and one false positive per joint.
        stand_in = int(np.count_nonzero(used & ((batch.num_gt == 0) | (batch.num_pr == 0))))
        for name in ("objects", "misses", "false_positives"):
            t[name] += stand_in
        n_obj = batch.gt_has[used[batch.gt_frame] & (batch.num_pr > 0)[batch.gt_frame]].sum(0)
        n_hyp = batch.pr_has[used[batch.pr_frame] & (batch.num_gt > 0)[batch.pr_frame]].sum(0)
        t["objects"] += n_obj
        # Candidate pairs: per joint, (GT, prediction) pairs within the threshold.
        rows = np.flatnonzero(used[batch.pair_frame])
        c_pair, c_j = np.nonzero(batch.dist[rows] <= PCKH_THRESHOLD)
        c_pair = rows[c_pair]
        c_d = batch.dist[c_pair, c_j]
        t["sum_d"] += np.bincount(c_j, weights=c_d, minlength=NUM_JOINTS)  # RAW events
        matched = cls._matches(batch, c_pair, c_j, c_d)
        n_matched = np.bincount(matched[1], minlength=NUM_JOINTS)
        t["misses"] += n_obj - n_matched
        t["false_positives"] += n_hyp - n_matched
        if len(matched[0]):
            cls._count_events(t, *matched)
        return t

    @staticmethod
    def _matches(
        batch: SequenceBatch, c_pair: np.ndarray, c_j: np.ndarray, c_d: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Every match (frame, joint, object key, hypothesis key, distance) in frame order.

        Keys are per joint and per track id, so that one sort finds each one's previous match.
        """
        gt_codes, gt_code = np.unique(batch.gt_ids, return_inverse=True)
        pr_codes, pr_code = np.unique(batch.pr_ids, return_inverse=True)
        c_g, c_p = batch.pair_gt[c_pair], batch.pair_pr[c_pair]
        c_f = batch.gt_frame[c_g]
        okey = c_j * len(gt_codes) + gt_code[c_g]
        hkey = c_j * len(pr_codes) + pr_code[c_p]
        # A frame and joint competes when one of its objects or hypotheses has two candidates.
        o_slot, h_slot = c_j * len(gt_code) + c_g, c_j * len(pr_code) + c_p
        crowded = (np.bincount(o_slot)[o_slot] > 1) | (np.bincount(h_slot)[h_slot] > 1)
        fj = c_f * NUM_JOINTS + c_j
        competing = np.zeros(batch.num_frames * NUM_JOINTS, dtype=bool)
        competing[fj[crowded]] = True
        lone = ~competing[fj]
        out = [c_f[lone], c_j[lone], okey[lone], hkey[lone], c_d[lone]]
        if lone.all():
            return tuple(out)
        # Competing frames, in frame order; an object's last match is its latest lone match
        # (by search) or its latest match in an earlier competing frame, whichever is later.
        num_frames = batch.num_frames
        lone_at = okey[lone] * num_frames + c_f[lone]
        by_time = np.argsort(lone_at, kind="stable")
        lone_at, lone_h = lone_at[by_time], hkey[lone][by_time]
        idx = np.flatnonzero(~lone)
        idx = idx[np.lexsort((c_p[idx], c_g[idx], fj[idx]))]
        groups = np.split(idx, np.flatnonzero(np.diff(fj[idx])) + 1)
        gt_start = np.r_[0, np.cumsum(batch.num_gt)]
        pr_start = np.r_[0, np.cumsum(batch.num_pr)]
        comp_last: dict[int, tuple[int, int]] = {}
        extra: list[tuple[int, int, int, int, float]] = []
        for group in groups:
            f, j = int(c_f[group[0]]), int(c_j[group[0]])
            gs = gt_start[f] + np.flatnonzero(batch.gt_has[gt_start[f] : gt_start[f + 1], j])
            ps = pr_start[f] + np.flatnonzero(batch.pr_has[pr_start[f] : pr_start[f + 1], j])
            oids = (j * len(gt_codes) + gt_code[gs]).tolist()
            hids = (j * len(pr_codes) + pr_code[ps]).tolist()
            row = {g: i for i, g in enumerate(gs.tolist())}
            col = {p: i for i, p in enumerate(ps.tolist())}
            pairs = [
                (row[g], col[p], d)
                for g, p, d in zip(c_g[group].tolist(), c_p[group].tolist(), c_d[group].tolist())
            ]
            last_hyp = {}
            where = np.searchsorted(lone_at, np.array(oids) * num_frames + f) - 1
            for o, k in zip(oids, where.tolist()):
                seen = (-1, -1)
                if k >= 0 and lone_at[k] // num_frames == o:
                    seen = (int(lone_at[k] % num_frames), int(lone_h[k]))
                seen = max(seen, comp_last.get(o, (-1, -1)))
                if seen[0] >= 0:
                    last_hyp[o] = seen[1]
            kept, assigned = match_frame(oids, hids, pairs, last_hyp)
            for i, k, d in kept + assigned:
                extra.append((f, j, oids[i], hids[k], d))
                comp_last[oids[i]] = (f, hids[k])
        columns = list(zip(*extra)) if extra else [()] * 5
        return tuple(
            np.concatenate([a, np.asarray(b, dtype=a.dtype)]) for a, b in zip(out, columns)
        )

    @staticmethod
    def _count_events(
        t: dict[str, np.ndarray],
        f: np.ndarray,
        j: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        d: np.ndarray,
    ) -> None:
        """Add the events of all matches (frame, joint, object, hypothesis, distance)."""
        n, span = len(f), int(f.max()) + 1

        def previous(key: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """For the selected matches: whether `key` was matched before, and where (index)."""
            order = sel[np.argsort(key[sel] * span + f[sel])]  # by key, then frame (unique)
            has = np.zeros(n, dtype=bool)
            prev = np.zeros(n, dtype=np.int64)
            same = key[order][1:] == key[order][:-1]
            has[order[1:]] = same
            prev[order[1:]] = order[:-1]
            return has, prev

        everything = np.arange(n)
        o_before, o_prev = previous(o, everything)
        kept = o_before & (h[o_prev] == h)  # step 1: the object's last hypothesis again
        switch = o_before & ~kept
        h_before, _ = previous(h, everything)
        # Step 2 matches (all not kept): a hypothesis whose last step-2 object was another one
        # is a TRANSFER, and a MIGRATE too when the object is matched for the first time.
        h2_before, h2_prev = previous(h, np.flatnonzero(~kept))
        transfer = h2_before & (o[h2_prev] != o) & ~kept
        migrate = transfer & ~o_before
        t["switches"] += np.bincount(j, weights=switch, minlength=NUM_JOINTS)
        t["matches"] += np.bincount(j, weights=~switch, minlength=NUM_JOINTS)
        extra = 1.0 + (switch & ~h_before) + transfer + migrate  # ASCEND, TRANSFER, MIGRATE
        t["sum_d"] += np.bincount(j, weights=d * extra, minlength=NUM_JOINTS)

    def result(self) -> MOTResult:
        """poseval's final formulas: nan MOTA/recall without GT, MOTP 0 without detections."""
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
