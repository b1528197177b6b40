"""Transplant tables (EBMT/CIBMTR style) from the read-back cases, on a hand-made cohort whose every
figure is worked out in the comments."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_onco.analytics.flatten import flatten_all
from fhir_onco.analytics.reader import ResourceStore
from fhir_onco.analytics.report import REPORT_TABLES, cohort_report

from .inline_cohort import bundles

HSCT_DAY = "2020-01-10"


def _case(pid: str, *, engraft: int | None, death: tuple[str, str] | None = None, last: str | None = None,
          aes: list[dict[str, Any]] = (), relapse: tuple[str, str] | None = None, cd34: float = 5.0) -> dict[str, Any]:
    patient: dict[str, Any] = {"identifiers": [{"system": "urn:test:hsct", "value": pid}], "sex": "male",
                               "birth_date": "1990-01-01"}
    if death:
        patient["death"] = {"date": death[0], "cause": death[1]}
    if last:
        patient["last_contact"], patient["vital_status"] = last, "alive"
    dx: dict[str, Any] = {"id": "aml", "condition": "AML", "onset": "2019-09"}
    if relapse:
        dx["relapses"] = [{"number": 1, "date": relapse[0], "sites": ["bone marrow"], "note": relapse[1]}]
    return {
        "patient": patient,
        "diagnoses": [dx],
        "regimens": [{"id": "cond", "name": "FluBu", "category": "conditioning", "intensity": "RIC",
                      "start": "2020-01-04", "end": "2020-01-08",
                      "drugs": [{"drug": "fludarabine"}, {"drug": "busulfan"}]},
                     {"id": "ptcy", "name": "PTCy", "category": "GVHD prophylaxis", "start": "2020-01-13",
                      "drugs": [{"drug": "cyclophosphamide"}]}],
        "hsct": [{"id": "allo", "type": "allogeneic", "date": HSCT_DAY, "donor": {"match": "haploidentical",
                  "hla_match": "5/10"}, "graft_source": "PBSC", "conditioning": ["cond"], "gvhd_prophylaxis": ["ptcy"],
                  "cell_doses": [{"kind": "cd34", "value": cd34}],
                  "engraftment": [{"kind": "neutrophil", "day": engraft}] if engraft is not None else []}],
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
    assert rows[("GVHD (allogeneic)", "acute GVHD grade II-IV")]["n"] == 2      # p1 (MAGIC III), p2 (CTCAE 2)
    assert rows[("GVHD (allogeneic)", "acute GVHD grade III-IV")]["n"] == 1     # p1
    assert rows[("GVHD (allogeneic)", "chronic GVHD")]["n"] == 1                # p3
    assert rows[("Outcomes after HSCT", "relapse / progression")]["n"] == 1
    assert rows[("Outcomes after HSCT", "HLA-loss relapse")]["n"] == 1
    assert rows[("Outcomes after HSCT", "non-relapse death by day +100")]["n"] == 1   # p3
    assert rows[("Outcomes after HSCT", "non-relapse death by 1 year")]["n"] == 1    # p2 relapsed first
    assert {item for sec, item in rows if sec == "Causes of death after HSCT"} == {
        "Disease progression", "Sepsis, unspecified"}
    assert any("graded by CTCAE" in n for n in report.table("transplant").notes)


def test_adverse_events_by_time_window(report: Any) -> None:
    rows = _rows(report)
    assert rows[("Adverse events: Acute GVHD", "day 0 to +100")]["n"] == 2
    assert rows[("Adverse events: Chronic GVHD", "day 0 to +100")]["n"] == 1


def test_cumulative_incidence_and_survival_from_day_0(report: Any) -> None:
    pytest.importorskip("lifelines")
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
    assert out["GRFS (aGVHD III-IV, cGVHD, relapse, death)"]["at_day100_percent"] == 50.0
