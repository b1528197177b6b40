"""Reverse of :mod:`.adverse_events`: AdverseEvents (CTCAE term and grade, GVHD grade and organs,
suspected causes) -> ``adverse_events:``."""

from __future__ import annotations

from fhir_onco.fhir import urls

from .read_context import SOURCE, Json, ReadContext, clean, ext, ext_value, exts, text, written_date


def read_adverse_events(ctx: ReadContext) -> list[Json]:
    """The first episode of each event is the item; further episodes (episode extension) join it."""
    firsts: list[Json] = []
    episodes: dict[int, list[tuple[int, Json]]] = {}  # id() of the first episode -> (number, resource)
    for a in ctx.groups["onco-adverse-event"]:
        link = ext(a, urls.EXT_AE_EPISODE)
        if link is None:
            firsts.append(a)
            continue
        first = ctx.resolve(ext_value(link, "first", "valueReference"))
        if first is None:
            ctx.warn(f"{ctx.label(a)}: adverse-event episode whose first episode is not in the data; dropped")
            continue
        episodes.setdefault(id(first), []).append((ext_value(link, "number", "valuePositiveInt") or 0, a))
    out = []
    for a in firsts:
        item = read_adverse_event(ctx, a)
        more = sorted(episodes.get(id(a), []), key=lambda e: e[0])
        if more:
            item["episodes"] = [_episode(ctx, e) for _, e in more]
        out.append(item)
    return out


def _grades(ctx: ReadContext, a: Json) -> Json:
    grade = ctx.key("ctcae_grades", ext_value(a, urls.EXT_CTCAE_GRADE, "valueCodeableConcept"))
    grade_range = ext(a, urls.EXT_GRADE_RANGE)
    return {"grade": int(grade.removeprefix("grade-")) if grade and not grade_range else None,
            "grade_range": ext_value(grade_range, "as-written", "valueString") if grade_range else None}


def _episode(ctx: ReadContext, a: Json) -> Json:
    return clean({
        "onset": written_date(a, "date"),
        "resolved": written_date(ext(a, urls.EXT_CTCAE_RESOLVED_DATE), "valueDateTime"),
        **_grades(ctx, a),
        "note": (ext_value(a, urls.EXT_NOTE, "valueAnnotation") or {}).get("text"),
    })


def _participant(ctx: ReadContext, e: Json) -> Json:
    actor = ext_value(e, "actor", "valueReference") or {}
    return clean({"actor": (actor.get("identifier") or {}).get("value") or actor.get("reference"),
                  "function": text(ext_value(e, "function", "valueCodeableConcept"))})


def read_adverse_event(ctx: ReadContext, a: Json) -> Json:
    event = a.get("event") or {}
    coding = event.get("coding") or []
    gvhd = ctx.key("regimen_terms", ext_value(a, urls.EXT_GVHD_GRADE, "valueCodeableConcept"))
    serious = ctx.key("ae_terms", a.get("seriousness"))
    icu = ext_value(a, urls.EXT_ICU_DAYS, "valueDuration")
    expectation = ctx.key("ae_terms", ext_value(a, urls.EXT_CTCAE_EXPECTATION, "valueCodeableConcept"))
    study = (a.get("study") or [{}])[0]
    # A coded term without a version was written with ctcae_version: null ("not stated").
    stated_version = {"ctcae_version": None} if coding and not coding[0].get("version") else {}
    return stated_version | clean({
        SOURCE: ctx.label(a),
        "id": ctx.local_id(a),
        "term": text(event),
        "ctcae_version": coding[0].get("version") if coding else None,
        **_grades(ctx, a),
        "gvhd_grade": int(gvhd.removeprefix("gvhd-grade-")) if gvhd else None,
        "gvhd_organs": [text(e.get("valueCodeableConcept")) for e in exts(a, urls.EXT_GVHD_ORGAN)],
        "onset": written_date(a, "date"),
        "resolved": written_date(ext(a, urls.EXT_CTCAE_RESOLVED_DATE), "valueDateTime"),
        "recorded": written_date(a, "recordedDate"),
        "serious": None if serious is None else serious == "seriousness-serious",
        "outcome": text(a.get("outcome")),
        "suspected_causes": _causes(ctx, a),
        "actions": [text(e.get("valueCodeableConcept")) for e in exts(a, urls.EXT_AE_ACTION)],
        "icu_days": icu.get("value") if icu else None,
        "treated_with": [lid for e in exts(a, urls.EXT_TREATED_WITH)
                         if (lid := ctx.ref_id(e.get("valueReference"), "treated_with", a))],
        "categories": [text(c) for c in a.get("category", [])],
        "expected": None if expectation is None else expectation == "expectation-expected",
        "study": (study.get("identifier") or {}).get("value") or study.get("reference"),
        "participants": [_participant(ctx, e) for e in exts(a, urls.EXT_CTCAE_PARTICIPANT)],
        "note": (ext_value(a, urls.EXT_NOTE, "valueAnnotation") or {}).get("text"),
    })


def _causes(ctx: ReadContext, a: Json) -> list[Json]:
    written = exts(a, urls.EXT_SUSPECTED_CAUSE)
    if written:
        out = []
        for e in written:
            target = "hsct" if ext(e, "hsct") else "regimen"
            lid = ctx.ref_id(ext_value(e, target, "valueReference"), f"suspected {target}", a)
            if lid is not None:
                out.append(clean({target: lid, "drug": ext_value(e, "drug", "valueString"),
                                  "causality": ext_value(e, "causality", "valueString")}))
        return out
    return _causes_from_suspects(ctx, a)


def _causes_from_suspects(ctx: ReadContext, a: Json) -> list[Json]:
    """Without the causes-as-written extension (other producers): an HSCT per Procedure, a
    regimen per run of its administrations, narrowed to a drug when only that drug's are named."""
    runs: list[tuple[Json, Json | None, str | None, set[str]]] = []  # (target, regimen, causality, drugs)
    for s in a.get("suspectEntity", []):
        target = ctx.resolve(s.get("instance"))
        causality = text(((s.get("causality") or [{}])[0]).get("assessment"))
        if target is None:
            continue
        regimen = None
        if ctx.profile(target) != "onco-hsct":
            regimen = ctx.resolve(ext_value(target, urls.EXT_REGIMEN, "valueReference"))
            if regimen is None:
                continue
        drug = text(target.get("medicationCodeableConcept")) if regimen else None
        if runs and regimen is not None and runs[-1][1] is regimen and runs[-1][2] == causality:
            runs[-1][3].add(drug or "")
        else:
            runs.append((target, regimen, causality, {drug or ""}))
    out = []
    for target, regimen, causality, drugs in runs:
        if regimen is None:
            out.append(clean({"hsct": ctx.local_id(target), "causality": causality}))
            continue
        given = {text(ma.get("medicationCodeableConcept")) for ma in ctx.groups["onco-medication-administration"]
                 if ctx.resolve(ext_value(ma, urls.EXT_REGIMEN, "valueReference")) is regimen}
        drug = next(iter(drugs)) if len(drugs) == 1 and len(given) > 1 else None
        out.append(clean({"regimen": ctx.local_id(regimen), "drug": drug or None, "causality": causality}))
    return out
