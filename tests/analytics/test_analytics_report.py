"""Cohort report counts on bundles mapped from the inline cohort in conftest.py (FHIR only)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fhir_onco.analytics.reader import ResourceStore, read_input
from fhir_onco.analytics.report import CohortReport, cohort_report

from .inline_cohort import COHORT, bundles, patient


def rows(report: CohortReport, table: str, key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in report.table(table).rows}


@pytest.fixture
def report(cohort_store: ResourceStore) -> CohortReport:
    return cohort_report(cohort_store, age_bands=[65, 75])


def test_best_response_distribution_and_orr(report: CohortReport) -> None:
    br = rows(report, "best_response", "response")
    counts = {k: r["n"] for k, r in br.items()}
    assert counts == {"ORR": 2, "cr": 1, "vgpr": 1, "pd": 1, "not-evaluable": 1, "evaluated": 3,
                      "not recorded": 1}
    assert br["ORR"]["percent"] == 40.0
    # the table is in response order: ORR first, then best to worst
    assert [r["response"] for r in report.table("best_response").rows][:5] == ["ORR", "cr", "vgpr", "pd",
                                                                               "not-evaluable"]


def test_adverse_events_by_term_and_grade_threshold(report: CohortReport) -> None:
    ae = rows(report, "adverse_events", "term")
    neutro = ae["neutrophil count decreased"]
    # p1 had grade 3 then 4 (counted once, at 4); p2 grade 2
    assert (neutro["any_grade"], neutro["grade_ge_2"], neutro["grade_ge_3"], neutro["grade_ge_4"],
            neutro["grade_5"]) == (2, 2, 1, 1, 0)
    uri = ae["upper respiratory infection"]
    assert (uri["any_grade"], uri["grade_ge_2"], uri["ungraded"]) == (2, 1, 1)
    assert ae["lung infection"]["grade_ge_3"] == 1  # "pneumonia" as written in the case
    assert ae["anemia"]["grade_ge_3_percent"] == 20.0
    assert set(ae) == {"neutrophil count decreased", "upper respiratory infection", "lung infection", "anemia",
                       "infusion related reaction"}


def test_deaths_by_cause(report: CohortReport) -> None:
    deaths = rows(report, "deaths", "cause")
    assert {k: r["n"] for k, r in deaths.items()} == {"all": 3, "progression": 1, "covid-19": 1,
                                                      "not recorded": 1}
    assert deaths["all"]["percent_of_patients"] == 60.0
    assert deaths["progression"]["percent_of_deaths"] == 33.3


def test_baseline_sex_age_stage_and_prior_therapy(report: CohortReport) -> None:
    base = {(r["section"], r["item"]): r for r in report.table("baseline").rows}
    assert base[("Sex", "female")]["n"] == 3 and base[("Sex", "male")]["n"] == 2
    # ages at the IsaPd start: p1 64 (born 1955-06-15, index 2020-01-01), p2 70, p3 70, p4 57, p5 72
    assert base[("Age at index, years", "median (range)")]["value"] == "70 (57-72)"
    assert [base[("Age at index, years", b)]["n"] for b in ("<65", "65-75", ">75")] == [2, 3, 0]
    iss = {item: r["n"] for (section, item), r in base.items() if "International Staging" in section}
    assert sorted(iss.values()) == [1, 1, 1, 2] and iss["not recorded"] == 1
    prior = {item: r["n"] for (section, item), r in base.items() if section.startswith("Prior therapy")}
    assert prior["bortezomib"] == 1 and prior["lenalidomide"] == 1 and prior["autologous HSCT"] == 1
    assert "isatuximab" not in prior  # the index regimen itself is not prior therapy
    risk = {item: r["n"] for (section, item), r in base.items() if section.startswith("Cytogenetic risk")}
    assert risk == {"high": 1, "standard": 1, "not recorded": 3}


def test_paraprotein_and_stated_prior_lines_from_disease_characteristic_observations() -> None:
    cases = copy.deepcopy(COHORT)
    cases[0]["diagnoses"][0] |= {"paraprotein": "IgG", "prior_lines": 4}  # one prior regimen (VRd) in the case
    cases[1]["diagnoses"][0] |= {"paraprotein": "парапротеин IgG", "prior_lines": 0}
    cases[2]["diagnoses"][0] |= {"paraprotein": "Bence-Jones"}
    report = cohort_report(ResourceStore().extend(bundles(cases)))
    base = {(r["section"], r["item"]): r for r in report.table("baseline").rows}
    para = {item: r["n"] for (section, item), r in base.items() if section == "Paraprotein type"}
    # grouped by code, not by the text as written; the others have no paraprotein Observation
    assert para == {"IgG paraprotein": 2, "Light chain only (Bence Jones)": 1, "not recorded": 2}
    # p1 states 4 (its regimens show 1): the stated number wins; p2 states 0; p3-p5 counted: 0
    assert base[("Prior therapy (before index)", "lines, median (range)")]["value"] == "0 (0-4)"
    assert "prior lines: stated (prior-lines Observation) for 2 patient(s), counted from the regimens before " \
           "the index date for 3" in report.table("baseline").notes
    assert not [k for k in base if k[0] in ("Number of prior lines of therapy",)]  # not repeated as 'other'


def test_prior_lines_are_counted_from_regimens_without_the_observation(report: CohortReport) -> None:
    base = {(r["section"], r["item"]): r for r in report.table("baseline").rows}
    assert base[("Prior therapy (before index)", "lines, median (range)")]["value"] == "0 (0-1)"  # p1's VRd
    assert not any(n.startswith("prior lines: stated") for n in report.table("baseline").notes)
    assert not [k for k in base if k[0] == "Paraprotein type"]


def test_kaplan_meier_os_and_pfs_from_fhir_dates(report: CohortReport) -> None:
    """Months = days / 30.4375 from each IsaPd start.

    OS:  p4 death 1.51 E, p5 last date 6.01 C, p3 death 6.05 E, p2 last date 12.02 C, p1 death 16.99 E
         -> S = 0.8, 0.533, 0: median 16.99 (17.0), S(12 m) = 53.3 %.
    PFS: p4 death 1.51 E, p3 PD 2.00 E, p5 6.01 C, p1 PD 12.02 E / p2 12.02 C (tie)
         -> S = 0.8, 0.6, 0.3: median 12.0, S(12 m) = 60 %.
    """
    surv = rows(report, "survival", "endpoint")
    os_, pfs = surv["OS"], surv["PFS"]
    assert (os_["n"], os_["events"], os_["censored"]) == (5, 3, 2)
    assert os_["median_months"] == 17.0 and os_["at_12m_percent"] == 53.3
    assert (pfs["n"], pfs["events"]) == (5, 3)
    assert pfs["median_months"] == 12.0 and pfs["at_12m_percent"] == 60.0
    assert pfs["ci_lower"] == 1.5 and pfs["ci_upper"] is None  # upper limit not reached


def test_survival_leaves_out_patients_without_dates() -> None:
    undated = {"patient": patient("x", "male"), "diagnoses": [{"condition": "multiple myeloma"}]}
    report = cohort_report(ResourceStore().extend(bundles([undated])))
    surv = rows(report, "survival", "endpoint")
    assert surv["OS"]["n"] == 0 and surv["OS"]["excluded"] == 1
    assert surv["OS"]["median_months"] is None


def test_index_rule_changes_the_cohort_entry(cohort_store: ResourceStore) -> None:
    by_diagnosis = cohort_report(cohort_store, index="diagnosis")
    base = {(r["section"], r["item"]): r for r in by_diagnosis.table("baseline").rows}
    # diagnosis onset 2017-03 (counted as 2017-03-16): p1 61, p2 67, p3 67, p4 54, p5 69
    assert base[("Age at index, years", "median (range)")]["value"] == "67 (54-69)"
    with pytest.raises(ValueError):
        cohort_report(cohort_store, index="nonsense")


def test_outputs_text_csv_json(report: CohortReport, tmp_path: Path) -> None:
    text = report.to_text()
    assert "Best response" in text and "2 (40.0%)" in text
    data = json.loads(report.to_json())
    assert data["n_patients"] == 5 and set(data["tables"]) == {"baseline", "best_response", "adverse_events",
                                                               "deaths", "survival"}
    paths = report.write_csv(tmp_path / "csv")
    assert sorted(p.name for p in paths) == ["adverse_events.csv", "baseline.csv", "best_response.csv",
                                             "deaths.csv", "survival.csv"]
    header = (tmp_path / "csv" / "deaths.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "cause,label,n,percent_of_patients,percent_of_deaths"


def test_reader_takes_bundles_and_ndjson_from_a_directory(cohort_bundles: list[dict[str, Any]],
                                                         tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(cohort_bundles[0]), encoding="utf-8")
    with (tmp_path / "Observation.ndjson").open("w", encoding="utf-8") as handle, \
            (tmp_path / "Patient.ndjson").open("w", encoding="utf-8") as patients:
        for b in cohort_bundles[1:]:
            for e in b["entry"]:
                out = patients if e["resource"]["resourceType"] == "Patient" else handle
                out.write(json.dumps(e["resource"]) + "\n")
    store = read_input(tmp_path)
    assert len(store.patients()) == 5
    report = cohort_report(store)
    # patients 2-5 came without their regimens: their deaths still count, their survival has no index
    assert rows(report, "deaths", "cause")["all"]["n"] == 3


def test_reader_reports_the_file_and_line_of_bad_ndjson(tmp_path: Path) -> None:
    from fhir_onco.analytics.reader import InputError

    (tmp_path / "x.ndjson").write_text('{"resourceType": "Patient", "id": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"x\.ndjson:2"):
        read_input(tmp_path)


def test_directory_is_flattened_file_by_file_without_double_counting(cohort_bundles: list[dict[str, Any]],
                                                                     tmp_path: Path) -> None:
    from fhir_onco.analytics.cases import read_cases
    from fhir_onco.analytics.flatten import flatten_cases
    from fhir_onco.analytics.reader import iter_input, iter_patients
    from fhir_onco.analytics.report import REPORT_TABLES

    for i, b in enumerate(cohort_bundles):
        (tmp_path / f"p{i}.json").write_text(json.dumps(b), encoding="utf-8")
    (tmp_path / "copy-of-p0.json").write_text(json.dumps(cohort_bundles[0]), encoding="utf-8")
    tables = flatten_cases((rc for store in iter_patients(iter_input(tmp_path)) for rc in read_cases(store)),
                           REPORT_TABLES)
    assert len(tables["patients"]) == 5
    streamed = cohort_report(tables)
    whole = cohort_report(read_input(tmp_path))
    assert streamed.to_dict() == whole.to_dict()
