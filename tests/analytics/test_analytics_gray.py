"""Gray's K-sample test (fhir_onco.analytics.gray) against R cmprsk::cuminc.

Reference values were produced with R 4.2.2 and cmprsk 2.2-11 (Debian r-cran-cmprsk) on the data
below (`cuminc(t, s, g, rho=...)$Tests`); the live cross-check re-runs cmprsk on more data sets and
skips only when Rscript or cmprsk is not installed.
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from fhir_onco.analytics.gray import GrayTestError, gray_test

# 20 transplant patients, days to relapse (1) or non-relapse death (2), 0 = censored; ties on purpose.
SMALL_T = [2, 3, 3, 5, 7, 8, 8, 10, 12, 15, 1, 2, 4, 4, 6, 9, 11, 11, 13, 20]
SMALL_S = [1, 2, 1, 0, 1, 1, 2, 0, 1, 0, 2, 1, 1, 0, 2, 2, 1, 0, 0, 2]
SMALL_G = ["MAC"] * 10 + ["RIC"] * 10


def _data(seed: int, n: int, k: int, statuses: tuple[int, ...], resolution: float) -> tuple[list, list, list]:
    rnd = random.Random(seed)
    t = [round(rnd.expovariate(1) * resolution) / resolution for _ in range(n)]
    s = [rnd.choice(statuses) for _ in range(n)]
    g = ["abcd"[rnd.randrange(k)] for _ in range(n)]
    return t, s, g


def test_small_cohort_matches_cmprsk() -> None:
    relapse = gray_test(SMALL_T, SMALL_S, SMALL_G)
    assert relapse.statistic == pytest.approx(0.841247197233, rel=1e-9)
    assert relapse.p_value == pytest.approx(0.359040315276, rel=1e-9)
    assert relapse.df == 1 and relapse.groups == ("MAC", "RIC")
    assert sum(relapse.scores) == pytest.approx(0, abs=1e-12)
    nrm = gray_test(SMALL_T, SMALL_S, SMALL_G, cause=2)  # the competing event as the event of interest
    assert nrm.statistic == pytest.approx(0.249989009037, rel=1e-9)
    assert nrm.p_value == pytest.approx(0.617082816633, rel=1e-9)


@pytest.mark.parametrize(("args", "rho", "statistic", "p_value"), [
    ((20, 40, 2, (0, 1, 1, 2), 100), 0, 0.290288640934, 0.590035621752),
    ((21, 90, 3, (0, 1, 2, 2, 3), 4), 0, 2.02125354195, 0.363990769212),  # 3 groups, two competing causes, ties
    ((22, 60, 2, (0, 1, 2), 1), 1, 0.787278764816, 0.374924237667),  # rho = 1, heavy ties
])
def test_random_data_matches_cmprsk(args: tuple, rho: float, statistic: float, p_value: float) -> None:
    result = gray_test(*_data(*args), rho=rho)
    assert result.statistic == pytest.approx(statistic, rel=1e-9)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)
    assert result.df == args[2] - 1


def test_group_labels_and_order_do_not_matter() -> None:
    t, s, g = _data(21, 90, 3, (0, 1, 2, 2, 3), 4)
    base = gray_test(t, s, g).statistic
    renamed = {"a": "z", "b": "y", "c": "x"}
    order = sorted(range(len(t)), key=lambda i: -t[i])
    assert gray_test([t[i] for i in order], [s[i] for i in order], [renamed[g[i]] for i in order]).statistic \
        == pytest.approx(base, rel=1e-12)


def test_identical_groups_give_no_difference() -> None:
    t = [1, 2, 3, 4, 5, 6] * 2
    s = [1, 2, 0, 1, 2, 1] * 2
    result = gray_test(t, s, ["a"] * 6 + ["b"] * 6)
    assert result.statistic == pytest.approx(0, abs=1e-12) and result.p_value == pytest.approx(1)


def test_p_value_is_the_chi_square_tail() -> None:
    stats = pytest.importorskip("scipy.stats")
    t, s, g = _data(21, 90, 3, (0, 1, 2, 2, 3), 4)
    result = gray_test(t, s, g)
    assert result.p_value == pytest.approx(stats.chi2.sf(result.statistic, 2), rel=1e-12)


@pytest.mark.parametrize("bad", [
    dict(times=[1, 2], status=[1], groups=["a", "b"]),
    dict(times=[1, 2], status=[1, 1], groups=["a", "a"]),
    dict(times=[-1, 2], status=[1, 1], groups=["a", "b"]),
    dict(times=[math.nan, 2], status=[1, 1], groups=["a", "b"]),
])
def test_bad_input_is_refused(bad: dict) -> None:
    with pytest.raises(GrayTestError):
        gray_test(**bad)


def _cmprsk_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(cmprsk)"], capture_output=True, timeout=60)
    return probe.returncode == 0


@pytest.mark.skipif(not _cmprsk_available(), reason="R with cmprsk not installed (apt-get install r-cran-cmprsk)")
def test_live_cross_check_with_cmprsk(tmp_path: Path) -> None:
    cases = [((seed, n, k, statuses, resolution), rho)
             for seed, n, k, statuses, resolution, rho in [
                 (30, 25, 2, (0, 1, 2), 1, 0), (31, 120, 4, (0, 1, 1, 2), 10, 0), (32, 70, 3, (1, 2, 3), 1000, 0.5),
                 (33, 50, 2, (0, 0, 1, 2), 2, 2), (34, 200, 2, (0, 1, 2), 1e6, 0)]]
    script = ["suppressMessages(library(cmprsk))"]
    expected = []
    for i, (args, rho) in enumerate(cases):
        t, s, g = _data(*args)
        path = tmp_path / f"d{i}.csv"
        path.write_text("t,s,g\n" + "".join(f"{a!r},{b},{c}\n" for a, b, c in zip(t, s, g, strict=True)))
        script.append(f"d <- read.csv('{path}'); x <- cuminc(d$t, d$s, d$g, rho={rho}); "
                      "cat(sprintf('%.15g %.15g\\n', x$Tests[1,1], x$Tests[1,2]))")
        expected.append(gray_test(t, s, g, rho=rho))
    out = subprocess.run(["Rscript", "-e", "\n".join(script)], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.split("\n")
    for ours, line in zip(expected, lines, strict=False):
        stat, p = (float(x) for x in line.split())
        assert ours.statistic == pytest.approx(stat, rel=1e-9)
        assert ours.p_value == pytest.approx(p, rel=1e-9)
    assert len([x for x in lines if x]) == len(cases)
