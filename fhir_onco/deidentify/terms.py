"""Which written terms are vocabulary, not free text: CodeableConcept.text is kept only for these."""

from __future__ import annotations

import typing
from functools import cache

from pydantic import BaseModel

from fhir_onco import case as case_model
from fhir_onco.terminology import Terminology, default_terminology, normalise


def _literal_values(annotation: object) -> set[str]:
    values: set[str] = set()
    if typing.get_origin(annotation) is typing.Literal:
        values.update(str(a) for a in typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        values |= _literal_values(arg)
    return values


@cache
def case_model_values() -> frozenset[str]:
    """Closed value sets of the case model (finding results, chimerism results, ...): never free text."""
    values: set[str] = set()
    for obj in vars(case_model).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            for field in obj.model_fields.values():
                values |= _literal_values(field.annotation)
    return frozenset(normalise(v) for v in values)


class KnownTerms:
    """A text is known when a terminology table or a closed case-model value set has it."""

    def __init__(self, terminology: Terminology | None = None):
        self._tables = list((terminology or default_terminology()).tables.values())
        self._closed = case_model_values()

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str) or not text.strip():
            return False
        if normalise(text) in self._closed:
            return True
        return any(table.lookup(text) is not None for table in self._tables)
