"""Gray's K-sample test for equality of cumulative incidence functions (Gray 1988).

R. J. Gray, "A class of K-sample tests for comparing the cumulative incidence of a competing risk",
Annals of Statistics 16 (1988) 1141-1154, doi:10.1214/aos/1176350951: the test that R
``cmprsk::cuminc`` reports as ``Tests``. Neither scipy nor lifelines offers it, so it is written
here from the paper's score and covariance, with the same discrete-time estimates as cmprsk (tie
corrections, pooled incidence), and checked against cmprsk (tests/analytics/test_analytics_gray.py).

Data: per subject a time, a status (``censored``, ``cause`` = the event of interest, any other
value = a competing event) and a group. At each time t with an event, per group r: Y_r at risk,
S_r the Kaplan-Meier probability of no event of any kind (S_r- just before t), F_r- the
Aalen-Johansen cumulative incidence of the cause just before t, d1_r and d2_r the cause and the
competing events at t, d1 = sum d1_r. Then

* h_r = Y_r / S_r-, H = sum h_r;  R_r = h_r (1 - F_r-), R = sum R_r (subdistribution "at risk");
* pooled incidence F0 (F0 += d1 / H) and weight K = (1 - F0-)^rho (rho = 0: K = 1, cmprsk's default);
* score of group k: z_k = sum_t K (d1_k - d1 R_k / R) (the scores sum to zero);
* under the null hypothesis (one subdistribution hazard) the scores are sums over the groups r of
  integrals against group r's cause-specific martingales; their covariance is estimated by

      V_kl = sum_r sum_t [ u_kr u_lr w1_r + v_kr v_lr w2_r ],
      u_kr = a_kr + (1 - (1 - F0) / S_r) C_kr,   v_kr = (1 - F0) / S_r * C_kr   (F0, S_r just after t),
      a_kr = K h_k (delta_kr - h_r / H),   C_kr(t) = sum over event times s > t of a_kr(s) d1(s) / (H (1 - F0-))(s),
      w1_r = S_r- d1 / (H Y_r) * (1 - (d1 - 1) / (H S_r- - 1)),
      w2_r = (S_r- / Y_r)^2 d2_r * (1 - (d2_r - 1) / (Y_r - 1))   (the last factors: tied events).

The statistic is z' V^-1 z over the first K - 1 groups, chi-square with K - 1 degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GrayTest:
    statistic: float
    p_value: float
    df: int
    groups: tuple[Hashable, ...]
    scores: tuple[float, ...]  # z_k of each group, in `groups` order (they sum to zero)


class GrayTestError(ValueError):
    """Input the test cannot use (lengths differ, fewer than two groups, a negative time)."""


@dataclass
class _Step:
    """One event time: what the covariance needs, per group r."""

    y: list[float]  # at risk
    s_before: list[float]
    s_after: list[float]
    pooled_before: float
    pooled_after: float
    h_total: float
    d1: list[int]
    d2: list[int]
    a: list[list[float]]  # a[k][r]


def gray_test(times: Sequence[float], status: Sequence[int], groups: Sequence[Hashable], *,
              cause: int = 1, censored: int = 0, rho: float = 0.0) -> GrayTest:
    """Gray's test that the cumulative incidence of `cause` is the same in every group.

    Groups are ordered by their sorted string form (the statistic does not depend on the order).
    A group without any cause event takes part (its incidence is zero).
    """
    n = len(times)
    if not (len(status) == len(groups) == n):
        raise GrayTestError("times, status and groups differ in length")
    if any(not math.isfinite(t) or t < 0 for t in times):
        raise GrayTestError("times must be finite non-negative numbers")
    labels = tuple(sorted(set(groups), key=str))
    k = len(labels)
    if k < 2:
        raise GrayTestError("Gray's test needs at least two groups")
    index = {g: i for i, g in enumerate(labels)}

    # per distinct time and group: cause events, competing events, censorings
    by_time: dict[float, tuple[list[int], list[int], list[int]]] = {}
    at_risk = [0.0] * k
    for t, s, g in zip(times, status, groups, strict=True):
        r = index[g]
        at_risk[r] += 1
        cell = by_time.setdefault(float(t), ([0] * k, [0] * k, [0] * k))
        cell[0 if s == cause else 2 if s == censored else 1][r] += 1

    surv = [1.0] * k  # S_r just before the current time
    cif = [0.0] * k  # F_r just before
    pooled = 0.0  # F0 just before
    z = [0.0] * k
    steps: list[_Step] = []
    for t in sorted(by_time):
        d1, d2, cens = by_time[t]
        if any(d1) or any(d2):
            live = [r for r in range(k) if at_risk[r] > 0]
            h = [at_risk[r] / surv[r] if r in live else 0.0 for r in range(k)]
            rr = [h[r] * (1 - cif[r]) for r in range(k)]
            h_total, r_total, total_d1 = sum(h), sum(rr), sum(d1)
            weight = (1 - pooled) ** rho if rho else 1.0
            for r in live:
                z[r] += weight * (d1[r] - total_d1 * rr[r] / r_total)
            a = [[weight * h[kk] * ((kk == r) - h[r] / h_total) if kk in live and r in live else 0.0
                  for r in range(k)] for kk in range(k)]
            after = surv[:]
            for r in live:
                cif[r] += surv[r] * d1[r] / at_risk[r]
                after[r] = surv[r] * (at_risk[r] - d1[r] - d2[r]) / at_risk[r]
            steps.append(_Step(at_risk[:], surv[:], after, pooled, pooled + total_d1 / h_total, h_total,
                               d1, d2, a))
            pooled += total_d1 / h_total
            surv = after
        for r in range(k):
            at_risk[r] -= d1[r] + d2[r] + cens[r]

    m = k - 1
    v = [[0.0] * m for _ in range(m)]
    later = [[0.0] * k for _ in range(m)]  # C[k][r]: the sum over event times after the current one
    for st in reversed(steps):
        nd1 = sum(st.d1)
        for r in range(k):
            if st.y[r] <= 0:
                continue
            s_after, s_before = st.s_after[r], st.s_before[r]
            if nd1:
                t4 = 1 - (1 - st.pooled_after) / s_after if s_after > 0 else 1.0
                ties = 1 - (nd1 - 1) / (st.h_total * s_before - 1) if nd1 > 1 else 1.0
                w1 = ties * s_before * nd1 / (st.h_total * st.y[r])
                u = [st.a[i][r] + t4 * later[i][r] for i in range(m)]
                _add_outer(v, u, w1)
            if st.d2[r] and s_after > 0:
                t4 = (1 - st.pooled_after) / s_after
                ties = 1 - (st.d2[r] - 1) / (st.y[r] - 1) if st.d2[r] > 1 else 1.0
                w2 = ties * (s_before / st.y[r]) ** 2 * st.d2[r]
                _add_outer(v, [t4 * later[i][r] for i in range(m)], w2)
        if nd1 and st.pooled_before < 1:
            step = nd1 / (st.h_total * (1 - st.pooled_before))
            for i in range(m):
                for r in range(k):
                    later[i][r] += st.a[i][r] * step
    stat = _quadratic_form(z[:m], v)
    return GrayTest(stat, _chi2_sf(stat, m), m, labels, tuple(z))


def _add_outer(v: list[list[float]], u: list[float], w: float) -> None:
    for i, ui in enumerate(u):
        for j, uj in enumerate(u):
            v[i][j] += ui * uj * w


def _quadratic_form(z: list[float], v: list[list[float]]) -> float:
    """z' V^-1 z by Gaussian elimination with partial pivoting (V is small: groups - 1)."""
    m = len(z)
    aug = [[*row, z[i]] for i, row in enumerate(v)]
    for col in range(m):
        pivot = max(range(col, m), key=lambda i: abs(aug[i][col]))
        if abs(aug[pivot][col]) < 1e-12:
            return math.nan  # singular: a group without information
        aug[col], aug[pivot] = aug[pivot], aug[col]
        for i in range(col + 1, m):
            f = aug[i][col] / aug[col][col]
            for j in range(col, m + 1):
                aug[i][j] -= f * aug[col][j]
    x = [0.0] * m
    for i in reversed(range(m)):
        x[i] = (aug[i][m] - sum(aug[i][j] * x[j] for j in range(i + 1, m))) / aug[i][i]
    return sum(zi * xi for zi, xi in zip(z, x, strict=True))


def _chi2_sf(x: float, df: int) -> float:
    """Upper tail of the chi-square distribution (regularised incomplete gamma Q(df/2, x/2))."""
    if math.isnan(x):
        return math.nan
    if x <= 0:
        return 1.0
    a, xx = df / 2, x / 2
    if xx < a + 1:  # series for P
        term = total = 1 / a
        n = a
        while abs(term) > abs(total) * 1e-16:
            n += 1
            term *= xx / n
            total += term
        return max(0.0, 1 - total * math.exp(-xx + a * math.log(xx) - math.lgamma(a)))
    # continued fraction for Q (Lentz)
    tiny = 1e-300
    b = xx + 1 - a
    cc, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        cc = b + an / cc
        cc = tiny if abs(cc) < tiny else cc
        d = 1 / d
        delta = d * cc
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return h * math.exp(-xx + a * math.log(xx) - math.lgamma(a))
