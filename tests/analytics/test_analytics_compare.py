"""report --by / --where: group columns, the named test and its p-value; censoring at last contact;
our Kaplan-Meier cross-checked against lifelines on the same data."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_onco.analytics import compare
from fhir_onco.analytics.flatten import flatten_all
from fhir_onco.analytics.km import kaplan_meier
from fhir_onco.analytics.reader import ResourceStore
from fhir_onco.analytics.report import REPORT_TABLES, cohort_report
from fhir_onco.cli.app import app

from .inline_cohort import bundles

pytest.importorskip("scipy")
pytest.importorskip("lifelines")


def _case(pid: str, sex: str, intensity: str, start: str, death: str | None = None,
          last_contact: str | None = None) -> dict[str, Any]:
    patient: dict[str, Any] = {"identifiers": [{"system": "urn:test:compare", "value": pid}], "sex": sex,
                               "birth_date": "1980-01-01"}
    if death:
        patient["death"] = {"date": death, "cause": "progression"}
    if last_contact:
        patient["last_contact"], patient["vital_status"] = last_contact, "alive"
    return {
        "patient": patient,
        "diagnoses": [{"id": "aml", "condition": "AML", "onset": "2019-12"}],
        "regimens": [{"id": "cond", "name": "FluBu", "category": "conditioning", "intensity": intensity,
                      "start": "2020-01-01", "drugs": [{"drug": "fludarabine"}, {"drug": "busulfan"}]},
                     {"id": "ind", "name": "7+3", "category": "induction", "start": start,
                      "drugs": [{"drug": "cytarabine"}]}],
    }


def _tables(cases: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return flatten_all(ResourceStore().extend(bundles(cases)), names=REPORT_TABLES)


# Five MAC patients all male, five RIC all female: Fisher's exact two-sided p = 2 / C(10,5) = 2/252.
COHORT = [_case(f"m{i}", "male", "MAC", "2020-02-01") for i in range(5)] + \
         [_case(f"r{i}", "female", "RIC", "2020-02-01") for i in range(5)]


def test_group_columns_total_and_fisher_p_value() -> None:
    report, groups = compare.grouped_report(_tables(COHORT), "intensity")
    assert groups == ["mac", "ric"]
    base = {(r["section"], r["item"]): r for r in report.table("baseline").rows}
    male = base[("Sex", "male")]
    assert (male["n_mac"], male["n_ric"], male["n_total"]) == (
        5, 0, 5)
    assert male["n_mac_percent"] == 100.0 and male["n_total_percent"] == 50.0
    assert male["test"] == "Fisher exact"
    assert male["p_value"] == pytest.approx(2 / 252, abs=1e-4)
    assert base[("Patients", "total")]["p_value"] is None  # nothing to test on the totals row


def test_three_groups_use_chi_square_and_kruskal_wallis() -> None:
    cases = [_case(f"g{g}{i}", "male" if i < g else "female", intensity, "2020-02-01")
             for g, intensity in enumerate(("MAC", "RIC", "NMA")) for i in range(4)]
    for g, c in enumerate(cases):  # ages differ between the groups
        c["patient"]["birth_date"] = f"{1950 + 10 * (g // 4) + g % 4}-01-01"
    report, groups = compare.grouped_report(_tables(cases), "intensity")
    assert len(groups) == 3
    base = {(r["section"], r["item"]): r for r in report.table("baseline").rows}
    from scipy import stats

    assert base[("Sex", "male")]["test"] == "chi-square"
    expected = stats.chi2_contingency([[0, 4], [1, 3], [2, 2]]).pvalue
    assert base[("Sex", "male")]["p_value"] == pytest.approx(expected, abs=1e-4)
    age = base[("Age at index, years", "median (range)")]
    assert age["test"] == "Kruskal-Wallis" and age["p_value"] < 0.05


def test_survival_by_group_is_tested_by_log_rank() -> None:
    cases = [_case(f"d{i}", "male", "MAC", "2020-02-01", death=f"2020-{3 + i:02d}-01") for i in range(5)]
    cases += [_case(f"a{i}", "male", "RIC", "2020-02-01", last_contact=f"2021-{3 + i:02d}-01") for i in range(5)]
    report, _ = compare.grouped_report(_tables(cases), "intensity")
    os_row = next(r for r in report.table("survival").rows if r["endpoint"] == "OS")
    assert os_row["test"] == "log-rank" and os_row["p_value"] < 0.01
    assert os_row["value_mac"].endswith("5/5 events")
    assert os_row["value_ric"] == "median not reached; 0/5 events"


def test_living_are_censored_at_their_last_contact() -> None:
    tables = _tables([_case("x", "male", "MAC", "2020-02-01", last_contact="2022-02-01")])
    report = cohort_report(tables)
    months = report.table("survival").samples["OS"]
    assert months == [(pytest.approx(731 / (365.25 / 12)), False)]  # 2020-02-01 -> 2022-02-01
    assert any("stated last contact: 1" in n for n in report.table("survival").notes)


def test_where_keeps_only_matching_patients_by_key_or_display() -> None:
    tables = _tables(COHORT)
    assert len(compare.where(tables, ["intensity=RIC"])["patients"]) == 5
    display = tables["diagnoses"][0]["condition_display"]  # matched by display as well as by key
    assert display != tables["diagnoses"][0]["condition"]
    assert len(compare.where(tables, [f"condition={display.upper()}"])["patients"]) == 10
    assert len(compare.where(tables, ["intensity!=RIC", "sex=male"])["patients"]) == 5
    assert compare.where(tables, ["sex=female", "intensity=MAC"])["patients"] == []


def test_field_errors_name_the_field() -> None:
    with pytest.raises(compare.FieldError, match="nope: no table has this column"):
        compare.resolve_field("nope")
    with pytest.raises(compare.FieldError, match="several tables have it"):
        compare.resolve_field("date")
    assert compare.resolve_field("hsct.donor_match") == ("hsct", "donor_match")


def test_cli_by_and_where(tmp_path: Any) -> None:
    import json

    src = tmp_path / "in"
    src.mkdir()
    for i, b in enumerate(bundles(COHORT)):
        (src / f"p{i}.json").write_text(json.dumps(b), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--input", str(src), "--by", "intensity", "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["tables"]["baseline"]["rows"]
    assert next(r for r in rows if r["item"] == "male")["test"] == "Fisher exact"
    result = runner.invoke(app, ["report", "--input", str(src), "--where", "sex=female", "-f", "json"])
    assert json.loads(result.stdout)["n_patients"] == 5
    bad = runner.invoke(app, ["report", "--input", str(src), "--by", "nope"])
    assert bad.exit_code == 2 and "nope: no table has this column" in bad.output


# ---- our Kaplan-Meier against lifelines ---------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_kaplan_meier_agrees_with_lifelines(seed: int) -> None:
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    rng = random.Random(seed)
    n = rng.randint(8, 60)
    times = [float(rng.randint(1, 40)) for _ in range(n)]  # integer months: many ties
    events = [rng.random() < 0.6 for _ in range(n)]
    ours = kaplan_meier(times, events)
    kmf = KaplanMeierFitter().fit(times, events, alpha=0.05)
    sf = kmf.survival_function_["KM_estimate"]
    ci = kmf.confidence_interval_survival_function_
    for step in ours.event_steps:
        assert step.survival == pytest.approx(sf.loc[step.time], abs=1e-9)
        lo, hi = ci.loc[step.time]
        if step.lower is not None and not math.isnan(lo):
            assert step.lower == pytest.approx(lo, abs=1e-6)
            assert step.upper == pytest.approx(hi, abs=1e-6)
    theirs = kmf.median_survival_time_
    if math.isinf(theirs):
        assert ours.median is None
    else:
        assert ours.median == pytest.approx(theirs)
    # median CI: lifelines reads it off the same pointwise log-log band (Brookmeyer-Crowley style).
    # One documented difference: where S drops to 0 the log-log band is undefined; we leave it
    # undefined (as R's survival does), lifelines sets it to [0, 0] - compare the band before that.
    if ours.event_steps[-1].survival == 0.0:
        assert ours.event_steps[-1].lower is None
        ci = ci.iloc[:-1]
    band = median_survival_times(ci)
    lo, hi = (float(x) for x in band.iloc[0])
    ours_lo, ours_hi = ours.median_ci
    assert (ours_lo if ours_lo is not None else math.inf) == pytest.approx(lo)
    assert (ours_hi if ours_hi is not None else math.inf) == pytest.approx(hi)
