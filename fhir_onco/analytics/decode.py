"""Reading facts back out of FHIR JSON: reverse code lookups, extensions, references, dates.

Codes are never spelled here: a CodeableConcept is turned back into the terminology key it came
from with :meth:`fhir_onco.terminology.Table.key_for` (cached), so the analytics follow the tables.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from fhir_onco.dates import DateError, PartialDate, parse_date
from fhir_onco.terminology import Concept, Terminology, default_terminology

Json = dict[str, Any]


class Decoder:
    """Reverse lookups of codings into terminology concepts, memoised per (table, system, code)."""

    def __init__(self, terminology: Terminology | None = None):
        self.terminology = terminology or default_terminology()
        self._lookup = lru_cache(maxsize=None)(self._key_for)

    def _key_for(self, table: str, system: str, code: str) -> Concept | None:
        return self.terminology[table].key_for(system, code)

    def concept(self, cc: Json | None, table: str) -> Concept | None:
        """The concept of the first coding the table knows (the mapper puts the primary first); a
        code several keys share is told apart by the text as written."""
        for coding in (cc or {}).get("coding") or []:
            system, code = coding.get("system"), coding.get("code")
            if system and code:
                found = self._lookup(table, str(system), str(code))
                if found is not None:
                    if (cc or {}).get("text") and len(self.terminology[table].with_code(str(code))) > 1:
                        return self.terminology[table].concept_of([(str(system), str(code))], str(cc["text"]))
                    return found
        return None

    def key(self, cc: Json | None, table: str, prefix: str = "") -> str | None:
        """Terminology key (without `prefix`), else the text / first display as written."""
        concept = self.concept(cc, table)
        if concept is not None:
            return concept.key.removeprefix(prefix)
        return text_of(cc)

    def display(self, cc: Json | None, table: str) -> str | None:
        concept = self.concept(cc, table)
        return concept.display if concept is not None else text_of(cc)

    def fixed(self, table: str, key: str) -> Concept:
        return self.terminology[table].get(key)


def text_of(cc: Json | None) -> str | None:
    if not cc:
        return None
    if cc.get("text"):
        return str(cc["text"])
    for coding in cc.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
        if coding.get("code"):
            return str(coding["code"])
    return None


def primary_coding(cc: Json | None) -> tuple[str | None, str | None]:
    for coding in (cc or {}).get("coding") or []:
        return coding.get("system"), coding.get("code")
    return None, None


# ---- extensions and references ------------------------------------------------------------------
def extensions(element: Json | None, url: str) -> Iterator[Json]:
    for ext in (element or {}).get("extension") or []:
        if ext.get("url") == url:
            yield ext


def ext_value(element: Json | None, url: str, kind: str | None = None) -> Any:
    """Value of the first extension with `url` (of type `kind`, e.g. 'valueBoolean', if given)."""
    for ext in extensions(element, url):
        if kind is not None:
            return ext.get(kind)
        for k, v in ext.items():
            if k.startswith("value"):
                return v
    return None


def ref_id(ref: Json | None) -> str | None:
    """'Patient/123', 'http://x/fhir/Patient/123/_history/2' -> '123'; None for other shapes."""
    if not isinstance(ref, dict):
        return None
    text = ref.get("reference")
    if not isinstance(text, str) or not text:
        return None
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    if text.startswith("urn:uuid:"):
        return text.removeprefix("urn:uuid:")
    return parts[-1] if len(parts) >= 2 else None


def ref_type(ref: Json | None) -> str | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    parts = ref["reference"].split("/_history/")[0].rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 else None


def subject_id(resource: Json) -> str | None:
    if resource.get("resourceType") == "Patient":
        return resource.get("id")
    return ref_id(resource.get("subject") or resource.get("patient"))


def profile_names(resource: Json) -> set[str]:
    """Last path segment of each meta.profile (our profiles are named, e.g. 'onco-hsct')."""
    return {str(p).rstrip("/").rsplit("/", 1)[-1] for p in (resource.get("meta") or {}).get("profile") or []}


def quantity_value(q: Json | None) -> float | None:
    if not isinstance(q, dict) or q.get("value") is None:
        return None
    try:
        return float(q["value"])
    except (TypeError, ValueError):
        return None


# ---- dates --------------------------------------------------------------------------------------
def fhir_date(value: Any) -> PartialDate | None:
    """FHIR date / dateTime ('2021', '2021-12', '2021-12-15', '2021-12-15T10:00:00Z')."""
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


def period_dates(resource: Json, *prefixes: str) -> tuple[PartialDate | None, PartialDate | None]:
    """(start, end) of the first of `<prefix>DateTime` / `<prefix>Period` present."""
    for prefix in prefixes:
        if prefix + "DateTime" in resource:
            d = fhir_date(resource[prefix + "DateTime"])
            return d, d
        if prefix + "Period" in resource:
            period = resource[prefix + "Period"] or {}
            return fhir_date(period.get("start")), fhir_date(period.get("end"))
        value = resource.get(prefix)
        if isinstance(value, str):  # a plain date element (AdverseEvent.date)
            d = fhir_date(value)
            return d, d
        if isinstance(value, dict):  # a Period element (CarePlan.period)
            return fhir_date(value.get("start")), fhir_date(value.get("end"))
    return None, None
