"""fhir-onco: oncology and hematology case data to validated FHIR R4, to and from FHIR servers.

>>> from fhir_onco import load_case, map_case
>>> bundle = map_case(load_case("examples/seed000-b-all.yaml"))
"""

from __future__ import annotations

from typing import Any

from fhir_onco.case import Case, CaseError, load_case, parse_case

__version__ = "0.1.0"
__all__ = ["Case", "CaseError", "MappingError", "load_case", "map_case", "parse_case"]


def map_case(case: Case, *, source: str = "<case>", allow_text_only: bool = False) -> dict[str, Any]:
    """One patient's transaction Bundle (FHIR R4 JSON as a dict). Raises MappingError."""
    from fhir_onco.mappings import map_case_to_bundle

    bundle, _ = map_case_to_bundle(case, source=source, allow_text_only=allow_text_only)
    return bundle


def __getattr__(name: str) -> Any:
    if name == "MappingError":
        from fhir_onco.mappings import MappingError

        return MappingError
    raise AttributeError(name)
