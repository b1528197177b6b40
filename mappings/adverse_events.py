"""Adverse events graded by CTCAE (AdverseEvent), aligned with the HL7 CTCAE IG."""

from __future__ import annotations

import copy

from fhir_onco.case import AdverseEvent, AeEpisode, grade_bounds
from fhir_onco.dates import PartialDate
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position
from .hsct import hsct_key


def map_adverse_events(ctx: MappingContext) -> None:
    for i, ae in enumerate(ctx.case.adverse_events):
        _map_one(ctx, i, ae)


def _grade_extensions(ctx: MappingContext, ae: AdverseEvent | AeEpisode) -> list[b.Json]:
    """The CTCAE grade of an event or of one of its episodes; a range keeps the words as written."""
    if ae.grade is not None:
        return [{"url": urls.EXT_CTCAE_GRADE, "valueCodeableConcept": b.codeable(
            ctx.fixed("ctcae_grades", f"grade-{ae.grade}"))}]
    if ae.grade_range is None:
        return []
    # The highest grade of the range is the CTCAE grade (so 'grade >= 3' counts never miss it); the
    # range as the source wrote it travels beside it.
    lo, hi = grade_bounds(ae.grade_range)
    grades = ctx.terminology["ctcae_grades"]  # grade-1 .. grade-5, as for `grade` above
    return [{"url": urls.EXT_CTCAE_GRADE, "valueCodeableConcept": b.codeable(grades.get(f"grade-{hi}"))},
            {"url": urls.EXT_GRADE_RANGE, "extension": [
                b.extension("low", valueInteger=lo), b.extension("high", valueInteger=hi),
                b.extension("as-written", valueString=ae.grade_range)]}]


def _resolved(ctx: MappingContext, resolved: str | None, path: str) -> list[b.Json]:
    if not resolved:
        return []
    out: b.Json = {"url": urls.EXT_CTCAE_RESOLVED_DATE}
    ctx.set_date(out, "valueDateTime", resolved, path)
    return [out]


def _map_one(ctx: MappingContext, i: int, ae: AdverseEvent) -> None:
    path = f"adverse_events[{i}]"
    ext: list[b.Json] = _grade_extensions(ctx, ae)
    ext.extend(_resolved(ctx, ae.resolved, f"{path}.resolved"))
    for j, action in enumerate(ae.actions):
        ext.append({"url": urls.EXT_AE_ACTION, "valueCodeableConcept": ctx.cc(
            "ae_terms", action, f"{path}.actions[{j}]", "action-")})
    if ae.icu_days:
        ext.append(b.extension(urls.EXT_ICU_DAYS, valueDuration={
            "value": ae.icu_days, "unit": "d", "system": urls.UCUM, "code": "d"}))
    if ae.gvhd_grade:
        ext.append({"url": urls.EXT_GVHD_GRADE, "valueCodeableConcept": b.codeable(
            ctx.fixed("regimen_terms", f"gvhd-grade-{ae.gvhd_grade}"))})
    for j, organ in enumerate(ae.gvhd_organs):
        ext.append({"url": urls.EXT_GVHD_ORGAN, "valueCodeableConcept": ctx.cc(
            "regimen_terms", organ, f"{path}.gvhd_organs[{j}]", "gvhd-")})
    for j, reg in enumerate(ae.treated_with):
        if ref := ctx.ref_to("regimen", "CarePlan", reg, f"{path}.treated_with[{j}]"):
            ext.append(b.extension(urls.EXT_TREATED_WITH, valueReference=ref))
    ext.extend(_causes_as_written(ctx, ae))
    if ae.expected is not None:  # CTCAE IG expectation (NCIt expected / unexpected adverse event)
        ext.append({"url": urls.EXT_CTCAE_EXPECTATION, "valueCodeableConcept": b.codeable(
            ctx.fixed("ae_terms", "expectation-expected" if ae.expected else "expectation-unexpected"))})
    for j, part in enumerate(ae.participants):  # CTCAE IG participant: function and actor
        sub: list[b.Json] = []
        if part.function is not None:
            sub.append(b.extension("function", valueCodeableConcept=ctx.cc(
                "ae_terms", part.function, f"{path}.participants[{j}].function", "function-")))
        # a logical reference: the practitioner's identifier, no Practitioner resource (nor name) is made
        sub.append(b.extension("actor", valueReference={"type": "Practitioner",
                                                        "identifier": {"value": part.actor}}))
        ext.append({"url": urls.EXT_CTCAE_PARTICIPANT, "extension": sub})
    if ae.note:  # R4 AdverseEvent has no note element
        ext.append(b.extension(urls.EXT_NOTE, valueAnnotation={"text": ae.note}))
    ext.append(position(i))
    event = ctx.cc("ctcae_terms", ae.term, f"{path}.term")
    if event and event.get("coding") and ae.ctcae_version:
        event["coding"][0]["version"] = ae.ctcae_version  # the CTCAE (NCIt) coding, not MedDRA
    key = ae.id or f"{ae.term}|{ae.onset}"
    resource: b.Json = {
        "resourceType": "AdverseEvent",
        "id": ctx.new_id("AdverseEvent", key),
        "meta": b.meta("onco-adverse-event"),
        "extension": ext,
        "identifier": (b.identifier_for(ae.id) or [None])[0],
        "actuality": "actual",
        "category": [ctx.cc("ae_terms", c, f"{path}.categories[{j}]", "category-")
                     for j, c in enumerate(ae.categories)],
        "event": event,
        "subject": ctx.patient_ref,
    }
    ctx.set_date(resource, "date", ae.onset, f"{path}.onset")
    ctx.set_date(resource, "recordedDate", ae.recorded, f"{path}.recorded")
    if ae.serious is not None:
        resource["seriousness"] = b.codeable(
            ctx.fixed("ae_terms", "seriousness-serious" if ae.serious else "seriousness-non-serious"))
    resource["outcome"] = ctx.cc("ae_terms", ae.outcome, f"{path}.outcome", "outcome-")
    resource["suspectEntity"] = _suspects(ctx, ae, path)
    if ae.study:  # a logical reference to the ResearchStudy by its identifier (e.g. an NCT number)
        resource["study"] = [{"type": "ResearchStudy", "identifier": {"value": ae.study}}]
    ctx.add(resource)
    for n, episode in enumerate(ae.episodes, start=2):
        _map_episode(ctx, f"{path}.episodes[{n - 2}]", ae, key, resource, n, episode)


