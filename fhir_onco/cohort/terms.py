"""Every term a spec writes is looked up in the terminology tables before any patient is drawn, so an
unknown term is an error naming the spec file and the field path (not a text-only code in the output).
The lookups are the ones the forward mapping makes (same table, same key prefix)."""

from __future__ import annotations

from collections.abc import Iterator

from fhir_onco.terminology import default_terminology

from . import spec as s
from .spec import CohortError, CohortSpec

Check = tuple[str, str, str, str]  # path, table, term, key prefix


def _drugs(path: str, drugs: list[s.DrugTemplate]) -> Iterator[Check]:
    for j, d in enumerate(drugs):
        yield f"{path}[{j}].drug", "drugs", d.drug, ""
        if d.route:
            yield f"{path}[{j}].route", "routes", d.route, ""


def _regimen(path: str, r: s.IndexRegimen) -> Iterator[Check]:
    yield f"{path}.category", "regimen_terms", r.category, "category-"
    if r.intent:
        yield f"{path}.intent", "regimen_terms", r.intent, "intent-"
    yield from _drugs(f"{path}.drugs", r.drugs)


def _hsct(path: str, h: s.HsctSpec) -> Iterator[Check]:
    for match in (*h.donor, *h.relation, *h.manipulations):
        yield f"{path}.donor.{match}", "hsct", match, "donor-"
    for match, relations in h.relation.items():
        for r in relations:
            yield f"{path}.relation.{match}", "hsct", r, "relation-"
    for match, manipulations in h.manipulations.items():
        for m in manipulations:
            yield f"{path}.manipulations.{match}", "hsct", m, "manipulation-"
    for source in h.graft_source:
        yield f"{path}.graft_source.{source}", "hsct", source, "graft-"
    for intensity in (*h.conditioning_intensity, *h.conditioning):
        yield f"{path}.conditioning_intensity.{intensity}", "regimen_terms", intensity, "intensity-"
    for intensity, cond in h.conditioning.items():
        yield from _drugs(f"{path}.conditioning.{intensity}.drugs", cond.drugs)


def _group(path: str, g: s.Group) -> Iterator[Check]:
    for value, rv in g.best_response.items():
        yield f"{path}best_response.{value}", "responses", value, ""
        if rv.stop_reason:
            yield f"{path}best_response.{value}.stop_reason", "regimen_terms", rv.stop_reason, "stop-"
    for j, ae in enumerate(g.adverse_events):
        yield f"{path}adverse_events[{j}].term", "ctcae_terms", ae.term, ""
        if ae.drug:
            yield f"{path}adverse_events[{j}].drug", "drugs", ae.drug, ""
    for cause, c in g.deaths.items():
        yield f"{path}deaths.{cause}", "death_causes", cause, ""
        if c.adverse_event:
            yield f"{path}deaths.{cause}.adverse_event", "ctcae_terms", c.adverse_event, ""
    for name, cat in g.categories.items():
        if cat.field == "paraprotein":
            for value in cat.counts:
                yield f"{path}categories.{name}.counts.{value}", "regimen_terms", value, "paraprotein-"
        for value, sets in cat.findings.items():
            for k, one in enumerate(sets["one_of"]):
                for m, f in enumerate(one):
                    yield f"{path}categories.{name}.findings.{value}.one_of[{k}][{m}].target", "findings", f.target, ""
    if g.hsct is not None:
        yield from _hsct(f"{path}hsct", g.hsct)
    if g.index_regimen is not None:
        yield from _regimen(f"{path}index_regimen", g.index_regimen)


def checks(spec: CohortSpec) -> Iterator[Check]:
    yield "diagnosis.condition", "conditions", spec.diagnosis.condition, ""
    if spec.diagnosis.morphology:
        yield "diagnosis.morphology", "morphology", spec.diagnosis.morphology, ""
    yield from _group("", spec)
    for g in spec.groups:
        yield from _group(f"groups[{g.name}].", g)
    pt = spec.prior_therapy
    if pt is not None:
        for j, e in enumerate(pt.catalogue):
            for k, d in enumerate(e.drugs):
                yield f"prior_therapy.catalogue[{j}].drugs[{k}]", "drugs", d, ""
        if pt.hsct is not None:
            yield from _drugs("prior_therapy.hsct.conditioning.drugs", pt.hsct.conditioning.drugs)
            if pt.hsct.graft_source:
                yield "prior_therapy.hsct.graft_source", "hsct", pt.hsct.graft_source, "graft-"


def check_terms(spec: CohortSpec) -> None:
    """Raise CohortError listing every term the tables do not know, with the spec file and field path."""
    tables = default_terminology()
    problems = []
    for path, table, term, prefix in checks(spec):
        tab = tables[table]
        concept = tab.lookup(prefix + term) or tab.lookup(term)
        if concept is None or not concept.key.startswith(prefix):
            hint = tab.suggest(term)
            problems.append(f"{spec.source}: {path}: unknown term {term!r} ({table} table"
                            + (f"{', ' + prefix.rstrip('-') + ' terms' if prefix else ''}); did you mean: "
                               f"{', '.join(hint)}?" if hint else ")"))
    if problems:
        raise CohortError("\n".join(problems))
