"""Labels read as clinicians write them: no raw codes, no SNOMED semantic tags, acute / chronic GVHD
with the overall grade, a transplant-associated term as the source wrote it."""

from __future__ import annotations

from typing import Any

from fhir_onco.analytics.flatten import flatten
from fhir_onco.analytics.reader import ResourceStore
from fhir_onco.analytics.report import cohort_report
from fhir_onco.analytics.timeline import build_timeline
from fhir_onco.analytics.values import clinical

from .inline_cohort import bundles

CASE: dict[str, Any] = {
    "patient": {"identifiers": [{"system": "urn:test:labels", "value": "l1"}], "sex": "female"},
    "diagnoses": [{"condition": "AML", "onset": "2020-01",
                   "findings": [{"target": "ETV6", "result": "not-detected", "method": "FISH"}]}],
    "hsct": [{"id": "allo", "type": "allogeneic", "date": "2020-06-01"}],
    "adverse_events": [
        {"term": "острая РТПХ", "gvhd_grade": 2, "gvhd_organs": ["skin"], "onset": "D+20"},
        {"term": "chronic GVHD", "grade": 2, "onset": "D+150"},
        {"term": "transplant-associated thrombotic microangiopathy", "grade": 3, "onset": "D+40"},
        {"term": "TMA", "grade": 3, "onset": "D+60"},
    ],
}


def _store() -> ResourceStore:
    return ResourceStore().extend(bundles([CASE]))


def test_adverse_event_labels() -> None:
    labels = [r["term_display"] for r in flatten(_store(), "adverse_events")]
    # CTCAE files GVHD under 'Immune system disorders - Other, specify' and TMA under TTP
    assert labels == ["Acute GVHD", "transplant-associated thrombotic microangiopathy",
                      "Thrombotic thrombocytopenic purpura", "Chronic GVHD"]


def test_timeline_names_acute_gvhd_by_its_overall_grade() -> None:
    store = _store()
    t = build_timeline(store, store.patients()[0]["id"])
    assert [e.label for e in t.adverse_events][:2] == [
        "Acute GVHD grade II", "G3 transplant-associated thrombotic microangiopathy"]


def test_finding_results_and_semantic_tags() -> None:
    report = cohort_report(_store())
    rows = [r for r in report.table("baseline").rows if r["section"].startswith("Finding")]
    assert [r["item"] for r in rows] == ["Absent"]  # not the raw key 'not-detected'
    assert clinical("Neutrophil count (observable entity)") == "Neutrophil count"
    assert clinical("Acute myeloid leukemia (disorder)") == "Acute myeloid leukemia"
    assert clinical("Stage (not a tag)") == "Stage (not a tag)"
