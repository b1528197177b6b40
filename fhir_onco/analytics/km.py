"""Kaplan-Meier estimator with Greenwood variance and log-log ("exponential Greenwood") intervals.

Method (also in docs/analytics.md):

* S(t) = prod over event times t_i <= t of (1 - d_i / n_i); a subject censored at t_i is still at
  risk at t_i (events before censorings at tied times).
* Greenwood: Var[S(t)] = S(t)^2 * sum d_i / (n_i (n_i - d_i)).
* Pointwise CI on the log(-log S) scale (Kalbfleisch & Prentice; R ``conf.type="log-log"``):
  se = sqrt(sum d_i / (n_i (n_i - d_i))) / |log S(t)|,  CI = S(t) ** exp(+-z * se).
  It stays inside [0, 1]. Where S(t) = 1 the interval is [1, 1]; where S(t) = 0 it is undefined.
* Median: the smallest t with S(t) <= 0.5; if S is exactly 0.5 on a flat stretch, the midpoint of that
  stretch (the convention of R ``survival``).
* 95 % CI of the median (Brookmeyer & Crowley): the same rule applied to the lower and upper
  pointwise limits - the lower limit is where the lower curve first reaches 0.5, the upper limit
  where the upper curve does. A limit the curve never reaches is "not reached" (None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Step:
    """The curve just after time `time`."""

    time: float
    at_risk: int
    events: int
    censored: int
    survival: float
    greenwood: float  # running sum d / (n (n - d))
    lower: float | None
    upper: float | None


@dataclass
class KaplanMeier:
    n: int
    events: int
    steps: list[Step] = field(default_factory=list)  # one per distinct time (events or censorings)
    confidence: float = 0.95

    @property
    def event_steps(self) -> list[Step]:
        return [s for s in self.steps if s.events]

    def survival_at(self, t: float) -> tuple[float, float | None, float | None]:
        """(S, lower, upper) at time t (the step at the last event time <= t)."""
        current: tuple[float, float | None, float | None] = (1.0, 1.0, 1.0)
        for s in self.event_steps:
            if s.time > t:
                break
            current = (s.survival, s.lower, s.upper)
        return current

    def quantile_time(self, which: str = "survival", p: float = 0.5) -> float | None:
        """First time the curve (survival / lower / upper) reaches p; midpoint rule on a flat p."""
        steps = self.event_steps
        for i, s in enumerate(steps):
            value = getattr(s, which)
            if value is None:
                continue
            if abs(value - p) < 1e-9:
                later = [x.time for x in steps[i + 1:]]
                last_time = self.steps[-1].time if self.steps else s.time
                if later:
                    return (s.time + later[0]) / 2
                # flat at p until the last follow-up: the estimate stops at p
                return (s.time + last_time) / 2 if last_time > s.time else s.time
            if value < p:
                return s.time
        return None

    @property
    def median(self) -> float | None:
        return self.quantile_time("survival")

    @property
    def median_ci(self) -> tuple[float | None, float | None]:
        return self.quantile_time("lower"), self.quantile_time("upper")


def kaplan_meier(times: Sequence[float], events: Sequence[bool | int], confidence: float = 0.95) -> KaplanMeier:
    """Estimate S(t) from follow-up times and event flags (True = event, False = censored)."""
    if len(times) != len(events):
        raise ValueError("times and events differ in length")
    if any(t < 0 or math.isnan(t) for t in times):
        raise ValueError("times must be non-negative numbers")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    pairs = sorted(zip(times, (bool(e) for e in events), strict=True))
    result = KaplanMeier(n=len(pairs), events=sum(e for _, e in pairs), confidence=confidence)
    at_risk, survival, gw = len(pairs), 1.0, 0.0
    i = 0
    while i < len(pairs):
        t = pairs[i][0]
        d = c = 0
        while i < len(pairs) and pairs[i][0] == t:
            d += pairs[i][1]
            c += not pairs[i][1]
            i += 1
        if d:
            survival *= 1 - d / at_risk
            gw = gw + d / (at_risk * (at_risk - d)) if at_risk > d else math.inf
        lower, upper = _loglog_ci(survival, gw, z)
        result.steps.append(Step(t, at_risk, d, c, survival, gw, lower, upper))
        at_risk -= d + c
    return result


def _loglog_ci(s: float, gw: float, z: float) -> tuple[float | None, float | None]:
    if s >= 1 - _EPS:
        return 1.0, 1.0
    if s <= _EPS or math.isinf(gw):
        return None, None
    se = math.sqrt(gw) / abs(math.log(s))
    return s ** math.exp(z * se), s ** math.exp(-z * se)


def reverse_kaplan_meier(times: Sequence[float], events: Sequence[bool | int]) -> KaplanMeier:
    """Median follow-up by reverse KM (Schemper & Smith): censoring is the 'event'."""
    return kaplan_meier(times, [not e for e in events])
