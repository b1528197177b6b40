"""Reverse of :mod:`.patient`: Patient (age at an event, death) and cause of death -> ``patient:``."""

from __future__ import annotations

from fhir_onco.fhir import urls

from .read_context import Json, ReadContext, clean, ext, ext_value, exts, note, text, written_date


def read_patient(ctx: ReadContext) -> Json:
    p = ctx.patient
    out: Json = {
        "identifiers": [{"system": i.get("system"), "value": i.get("value")} for i in p.get("identifier", [])],
        "sex": p.get("gender", "unknown"),
        "birth_date": written_date(p, "birthDate"),
    }
    out.update(_demographics(p))
    age = ext(p, urls.EXT_AGE_AT_EVENT)
    if age is not None:
        out["age"] = {"years": (ext_value(age, "age", "valueAge") or {}).get("value"),
                      "at": written_date(ext(age, "date"), "valueDateTime")}
    follow = ext(p, urls.EXT_FOLLOW_UP)
    out["last_contact"] = written_date(ext(follow, "lastContact"), "valueDateTime")
    out["vital_status"] = ext_value(follow, "vitalStatus", "valueCode")
    if out["vital_status"] is None and p.get("deceasedBoolean") is False:
        out["vital_status"] = "alive"  # plain FHIR from other producers
    stated_dead = out["vital_status"] == "dead" and not p.get("deceasedDateTime")
    cause = ctx.groups["onco-cause-of-death"][0] if ctx.groups["onco-cause-of-death"] else None
    if p.get("deceasedDateTime") or (p.get("deceasedBoolean") and not stated_dead) or cause:
        out["death"] = clean({"date": written_date(p, "deceasedDateTime"),
                              "cause": text(cause.get("valueCodeableConcept")) if cause else None,
                              "note": note(cause) if cause else None})
    return clean(out)


def read_case_note(ctx: ReadContext) -> str | None:
    return (ext_value(ctx.patient, urls.EXT_NOTE, "valueAnnotation") or {}).get("text")


_BIRTH_SEX = {"M": "male", "F": "female", "UNK": "unknown"}


def _demographics(p: Json) -> Json:
    """Name, address, language and the US Core race / ethnicity / birth sex extensions."""
    out: Json = {}
    name = (p.get("name") or [None])[0]
    if name and (name.get("family") or name.get("given")):
        out["name"] = clean({"family": name.get("family"), "given": name.get("given") or None})
    address = (p.get("address") or [None])[0]
    if address:
        out["address"] = clean({"lines": address.get("line") or None, "city": address.get("city"),
                                "state": address.get("state"), "postal_code": address.get("postalCode"),
                                "country": address.get("country")})
    language = (((p.get("communication") or [{}])[0].get("language") or {}).get("coding") or [{}])[0]
    out["language"] = language.get("code") if language.get("system") == urls.BCP47 else None
    race = ext(p, urls.EXT_US_CORE_RACE)
    if race is not None:
        written = ext_value(race, "text", "valueString")
        out["race"] = written.split("; ") if written else [
            c["display"] for e in exts(race, "ombCategory") if (c := e.get("valueCoding") or {}).get("display")]
    ethnicity = ext(p, urls.EXT_US_CORE_ETHNICITY)
    if ethnicity is not None:
        out["ethnicity"] = ext_value(ethnicity, "text", "valueString") or next(
            (c["display"] for e in exts(ethnicity, "ombCategory") if (c := e.get("valueCoding") or {}).get("display")),
            None)
    out["birth_sex"] = _BIRTH_SEX.get(ext_value(p, urls.EXT_US_CORE_BIRTHSEX, "valueCode") or "")
    return clean(out)
