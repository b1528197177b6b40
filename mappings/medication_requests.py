"""Medication requests: one MedicationRequest per order (onco-medication-request, aligned with mCODE
STU4 CancerRelatedMedicationRequest).

An order is what was asked for, not a fact that a drug was given: it never becomes a
MedicationAdministration (doses given are regimens, :mod:`.treatment`). The drug and the reason
are terms resolved through the tables, or codes the source gives (``Coded``) kept as given; the
dose, route, as-needed, dose-rate type and timing go to ``dosageInstruction``.
"""

from __future__ import annotations

from fhir_onco.case import Coded, MedicationRequest
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position

DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
TIMING_ABBREVIATION = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"


def coded(c: Coded) -> b.Json:
    """A code as the source gave it: one coding, no text (the reverse mapping tells it from a term by that)."""
    return {"coding": [b.prune({"system": c.system, "code": c.code, "display": c.display})]}


def request_key(mr: MedicationRequest) -> str:
    drug = mr.drug if isinstance(mr.drug, str) else f"{mr.drug.system}|{mr.drug.code}"
    return mr.id or f"{drug}|{mr.authored or ''}"


def map_medication_requests(ctx: MappingContext) -> None:
    taken: set[str] = set()
    for i, mr in enumerate(ctx.case.medication_requests):
        key = request_key(mr)
        if key in taken:  # two orders alike without ids: their place keeps them apart (deterministic)
            key = f"{key}|#{i + 1}"
        taken.add(key)
        _map_request(ctx, i, mr, key)


def _term_or_code(ctx: MappingContext, table: str, value: str | Coded | None, path: str) -> b.Json | None:
    if value is None:
        return None
    return ctx.cc(table, value, path) if isinstance(value, str) else coded(value)


def _map_request(ctx: MappingContext, i: int, mr: MedicationRequest, key: str) -> None:
    path = f"medication_requests[{i}]"
    ext: list[b.Json] = []
    if intent := ctx.cc("regimen_terms", mr.intent, f"{path}.intent", "intent-"):
        ext.append({"url": urls.EXT_MCODE_TREATMENT_INTENT, "valueCodeableConcept": intent})
    ext.append(position(i))
    resource: b.Json = {
        "resourceType": "MedicationRequest",
        "id": ctx.new_id("MedicationRequest", f"request|{key}"),
        "meta": b.meta("onco-medication-request"),
        "extension": ext,
        "identifier": b.identifier_for(mr.id),
        "status": mr.status,
        "intent": mr.request_intent,
        "medicationCodeableConcept": _term_or_code(ctx, "drugs", mr.drug, f"{path}.drug"),
        "subject": ctx.patient_ref,
    }
    ctx.set_date(resource, "authoredOn", mr.authored, f"{path}.authored")
    if mr.requester:  # a logical reference: the prescriber's identifier; no Practitioner (nor name) is made
        resource["requester"] = {"type": "Practitioner", "identifier": {"value": mr.requester}}
    if mr.reason is not None:
        resource["reasonCode"] = [_term_or_code(ctx, "conditions", mr.reason, f"{path}.reason")]
    if mr.diagnosis is not None or mr.reason is None:
        ref = ctx.diagnosis_ref(mr.diagnosis, f"{path}.diagnosis")
        if ref is not None:
            resource["reasonReference"] = [ref]
        elif mr.diagnosis is None:
            ctx.error(f"{path}.reason", "a medication request needs the cancer it is for (mCODE): give reason, "
                                        "diagnosis, or a diagnosis in the case")
    if mr.regimen and (ref := ctx.ref_to("regimen", "CarePlan", mr.regimen, f"{path}.regimen")):
        resource["basedOn"] = [ref]
    dosage = _dosage(ctx, mr, path)
    if dosage:
        resource["dosageInstruction"] = [dosage]
    if mr.note:
        resource["note"] = [{"text": mr.note}]
    ctx.add(resource)


def _dosage(ctx: MappingContext, mr: MedicationRequest, path: str) -> b.Json:
    dosage: b.Json = {}
    timing: b.Json = {}
    if mr.timing_event is not None:
        when: b.Json = {}
        ctx.set_date(when, "event", mr.timing_event, f"{path}.timing_event")
        if "event" in when:
            timing["event"] = [when["event"]]
            if "_event" in when:
                timing["_event"] = [when["_event"]]
        elif "_event" in when:
            ctx.error(f"{path}.timing_event", "expected a date the doses are planned for (not 'unknown')")
    if mr.timing_code:
        timing["code"] = {"coding": [{"system": TIMING_ABBREVIATION, "code": mr.timing_code}]}
    if timing:
        dosage["timing"] = timing
    if mr.as_needed is not None:
        if isinstance(mr.as_needed, bool):
            dosage["asNeededBoolean"] = mr.as_needed
        else:
            dosage["asNeededCodeableConcept"] = coded(mr.as_needed)
    if route := _term_or_code(ctx, "routes", mr.route, f"{path}.route"):
        dosage["route"] = route
    rate: b.Json = {}
    if mr.dose_rate_type:
        rate["type"] = {"coding": [{"system": DOSE_RATE_TYPE, "code": mr.dose_rate_type}]}
    if mr.dose is not None:
        rate["doseQuantity"] = b.quantity(mr.dose, ctx.concept("units", mr.unit, f"{path}.unit"), mr.unit)
    elif mr.unit is not None:
        ctx.error(f"{path}.unit", "a unit needs the dose it measures: give dose")
    if rate:
        dosage["doseAndRate"] = [rate]
    return dosage
