"""The one way analytics read FHIR: each patient's resources -> the case model, by the reverse
mapping (:mod:`fhir_onco.mappings.reverse`) that ``pull`` uses too.

Report, export and timeline are built from the cases this module yields, so a fact's FHIR shape is
known in one place (its domain's ``mappings/<domain>_reverse.py``). A patient whose resources do
not make a case is skipped with a warning naming only the Patient resource id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from fhir_onco.case import Case
from fhir_onco.dates import PartialDate
from fhir_onco.errors import UNEXPECTED_ERRORS
from fhir_onco.mappings import dated_context
from fhir_onco.mappings.context import MappingContext
from fhir_onco.mappings.reverse import ReverseMappingError, read_resources
from fhir_onco.terminology import Terminology, default_terminology

from .reader import ResourceStore

log = logging.getLogger(__name__)


@dataclass
class ReadCase:
    """One patient's case as read back, with the FHIR ids of its items and its date resolver."""

    patient_id: str
    case: Case
    sources: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    _dates: MappingContext | None = None

    def resource_id(self, path: str) -> str:
        """FHIR id of the resource an item came from; for an item without one, a stable key."""
        source = self.sources.get(path)
        return source.split("/", 1)[1] if source else f"{self.patient_id}:{path}"

    def date(self, expr: str | None, hsct: str | None = None) -> PartialDate | None:
        """A date expression of the case (ISO, partial, D+N, day N@regimen) as a calendar date;
        `hsct` is the key of the HSCT a D+N without @id counts from (items of that HSCT)."""
        if expr is None:
            return None
        if self._dates is None:
            self._dates = dated_context(self.case)
        return self._dates.resolve_date(expr, "", hsct=hsct)

    def iso(self, expr: str | None, hsct: str | None = None) -> str | None:
        d = self.date(expr, hsct)
        return d.iso() if d is not None else None


@dataclass
class ReadStats:
    patients: int = 0
    skipped: list[str] = field(default_factory=list)  # "Patient/<id>: why"


def read_case(resources: Iterable[dict], terminology: Terminology | None = None) -> ReadCase:
    result = read_resources(resources, terminology or default_terminology())
    return ReadCase(result.patient_id, result.case, result.sources, result.warnings)


def read_cases(store: ResourceStore, terminology: Terminology | None = None,
               stats: ReadStats | None = None) -> Iterator[ReadCase]:
    """The cases of every patient in the store, in patient id order."""
    tx = terminology or default_terminology()
    stats = stats if stats is not None else ReadStats()
    groups = store.by_patient()
    for pid in sorted(groups):
        try:
            rc = read_case(groups[pid], tx)
        except ReverseMappingError as exc:
            # The message may quote values from the data: only its kind goes to the log.
            why = "no Patient resource" if "no Patient" in str(exc) else "its resources do not make a valid case"
            stats.skipped.append(f"Patient/{pid}: {why}")
            log.warning("skipped Patient/%s: %s", pid, why)
            continue
        except UNEXPECTED_ERRORS as exc:  # JSON that is not what a resource may hold (a string for an object)
            why = f"its resources are malformed ({type(exc).__name__})"
            stats.skipped.append(f"Patient/{pid}: {why}")
            log.warning("skipped Patient/%s: %s", pid, why)
            continue
        stats.patients += 1
        yield rc
