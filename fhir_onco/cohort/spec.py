"""The cohort spec: a published cohort's tables as exact counts, plus templates that turn each
patient's drawn values into a dated history. Format reference: docs/registry.md ("Cohort spec")."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from fhir_onco.case import MAX_DOSE, field_path


class CohortError(ValueError):
    """A spec that cannot be read or cannot be realised; the message says where and why."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count_fields: ClassVar[tuple[str, ...]] = ()  # dict fields whose values may be a bare count
    nested_count_fields: ClassVar[tuple[str, ...]] = ()  # dict of such dicts

    @model_validator(mode="before")
    @classmethod
    def _bare_counts(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for name in cls.count_fields:
                if name in data:
                    data[name] = _counts(data[name])
            for name in cls.nested_count_fields:
                if isinstance(data.get(name), dict):
                    data[name] = {k: _counts(v) for k, v in data[name].items()}
        return data


Among = dict[str, list[Any]]
"""Restricts a count to patients whose earlier-assigned values are in the lists: {best_response: [pd]}."""


class Count(_M):
    count: int = Field(ge=0)
    among: Among = Field(default_factory=dict)


class DeathCount(Count):
    adverse_event: str | None = Field(
        None, description="The death is the fatal outcome of this adverse event of the spec (a term of its "
        "`adverse_events`): dealt among the patients with it, whose event becomes grade 5, outcome fatal.")


class Timing(_M):
    """Days (from the HSCT) whose median, min and max are exactly these; `by: {100: 3}` also fixes how
    many fall on or before a day (e.g. 3 deaths by day +100)."""

    median: float = Field(ge=0)
    min: int = Field(ge=0)
    max: int = Field(ge=0)
    by: dict[int, int] = Field(default_factory=dict, description="{day: patients with a value <= day}.")

    @model_validator(mode="after")
    def _order(self) -> Timing:
        if not self.min <= self.median <= self.max:
            raise ValueError(f"expected min <= median <= max, got {self.min}, {self.median:g}, {self.max}")
        return self


def _counts(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): ({"count": v} if isinstance(v, int) else v) for k, v in value.items()}
    return value


class When(_M):
    age_below: int | None = None
    age_from: int | None = None
    values: Among = Field(default_factory=dict, description="Other drawn values, as in `among`.")


