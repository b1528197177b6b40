"""Shared state of one case's mapping: terminology lookups, date resolution, ids, references.

Mapping modules never raise on bad data: they record an Issue with the field path and go on, so
one run reports every problem of a case. The orchestrator refuses to emit a bundle with errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_onco.case import Case
from fhir_onco.dates import DateError, PartialDate, RelativeDate, parse_date, shift
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls
from fhir_onco.terminology import Concept, Terminology, UnknownTermError
from fhir_onco.validation.report import Report


def position(index: int) -> b.Json:
    """Extension with the 1-based place of a list item (lists come back unordered from a server)."""
    return b.extension(urls.EXT_POSITION, valuePositiveInt=index + 1)


@dataclass(slots=True)
class MappingContext:
    case: Case
    terminology: Terminology
    source: str = "<case>"
    allow_text_only: bool = False
    report: Report = field(default_factory=Report)
    resources: list[b.Json] = field(default_factory=list)
    # local id -> resource id, per kind ("diagnosis", "regimen", "hsct", ...)
    ids: dict[tuple[str, str], str] = field(default_factory=dict)
    # regimen local key -> [(drug as written, MedicationAdministration id, date given or its start)]
    administrations: dict[str, list[tuple[str, str, PartialDate | None]]] = field(default_factory=dict)
    hsct_dates: dict[str, PartialDate] = field(default_factory=dict)
    regimen_starts: dict[str, PartialDate] = field(default_factory=dict)
    text_only: bool = False  # some term was kept as text only (flagged in the bundle)

    # ---- identity -------------------------------------------------------------------------
    @property
    def patient_key(self) -> str:
        first = self.case.patient.identifiers[0]
        return f"{first.system}|{first.value}"

    @property
    def patient_id(self) -> str:
        return b.resource_id(self.patient_key, "Patient")

    @property
    def patient_ref(self) -> b.Json:
        return b.reference("Patient", self.patient_id)

    def new_id(self, kind: str, key: str) -> str:
        return b.resource_id(self.patient_key, kind, key)

    def register(self, kind: str, local_id: str, rid: str) -> None:
        self.ids[(kind, local_id)] = rid

    def ref_to(self, kind: str, resource_type: str, local_id: str, path: str) -> b.Json | None:
        rid = self.ids.get((kind, local_id))
        if rid is None:
            # Only ids the case wrote can be referred to; natural keys ('name|date') are internal.
            known = sorted(k for (kd, k) in self.ids if kd == kind and "|" not in k)
            self.error(path, f"no {kind} with id {local_id!r}; ids given in this case: "
                             f"{', '.join(known) or 'none (add an id: to the item you refer to)'}")
            return None
        return b.reference(resource_type, rid)

    def default_diagnosis(self) -> str | None:
        return next((k for (kd, k) in self.ids if kd == "diagnosis"), None)

    def diagnosis_ref(self, local_id: str | None, path: str) -> b.Json | None:
        key = local_id or self.default_diagnosis()
        ref = self.ref_to("diagnosis", "Condition", key, path) if key else None
        if ref is not None and local_id is not None and local_id == self.default_diagnosis():
            # Named explicitly, yet the same as the default: marked so the case reads back as written.
            ref["extension"] = [b.extension(urls.EXT_STATED_REFERENCE, valueBoolean=True)]
        return ref

    def add(self, resource: b.Json) -> b.Json:
        resource = b.prune(resource)
        self.resources.append(resource)
        return resource

    # ---- issues ---------------------------------------------------------------------------
    def error(self, path: str, message: str) -> None:
        self.report.error(f"{self.source}: {path}", message, rule="mapping")

    def warning(self, path: str, message: str) -> None:
        self.report.warning(f"{self.source}: {path}", message, rule="mapping")

    # ---- terminology ----------------------------------------------------------------------
    def concept(self, table: str, term: str | None, path: str, prefix: str = "") -> Concept | None:
        """Resolve a term; `prefix` limits it to one group of keys of a shared table."""
        if term is None:
            return None
        tab = self.terminology[table]
        try:
            concept = tab.lookup(prefix + term) or tab.resolve(term)
            if not concept.key.startswith(prefix):
                raise UnknownTermError(table, term, [])
            return concept
        except UnknownTermError as exc:
            if prefix:
                options = [k.removeprefix(prefix) for k in tab.concepts if k.startswith(prefix)]
                exc = UnknownTermError(table, term, exc.suggestions or options)
            if self.allow_text_only:
                self.warning(path, f"{exc}; kept as text only")
                self.text_only = True
            else:
                self.error(path, f"{exc} (or map with --allow-text-only)")
            return None

    def cc(self, table: str, term: str | None, path: str, prefix: str = "") -> b.Json | None:
        """CodeableConcept for a term as written; text-only when allowed and unknown."""
        if term is None:
            return None
        return b.codeable(self.concept(table, term, path, prefix), text=term)

    def fixed(self, table: str, key: str) -> Concept:
        """A concept the code relies on by key (a missing one is a bug in the tables)."""
        return self.terminology[table].get(key)

    # ---- dates ----------------------------------------------------------------------------
    def resolve_date(self, expr: str | None, path: str, regimen: str | None = None) -> PartialDate | None:
        if expr is None:
            return None
        try:
            value = parse_date(expr)
            if isinstance(value, PartialDate):
                return value
            return self._resolve_relative(value, regimen)
        except DateError as exc:
            self.error(path, str(exc))
            return None

    def _resolve_relative(self, rel: RelativeDate, regimen: str | None) -> PartialDate:
        if rel.anchor_kind == "hsct":
            anchors, what = self.hsct_dates, "HSCT"
        else:
            anchors, what = self.regimen_starts, "regimen"
        anchor_id = rel.anchor_id or (regimen if rel.anchor_kind == "regimen" else None)
        if anchor_id is None:
            if len(anchors) != 1:
                hint = ", ".join(sorted(anchors)) or "none defined"
                raise DateError(f"relative to which {what}? name it with @id ({hint})")
            anchor_id = next(iter(anchors))
        if anchor_id not in anchors:
            raise DateError(f"no {what} with id {anchor_id!r} (known: {', '.join(sorted(anchors))})")
        offset = rel.offset if rel.anchor_kind == "hsct" else rel.offset - 1  # day 1 = start
        return shift(anchors[anchor_id], offset)

    def set_date(
        self, target: b.Json, element: str, expr: str | None, path: str, regimen: str | None = None,
        *, required: bool = False,
    ) -> PartialDate | None:
        """Set a date element; keep the written expression when it is not plain ISO. A `required`
        element the case leaves out gets a data-absent reason instead of a made-up date."""
        if expr is None and required:
            target["_" + element] = {"extension": [
                {"url": urls.EXT_DATA_ABSENT_REASON, "valueCode": "unknown"}]}
            return None
        value = self.resolve_date(expr, path, regimen)
        if value is None:
            return None
        target[element] = value.iso()
        if expr is not None and expr != value.iso():
            marks = [b.extension(urls.EXT_SOURCE_DATE, valueString=expr)]
            if value.precision != "day" and isinstance(parse_date(expr), RelativeDate):
                # D+N from an HSCT known only to the month: the value is partial because of the anchor.
                marks.append(b.extension(urls.EXT_ANCHOR_PRECISION, valueCode=value.precision))
            target["_" + element] = {"extension": marks}
        return value

    def quiet_date(self, expr: str | None, regimen: str | None = None) -> PartialDate | None:
        """A date for comparisons only: errors are reported where the date itself is mapped."""
        if expr is None:
            return None
        try:
            value = parse_date(expr)
            return value if isinstance(value, PartialDate) else self._resolve_relative(value, regimen)
        except DateError:
            return None
