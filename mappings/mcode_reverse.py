"""Reading HL7 mCODE STU4 resources other producers wrote (data we did not write).

Our own resources carry our profiles and extensions, and their domain twins read them back
exactly. Resources with mCODE profiles are read by the same domain readers where mCODE and our
profiles share the shape (cancer conditions, disease status, radiotherapy course summaries), and
here where they do not (a cancer-related MedicationAdministration without a CarePlan becomes one
regimen; a cancer-related MedicationRequest is an order, read by the medication-request reader, never
a regimen). Everything else is reported, per resource, with the reason the
case model cannot hold it - that list is what docs/mcode-examples.md shows for the IG's examples.
"""

from __future__ import annotations

from fhir_onco.terminology import Terminology

from .read_context import SOURCE, Json, ReadContext, clean, ext, ext_value, exts, note, number, text

MCODE_SD = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
MEDICATION = "mcode-medication"  # the group of foreign cancer-related medication resources
DISEASE_STATUS_LOINC = "97509-4"

# mCODE profile -> the group of our profile whose reader takes it
_READ_AS = {
    "mcode-primary-cancer-condition": "onco-primary-cancer-condition",
    "mcode-secondary-cancer-condition": "onco-secondary-cancer-condition",
    "mcode-cancer-disease-status": "onco-disease-status",
    "mcode-histologic-grade": "onco-histologic-grade",
    "mcode-radiotherapy-course-summary": "onco-radiotherapy",
    "mcode-cancer-related-medication-request": "onco-medication-request",  # an order stays an order
    "mcode-cancer-related-medication-administration": MEDICATION,
}
_STAGES = ("its stage system or value code is not in our stages table (the case model holds ISS, R-ISS, "
           "Durie-Salmon, INSS, INRG and ALL risk; our INSS and INRG values use own codes)")
# Why the case model cannot hold what a profile records (shown in warnings and docs).
NOT_READ = {
    "mcode-cancer-stage": _STAGES,
    "mcode-tnm-stage-group": _STAGES,
    "mcode-tnm-primary-tumor-category": "TNM categories are not in the case model",
    "mcode-tnm-regional-nodes-category": "TNM categories are not in the case model",
    "mcode-tnm-distant-metastases-category": "TNM categories are not in the case model",
    "mcode-lymphoma-stage": _STAGES,
    "mcode-ALL-risk-assessment": "an ALL risk group without a focus on the cancer condition cannot be placed",
    "mcode-rhabdomyosarcoma-risk-assessment": _STAGES,
    "mcode-genomic-variant": "genomic variants (HGVS, allele frequency) are not in the case model: a finding "
                             "holds a target and a fixed result",
    "mcode-genomic-region-studied": "regions studied are not in the case model",
    "diagnostic-implication": "genomic implications are not in the case model",
    "therapeutic-implication": "genomic implications are not in the case model",
    "msi": "MSI is not in the case model",
    "tmb": "tumour mutational burden is not in the case model",
    "mcode-tumor-marker-test": "tumour marker values (quantities, ratios) are not in the case model",
    "mcode-cancer-related-surgical-procedure": "surgery is not in the case model",
    "mcode-ecog-performance-status": "performance status is not in the case model",
    "mcode-karnofsky-performance-status": "performance status is not in the case model",
    "mcode-lansky-play-performance-status": "performance status is not in the case model",
    "mcode-comorbidities": "comorbidities are not in the case model",
    "mcode-history-of-metastatic-cancer": "history of metastatic cancer is not in the case model",
    "mcode-tumor-size": "tumour size is not in the case model",
    "mcode-tumor-morphology": "tumour morphology outside a cancer condition is not in the case model",
    "mcode-histologic-behavior-and-type": "histology outside a cancer condition is not in the case model",
    "mcode-deauville-scale": "Deauville score is not in the case model",
    "mcode-body-surface-area": "body measurements are not in the case model",
    "bodyweight": "body measurements are not in the case model",
    "bodyheight": "body measurements are not in the case model",
    "mcode-genomics-report": "reports are containers; their results are read (or listed) one by one",
    "mcode-human-specimen": "a specimen on its own is not a clinical fact of the case model",
}
_STATUS = {"completed": "completed", "stopped": "stopped", "entered-in-error": "stopped", "cancelled": "stopped",
           "active": "active", "on-hold": "active", "in-progress": "active", "not-done": "stopped"}


