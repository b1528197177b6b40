"""Mapping modules, one per clinical domain, and the terminology tables they read.

Where a fact enters and leaves: ``fhir_onco.case`` (case model) -> the module here named after its
domain -> ``fhir_onco.fhir.builders`` (FHIR JSON) -> ``fhir_onco.validation`` -> ``fhir_onco.server``.
"""

from __future__ import annotations

from fhir_onco.case import Case
from fhir_onco.dates import UnknownDate, parse_date
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls
from fhir_onco.terminology import Terminology, default_terminology
from fhir_onco.validation.report import Report

from .adverse_events import map_adverse_events
from .context import MappingContext
from .diagnosis import map_diagnoses
from .gvhd import map_gvhd
from .hsct import map_hsct, register_hsct_anchors
from .labs import map_labs
from .medication_requests import map_medication_requests
from .observations import map_mrd, map_responses
from .patient import map_patient
from .procedures import map_procedures
from .radiotherapy import map_radiotherapy
from .treatment import map_regimens, regimen_key

__all__ = ["MappingError", "dated_context", "map_case_to_bundle"]


class MappingError(ValueError):
    """The case has errors; `report` lists each with its field path."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__(report.to_text())


def map_case_to_bundle(
    case: Case,
    *,
    source: str = "<case>",
    allow_text_only: bool = False,
    terminology: Terminology | None = None,
) -> tuple[b.Json, Report]:
    """Map one case to a transaction Bundle; raise MappingError when any error was found."""
    ctx = MappingContext(case, terminology or default_terminology(), source, allow_text_only)
    # Anchors first: patient (age.at, death) and diagnosis dates (relapse, findings) may be D+N / day N.
    register_hsct_anchors(ctx)
    _register_regimen_starts(ctx)
    map_patient(ctx)
    map_diagnoses(ctx)
    map_regimens(ctx)
    map_medication_requests(ctx)
    map_radiotherapy(ctx)
    map_procedures(ctx)
    map_hsct(ctx)
    map_gvhd(ctx)
    map_mrd(ctx)
    map_labs(ctx)
    map_responses(ctx)
    map_adverse_events(ctx)
    if not ctx.report.ok:
        raise MappingError(ctx.report)
    bundle = b.transaction_bundle(ctx.resources, ctx.new_id("Bundle", "transaction"))
    if ctx.text_only:
        bundle["meta"]["tag"] = [{"system": urls.FLAGS_SYSTEM, "code": "text-only-coding",
                                  "display": "Some terms are text only (no code)"}]
    return bundle, ctx.report


def dated_context(case: Case, terminology: Terminology | None = None) -> MappingContext:
    """A mapping context with the case's date anchors registered: ``resolve_date`` turns any of
    its date expressions (D+21, day 8@blina1, 15.12.2021) into the date the mapping writes."""
    ctx = MappingContext(case, terminology or default_terminology(), "<case>")
    register_hsct_anchors(ctx)
    _register_regimen_starts(ctx)
    return ctx


def _register_regimen_starts(ctx: MappingContext) -> None:
    # In list order, so a regimen may start relative to an earlier one ("day 29@blina1").
    for i, rg in enumerate(ctx.case.regimens):
        key = regimen_key(rg)
        start = ctx.resolve_date(rg.start, f"regimens[{i}].start")
        if start is not None:
            ctx.regimen_starts[key] = start
        elif isinstance(parse_date(rg.start), UnknownDate):
            ctx.undated.add(key)
        if (end := ctx.quiet_date(rg.end, regimen=key)) is not None:
            ctx.regimen_ends[key] = end  # bounds of 'after@' / 'during@' dates
