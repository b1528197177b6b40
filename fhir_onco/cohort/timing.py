"""Exact day distributions and their placement on patients.

* :func:`draw_exact` builds n whole numbers with exactly a given min, max, median and counts per bin
  (ages, days to engraftment, relapse, death).
* :func:`place_days` gives every holder of an event kind one value of that kind's multiset so that
  each patient's events come before their death: deaths are placed in ascending order, each on a
  patient for whom, for every kind they hold, the i-th smallest death among that kind's holders is
  later than the kind's i-th smallest value (necessary and sufficient, checked as it goes), with
  depth-first backtracking over the choice of patient. Then each kind's values are dealt to its
  holders below their death days, the dying first, keeping the rest feasible.
* GVHD organ stages that give a MAGIC overall grade / an NIH 2014 global severity, and the reverse
  (:func:`magic_grade`, :func:`nih_severity`), so a generated grade is the grade of its organs.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from .spec import CohortError, Timing


class Unlucky(CohortError):
    """This draw did not work out; another draw of the same spec may (the caller retries)."""


def draw_exact(lo_all: int, hi_all: int, median: float, bins: Sequence[tuple[int, int, int]], n: int,
               rng: random.Random, where: str, what: str = "") -> list[int]:
    """n integers (sorted) with exactly min lo_all, max hi_all, this median and `count` values in each
    (lo, hi, count) bin; bins must cover all n."""
    label = what or "values"
    if n == 0:
        return []
    if sum(c for _, _, c in bins) != n:
        raise CohortError(f"{where}: the bins add up to {sum(c for _, _, c in bins)}, expected {n}")
    bounds: list[tuple[int, int]] = []
    for lo, hi, count in bins:
        bounds += [(max(lo, lo_all), min(hi, hi_all))] * count
    bounds.sort()
    for i in range(1, n):  # sorted order: each position at least the previous lower bound
        bounds[i] = (max(bounds[i][0], bounds[i - 1][0]), bounds[i][1])
    vals: list[int | None] = [None] * n

    def fix(i: int, v: int) -> None:
        lo, hi = bounds[i]
        if not lo <= v <= hi:
            raise CohortError(f"{where}: cannot reach min {lo_all} / max {hi_all} / median {median:g} "
                              f"with these bins (position {i + 1} of {n} must lie in {lo}..{hi})")
        vals[i] = v

    fix(0, lo_all)
    fix(n - 1, hi_all)
    twice = round(median * 2)
    if n <= 2:  # the ends are the middle
        pass
    elif n % 2:
        fix(n // 2, twice // 2)
    else:
        a_lo, a_hi = bounds[n // 2 - 1]
        b_lo, b_hi = bounds[n // 2]
        a = min(a_hi, twice // 2, twice - b_lo)
        if a < a_lo or not b_lo <= twice - a <= b_hi or twice - a < a:
            raise CohortError(f"{where}: median {median:g} is impossible with bins {_bins_text(bins)} "
                              f"(positions {n // 2} and {n // 2 + 1} of {n} lie in {a_lo}..{a_hi} and {b_lo}..{b_hi})")
        fix(n // 2 - 1, a)
        fix(n // 2, twice - a)
    for i in range(n):
        if vals[i] is None:
            lo, hi = bounds[i]
            below = [v for v in vals[:i] if v is not None]
            above = [v for v in vals[i + 1:] if v is not None]
            lo = max([lo, *below])
            hi = min([hi, *above])
            vals[i] = rng.randint(lo, hi)
    out = sorted(v for v in vals if v is not None)
    mid = out[n // 2] if n % 2 else (out[n // 2 - 1] + out[n // 2]) / 2
    if (out[0], out[-1], mid * 2) != (lo_all, hi_all, twice) or twice != median * 2:
        raise CohortError(f"{where}: {n} whole-number {label} cannot have min {lo_all}, max {hi_all} and "
                          f"median {median:g} together")
    return out


def _bins_text(bins: Sequence[tuple[int, int, int]]) -> str:
    return "{" + ", ".join(f"{lo}-{hi}: {c}" for lo, hi, c in bins) + "}"


def timing_values(t: Timing, n: int, rng: random.Random, where: str) -> list[int]:
    """n days with exactly the timing's median, min, max and `by` counts."""
    if n == 0:
        if t.by and any(t.by.values()):
            raise CohortError(f"{where}.by: nobody has the event")
        return []
    cuts = sorted(t.by.items())
    bins: list[tuple[int, int, int]] = []
    lo, taken = t.min, 0
    for day, k in cuts:
        if k < taken:
            raise CohortError(f"{where}.by.{day}: {k} is fewer than the {taken} by an earlier day")
        bins.append((lo, day, k - taken))
        lo, taken = day + 1, k
    if taken > n:
        raise CohortError(f"{where}.by: {taken} patients by day {cuts[-1][0]}, only {n} have the event")
    bins.append((lo, t.max, n - taken))
    return draw_exact(t.min, t.max, t.median, [b for b in bins if b[2]], n, rng, where, "days")


