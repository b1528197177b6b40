"""Patient: identifiers, sex, birth date or age at an event, death and its cause, and the demographics
registries export (name, address, US Core birth sex / race / ethnicity, language)."""

from __future__ import annotations

from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext


def map_patient(ctx: MappingContext) -> None:
    p = ctx.case.patient
    resource: b.Json = {
        "resourceType": "Patient",
        "id": ctx.patient_id,
        "meta": b.meta("onco-patient"),
        "extension": [],
        "identifier": [{"system": i.system, "value": i.value} for i in p.identifiers],
    }
    if p.name is not None:  # personal data: never logged; de-identification removes it
        name: b.Json = {}
        if p.name.family:
            name["family"] = p.name.family
        if p.name.given:
            name["given"] = list(p.name.given)
        resource["name"] = [name]
    resource["gender"] = p.sex
    resource["extension"].extend(_us_core(ctx))
    if p.age is not None:
        age_ext: b.Json = {"url": urls.EXT_AGE_AT_EVENT, "extension": [
            b.extension("age", valueAge={"value": p.age.years, "unit": "a",
                                          "system": urls.UCUM, "code": "a"}),
        ]}
        at: b.Json = {"url": "date"}
        ctx.set_date(at, "valueDateTime", p.age.at, "patient.age.at")
        age_ext["extension"].append(at)
        resource["extension"].append(age_ext)
    if p.last_contact is not None or p.vital_status is not None:
        follow: b.Json = {"url": urls.EXT_FOLLOW_UP, "extension": []}
        if p.last_contact is not None:
            contact: b.Json = {"url": "lastContact"}
            ctx.set_date(contact, "valueDateTime", p.last_contact, "patient.last_contact")
            follow["extension"].append(contact)
        if p.vital_status is not None:
            follow["extension"].append(b.extension("vitalStatus", valueCode=p.vital_status))
        resource["extension"].append(follow)
    if ctx.case.note:  # the case-level note; Patient has no note element
        resource["extension"].append(b.extension(urls.EXT_NOTE, valueAnnotation={"text": ctx.case.note}))
    ctx.set_date(resource, "birthDate", p.birth_date, "patient.birth_date")
    if p.death is not None:
        if p.death.date:
            ctx.set_date(resource, "deceasedDateTime", p.death.date, "patient.death.date")
        else:
            resource["deceasedBoolean"] = True
    elif p.vital_status in ("alive", "dead"):  # what readers of plain FHIR see
        resource["deceasedBoolean"] = p.vital_status == "dead"
    if p.address is not None:
        a = p.address
        address: b.Json = {}
        if a.lines:
            address["line"] = list(a.lines)
        for key, value in (("city", a.city), ("state", a.state), ("postalCode", a.postal_code),
                           ("country", a.country)):
            if value:
                address[key] = value
        resource["address"] = [address]
    if p.language:
        resource["communication"] = [{"language": {"coding": [{"system": urls.BCP47, "code": p.language}]}}]
    ctx.add(resource)
    if p.death is not None and (p.death.cause or p.death.note):
        obs: b.Json = {
            "resourceType": "Observation",
            "id": ctx.new_id("Observation", "cause-of-death"),
            "meta": b.meta("onco-cause-of-death"),
            "status": "final",
            "code": b.codeable(ctx.fixed("observation_codes", "cause-of-death")),
            "subject": ctx.patient_ref,
        }
        ctx.set_date(obs, "effectiveDateTime", p.death.date, "patient.death.date")
        obs["valueCodeableConcept"] = ctx.cc("death_causes", p.death.cause, "patient.death.cause")
        if not p.death.cause:  # only a note: keep it, with the cause marked unknown
            obs["dataAbsentReason"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "unknown",
                "display": "Unknown"}]}
        if p.death.note:
            obs["note"] = [{"text": p.death.note}]
        ctx.add(obs)


_BIRTH_SEX = {"male": "M", "female": "F", "unknown": "UNK"}


def _us_core(ctx: MappingContext) -> list[b.Json]:
    """US Core race, ethnicity and birth sex extensions (mCODE CancerPatient is a US Core Patient):
    race and ethnicity carry the OMB category codings and the terms as written in `text`."""
    p = ctx.case.patient
    out: list[b.Json] = []
    if p.race:
        parts: list[b.Json] = []
        for j, term in enumerate(p.race):
            concept = ctx.concept("race", term, f"patient.race[{j}]")
            if concept is not None:
                parts.append({"url": "ombCategory", "valueCoding": concept.primary.to_fhir()})
        parts.append(b.extension("text", valueString="; ".join(p.race)))
        out.append({"url": urls.EXT_US_CORE_RACE, "extension": parts})
    if p.ethnicity:
        concept = ctx.concept("ethnicity", p.ethnicity, "patient.ethnicity")
        parts = [{"url": "ombCategory", "valueCoding": concept.primary.to_fhir()}] if concept else []
        parts.append(b.extension("text", valueString=p.ethnicity))
        out.append({"url": urls.EXT_US_CORE_ETHNICITY, "extension": parts})
    if p.birth_sex:
        out.append(b.extension(urls.EXT_US_CORE_BIRTHSEX, valueCode=_BIRTH_SEX[p.birth_sex]))
    return out