def _map_episode(ctx: MappingContext, path: str, ae: AdverseEvent, key: str, first: b.Json, n: int,
                 episode: AeEpisode) -> None:
    """A further episode: its own AdverseEvent (same term, its own dates and grade), linked to the first
    by the episode extension (number + reference) and by the first's identifier with '#n'."""
    ext = _grade_extensions(ctx, episode)
    ext.extend(_resolved(ctx, episode.resolved, f"{path}.resolved"))
    ext.append({"url": urls.EXT_AE_EPISODE, "extension": [
        b.extension("number", valuePositiveInt=n),
        b.extension("first", valueReference=b.reference("AdverseEvent", first["id"]))]})
    if episode.note:
        ext.append(b.extension(urls.EXT_NOTE, valueAnnotation={"text": episode.note}))
    resource: b.Json = {
        "resourceType": "AdverseEvent",
        "id": ctx.new_id("AdverseEvent", f"{key}#{n}"),
        "meta": b.meta("onco-adverse-event"),
        "extension": ext,
        "identifier": {"system": urls.LOCAL_ID_SYSTEM, "value": f"{ae.id}#{n}"} if ae.id else None,
        "actuality": "actual",
        "event": copy.deepcopy(first["event"]),
        "subject": ctx.patient_ref,
    }
    ctx.set_date(resource, "date", episode.onset, f"{path}.onset")
    ctx.add(resource)


def _causes_as_written(ctx: MappingContext, ae: AdverseEvent) -> list[b.Json]:
    """Each suspected cause as the case states it, in order. suspectEntity cannot say it: it has no
    CarePlan target, so a regimen becomes its administrations (none for a regimen without drugs) and
    the drug as written is gone. References that do not resolve are reported by _suspects."""
    out: list[b.Json] = []
    for cause in ae.suspected_causes:
        if cause.hsct:
            key = next((hsct_key(h) for h in ctx.case.hsct if h.id == cause.hsct), cause.hsct)
            rid, kind = ctx.ids.get(("hsct", key)), "Procedure"
        else:
            rid, kind = ctx.ids.get(("regimen", cause.regimen or "")), "CarePlan"
        if rid is None:
            continue
        out.append({"url": urls.EXT_SUSPECTED_CAUSE, "extension": [
            b.extension("hsct" if cause.hsct else "regimen", valueReference=b.reference(kind, rid)),
            b.extension("drug", valueString=cause.drug) if cause.drug else None,
            b.extension("causality", valueString=cause.causality) if cause.causality else None,
        ]})
    return out


def _suspects(ctx: MappingContext, ae: AdverseEvent, path: str) -> list[b.Json]:
    """A regimen cause points at its administrations given up to the onset (R4 suspectEntity cannot
    point at a CarePlan; the regimen itself is in the suspected-cause extension)."""
    out: list[b.Json] = []
    onset = ctx.latest_date(ae.onset)
    for j, cause in enumerate(ae.suspected_causes):
        p = f"{path}.suspected_causes[{j}]"
        assessment = ctx.cc("ae_terms", cause.causality, f"{p}.causality", "causality-")
        causality = [{"assessment": assessment}] if assessment else []
        if cause.hsct:
            key = next((hsct_key(h) for h in ctx.case.hsct if h.id == cause.hsct), cause.hsct)
            if ref := ctx.ref_to("hsct", "Procedure", key, f"{p}.hsct"):
                out.append({"instance": ref, "causality": causality})
            continue
        assert cause.regimen is not None
        if ("regimen", cause.regimen) not in ctx.ids:
            ctx.ref_to("regimen", "CarePlan", cause.regimen, f"{p}.regimen")  # records the error
            continue
        given = ctx.administrations.get(cause.regimen, [])
        if cause.drug:
            wanted = ctx.concept("drugs", cause.drug, f"{p}.drug")
            table = ctx.terminology["drugs"]
            given = [g for g in given if wanted is not None and table.lookup(g[0]) == wanted]
            if not given and wanted is not None:
                ctx.error(f"{p}.drug", f"{cause.drug!r} was not given in regimen {cause.regimen!r}")
        out.extend({"instance": b.reference("MedicationAdministration", rid), "causality": causality}
                   for _, rid, given_on in given if _before_onset(given_on, onset))
    return out


def _before_onset(given_on: PartialDate | None, onset: PartialDate | None) -> bool:
    """Pharmacovigilance names only doses that may have been given by the onset, never the later
    ones. Partial dates count when they may fall on or before it; undated doses are left out, and
    so is every dose when the onset has no known upper bound (the regimen stays named as written)."""
    if onset is None or given_on is None:
        return False
    return given_on.earliest() <= onset.latest()