# ---- placing days on patients ------------------------------------------------------------------

INF = 10 ** 9


@dataclass
class Kind:
    """One event kind within one scope: its values and who holds it."""

    name: str
    values: list[int]
    holders: list[Hashable]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.holders):
            raise CohortError(f"{self.name}: {len(self.values)} days for {len(self.holders)} patients")
        self.values = sorted(self.values)


@dataclass
class Placement:
    days: dict[Hashable, dict[str, int]] = field(default_factory=dict)

    def set(self, who: Hashable, kind: str, day: int) -> None:
        self.days.setdefault(who, {})[kind] = day


def place_days(events: list[Kind], deaths: list[Kind], rng: random.Random, where: str,
               lower: dict[Hashable, int] | None = None, budget: int = 20000) -> Placement:
    """Events (kind name without scope, before '@') strictly before each holder's death; every value used
    once. `lower[p]`: p's death is after this day. Raises Unlucky when no placement exists."""
    lower = lower or {}
    out = Placement()
    kinds_of: dict[Hashable, list[int]] = {}
    for i, k in enumerate(events):
        for p in k.holders:
            kinds_of.setdefault(p, []).append(i)
    if any(d.values for d in deaths):
        order = [(v, j) for j, d in enumerate(deaths) for v in d.values]
        order.sort()
        holders = [list(d.holders) for d in deaths]
        for h in holders:
            rng.shuffle(h)
        used: set[Hashable] = set()
        placed: list[tuple[Hashable, int]] = []
        count = [0] * len(events)  # dying holders of each kind placed so far
        steps = [0]

        def fits(p: Hashable, day: int) -> bool:
            if day <= lower.get(p, -1):
                return False
            return all(events[i].values[count[i]] < day for i in kinds_of.get(p, ()))

        def search(pos: int) -> bool:
            if pos == len(order):
                return True
            steps[0] += 1
            if steps[0] > budget:
                return False
            day, j = order[pos]
            tried: set[tuple[int, ...]] = set()
            for p in holders[j]:
                if p in used or not fits(p, day):
                    continue
                sig = (lower.get(p, -1), *sorted(kinds_of.get(p, ())))  # same kinds and bound: interchangeable
                if sig in tried:
                    continue
                tried.add(sig)
                used.add(p)
                placed.append((p, day))
                for i in kinds_of.get(p, ()):
                    count[i] += 1
                if search(pos + 1):
                    return True
                used.discard(p)
                placed.pop()
                for i in kinds_of.get(p, ()):
                    count[i] -= 1
            return False

        if not search(0):
            raise Unlucky(f"{where}: the deaths' days cannot all follow the events of the patients who die "
                          f"(engraftment, relapse, GVHD days; deaths among them by `among`)")
        for p, day in placed:
            out.set(p, "death", day)
    for k in events:
        ub = {p: out.days.get(p, {}).get("death", INF) for p in k.holders}
        _deal_below(k, ub, rng, out, where)
    return out


