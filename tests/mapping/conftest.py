"""Fixtures for the per-domain mapping tests: small inline cases in, the mapped bundle out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mapping_support import Mapped

from fhir_onco.case import parse_case
from fhir_onco.mappings import MappingError, map_case_to_bundle


@pytest.fixture
def map_case() -> Callable[..., Mapped]:
    def run(data: dict[str, Any], **kw: Any) -> Mapped:
        bundle, report = map_case_to_bundle(parse_case(data), **kw)
        return Mapped(bundle, report)
    return run


@pytest.fixture
def map_errors() -> Callable[..., list[tuple[str, str]]]:
    """(location without the source prefix, message) of every error; fails if the case maps."""
    def run(data: dict[str, Any], **kw: Any) -> list[tuple[str, str]]:
        with pytest.raises(MappingError) as info:
            map_case_to_bundle(parse_case(data), source="case.yaml", **kw)
        return [(i.location.removeprefix("case.yaml: "), i.message)
                for i in info.value.report.issues if i.severity == "error"]
    return run
