"""Reverse mapping: the FHIR resources of one patient -> the case they were mapped from.

The forward mapping keeps everything a case says: terms as written in ``CodeableConcept.text``,
date expressions in the source-date extension, local ids in identifiers, list order in the
case-item-position extension and drug schedules as written on ``CarePlan.activity.detail``.
Each domain reads them back in its twin module beside the forward one (``patient_reverse.py``
next to ``patient.py``, ...) with the shared :class:`.read_context.ReadContext`; this module
puts the case together, so ``case -> bundle -> server -> resources -> case`` gives the same
case (docs/roundtrip.md lists the few exceptions and why).

Input is what a server returns: any order, absolute (``http://x/fhir/Patient/1``), relative or
``urn:uuid:`` references, server-added ``meta.versionId``/``lastUpdated`` and resources we did not
create. Those are skipped with a warning that names only resource type and id (never PHI).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from fhir_onco.case import Case, CaseError, field_path, parse_case
from fhir_onco.terminology import Terminology, default_terminology

from .adverse_events_reverse import read_adverse_events
from .diagnosis_reverse import read_diagnoses, warn_orphans
from .gvhd_reverse import warn_unlinked
from .hsct_reverse import read_hscts
from .labs_reverse import read_labs
from .mcode_reverse import read_mcode_medications
from .medication_requests_reverse import read_medication_requests
from .observations_reverse import read_mrd, read_responses
from .patient_reverse import read_case_note, read_patient
from .procedures_reverse import read_procedures
from .radiotherapy_reverse import read_radiotherapy
from .read_context import SOURCE, Json, ReadContext, ReverseMappingError, clean
from .treatment_reverse import read_regimens

__all__ = ["ReverseMappingError", "ReverseResult", "case_from_bundle", "case_from_resources", "read_bundle",
           "read_resources"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReverseResult:
    case: Case
    warnings: list[str] = field(default_factory=list)
    # Where each item came from: the Patient's resource id, and field path -> "Type/id"
    # ("regimens[0]" -> "CarePlan/..."), so tables built from the case keep the FHIR ids to join on.
    patient_id: str = ""
    sources: dict[str, str] = field(default_factory=dict)


def case_from_bundle(bundle: Json) -> Case:
    """The case of a transaction, searchset or collection Bundle holding one patient's resources."""
    return _logged(read_bundle(bundle))


def case_from_resources(resources: Iterable[Json]) -> Case:
    """The case of one patient's resources, as a server returns them (any order)."""
    return _logged(read_resources(resources))


def read_bundle(bundle: Json, terminology: Terminology | None = None) -> ReverseResult:
    """Like case_from_bundle, and returns the warnings instead of logging them."""
    if bundle.get("resourceType") != "Bundle":
        raise ReverseMappingError(f"expected a Bundle, got {bundle.get('resourceType')!r}")
    resources = [e["resource"] for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]
    return read_resources(resources, terminology)


def read_resources(resources: Iterable[Json], terminology: Terminology | None = None) -> ReverseResult:
    """Like case_from_resources, and returns the warnings instead of logging them."""
    ctx = ReadContext(list(resources), terminology or default_terminology())
    data = _case_data(ctx)
    # Data we did not write may lack what the case model requires (a regimen without a start, a
    # stage system we do not have): such an item is left out with a warning, the rest is read.
    for _ in range(100):
        sources: dict[str, str] = {}
        plain = _without_sources(data, (), sources)
        try:
            case = parse_case(plain, "<pulled resources>")
            break
        except CaseError as exc:
            if not _drop_invalid_items(data, exc, sources, ctx):
                raise ReverseMappingError(str(exc)) from None
    else:
        raise ReverseMappingError("the resources do not make a valid case")
    return ReverseResult(case, ctx.warnings, str(ctx.patient["id"]), sources)


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _drop_invalid_items(data: Json, exc: CaseError, sources: dict[str, str], ctx: ReadContext) -> bool:
    """Remove the innermost list item holding each error; False when an error is outside any item."""
    drops: dict[tuple[int | str, ...], str] = {}
    for loc, msg in exc.issues:
        tokens: list[int | str] = [int(i) if i else name for name, i in _TOKEN.findall(loc)]
        last = max((k for k, t in enumerate(tokens) if isinstance(t, int)), default=None)
        if last is None:
            return False
        item = tuple(tokens[:last + 1])
        drops.setdefault(item, f"{loc}: {msg}")
    for item in sorted(drops, key=lambda t: [str(x) if isinstance(x, str) else f"{x:09d}" for x in t],
                       reverse=True):
        container: object = data
        for t in item[:-1]:
            container = container[t]  # type: ignore[index]
        where = sources.get(field_path(item), field_path(item))
        ctx.warn(f"not read {where}: {drops[item]}")
        del container[item[-1]]  # type: ignore[union-attr,arg-type]
    return True


def _without_sources(data: object, path: tuple[int | str, ...], out: dict[str, str]) -> object:
    """A copy of the case data without the source notes, which go to `out` by field path."""
    if isinstance(data, dict):
        if SOURCE in data:
            out[field_path(path)] = data[SOURCE]
        return {k: _without_sources(v, (*path, k), out) for k, v in data.items() if k != SOURCE}
    if isinstance(data, list):
        return [_without_sources(v, (*path, i), out) for i, v in enumerate(data)]
    return data


def _case_data(ctx: ReadContext) -> Json:
    data: Json = {
        "patient": read_patient(ctx),
        "diagnoses": read_diagnoses(ctx),
        "regimens": read_regimens(ctx) + read_mcode_medications(ctx),
        "medication_requests": read_medication_requests(ctx),
        "radiotherapy": read_radiotherapy(ctx),
        "procedures": read_procedures(ctx),
        "hsct": read_hscts(ctx),
        "mrd": read_mrd(ctx),
        "labs": read_labs(ctx),
        "responses": read_responses(ctx),
        "adverse_events": read_adverse_events(ctx),
        "note": read_case_note(ctx),
    }
    warn_orphans(ctx)
    warn_unlinked(ctx)
    return clean(data)


def _logged(result: ReverseResult) -> Case:
    for w in result.warnings:
        log.warning("%s", w)
    return result.case