def profile_names(r: Json) -> list[str]:
    return [p.split("|")[0].rstrip("/").rsplit("/", 1)[-1] for p in (r.get("meta") or {}).get("profile", [])
            if isinstance(p, str)]


def mcode_group(r: Json, terminology: Terminology) -> str | None:
    """The group of our profiles whose reader takes this foreign resource, or None."""
    if "mcode-cancer-stage" in profile_names(r) and _our_stage(r, terminology):
        return "onco-stage-group"  # ISS, R-ISS, INSS, INRG: the value codes our stage table shares
    for name in profile_names(r):
        if name in _READ_AS:
            return _READ_AS[name]
    codes = {c.get("code") for c in (r.get("code") or {}).get("coding", [])}
    if r.get("resourceType") == "Observation" and DISEASE_STATUS_LOINC in codes:
        return "onco-disease-status"
    return None


def _our_stage(r: Json, terminology: Terminology) -> bool:
    for c in (r.get("valueCodeableConcept") or {}).get("coding", []):
        if terminology["stages"].key_for(c.get("system", ""), c.get("code", "")) is not None:
            return True
    return False


DOSE_TO_VOLUME = MCODE_SD + "mcode-radiotherapy-dose-delivered-to-volume"
MODALITY = MCODE_SD + "mcode-radiotherapy-modality-and-technique"


def radiotherapy_summary(p: Json) -> Json:
    """kind, total dose (Gy) and fractions of an mCODE course summary: the first volume's dose."""
    volume = ext(p, DOSE_TO_VOLUME)
    dose = ext_value(volume, "totalDoseDelivered", "valueQuantity") or {}
    gy = number(dose)
    if gy is not None and dose.get("code", dose.get("unit")) == "cGy":
        gy = gy / 100
    modality = ext_value(ext(p, MODALITY), MCODE_SD + "mcode-radiotherapy-modality", "valueCodeableConcept")
    return {"kind": text(p.get("code")) or text(modality), "total_dose_gy": gy,
            "fractions": ext_value(volume, "fractionsDelivered", "valueUnsignedInt"),
            "volumes": len(exts(p, DOSE_TO_VOLUME))}


def not_read_reason(r: Json) -> str:
    for name in profile_names(r):
        if name in NOT_READ:
            return f"{name}: {NOT_READ[name]}"
    names = profile_names(r)
    what = names[0] if names else "no profile"
    return f"{what}: not an oncology fact the case model holds (not created by fhir-onco)"


def _day(value: object) -> str | None:
    return str(value)[:10] if value else None


def _dates(r: Json) -> tuple[str | None, str | None]:
    if r.get("effectiveDateTime"):
        return _day(r["effectiveDateTime"]), None
    if r.get("effectivePeriod"):
        return _day(r["effectivePeriod"].get("start")), _day(r["effectivePeriod"].get("end"))
    dosage = (r.get("dosageInstruction") or [{}])[0]
    bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
    return _day(bounds.get("start") or r.get("authoredOn")), _day(bounds.get("end"))


def read_mcode_medications(ctx: ReadContext) -> list[Json]:
    """One regimen per cancer-related medication resource (mCODE records no regimen)."""
    out = []
    for r in ctx.groups[MEDICATION]:
        name = text(r.get("medicationCodeableConcept"))
        start, end = _dates(r)
        if not name or not start:
            ctx.warn(f"not read {ctx.label(r)}: no medication concept or no date")
            continue
        dosage = r.get("dosage") or (r.get("dosageInstruction") or [{}])[0]
        quantity = dosage.get("dose") or ((dosage.get("doseAndRate") or [{}])[0]).get("doseQuantity")
        reason = r.get("statusReason")
        reason = reason[0] if isinstance(reason, list) and reason else reason if isinstance(reason, dict) else None
        out.append(clean({
            SOURCE: ctx.label(r),
            "name": name,
            "category": "not stated",
            "intent": text(ext_value(r, MCODE_SD + "mcode-procedure-intent", "valueCodeableConcept")),
            "start": start,
            "end": end,
            "status": _STATUS.get(str(r.get("status")), "completed"),
            "stop_reason": text(reason),
            "drugs": [clean({"drug": name, "dose": number(quantity), "unit": (quantity or {}).get("unit"),
                             "route": text(dosage.get("route")), "note": dosage.get("text")})],
            "note": note(r),
        }))
    return out
