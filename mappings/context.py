"""Shared state of one case's mapping: terminology lookups, date resolution, ids, references.

Mapping modules never raise on bad data: they record an Issue with the field path and go on, so
one run reports every problem of a case. The orchestrator refuses to emit a bundle with errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_onco.case import Case
from fhir_onco.dates import DateError, PartialDate, RelativeDate, UnknownDate, parse_date, shift
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls
from fhir_onco.terminology import Concept, Terminology, UnknownTermError
from fhir_onco.validation.report import Report


def _unknown(expr: str) -> UnknownDate | None:
    try:
        value = parse_date(expr)
    except DateError:
        return None
    return value if isinstance(value, UnknownDate) else None


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
    regimen_ends: dict[str, PartialDate] = field(default_factory=dict)
    undated: set[str] = field(default_factory=set)  # HSCT / regimen keys whose date the source does not give
    text_only: bool = False  # some term was kept as text only (flagged in the bundle)
    # ids of this patient's resources: SHA-1 state after "<namespace><patient key>|" (see new_id)
    _ids: b.IdFactory | None = field(default=None, init=False, repr=False)
    _patient_ref: str | None = field(default=None, init=False, repr=False)

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
        if self._patient_ref is None:
            self._patient_ref = f"Patient/{self.patient_id}"
        return {"reference": self._patient_ref}

    def new_id(self, kind: str, key: str) -> str:
        """``b.resource_id(patient_key, kind, key)``, hashing the patient's part once per case."""
        if self._ids is None:
            self._ids = b.IdFactory(self.patient_key)
        return self._ids(f"{kind}|{key}")

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

    def add_clean(self, resource: b.Json) -> b.Json:
        """Add a resource built without empty values (no None, "", [] or {} at any depth), so it
        needs no `prune` walk. tests/mapping/test_no_empty_values.py maps every example, golden and
        corpus case and fails on any empty value in the output, so a builder that emits one is caught."""
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
    def resolve_date(self, expr: str | None, path: str, regimen: str | None = None,
                     hsct: str | None = None) -> PartialDate | None:
        """An absolute date for `expr`. `regimen` / `hsct` name the anchor a relative date without
        @id counts from (an item inside a regimen or an HSCT: its GVHD, chimerism, graft failure)."""
        if expr is None:
            return None
        try:
            value = parse_date(expr)
            if isinstance(value, UnknownDate):
                return None  # set_date writes the data-absent reason and the bounds
            if isinstance(value, PartialDate):
                return value
            return self._resolve_relative(value, regimen, hsct)
        except DateError as exc:
            self.error(path, str(exc))
            return None

    def _resolve_relative(self, rel: RelativeDate, regimen: str | None, hsct: str | None = None) -> PartialDate:
        if rel.anchor_kind == "hsct":
            anchors, what = self.hsct_dates, "HSCT"
        else:
            anchors, what = self.regimen_starts, "regimen"
        anchor_id = rel.anchor_id or (regimen if rel.anchor_kind == "regimen" else hsct)
        if anchor_id is None:
            pool = sorted([*anchors, *(k for k in self.undated if (rel.anchor_kind, k) in self.ids)])
            if len(pool) != 1:
                raise DateError(f"relative to which {what}? name it with @id ({', '.join(pool) or 'none defined'})")
            anchor_id = pool[0]
        if anchor_id not in anchors and anchor_id in self.undated:
            raise DateError(f"the {what} {anchor_id!r} has no known date, so a date relative to it cannot be "
                            f"placed; write 'after@{anchor_id}', 'unknown' or the date itself")
        if anchor_id not in anchors:
            raise DateError(f"no {what} with id {anchor_id!r} (known: {', '.join(sorted(anchors))})")
        offset = rel.offset if rel.anchor_kind == "hsct" else rel.offset - 1  # day 1 = start
        return shift(anchors[anchor_id], offset)

    def set_date(
        self, target: b.Json, element: str, expr: str | None, path: str, regimen: str | None = None,
        *, required: bool = False, hsct: str | None = None,
    ) -> PartialDate | None:
        """Set a date element; keep the written expression when it is not plain ISO. A `required`
        element the case leaves out gets a data-absent reason instead of a made-up date."""
        if expr is None and required:
            target["_" + element] = {"extension": [
                {"url": urls.EXT_DATA_ABSENT_REASON, "valueCode": "unknown"}]}
            return None
        if expr is not None and isinstance(unknown := _unknown(expr), UnknownDate):
            marks = [b.extension(urls.EXT_SOURCE_DATE, valueString=expr),
                     {"url": urls.EXT_DATA_ABSENT_REASON, "valueCode": "unknown"}]
            if unknown.bound is not None and (bounds := self._bounds(unknown, path)):
                marks.append(b.extension(urls.EXT_DATE_BOUNDS, valuePeriod=bounds))
            target["_" + element] = {"extension": marks}
            return None
        value = self.resolve_date(expr, path, regimen, hsct)
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

    def _bounds(self, unknown: UnknownDate, path: str) -> b.Json | None:
        """The period an unknown date is known to fall in: before / after / during an HSCT or regimen."""
        aid = unknown.anchor_id or ""
        hsct_key = next((k for (kind, k) in self.ids if kind == "hsct" and k == aid), None)
        if hsct_key is not None:
            first = last = self.hsct_dates.get(hsct_key)
        elif ("regimen", aid) in self.ids:
            first, last = self.regimen_starts.get(aid), self.regimen_ends.get(aid)
            last = last or (first if unknown.bound == "before" else None)
        else:
            known = sorted(k for (kind, k) in self.ids if kind in ("hsct", "regimen") and "|" not in k)
            self.error(path, f"no HSCT or regimen with id {aid!r}; ids given in this case: "
                             f"{', '.join(known) or 'none'}")
            return None
        if unknown.bound == "before":
            period = {"end": first.iso()} if first else {}
        elif unknown.bound == "after":
            period = {"start": (last or first).iso()} if (last or first) else {}
        else:
            period = {k: v.iso() for k, v in (("start", first), ("end", last)) if v}
        return period or None

    def quiet_date(self, expr: str | None, regimen: str | None = None) -> PartialDate | None:
        """A date for comparisons only: errors are reported where the date itself is mapped."""
        if expr is None:
            return None
        try:
            value = parse_date(expr)
            if isinstance(value, UnknownDate):
                return None
            return value if isinstance(value, PartialDate) else self._resolve_relative(value, regimen)
        except DateError:
            return None

    def latest_date(self, expr: str | None) -> PartialDate | None:
        """The date, or for an unknown date the latest it can be (the end of its bounds), else None."""
        unknown = _unknown(expr) if expr is not None else None
        if unknown is None:
            return self.quiet_date(expr)
        if unknown.bound is None:
            return None
        aid = unknown.anchor_id or ""
        if unknown.bound == "before":
            return self.hsct_dates.get(aid) or self.regimen_starts.get(aid)
        if unknown.bound == "during":
            return self.regimen_ends.get(aid) or self.hsct_dates.get(aid)
        return None  # 'after': no upper bound
