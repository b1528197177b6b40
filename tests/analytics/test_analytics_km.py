"""Kaplan-Meier against a hand-computed example.

Data (time, event): (1,E) (2,E) (2,C) (3,E) (4,C) (5,E) (6,C); n = 7.

 t  n_at_risk  d   S(t)                      Greenwood sum d/(n(n-d))
 1  7          1   6/7           = 0.857143  1/42              = 0.0238095
 2  6          1   6/7*5/6       = 0.714286  + 1/30            = 0.0571429
 3  4          1   0.714286*3/4  = 0.535714  + 1/12            = 0.1404762
 5  2          1   0.535714*1/2  = 0.267857  + 1/2             = 0.6404762

log-log CI, z = 1.959964: se = sqrt(G) / |ln S|, limits S ** exp(+-z se)
 t=1: ln S = -0.154151, se = 1.000990, lower = S**7.112865 = 0.334054, upper = S**0.140590 = 0.978561
 t=2: ln S = -0.336472, se = 0.710447, lower = S**4.024701 = 0.258154, upper = S**0.248466 = 0.919797
 t=3: ln S = -0.624154, se = 0.600495, lower = S**3.244459 = 0.131988, upper = S**0.308218 = 0.824997
 t=5: ln S = -1.317301, se = 0.607528, lower = S**3.289492 = 0.013125, upper = S**0.303998 = 0.670013

Median: first S <= 0.5 -> t = 5. Its CI: the lower curve is below 0.5 already at t = 1; the upper
curve never reaches 0.5 (0.670 at the last event) -> (1, not reached).
"""

from __future__ import annotations

import pytest

from fhir_onco.analytics.km import kaplan_meier, reverse_kaplan_meier

TIMES = [1, 2, 2, 3, 4, 5, 6]
EVENTS = [1, 1, 0, 1, 0, 1, 0]


def test_survival_greenwood_and_loglog_limits_match_the_hand_computation() -> None:
    km = kaplan_meier(TIMES, EVENTS)
    steps = {s.time: s for s in km.event_steps}
    assert sorted(steps) == [1, 2, 3, 5]
    expected = {  # t: (S, Greenwood sum, lower, upper)
        1: (0.857143, 0.0238095, 0.334054, 0.978561),
        2: (0.714286, 0.0571429, 0.258154, 0.919797),
        3: (0.535714, 0.1404762, 0.131988, 0.824997),
        5: (0.267857, 0.6404762, 0.013125, 0.670013),
    }
    for t, (s, g, lo, hi) in expected.items():
        assert steps[t].survival == pytest.approx(s, abs=1e-6)
        assert steps[t].greenwood == pytest.approx(g, abs=1e-6)
        assert steps[t].lower == pytest.approx(lo, abs=1e-5)
        assert steps[t].upper == pytest.approx(hi, abs=1e-5)
    assert [s.at_risk for s in km.steps] == [7, 6, 4, 3, 2, 1]
    assert (km.n, km.events) == (7, 4)


def test_median_and_its_brookmeyer_crowley_interval() -> None:
    km = kaplan_meier(TIMES, EVENTS)
    assert km.median == 5
    assert km.median_ci == (1, None)  # upper limit not reached


def test_survival_at_a_landmark_takes_the_last_step_before_it() -> None:
    km = kaplan_meier(TIMES, EVENTS)
    s, lo, hi = km.survival_at(4.5)
    assert (s, lo, hi) == pytest.approx((0.535714, 0.131988, 0.824997), abs=1e-5)
    assert km.survival_at(0.5) == (1.0, 1.0, 1.0)


def test_median_on_a_flat_half_is_the_midpoint_of_the_stretch() -> None:
    # S = 0.75, 0.5, 0.25, 0 at t = 1..4: S is exactly 0.5 on [2, 3) -> median 2.5 (R's convention)
    km = kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1])
    assert km.median == 2.5
    assert km.event_steps[-1].lower is None  # S = 0: no interval


def test_not_reached_and_no_events() -> None:
    assert kaplan_meier([1, 2, 3], [1, 0, 0]).median is None  # S stays at 2/3
    km = kaplan_meier([5, 6], [0, 0])
    assert km.median is None and km.events == 0


def test_reverse_km_counts_censoring_as_the_event() -> None:
    # follow-up: censored at 4 and 6 are the 'events'; the deaths at 1, 2, 3, 5 are censorings
    fu = reverse_kaplan_meier(TIMES, EVENTS)
    assert fu.events == 3 and fu.median == 6


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        kaplan_meier([1, 2], [1])
    with pytest.raises(ValueError):
        kaplan_meier([-1], [1])
