"""Terms and dates as the analysis tables show them.

A case read back from FHIR holds terms as written (``КР``, ``ISS III``, ``нейтропения``); the
tables show the terminology *key* (``cr``, ``neutrophil count decreased``) and its display, so the
same fact written in Russian or English counts once. A term the tables do not know (data we did
not write) stays as written. Dates are ISO, partial dates stay partial; :func:`point` turns them
into a calendar day for computing.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache
from typing import Any

from fhir_onco.dates import DateError, PartialDate, parse_date
from fhir_onco.terminology import Concept, Terminology, default_terminology, normalise

Json = dict[str, Any]


# SNOMED CT fully specified names end in a semantic tag clinicians never write: "(disorder)".
_SEMANTIC_TAG = re.compile(r"\s+\((disorder|finding|observable entity|procedure|qualifier value|morphologic "
                           r"abnormality|body structure|situation|event|substance|product|regime/therapy|"
                           r"tumor staging|staging scale|attribute)\)$")


def clinical(label: str | None) -> str | None:
    """A label as clinicians write it: without a SNOMED semantic tag."""
    return _SEMANTIC_TAG.sub("", label) if label else label


class Labels:
    """Written term -> terminology concept (memoised), as the forward mapping resolves it."""

    def __init__(self, terminology: Terminology | None = None):
        self.terminology = terminology or default_terminology()
        self._lookup = lru_cache(maxsize=None)(self._concept)
        self._shared: dict[str, frozenset[str]] = {}

    def _concept(self, table: str, term: str, prefix: str) -> Concept | None:
        tab = self.terminology[table]
        if normalise(term) in self._shared_displays(table):
            return None  # e.g. 'Patient's condition improved': a code several concepts share says neither
        concept = (tab.lookup(prefix + term) if prefix else None) or tab.lookup(term)
        return concept if concept is not None and concept.key.startswith(prefix) else None

    def _shared_displays(self, table: str) -> frozenset[str]:
        """Displays of codes that more than one concept of the table carries (many-to-one alignments
        such as CR and remission both -> SNOMED 'condition improved'): ambiguous when read back."""
        if table in self._shared:
            return self._shared[table]
        owners: dict[tuple[str, str], set[str]] = {}
        displays: dict[tuple[str, str], str] = {}
        for concept in self.terminology[table].concepts.values():
            for c in concept.codings:
                owners.setdefault((c.system, c.code), set()).add(concept.key)
                displays[(c.system, c.code)] = c.display
        self._shared[table] = frozenset(normalise(displays[k]) for k, keys in owners.items() if len(keys) > 1)
        return self._shared[table]

    def concept(self, table: str, term: str | None, prefix: str = "") -> Concept | None:
        return None if not term else self._lookup(table, term, prefix)

    def key(self, table: str, term: str | None, prefix: str = "") -> str | None:
        """Terminology key without `prefix`; the term as written when the table does not know it."""
        concept = self.concept(table, term, prefix)
        return concept.key.removeprefix(prefix) if concept is not None else term

    def display(self, table: str, term: str | None, prefix: str = "") -> str | None:
        concept = self.concept(table, term, prefix)
        return clinical(concept.display if concept is not None else term)

    def label_of_key(self, table: str, key: str | None, prefix: str = "") -> str | None:
        """Display of a terminology key (as the tables show it, without its group prefix); else the key."""
        if key is None:
            return None
        concept = self.terminology[table].find(prefix + key)
        return clinical(concept.display) if concept is not None else key


def fhir_date(value: Any) -> PartialDate | None:
    """ISO date / dateTime ('2021', '2021-12', '2021-12-15', '2021-12-15T10:00:00Z')."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_date(value.split("T", 1)[0])
    except DateError:
        return None
    return parsed if isinstance(parsed, PartialDate) else None


def point(value: PartialDate | str | None) -> _dt.date | None:
    """A calendar day for computing: the middle of a partial date's span (15th / 1 July)."""
    pd = fhir_date(value) if isinstance(value, str) else value
    if pd is None:
        return None
    if pd.precision == "day":
        return pd.to_date()
    first, last = pd.earliest(), pd.latest()
    return first + (last - first) // 2


def iso(value: PartialDate | None) -> str | None:
    return value.iso() if value is not None else None