class DrugTemplate(_M):
    id: str | None = Field(None, description="Local id, e.g. to tell IT from IV methotrexate on one day apart.")
    drug: str
    dose: float | None = Field(None, gt=0, le=MAX_DOSE)
    unit: str | None = None
    dose_basis: Literal["per-dose", "per-day", "course-total"] | None = None
    route: str | None = None
    days: str | None = None
    every_days: int | None = Field(None, ge=1, le=366)
    times_per_day: int | None = Field(None, ge=1, le=24)
    continuous: bool | None = None
    cycles: str | None = Field(None, pattern=r"^\s*\d{1,4}\s*(-\s*(\d{1,4})?)?\s*$",
                               description="Which cycles, as in case files: '1', '2-', '1-3'.")
    when: When | None = None
    note: str | None = None

    @field_validator("days", "cycles", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class IndexRegimen(_M):
    id: str = "index"
    name: str
    category: str
    intent: str | None = None
    protocol: str | None = None
    cycle_length_days: int = Field(ge=1)
    response_criteria: str | None = None
    cycles: tuple[int, int] | None = Field(
        None, description="Fixed number of cycles (bridging); default: until progression, death or the cutoff.")
    drugs: list[DrugTemplate] = Field(min_length=1)


class Diagnosis(_M):
    condition: str
    morphology: str | None = None
    years_before_index: tuple[float, float] = (1, 5)


class Age(_M):
    min: int = Field(ge=0, le=120)
    max: int = Field(ge=0, le=120)
    median: float
    bins: dict[str, int] = Field(default_factory=dict, description="'<65', '65-75', '>75': whole-year ages.")


class FindingTemplate(_M):
    target: str
    result: str


class Category(_M):
    count_fields = ("counts",)
    counts: dict[str, Count]
    note: str | None = Field(None, description="Diagnosis note, '{value}' is replaced.")
    field: Literal["paraprotein"] | None = Field(
        None, description="Structured diagnosis field the value fills (a term of that field's table).",
    )
    findings: dict[str, dict[Literal["one_of"], list[list[FindingTemplate]]]] = Field(default_factory=dict)
    method: str | None = None



class CatalogueEntry(_M):
    name: str
    drugs: list[str] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    months: tuple[float, float] = (4, 8)
    line: Literal["first", "later", "any"] = "any"
    hsct: Literal["autologous"] | None = None


class ConditioningTemplate(_M):
    name: str
    drugs: list[DrugTemplate] = Field(min_length=1)
    intensity: str | None = None


class PriorHsct(_M):
    conditioning: ConditioningTemplate
    graft_source: str | None = None


class PriorTherapy(_M):
    count_fields = ("exposures",)
    lines: dict[int, int]
    exposures: dict[str, Count] = Field(default_factory=dict)
    catalogue: list[CatalogueEntry] = Field(min_length=1)
    hsct: PriorHsct | None = None



class ResponseValue(Count):
    stop_in_cycle: int | None = Field(None, ge=1)
    stop_reason: str | None = None


class AdverseEventSpec(_M):
    term: str
    grade_at_least: int = Field(ge=1, le=5)
    patients: int = Field(ge=0)
    grades: dict[int, float] = Field(default_factory=dict, description="Weights of the grades drawn (>= threshold).")
    onset_cycles: tuple[int, int] | None = None
    onset_day: int | None = Field(None, ge=1, description="Fixed day of the index regimen.")
    onset_after_hsct: tuple[int, int] | None = Field(None, description="Days after the HSCT (caused by it).")
    drug: str | None = None
    among: Among = Field(default_factory=dict)
    serious: bool | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _grades(self) -> AdverseEventSpec:
        if not self.grades:
            self.grades = {self.grade_at_least: 1.0}
        low = [g for g in self.grades if not self.grade_at_least <= g <= 5]
        if low:
            raise ValueError(f"grades {low} are outside {self.grade_at_least}..5")
        return self


class Engraftment(_M):
    patients: int | None = Field(
        None, ge=0, description="Patients who engraft (default: all without primary graft failure; platelets: "
        "all who engraft neutrophils).")
    day: Timing | None = Field(None, description="Day of engraftment: median, min, max exactly.")


class AcuteGvhdSpec(_M):
    """Acute GVHD by overall grade (MAGIC by default): patients per highest grade; the rest have none."""

    count_fields = ("grades",)
    criteria: Literal["MAGIC", "Glucksberg", "IBMTR"] = "MAGIC"
    grades: dict[str, Count] = Field(default_factory=dict, description="Overall grade I-IV (or 1-4): patients.")
    day: Timing | None = Field(None, description="Onset day after the HSCT.")

    @field_validator("grades", mode="after")
    @classmethod
    def _grades(cls, v: dict[str, Count]) -> dict[str, Count]:
        out = {}
        for k, c in v.items():
            g = {"I": "1", "II": "2", "III": "3", "IV": "4"}.get(k.strip().upper(), k.strip())
            if g not in ("1", "2", "3", "4"):
                raise ValueError(f"grade {k!r}: expected I, II, III or IV")
            if g in out:
                raise ValueError(f"grade {k!r} is given twice")
            out[g] = c
        return out


class ChronicGvhdSpec(_M):
    """Chronic GVHD by NIH 2014 global severity: patients per severity; the rest have none."""

    count_fields = ("severity",)
    severity: dict[Literal["mild", "moderate", "severe"], Count] = Field(default_factory=dict)
    day: Timing | None = Field(None, description="Onset day after the HSCT.")


class HsctSpec(_M):
    """An HSCT after the index regimen (e.g. bridging then allo-HSCT), with exact counts. Given for the
    cohort and for a group, the group's block extends the cohort's (see docs/registry.md)."""

    count_fields = ("donor", "conditioning_intensity", "graft_source", "relapse", "graft_failure")

    type: Literal["allogeneic", "autologous"] = "allogeneic"
    patients: int | None = Field(None, description="How many get it (default: all, or per `among`).")
    among: Among = Field(default_factory=dict)
    days_after_index_end: tuple[int, int] = (14, 60)
    donor: dict[str, Count] = Field(default_factory=dict, description="Donor match: haploidentical: 8 ...")
    relation: dict[str, list[str]] = Field(default_factory=dict, description="Donor match -> possible relations.")
    conditioning_intensity: dict[str, Count] = Field(default_factory=dict)
    conditioning: dict[str, ConditioningTemplate] = Field(default_factory=dict, description="Per intensity.")
    graft_source: dict[str, Count] = Field(default_factory=dict)
    manipulations: dict[str, list[str]] = Field(default_factory=dict, description="Donor match -> manipulations.")
    neutrophil_engraftment: Engraftment | None = None
    platelet_engraftment: Engraftment | None = None
    graft_failure: dict[Literal["primary", "secondary"], Count] = Field(
        default_factory=dict, description="primary (never engrafted) / secondary (lost after engraftment).")
    relapse: dict[str, Count] = Field(default_factory=dict, description="relapse / no relapse counts after HSCT.")
    relapse_day: Timing | None = None
    hla_loss: Count | None = Field(None, description="Relapses with loss of the mismatched HLA haplotype.")
    acute_gvhd: AcuteGvhdSpec | None = None
    chronic_gvhd: ChronicGvhdSpec | None = None
    death_day: Timing | None = Field(None, description="Days from the HSCT to death of the transplanted who die "
                                     "(those without a relapse before it: `nrm_day` when given).")
    nrm_day: Timing | None = Field(None, description="Days from the HSCT to non-relapse death (no relapse "
                                   "before it); `by: {100: n, 365: m}` gives NRM by day +100 and 1 year.")

    @model_validator(mode="before")
    @classmethod
    def _bare_hla(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("hla_loss"), int):
            data = {**data, "hla_loss": {"count": data["hla_loss"]}}
        return data

    @field_validator("relapse", mode="after")
    @classmethod
    def _relapse_keys(cls, v: dict[str, Count]) -> dict[str, Count]:
        unknown = [k for k in v if k not in ("relapse", "no relapse")]
        if unknown:
            raise ValueError(f"expected the keys 'relapse' and 'no relapse', not {unknown}")
        return v


class Group(_M):
    """A disjoint sub-cohort (e.g. 'received blinatumomab before HSCT'); its counts are within it."""

    count_fields = ("sex", "exposures", "best_response", "deaths")
    nested_count_fields = ("stages",)

    name: str
    size: int = Field(ge=1)
    sex: dict[str, Count] = Field(default_factory=dict)
    stages: dict[str, dict[str, Count]] = Field(default_factory=dict)
    categories: dict[str, Category] = Field(default_factory=dict)
    exposures: dict[str, Count] = Field(default_factory=dict)
    best_response: dict[str, ResponseValue] = Field(default_factory=dict)
    adverse_events: list[AdverseEventSpec] = Field(default_factory=list)
    deaths: dict[str, DeathCount] = Field(default_factory=dict)
    hsct: HsctSpec | None = None
    index_regimen: IndexRegimen | None = Field(None, description="The group's own index regimen (same id).")



class CohortSpec(Group):
    cohort: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_]{0,40}$")
    title: str | None = None
    name: str = "all"
    id_system: str = "urn:fhir-onco:cohort"
    enrolment: dict[Literal["from", "to"], _dt.date]
    data_cutoff: _dt.date
    ctcae_version: Literal["4.03", "5.0"] = "4.03"
    diagnosis: Diagnosis
    index_regimen: IndexRegimen  # type: ignore[assignment]
    age: Age | None = None
    prior_therapy: PriorTherapy | None = None
    progression: dict[str, float] = Field(default_factory=dict, description="Median months to progression.")
    groups: list[Group] = Field(default_factory=list)
    published_size: int | None = Field(
        None, ge=1, description="The N the counts are published for, when `size` asks for another N: every "
        "count is scaled by size / published_size (largest remainder, sums kept; docs/registry.md).")
    _source: str = PrivateAttr("<spec>")

    @property
    def source(self) -> str:
        """The spec file (for messages)."""
        return self._source

    @model_validator(mode="after")
    def _sizes(self) -> CohortSpec:
        if self.groups and sum(g.size for g in self.groups) != self.size:
            raise ValueError(f"group sizes add up to {sum(g.size for g in self.groups)}, not size {self.size}")
        if any(g.index_regimen and g.index_regimen.id != self.index_regimen.id for g in self.groups):
            raise ValueError("a group's index_regimen must keep the cohort's index regimen id")
        if self.enrolment["from"] > self.enrolment["to"] or self.enrolment["to"] >= self.data_cutoff:
            raise ValueError("expected enrolment from <= to < data_cutoff")
        return self


def load_spec(path: str | Path) -> CohortSpec:
    p = Path(path)
    from fhir_onco.documents import DocumentError, load_document

    try:
        data = load_document(p)
    except DocumentError as exc:
        raise CohortError(str(exc)) from None
    return parse_spec(data, str(p))


def parse_spec(data: Any, source: str = "<spec>") -> CohortSpec:
    """Validate a spec; with `published_size`, scale its counts to `size` (see :mod:`.scale`)."""
    from .scale import scale_data

    try:
        if isinstance(data, dict) and data.get("published_size") not in (None, data.get("size")):
            CohortSpec.model_validate({**data, "size": data["published_size"]})  # errors as written first
            data = scale_data(data, source)
        spec = CohortSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {field_path(tuple(e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise CohortError("\n".join(lines)) from None
    spec._source = source
    return spec
