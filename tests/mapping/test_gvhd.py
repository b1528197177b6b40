"""GVHD graded as transplant medicine grades it (MAGIC / Glucksberg overall grade with organ stages,
NIH chronic severity), graft failure, and relapse with loss of the mismatched HLA haplotype."""

from __future__ import annotations

from typing import Any

import pytest
from mapping_support import SCT, SD, assert_round_trip, case_data

from fhir_onco.case import CaseError, parse_case

NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
GVHD_CS = "https://fhir-onco.org/fhir/CodeSystem/gvhd"


def _hsct(**kw: Any) -> dict[str, Any]:
    return {"id": "haplo", "type": "allogeneic", "date": "2020-02-03", **kw}


DATA = case_data(
    diagnoses=[{"id": "aml", "condition": "AML", "onset": "2019-07",
                "relapses": [{"number": 1, "date": "D+240@haplo", "sites": ["bone marrow"], "hla_loss": True}]}],
    hsct=[_hsct(
        gvhd=[{"kind": "acute", "onset": "D+21", "resolved": "D+60", "criteria": "MAGIC", "grade": "III",
               "organs": [{"organ": "skin", "stage": 3}, {"organ": "lower-gi", "stage": 2},
                          {"organ": "upper-gi", "stage": 1}]},
              {"id": "cg", "kind": "chronic", "onset": "2020-09", "criteria": "NIH 2014", "severity": "moderate",
               "organs": [{"organ": "mouth", "stage": 2}, {"organ": "eyes", "stage": 1}], "note": "on ruxolitinib"}],
        graft_failure={"kind": "secondary", "date": "D+200"})])


def _codes(cc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in cc.get("coding", [])}


def test_acute_gvhd_with_magic_grade_and_organ_stages(map_case) -> None:
    m = map_case(DATA)
    acute, _chronic = m.all("Condition", "onco-gvhd")
    assert _codes(acute["code"]) == {(SCT, "234646005"), (NCIT, "C4980")}
    assert acute["onsetDateTime"] == "2020-02-24" and acute["abatementDateTime"] == "2020-04-03"
    assert acute["clinicalStatus"]["coding"][0]["code"] == "resolved"
    overall, *organs = acute["stage"]
    assert _codes(overall["summary"]) == {(GVHD_CS, "acute-grade-3")}
    assert _codes(overall["type"]) == {(GVHD_CS, "criteria-magic")}
    assert [(s["type"]["coding"][0]["code"], s["summary"]["coding"][0]["code"]) for s in organs] == [
        ("organ-skin", "organ-stage-3"), ("organ-lower-gi", "organ-stage-2"), ("organ-upper-gi", "organ-stage-1")]
    hsct = m.one("Procedure")
    assert acute["extension"][0] == {"url": SD + "related-hsct", "valueReference": {"reference": m.ref(hsct)}}
    assert m.all("AdverseEvent") == []  # not a CTCAE event


def test_chronic_gvhd_nih_severity_graft_failure_and_hla_loss(map_case) -> None:
    m = map_case(DATA)
    chronic = m.all("Condition", "onco-gvhd")[1]
    assert _codes(chronic["code"]) == {(SCT, "234646005"), (NCIT, "C4981")}
    assert _codes(chronic["stage"][0]["summary"]) == {(GVHD_CS, "chronic-severity-moderate")}
    assert chronic["clinicalStatus"]["coding"][0]["code"] == "active"
    failure = m.one("Condition", "onco-graft-failure")
    assert _codes(failure["code"]) == {(GVHD_CS, "graft-failure-secondary")}
    assert failure["onsetDateTime"] == "2020-08-21"
    relapse = m.one("Observation", "onco-disease-status")
    assert {"url": SD + "relapse-hla-loss", "valueBoolean": True} in relapse["extension"]


def test_gvhd_case_validates_and_round_trips(map_case) -> None:
    m = map_case(DATA)
    assert_round_trip(m, DATA)


@pytest.mark.parametrize(("gvhd", "says"), [
    ({"kind": "acute", "onset": "D+20", "severity": "mild"}, "acute GVHD is graded"),
    ({"kind": "chronic", "onset": "D+200", "grade": 2}, "chronic GVHD has an NIH global severity"),
    ({"kind": "acute", "onset": "D+20", "organs": [{"organ": "upper-gi", "stage": 3}]}, "staged 0 or 1"),
    ({"kind": "acute", "onset": "D+20", "organs": [{"organ": "lungs", "stage": 1}]}, "acute GVHD organs are"),
    ({"kind": "chronic", "onset": "D+200", "organs": [{"organ": "skin", "stage": 4}]}, "NIH organ scores run 0-3"),
    ({"kind": "acute", "onset": "D+20", "grade": "V"}, "valid integer"),
])
def test_gvhd_that_does_not_fit_its_kind_is_refused_with_its_path(gvhd: dict[str, Any], says: str) -> None:
    with pytest.raises(CaseError) as info:
        parse_case(case_data(hsct=[_hsct(gvhd=[gvhd])]), "case.yaml")
    assert any(loc.startswith("hsct[0].gvhd[0]") and says in msg for loc, msg in info.value.issues), \
        info.value.issues


def test_dates_inside_an_hsct_count_from_that_hsct(map_case) -> None:
    # With two HSCTs a D+N of an item listed under one of them (its GVHD, chimerism, graft failure)
    # counts from that HSCT; registry rows carry it that way (gvhd.csv names the hsct_id).
    from fhir_onco.analytics.cases import read_case
    from fhir_onco.analytics.flatten import case_rows
    from fhir_onco.analytics.values import Labels

    data = case_data(diagnoses=[{"condition": "AML", "onset": "2019-07"}],
                     hsct=[{"id": "auto", "type": "autologous", "date": "2019-11-01"},
                           _hsct(gvhd=[{"kind": "acute", "onset": "D+21", "grade": 2}],
                                 chimerism=[{"date": "D+30", "result": "full-donor"}],
                                 graft_failure={"kind": "secondary", "date": "D+200"})])
    m = map_case(data)
    gvhd = m.one("Condition", "onco-gvhd")
    assert gvhd["onsetDateTime"] == "2020-02-24"  # haplo day 0 2020-02-03 + 21, not the autologous HSCT
    assert m.one("Condition", "onco-graft-failure")["onsetDateTime"] == "2020-08-21"
    assert m.one("Observation", "onco-chimerism")["effectiveDateTime"] == "2020-03-04"
    assert_round_trip(m, data)
    rows = case_rows(read_case([e["resource"] for e in m.bundle["entry"]]), ["gvhd", "chimerism", "hsct"], Labels())
    assert [r["onset_date"] for r in rows["gvhd"]] == ["2020-02-24"]
    assert [r["date"] for r in rows["chimerism"]] == ["2020-03-04"]
    assert [r["graft_failure_date"] for r in rows["hsct"]] == [None, "2020-08-21"]