def _deal_below(k: Kind, ub: dict[Hashable, int], rng: random.Random, out: Placement, where: str) -> None:
    """k's values to its holders, each value < the holder's bound; random but never infeasible."""
    values = list(k.values)  # sorted
    bounded = sorted((p for p in k.holders if ub[p] < INF), key=lambda p: (ub[p], rng.random()))
    free = [p for p in k.holders if ub[p] >= INF]
    for idx, p in enumerate(bounded):
        below = bisect_left(values, ub[p])
        rest = bounded[idx + 1:]
        choices = list(range(below))
        rng.shuffle(choices)
        for c in choices:
            trial = values[:c] + values[c + 1:]
            if all(trial[m] < ub[q] for m, q in enumerate(rest)):
                out.set(p, k.name.split("@")[0], values[c])
                values = trial
                break
        else:
            raise Unlucky(f"{where}: {k.name} days cannot all come before the deaths")
    rng.shuffle(values)
    for p, v in zip(free, values, strict=True):
        out.set(p, k.name.split("@")[0], v)


# ---- GVHD organ stages -------------------------------------------------------------------------

def magic_grade(organs: dict[str, int]) -> int:
    """MAGIC overall acute GVHD grade (Harris et al., BBMT 2016; 0 = none) from organ stages."""
    skin, liver = organs.get("skin", 0), organs.get("liver", 0)
    upper, lower = organs.get("upper-gi", 0), organs.get("lower-gi", 0)
    if skin == 4 or liver == 4 or lower == 4:
        return 4
    if liver in (2, 3) or lower in (2, 3):
        return 3
    if skin == 3 or liver == 1 or upper == 1 or lower == 1:
        return 2
    if skin in (1, 2):
        return 1
    return 0


def magic_organs(grade: int, rng: random.Random) -> dict[str, int]:
    """Organ stages (only those involved) with this MAGIC overall grade."""
    if grade == 1:
        out = {"skin": rng.randint(1, 2)}
    elif grade == 2:
        out = rng.choice([{"skin": 3}, {"skin": rng.randint(1, 3), "lower-gi": 1},
                          {"skin": rng.randint(0, 2), "upper-gi": 1}, {"skin": rng.randint(1, 2), "liver": 1}])
    elif grade == 3:
        out = rng.choice([{"lower-gi": rng.randint(2, 3), "skin": rng.randint(0, 3)},
                          {"liver": rng.randint(2, 3), "skin": rng.randint(0, 2)},
                          {"lower-gi": rng.randint(2, 3), "upper-gi": 1, "skin": rng.randint(1, 3)}])
    else:
        out = rng.choice([{"skin": 4}, {"lower-gi": 4, "skin": rng.randint(0, 3)},
                          {"liver": 4, "lower-gi": rng.randint(0, 3), "skin": rng.randint(0, 3)}])
    return {k: v for k, v in out.items() if v}


CHRONIC_NON_LUNG = ("skin", "mouth", "eyes", "gi", "liver", "joints-fascia", "genital-tract")


def nih_severity(organs: dict[str, int]) -> str | None:
    """NIH 2014 global severity of chronic GVHD (Jagasia et al., BBMT 2015) from organ scores."""
    involved = {k: v for k, v in organs.items() if v}
    if not involved:
        return None
    lung = involved.get("lungs", 0)
    if lung >= 2 or any(v == 3 for v in involved.values()):
        return "severe"
    if lung == 1 or any(v == 2 for v in involved.values()) or len(involved) >= 3:
        return "moderate"
    return "mild"


def nih_organs(severity: str, rng: random.Random) -> dict[str, int]:
    """Organ scores (only those involved) with this NIH global severity."""
    if severity == "mild":
        return dict.fromkeys(rng.sample(CHRONIC_NON_LUNG, rng.randint(1, 2)), 1)
    if severity == "moderate":
        way = rng.randrange(3)
        if way == 0:
            return dict.fromkeys(rng.sample(CHRONIC_NON_LUNG, rng.randint(3, 4)), 1)
        if way == 1:
            a, b = rng.sample(CHRONIC_NON_LUNG, 2)
            return {a: 2, **({b: 1} if rng.random() < 0.5 else {})}
        return {"lungs": 1, rng.choice(CHRONIC_NON_LUNG): 1}
    if rng.random() < 0.5:
        a, b = rng.sample(CHRONIC_NON_LUNG, 2)
        return {a: 3, b: rng.randint(1, 2)}
    return {"lungs": rng.randint(2, 3), rng.choice(CHRONIC_NON_LUNG): rng.randint(1, 2)}
