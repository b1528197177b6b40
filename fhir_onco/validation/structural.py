"""Structural validation of single resources against the base FHIR specification.

Uses the fhir.resources R4B models (R4B equals R4 for every resource and datatype we emit; the
differences that matter - Observation/DiagnosticReport.subject targets and a few Extension value
types - do not change the structure checked here). The profile validator (conformance) covers
the same ground and more; this layer is the one that works without compiled profiles.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from pydantic import ValidationError

from fhir_onco.case import field_path
from fhir_onco.validation.report import Report


@cache
def _model(resource_type: str) -> Any:
    try:
        module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
        return getattr(module, resource_type)
    except (ImportError, AttributeError):
        return None


def check_structure(resource: dict[str, Any], location: str, report: Report) -> None:
    rtype = resource.get("resourceType")
    model = _model(rtype) if isinstance(rtype, str) else None
    if model is None:
        report.error(f"{location}.resourceType", f"unknown resource type {rtype!r}", rule="structure",
                     code="structure")
        return
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            report.error(f"{location}.{field_path(err['loc'])}", err["msg"], rule="structure", code="structure")
