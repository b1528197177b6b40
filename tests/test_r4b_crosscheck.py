"""Second opinion on structure: every resource of every golden bundle parses with fhir.resources.

fhir.resources ships R4B, not R4; for the resources and datatypes we emit the two agree, so a
failure here means either our output or our R4 validator is wrong - worth a look either way.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "examples" / "golden").glob("*.json"))


def _model(resource_type: str) -> Any:
    return getattr(importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}"), resource_type)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_resources_parse_as_r4b(path: Path) -> None:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    assert bundle["entry"], "golden bundle is empty"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        _model(resource["resourceType"]).model_validate(resource)


def test_r4b_model_rejects_what_r4_rejects() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="gender"):
        _model("Patient").model_validate({"resourceType": "Patient", "gender": {"not": "a code"}})
