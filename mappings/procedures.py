"""Surgery and other cancer-related procedures (Procedure, aligned with mCODE STU4
CancerRelatedSurgicalProcedure): code, body site with laterality, date, intent, outcome, reason."""

from __future__ import annotations

from fhir_onco.case import Procedure
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position
from .diagnosis import with_laterality


def procedure_key(pr: Procedure) -> str:
    return pr.id or f"{pr.procedure}|{pr.date}|{pr.body_site or ''}"


def map_procedures(ctx: MappingContext) -> None:
    for i, pr in enumerate(ctx.case.procedures):
        _map_procedure(ctx, i, pr)


def _map_procedure(ctx: MappingContext, i: int, pr: Procedure) -> None:
    path = f"procedures[{i}]"
    ext: list[b.Json] = []
    if intent := ctx.cc("procedure_terms", pr.intent, f"{path}.intent", "intent-"):
        ext.append({"url": urls.EXT_MCODE_TREATMENT_INTENT, "valueCodeableConcept": intent})
    ext.append(position(i))
    site = ctx.cc("body_sites", pr.body_site, f"{path}.body_site")
    if pr.laterality and site is None:
        ctx.error(f"{path}.laterality", "laterality needs the site it qualifies: give body_site")
    resource: b.Json = {
        "resourceType": "Procedure",
        "id": ctx.new_id("Procedure", f"procedure|{procedure_key(pr)}"),
        "meta": b.meta("onco-procedure"),
        "extension": ext,
        "identifier": b.identifier_for(pr.id),
        "status": pr.status,
        "code": ctx.cc("procedure_terms", pr.procedure, f"{path}.procedure", "procedure-"),
        "subject": ctx.patient_ref,
    }
    ctx.set_date(resource, "performedDateTime", pr.date, f"{path}.date")
    if ref := ctx.diagnosis_ref(pr.diagnosis, f"{path}.diagnosis"):
        resource["reasonReference"] = [ref]
    if site is not None:
        resource["bodySite"] = [with_laterality(ctx, site, pr.laterality)]
    resource["outcome"] = ctx.cc("procedure_terms", pr.outcome, f"{path}.outcome", "outcome-")
    if pr.note:
        resource["note"] = [{"text": pr.note}]
    ctx.add(resource)
