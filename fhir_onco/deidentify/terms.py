"""Which written terms are vocabulary, not free text: CodeableConcept.text is kept only for these."""

from __future__ import annotations

import typing
from functools import cache, lru_cache

from pydantic import BaseModel

from fhir_onco import case as case_model
from fhir_onco.terminology import Concept, Table, Terminology, default_terminology, normalise


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
        self._by_code: dict[tuple[str, str], list[tuple[Table, Concept]]] = {}
        for table in self._tables:
            for concept in table.concepts.values():
                for coding in concept.codings:
                    self._by_code.setdefault((coding.system, coding.code), []).append((table, concept))

    def names_coding(self, text: str, codings: list[dict[str, object]]) -> bool:
        """The text names the coded concept itself, also as a bare value qualified by the key's group.

        Stage values are written bare ('IIIA' under durie-salmon); the tables keep bare values out
        of the synonyms on purpose (ambiguous across systems), so the group of the coded concept's
        key ('durie-salmon-') qualifies them, as the mapping did.
        """
        for coding in codings:
            for table, concept in self._by_code.get((str(coding.get("system")), str(coding.get("code"))), []):
                parts = concept.key.split("-")
                prefixes = ["", *("-".join(parts[:i]) + "-" for i in range(1, len(parts)))]
                if any(table.lookup(prefix + text) is concept for prefix in prefixes):
                    return True
        return False

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str) or not text.strip():
            return False
        return self._known(text)

    @lru_cache(maxsize=8192)  # noqa: B019 - one instance per run; bounded, so memory stays flat
    def _known(self, text: str) -> bool:
        if normalise(text) in self._closed:
            return True
        return any(table.lookup(text) is not None for table in self._tables)
