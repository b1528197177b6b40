"""Transplant tables (EBMT/CIBMTR style) from the read-back cases, on a hand-made cohort whose every
figure is worked out in the comments."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_onco.analytics.flatten import flatten_all
from fhir_onco.analytics.reader import ResourceStore
from fhir_onco.analytics.report import REPORT_TABLES, cohort_report
from fhir_onco.analytics.transplant import GRFS

from .inline_cohort import bundles

HSCT_DAY = "2020-01-10"


def _case(pid: str, *, engraft: int | None, death: tuple[str, str] | None = None, last: str | None = None,
          aes: list[dict[str, Any]] = (), relapse: tuple[str, str] | None = None, cd34: float = 5.0,
          intensity: str = "RIC", gvhd: list[dict[str, Any]] = (), graft_failure: dict[str, Any] | None = None,
          hla_loss: bool | None = None) -> dict[str, Any]:
    patient: dict[str, Any] = {"identifiers": [{"system": "urn:test:hsct", "value": pid}], "sex": "male",
                               "birth_date": "1990-01-01"}
    if death:
        patient["death"] = {"date": death[0], "cause": death[1]}
    if last:
        patient["last_contact"], patient["vital_status"] = last, "alive"
    dx: dict[str, Any] = {"id": "aml", "condition": "AML", "onset": "2019-09"}
    if relapse:
        dx["relapses"] = [{"number": 1, "date": relapse[0], "sites": ["bone marrow"], "note": relapse[1]}]
        if hla_loss is not None:
            dx["relapses"][0]["hla_loss"] = hla_loss
    hsct: dict[str, Any] = {
        "id": "allo", "type": "allogeneic", "date": HSCT_DAY, "donor": {"match": "haploidentical", "hla_match": "5/10"},
        "graft_source": "PBSC", "conditioning": ["cond"], "gvhd_prophylaxis": ["ptcy"],
        "cell_doses": [{"kind": "cd34", "value": cd34}],
        "engraftment": [{"kind": "neutrophil", "day": engraft}] if engraft is not None else [],
        "gvhd": list(gvhd)}
    if graft_failure:
        hsct["graft_failure"] = graft_failure
    return {
        "patient": patient,
        "diagnoses": [dx],
        "regimens": [{"id": "cond", "name": "FluBu", "category": "conditioning", "intensity": intensity,
                      "start": "2020-01-04", "end": "2020-01-08",
                      "drugs": [{"drug": "fludarabine"}, {"drug": "busulfan"}]},
                     {"id": "ptcy", "name": "PTCy", "category": "GVHD prophylaxis", "start": "2020-01-13",
                      "drugs": [{"drug": "cyclophosphamide"}]}],
        "hsct": [hsct],
        "adverse_events": list(aes),
    }


# p1: engrafted d12, acute GVHD MAGIC grade III at D+30, alive at D+400.
# p2: engrafted d15, acute GVHD CTCAE grade 2 at D+40, relapse D+200 with HLA loss, died D+300 (progression).
# p3: engrafted d20, chronic GVHD at D+45, died D+50 without relapse (infection): NRM by day +100.
# p4: no neutrophil engraftment recorded, alive at D+400: graft failure.
COHORT = [
    _case("p1", engraft=12, last="D+400", cd34=4.0,
          aes=[{"term": "acute GVHD", "gvhd_grade": 3, "onset": "D+30"}]),
    _case("p2", engraft=15, death=("D+300", "progression"), cd34=6.0,
          aes=[{"term": "острая РТПХ", "grade": 2, "onset": "D+40"}],
          relapse=("D+200", "with loss of the mismatched HLA haplotype")),
    _case("p3", engraft=20, death=("D+50", "sepsis"), cd34=8.0,
          aes=[{"term": "chronic GVHD", "grade": 2, "onset": "D+45"}]),
    _case("p4", engraft=None, last="D+400", cd34=10.0),
]


@pytest.fixture(scope="module")
def report() -> Any:
    tables = flatten_all(ResourceStore().extend(bundles(COHORT)), names=REPORT_TABLES)
    return cohort_report(tables)


def _rows(report: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["section"], r["item"]): r for r in report.table("transplant").rows}


def test_graft_donor_conditioning_and_prophylaxis(report: Any) -> None:
    rows = _rows(report)
    assert rows[("Donor", "Haploidentical related donor")]["n"] == 4
    assert rows[("HLA match", "5/10")]["n"] == 4
    assert rows[("CD34+ dose, 10^6/kg", "median (range)")]["value"] == "7 (4-10)"
    assert rows[("Conditioning intensity", "Reduced-intensity conditioning")]["n"] == 4
    assert {item for sec, item in rows if sec == "Conditioning agents"} == {"fludarabine", "busulfan"}
    assert {item for sec, item in rows if sec == "GVHD prophylaxis"} == {"cyclophosphamide"}


def test_engraftment_and_graft_failure(report: Any) -> None:
    rows = _rows(report)
    assert rows[("Neutrophil engraftment, day", "median (range)")]["value"] == "15 (12-20)"
    assert rows[("Engraftment", "graft failure (no neutrophil engraftment, alive at day +28)")]["n"] == 1


def test_gvhd_relapse_hla_loss_and_nrm(report: Any) -> None:
    rows = _rows(report)
    # no graded episode (hsct[].gvhd) anywhere: the GVHD adverse events are read instead
    assert rows[("GVHD (allogeneic)", "Acute GVHD grade II-IV")]["n"] == 2      # p1 (MAGIC III), p2 (CTCAE 2)
    assert rows[("GVHD (allogeneic)", "Acute GVHD grade III-IV")]["n"] == 1     # p1
    assert rows[("GVHD (allogeneic)", "Acute GVHD grade III")]["n"] == 1
    assert rows[("GVHD (allogeneic)", "Chronic GVHD")]["n"] == 1                # p3
    assert ("GVHD (allogeneic)", "Chronic GVHD, mild") not in rows  # no severity recorded: no severity rows
    assert rows[("Outcomes after HSCT", "relapse / progression")]["n"] == 1
    assert rows[("Outcomes after HSCT", "HLA-loss relapse")]["n"] == 1
    assert rows[("Outcomes after HSCT", "non-relapse death by day +100")]["n"] == 1   # p3
    assert rows[("Outcomes after HSCT", "non-relapse death by 1 year")]["n"] == 1    # p2 relapsed first
    assert {item for sec, item in rows if sec == "Causes of death after HSCT"} == {
        "Disease progression", "Sepsis, unspecified"}
    notes = report.table("transplant").notes
    assert any("graded by CTCAE" in n and "for 1 patient" in n for n in notes)
    assert any("read from adverse events" in n and "for 3 patient" in n for n in notes)


def test_adverse_events_by_time_window(report: Any) -> None:
    rows = _rows(report)
    assert rows[("By time window: Acute GVHD", "day 0 to +100")]["n"] == 2
    assert rows[("By time window: Chronic GVHD", "day 0 to +100")]["n"] == 1
    assert rows[("By time window: Death", "day 0 to +100")]["n"] == 1  # p3, day 50
    assert rows[("By time window: Death", "after day +100")]["n"] == 1  # p2, day 300
    assert rows[("By time window: Relapse", "after day +100")]["n"] == 1


def test_cumulative_incidence_and_survival_from_day_0(report: Any) -> None:
    out = {r["endpoint"]: r for r in report.table("transplant_outcomes").rows}
    # Aalen-Johansen by hand: day 50 NRM (p3): overall survival 3/4, NRM CIF 1/4; day 200 relapse (p2)
    # among 3 at risk: relapse CIF = 3/4 * 1/3 = 1/4. p1 and p4 censored at day 400.
    assert out["relapse (NRM competing)"]["at_1y_percent"] == 25.0
    assert out["NRM (relapse competing)"]["at_day100_percent"] == 25.0
    # OS (KM): deaths at day 50 (4 at risk) and 300 (3 at risk): S(1y) = 3/4 * 2/3 = 50 %
    assert out["OS"]["at_1y_percent"] == 50.0
    # EFS by day 100: only p3's death (day 50): 3/4. GRFS adds p1's grade III GVHD (day 30) and p3's
    # chronic GVHD (day 45, before its death): 3/4 * 2/3 = 50 %
    assert out["EFS (relapse or death)"]["at_day100_percent"] == 75.0
    assert out[GRFS]["at_day100_percent"] == 50.0


# Graded GVHD (hsct[].gvhd), recorded graft failure and a structured HLA-loss mark. All haplo HSCT on
# HSCT_DAY; MAC: q1-q3, RIC: q4-q6.
# q1: engrafted d14; acute MAGIC II D+20 (skin 2, lower GI 1); chronic NIH mild D+150 (mouth 1); alive D+500.
# q2: engrafted d18; acute IV D+35 (skin 0, liver 2, lower GI 4); died D+80 of sepsis (NRM).
# q3: engrafted d16; relapse D+120 marked hla_loss; died D+200 of progression.
# q4: engrafted d20; acute I D+25 (skin 1); chronic severe D+200 (lungs 2, skin 3); alive D+500.
# q5: primary graft failure D+28, never engrafted; died D+60 of sepsis (NRM).
# q6: engrafted d15, secondary graft failure D+90; relapse D+300 whose note names HLA loss but hla_loss is
#     false (the structured mark wins over the note); alive D+400.
GRADED = [
    _case("q1", engraft=14, last="D+500", intensity="MAC", gvhd=[
        {"kind": "acute", "onset": "D+20", "criteria": "MAGIC", "grade": "II",
         "organs": [{"organ": "skin", "stage": 2}, {"organ": "lower-gi", "stage": 1}]},
        {"kind": "chronic", "onset": "D+150", "criteria": "NIH 2014", "severity": "mild",
         "organs": [{"organ": "mouth", "stage": 1}]}]),
    _case("q2", engraft=18, death=("D+80", "sepsis"), intensity="MAC", gvhd=[
        {"kind": "acute", "onset": "D+35", "criteria": "MAGIC", "grade": 4,
         "organs": [{"organ": "skin", "stage": 0}, {"organ": "liver", "stage": 2},
                    {"organ": "lower-gi", "stage": 4}]}]),
    _case("q3", engraft=16, death=("D+200", "progression"), intensity="MAC", relapse=("D+120", "marrow relapse"),
          hla_loss=True),
    _case("q4", engraft=20, last="D+500", gvhd=[
        {"kind": "acute", "onset": "D+25", "criteria": "Glucksberg", "grade": 1,
         "organs": [{"organ": "skin", "stage": 1}]},
        {"kind": "chronic", "onset": "D+200", "severity": "severe",
         "organs": [{"organ": "lungs", "stage": 2}, {"organ": "skin", "stage": 3}]}]),
    _case("q5", engraft=None, death=("D+60", "sepsis"), graft_failure={"kind": "primary", "date": "D+28"}),
    _case("q6", engraft=15, last="D+400", graft_failure={"kind": "secondary", "date": "D+90"},
          relapse=("D+300", "HLA loss not found"), hla_loss=False),
]


@pytest.fixture(scope="module")
def graded() -> Any:
    tables = flatten_all(ResourceStore().extend(bundles(GRADED)), names=REPORT_TABLES)
    return tables, cohort_report(tables)


def test_gvhd_table_reads_graded_episodes(graded: Any) -> None:
    tables, _ = graded
    rows = {(r["patient_id"], r["kind"]): r for r in tables["gvhd"]}
    assert len(rows) == 5  # three acute, two chronic episodes
    acute = next(r for (pid, kind), r in rows.items() if kind == "acute" and r["grade"] == 4)
    assert acute["organs"] == "skin:0|liver:2|lower-gi:4" and acute["criteria"] == "MAGIC"
    assert acute["onset_date"] == "2020-02-14"  # D+35
    assert {r["severity"] for r in tables["gvhd"] if r["kind"] == "chronic"} == {"mild", "severe"}
    assert sorted(r["graft_failure"] or "" for r in tables["hsct"]) == ["", "", "", "", "primary", "secondary"]
    assert sorted(str(r["hla_loss"]) for r in tables["relapses"]) == ["False", "True"]


def test_graded_acute_gvhd_by_grade_and_organ(graded: Any) -> None:
    rows = _rows(graded[1])
    n = {item: rows[("GVHD (allogeneic)", item)]["n"] for sec, item in rows if sec == "GVHD (allogeneic)"}
    assert n["Acute GVHD, any grade"] == 3
    assert (n["Acute GVHD grade I"], n["Acute GVHD grade II"], n["Acute GVHD grade III"],
            n["Acute GVHD grade IV"]) == (1, 1, 0, 1)
    assert n["Acute GVHD grade II-IV"] == 2 and n["Acute GVHD grade III-IV"] == 1
    assert rows[("GVHD (allogeneic)", "Acute GVHD grade II-IV, day of onset, median (range)")]["value"] \
        == "27.5 (20-35)"
    organs = {item: r["n"] for (sec, item), r in rows.items() if sec == "Acute GVHD organ involvement"}
    assert organs == {"Skin": 2, "Lower gastrointestinal tract": 2, "Liver": 1}  # q2's skin stage 0 does not count
    assert not any("adverse events" in note for note in graded[1].table("transplant").notes)


def test_chronic_gvhd_by_nih_severity_and_organ(graded: Any) -> None:
    rows = _rows(graded[1])
    n = {item: r["n"] for (sec, item), r in rows.items() if sec == "GVHD (allogeneic)"}
    assert n["Chronic GVHD"] == 2
    assert (n["Chronic GVHD, mild"], n["Chronic GVHD, moderate"], n["Chronic GVHD, severe"]) == (1, 0, 1)
    assert n["Chronic GVHD, moderate-severe"] == 1
    organs = {item: r["n"] for (sec, item), r in rows.items() if sec == "Chronic GVHD organ involvement"}
    assert organs == {"Mouth": 1, "Lungs": 1, "Skin": 1}


def test_recorded_graft_failure_hla_loss_nrm_and_windows(graded: Any) -> None:
    rows = _rows(graded[1])
    assert rows[("Engraftment", "Primary graft failure")]["n"] == 1
    assert rows[("Engraftment", "Secondary graft failure")]["n"] == 1
    # everyone without a recorded graft failure engrafted: nothing derived
    assert rows[("Engraftment", "graft failure (no neutrophil engraftment, alive at day +28)")]["n"] == 0
    assert rows[("Neutrophil engraftment, day", "median (range)")]["value"] == "16 (14-20)"
    assert rows[("Outcomes after HSCT", "relapse / progression")]["n"] == 2
    assert rows[("Outcomes after HSCT", "HLA-loss relapse")]["n"] == 1  # q3; q6's note loses to hla_loss: false
    assert rows[("Outcomes after HSCT", "non-relapse death by day +100")]["n"] == 2  # q2, q5
    assert rows[("Outcomes after HSCT", "death, any cause")]["n"] == 3
    assert rows[("By time window: Acute GVHD", "day 0 to +100")]["n"] == 3
    assert rows[("By time window: Chronic GVHD", "after day +100")]["n"] == 2
    assert rows[("By time window: Death", "day 0 to +100")]["n"] == 2
    labels = [item for _, item in rows]
    assert not any("(disorder)" in x or "not-detected" in x or "acute-grade" in x for x in labels)


def test_graded_outcomes_from_day_0(graded: Any) -> None:
    out = {r["endpoint"]: r for r in graded[1].table("transplant_outcomes").rows}
    # GRFS events: q2 aGVHD IV d35, q5 death d60 (6 then 5 at risk) by day 100: 5/6 * 4/5 = 66.7 %;
    # q1's mild chronic GVHD does not count, q4's severe one (d200) does.
    assert out[GRFS]["at_day100_percent"] == 66.7
    assert out[GRFS]["events"] == 5
    # aGVHD II-IV: d20 (1/6), d35 (5/6 * 1/5): 33.3 % by day 100
    assert out["Acute GVHD II-IV (death or relapse competing)"]["at_day100_percent"] == 33.3
    # cGVHD: competing d60, d80, d120 leave S = 3/6; d150 (3 at risk) + 1/6; d200 (2 at risk) + 1/6; the
    # last observation (d300) is an event, so the curve is final and the 1-year value is known
    assert out["Chronic GVHD (death or relapse competing)"]["at_1y_percent"] == 33.3


def test_grouped_cumulative_incidence_rows_use_grays_test(graded: Any) -> None:
    pytest.importorskip("scipy")
    from fhir_onco.analytics import compare

    report, groups = compare.grouped_report(graded[0], "intensity")
    assert groups == ["mac", "ric"]
    out = {r["endpoint"]: r for r in report.table("transplant_outcomes").rows}
    agvhd = out["Acute GVHD II-IV (death or relapse competing)"]
    # R cmprsk 2.2-11: cuminc(c(20,35,120,500,60,300), c(1,1,2,0,2,2), rep(c("MAC","RIC"), each=3))$Tests
    assert agvhd["test"] == "Gray" and agvhd["p_value"] == pytest.approx(0.1184, abs=1e-4)
    assert out["relapse (NRM competing)"]["test"] == "Gray"
    assert out["OS"]["test"] == "log-rank"


def test_grouped_onset_day_is_compared_as_a_continuous_value(graded: Any) -> None:
    pytest.importorskip("scipy")
    from fhir_onco.analytics import compare

    report, _ = compare.grouped_report(graded[0], "intensity")
    row = next(r for r in report.table("transplant").rows
               if r["item"] == "Acute GVHD grade II-IV, day of onset, median (range)")
    assert row["value_mac"] == "27.5 (20-35)" and row["value_ric"] is None  # no RIC patient had grade II-IV
    assert row["test"] is None  # one group only has values: nothing to compare


def test_tied_days_in_a_generated_cohort_as_r_cmprsk() -> None:
    """The HSCT example cohort at 100 patients (seed 1): acute GVHD II-IV on days 18-59 tied with
    censorings, and on day 60 with a death; ties are taken as they are, as R does - lifelines
    jittered them at random and gave 37.1 %."""
    from pathlib import Path

    import yaml

    from fhir_onco import map_case
    from fhir_onco.cohort import generate, parse_spec

    spec_path = Path(__file__).resolve().parents[2] / "examples" / "cohorts" / "example-ball-bridging-hsct.yaml"
    data = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    data["published_size"], data["size"] = 20, 100
    cases = generate(parse_spec(data, spec_path.name), 1)
    tables = flatten_all(ResourceStore().extend([map_case(c) for c in cases]), names=REPORT_TABLES)
    out = {r["endpoint"]: r for r in cohort_report(tables).table("transplant_outcomes").rows}
    # R cmprsk 2.2-11, cuminc() on the row's (day, status) samples: 0.3693000 at day 100 and at 1 year
    row = out["Acute GVHD II-IV (death or relapse competing)"]
    assert (row["n"], row["events"], row["at_day100_percent"], row["at_1y_percent"]) == (100, 30, 36.9, 36.9)
