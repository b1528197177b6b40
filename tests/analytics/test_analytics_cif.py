"""Our Aalen-Johansen cumulative incidence (fhir_onco.analytics.km.aalen_johansen): point estimates
as R cmprsk / survival compute them (ties taken as they are), variance and CI as lifelines computes
them. The reference values are frozen here, so they are checked whether lifelines is installed or
not; with lifelines, random data is compared step by step as well."""

from __future__ import annotations

import random
import warnings

import pytest

from fhir_onco.analytics.km import aalen_johansen, incidence_at

# Ties of every kind: an event at time 0; an event, a competing event and a censoring at 5; a
# competing event and a censoring at 10; two kinds of events at 15; a competing event and a
# censoring at 30; the last subject's event at 40.
TIMES = [0, 5, 5, 5, 8, 10, 10, 12, 15, 15, 20, 25, 30, 30, 40]
STATUS = [1, 1, 2, 0, 1, 2, 0, 1, 1, 2, 0, 1, 2, 0, 1]
# R 4.x, cmprsk 2.2-11:
#   f <- cuminc(TIMES, STATUS, cencode = 0); timepoints(f, c(0, 5, 10, 15, 25, 30, 40))$est
# (survival::survfit(Surv(t, factor(s, 0:2)) ~ 1) gives the same pstate)
R_CAUSE_1 = {0: 0.06666666667, 5: 0.13333333333, 10: 0.2060606061, 15: 0.3696969697, 25: 0.4719696970,
             30: 0.4719696970, 40: 0.6765151515}
R_CAUSE_2 = {0: 0.0, 5: 0.06666666667, 10: 0.1393939394, 15: 0.2212121212, 25: 0.2212121212,
             30: 0.3234848485, 40: 0.3234848485}

# No two events of different kinds share a time and none is at 0 (lifelines neither jitters nor
# drops anything); two events of one kind share 17. lifelines 0.30.3:
#   AalenJohansenFitter().fit(T, E, event_of_interest=1): cumulative_density_ and its CI
T_PLAIN = [3, 6, 6, 9, 11, 14, 17, 17, 22, 26, 31, 35]
E_PLAIN = [1, 2, 0, 1, 0, 2, 1, 1, 0, 2, 1, 0]
LIFELINES = {3: (0.08333333333333333, 0.0050528354789907285, 0.3110704099899873),
             9: (0.17592592592592593, 0.027500435309355822, 0.43159167191944997),
             17: (0.3875661375661375, 0.11647077022500497, 0.6584519029070723),
             31: (0.5286596119929452, 0.18267458286515467, 0.7874239326993144)}


@pytest.mark.parametrize(("event", "expected"), [(1, R_CAUSE_1), (2, R_CAUSE_2)])
def test_ties_and_an_event_at_day_0_as_r_cmprsk(event: int, expected: dict[int, float]) -> None:
    steps = aalen_johansen(TIMES, STATUS, event=event)
    for t, value in expected.items():
        step = incidence_at(steps, t)
        assert step is not None and step.incidence == pytest.approx(value, abs=1e-9), t


def test_variance_and_ci_as_lifelines() -> None:
    steps = aalen_johansen(T_PLAIN, E_PLAIN)
    assert [s.time for s in steps] == [0, 3, 6, 9, 11, 14, 17, 22, 26, 31, 35]
    assert [s.at_risk for s in steps] == [12, 12, 11, 9, 8, 7, 6, 4, 3, 2, 1]
    for t, (f, lo, hi) in LIFELINES.items():
        step = incidence_at(steps, t)
        assert step is not None
        assert (step.incidence, step.lower, step.upper) == pytest.approx((f, lo, hi), abs=1e-12), t
    assert steps[0].incidence == 0 and steps[0].lower is None  # nothing yet: no interval


def test_undefined_intervals_are_none() -> None:
    # the last subject at risk has the event: the variance is undefined from there on
    last = aalen_johansen(TIMES, STATUS)[-1]
    assert last.time == 40 and last.at_risk == 1 and last.lower is None and last.upper is None
    everyone = aalen_johansen([1, 2], [1, 1])  # F reaches 1
    assert everyone[-1].incidence == 1 and everyone[-1].lower is None
    assert aalen_johansen([], []) == []
    assert incidence_at(aalen_johansen([5], [1]), 4) is not None  # the step at 0
    with pytest.raises(ValueError, match="non-negative"):
        aalen_johansen([-1], [1])
    with pytest.raises(ValueError, match="differ in length"):
        aalen_johansen([1, 2], [1])


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_lifelines_when_it_does_not_jitter(seed: int) -> None:
    lifelines = pytest.importorskip("lifelines")
    rng = random.Random(seed)
    n = rng.randint(20, 120)
    times, status, used = [], [], {}
    for _ in range(n):
        t, s = float(rng.randint(1, 400)), rng.choice([0, 0, 1, 1, 2])
        if s and used.setdefault(t, s) != s:  # two kinds of events at one time: lifelines would jitter
            s = 0
        times.append(t)
        status.append(s)
    ours = aalen_johansen(times, status)
    fitter = lifelines.AalenJohansenFitter(calculate_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a jitter warning would fail the comparison's premise
        fitter.fit(times, status, event_of_interest=1)
    cif = fitter.cumulative_density_.iloc[:, 0]
    ci = fitter.confidence_interval_cumulative_density_
    assert [s.time for s in ours] == list(cif.index)
    for step, (f, (lo, hi)) in zip(ours, zip(cif, ci.itertuples(index=False), strict=True), strict=True):
        assert step.incidence == pytest.approx(f, abs=1e-12)
        if step.lower is None:
            assert lo != lo or step.incidence in (0, 1)  # NaN in lifelines too (or F at 0 / 1)
        else:
            assert (step.lower, step.upper) == pytest.approx((lo, hi), abs=1e-9)
