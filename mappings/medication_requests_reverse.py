"""Reverse of :mod:`.medication_requests`: onco-medication-request MedicationRequests ->
``medication_requests:`` (terms as written, codes the source gave as ``{system, code, display}``)."""

from __future__ import annotations

from typing import Any

from fhir_onco.fhir import urls

from .read_context import SOURCE, Json, ReadContext, clean, ext_value, note, number, text, written_date


def coded_or_text(cc: Json | None) -> str | Json | None:
    """A term as written (CodeableConcept.text), else the source's code as given (first coding)."""
    if not cc:
        return None
    if cc.get("text"):
        return str(cc["text"])
    for c in cc.get("coding", []):
        if c.get("system") and c.get("code"):
            return clean({"system": c["system"], "code": c["code"], "display": c.get("display")})
    return text(cc)


def read_medication_requests(ctx: ReadContext) -> list[Json]:
    return [read_request(ctx, r) for r in ctx.groups["onco-medication-request"]]


def read_request(ctx: ReadContext, r: Json) -> Json:
    dosage: Json = (r.get("dosageInstruction") or [{}])[0]
    rate: Json = (dosage.get("doseAndRate") or [{}])[0]
    timing: Json = dosage.get("timing") or {}
    quantity = rate.get("doseQuantity")
    as_needed: Any = dosage.get("asNeededBoolean")
    if as_needed is None:
        as_needed = coded_or_text(dosage.get("asNeededCodeableConcept"))
    requester = ((r.get("requester") or {}).get("identifier") or {}).get("value")
    if requester is None and (r.get("requester") or {}).get("reference"):  # data we did not write: the reference
        requester = str(r["requester"]["reference"])[:128]
    further = (r.get("dosageInstruction") or [])[1:] or dosage.get("doseAndRate", [{}])[1:] or \
        (timing.get("event") or [])[1:]
    if (timing.get("repeat") or further) and ctx.profile(r) is None:
        ctx.warn(f"{ctx.label(r)}: read with a loss: the dosage's repeat pattern and further doses or times are "
                 "not kept (its text is kept as the note)")
    return clean({
        SOURCE: ctx.label(r),
        "id": ctx.local_id(r),
        "drug": coded_or_text(r.get("medicationCodeableConcept")),
        "diagnosis": ctx.dx_ref(r.get("reasonReference"), r),
        "reason": coded_or_text((r.get("reasonCode") or [None])[0]),
        "intent": text(ext_value(r, urls.EXT_MCODE_TREATMENT_INTENT, "valueCodeableConcept")),
        "status": r.get("status"),
        "request_intent": r.get("intent"),
        "authored": written_date(r, "authoredOn"),
        "requester": requester,
        "regimen": ctx.ref_id((r.get("basedOn") or [None])[0], "regimen", r),
        "dose": number(quantity),
        "unit": (quantity or {}).get("unit"),
        "dose_rate_type": _code(rate.get("type") or {}),
        "route": coded_or_text(dosage.get("route")),
        "as_needed": as_needed,
        "timing_code": _code(timing.get("code") or {}),
        "timing_event": _event(timing),
        "note": note(r) or dosage.get("text"),  # ours writes no dosage text; others' instructions are kept
    })


def _code(cc: Json) -> str | None:
    return next((str(c["code"]) for c in cc.get("coding", []) if c.get("code")), None)


def _event(timing: Json) -> str | None:
    events = timing.get("event") or []
    extensions = timing.get("_event") or []
    if not events:
        return None
    holder = {"event": events[0], "_event": extensions[0] if extensions else None}
    return written_date(holder, "event")
