"""The cohort spec: a published cohort's tables as exact counts, plus templates that turn each
patient's drawn values into a dated history. Format reference: docs/registry.md ("Cohort spec")."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fhir_onco.case import field_path


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


def _counts(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): ({"count": v} if isinstance(v, int) else v) for k, v in value.items()}
    return value


class When(_M):
    age_below: int | None = None
    age_from: int | None = None
    values: Among = Field(default_factory=dict, description="Other drawn values, as in `among`.")


class DrugTemplate(_M):
    drug: str
    dose: float | None = None
    unit: str | None = None
    dose_basis: Literal["per-dose", "per-day", "course-total"] | None = None
    route: str | None = None
    days: str | None = None
    every_days: int | None = None
    times_per_day: int | None = None
    continuous: bool | None = None
    cycles: str | None = Field(None, pattern=r"^\s*\d{1,4}\s*(-\s*(\d{1,4})?)?\s*$",
                               description="Which cycles, as in case files: '1', '2-', '1-3'.")
    when: When | None = None

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


class HsctSpec(_M):
    """An HSCT after the index regimen (e.g. bridging then allo-HSCT), with exact counts."""

    count_fields = ("donor", "conditioning_intensity", "graft_source", "relapse")

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
    neutrophil_engraftment_day: tuple[int, int] | None = None
    platelet_engraftment_day: tuple[int, int] | None = None
    relapse: dict[str, Count] = Field(default_factory=dict, description="relapse / no-relapse counts after HSCT.")



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
    deaths: dict[str, Count] = Field(default_factory=dict)
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
    try:
        return CohortSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {field_path(tuple(e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise CohortError("\n".join(lines)) from None
