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


# ---- cumulative incidence with competing risks --------------------------------------------------
@dataclass(frozen=True, slots=True)
class IncidenceStep:
    """The cumulative incidence of the event of interest just after time `time`."""

    time: float
    at_risk: int
    incidence: float
    lower: float | None
    upper: float | None


def aalen_johansen(times: Sequence[float], status: Sequence[int], event: int = 1,
                   confidence: float = 0.95) -> list[IncidenceStep]:
    """Cumulative incidence of `event` (status: 0 censored, `event`, any other number a competing
    event) by the Aalen-Johansen estimator, one step per distinct time, with a step at time 0.

    F(t) = sum over times t_j <= t of S(t_j-) * d1_j / n_j, where S is the all-cause Kaplan-Meier
    (computed as exp of the summed log(1 - d_j / n_j)), d1_j the events of interest and n_j those
    at risk at t_j (censored at t_j still at risk). Variance as lifelines computes it (Collett,
    Modelling Survival Data in Medical Research, 3rd ed., p. 411, from Greenwood's formula); CI by
    the delta method on log(-log F). Ties - several events at one time, of one or several kinds - are
    taken as they are, where lifelines breaks them apart by a random jitter; its figures are ours
    when no two events of different kinds share a time. An event at time 0 counts (lifelines leaves
    it out of F). Where the variance is undefined (everybody left has the event) or F is 0 or 1,
    the CI is None.
    """
    if len(times) != len(status):
        raise ValueError("times and status differ in length")
    if any(t < 0 or math.isnan(t) for t in times):
        raise ValueError("times must be non-negative numbers")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    table: dict[float, list[int]] = {0.0: [0, 0, 0]}  # time -> [removed, events (any), events of interest]
    for t, s in zip(times, status, strict=True):
        row = table.setdefault(float(t), [0, 0, 0])
        row[0] += 1
        row[1] += s != 0
        row[2] += s == event
    at_risk, log_s, lag_s, cif = len(times), 0.0, 1.0, 0.0
    quad_c = quad_l = quad_q = lin_c = lin_l = second = 0.0  # the variance's running sums (as lifelines)
    steps = []
    for t in sorted(table):
        removed, d, d1 = table[t]
        n = at_risk
        if n == 0:
            break
        cif += d1 / n * lag_s
        a = d / n / (n - d) if n > d else (math.inf if d else math.nan)
        quad_c += a * cif ** 2
        quad_l -= 2 * a * cif
        quad_q += a
        second += lag_s ** 2 * d1 * (n - d1) / n ** 3
        b = lag_s * d1 / n ** 2
        lin_c -= b * cif
        lin_l += b
        variance = (quad_c + quad_l * cif + quad_q * cif ** 2) + second - 2 * (lin_c + lin_l * cif)
        lower, upper = _cif_ci(cif, variance, z)
        steps.append(IncidenceStep(t, n, cif, lower, upper))
        log_s += math.log(n - d) - math.log(n) if n > d else -math.inf
        lag_s = math.exp(log_s)
        at_risk -= removed
    return steps


def _cif_ci(f: float, variance: float, z: float) -> tuple[float | None, float | None]:
    if not 0 < f < 1 or math.isnan(variance) or variance < 0 or math.isinf(variance):
        return None, None
    transformed = math.log(-math.log(f))
    se = math.sqrt(variance) / (f * abs(math.log(f)))
    return math.exp(-math.exp(transformed + z * se)), math.exp(-math.exp(transformed - z * se))


def incidence_at(steps: Sequence[IncidenceStep], t: float) -> IncidenceStep | None:
    """The step at the last time <= t."""
    current = None
    for s in steps:
        if s.time > t:
            break
        current = s
    return current
