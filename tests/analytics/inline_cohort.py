"""A small inline cohort, mapped to FHIR by the real mapper: the analytics read only the FHIR.

Five myeloma patients whose tables are known by construction:

=====  ======  ========================  =============  =========================================
id     sex     best response (IsaPd)     death          adverse events (term: grades)
=====  ======  ========================  =============  =========================================
p1     male    CR  (2020-04-01)          2021-06-01     neutropenia 3 and 4, URI 2; del(17p) found
               PD 2021-01-01             progression
p2     female  VGPR                      alive          neutropenia 2, pneumonia 3; t(4;14) not
p3     female  PD  (2020-05-01)          2020-09-01     anaemia 3
                                         COVID-19
p4     male    not evaluable             2020-03-01     infusion reaction 3
                                         (no cause)
p5     female  (none recorded)           alive          URI (ungraded)
=====  ======  ========================  =============  =========================================
"""

from __future__ import annotations

import copy
from typing import Any

from fhir_onco import map_case, parse_case
from fhir_onco.analytics.reader import ResourceStore


def isapd(start: str, end: str | None = None) -> dict[str, Any]:
    rg: dict[str, Any] = {
        "id": "isapd", "name": "IsaPd", "category": "salvage", "start": start,
        "drugs": [{"drug": "isatuximab", "dose": 10, "unit": "mg/kg", "route": "IV", "days": "1"},
                  {"drug": "pomalidomide", "dose": 4, "unit": "mg", "route": "PO", "days": "1-21"}],
    }
    if end:
        rg["end"] = end
    return rg


def patient(pid: str, sex: str, **extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"identifiers": [{"system": "urn:test:analytics", "value": pid}], "sex": sex}
    p.update(extra)
    return p


def mm(stage: str | None = None, date: str = "2019-12-01") -> dict[str, Any]:
    dx: dict[str, Any] = {"id": "mm", "condition": "multiple myeloma", "onset": "2017-03"}
    if stage:
        dx["stages"] = [{"system": "iss", "value": stage, "date": date}]
    return dx


def ae(term: str, onset: str, grade: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"term": term, "onset": onset, "ctcae_version": "4.03"}
    if grade is not None:
        out["grade"] = grade
    return out


def best(response: str, date: str) -> dict[str, Any]:
    return {"date": date, "response": response, "best": True, "regimen": "isapd"}


COHORT: list[dict[str, Any]] = [
    {
        "patient": patient("p1", "male", birth_date="1955-06-15",
                           death={"date": "2021-06-01", "cause": "progression"}),
        "diagnoses": [mm("III") | {"findings": [
            {"target": "del(17p)", "result": "deleted", "method": "FISH", "date": "2019-12-01"},
            {"target": "t(4;14)", "result": "not-detected", "method": "FISH", "date": "2019-12-01"}]}],
        "regimens": [
            {"id": "vrd", "name": "VRd", "category": "induction", "start": "2017-04-01", "end": "2017-10-01",
             "drugs": [{"drug": "bortezomib"}, {"drug": "lenalidomide"}]},
            isapd("2020-01-01", "2020-12-31"),
        ],
        "hsct": [{"id": "asct", "type": "autologous", "date": "2017-12-01"}],
        "responses": [best("CR", "2020-04-01"), {"date": "2021-01-01", "response": "PD", "regimen": "isapd"}],
        "adverse_events": [ae("neutropenia", "2020-01-15", 3), ae("neutropenia", "2020-02-15", 4),
                           ae("upper respiratory infection", "2020-03-01", 2)],
    },
    {
        "patient": patient("p2", "female", age={"years": 70, "at": "2020-02-01"}),
        "diagnoses": [mm("II") | {"findings": [
            {"target": "t(4;14)", "result": "not-detected", "method": "FISH", "date": "2020-01-01"}]}],
        "regimens": [isapd("2020-02-01")],
        "responses": [best("VGPR", "2020-05-01"), {"date": "2021-02-01", "response": "VGPR"}],
        "adverse_events": [ae("neutropenia", "2020-02-10", 2), ae("pneumonia", "2020-06-01", 3)],
    },
    {
        "patient": patient("p3", "female", birth_date="1950-01-01",
                           death={"date": "2020-09-01", "cause": "COVID-19"}),
        "diagnoses": [mm("III")],
        "regimens": [isapd("2020-03-01", "2020-05-01")],
        "responses": [best("PD", "2020-05-01")],
        "adverse_events": [ae("anemia", "2020-03-20", 3)],
    },
    {
        "patient": patient("p4", "male", birth_date="1962-09-30", death={"date": "2020-03-01"}),
        "diagnoses": [mm()],
        "regimens": [isapd("2020-01-15", "2020-01-15")],
        "responses": [best("not evaluable", "2020-01-15")],
        "adverse_events": [ae("infusion related reaction", "2020-01-15", 3)],
    },
    {
        "patient": patient("p5", "female", birth_date="1948-03-03"),
        "diagnoses": [mm("I")],
        "regimens": [isapd("2020-04-01")],
        "responses": [{"date": "2020-10-01", "response": "SD", "regimen": "isapd"}],
        "adverse_events": [ae("upper respiratory infection", "2020-05-01")],
    },
]


def bundles(cases: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [map_case(parse_case(copy.deepcopy(c))) for c in (COHORT if cases is None else cases)]


def patient_id(store: ResourceStore, value: str) -> str:
    return next(p["id"] for p in store.patients() if p["identifier"][0]["value"] == value)
