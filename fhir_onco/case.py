"""The oncology case model: what a case file (YAML or JSON) may say about one patient.

This is the single entry point of clinical facts. Terms (drugs, diagnoses, CTCAE terms, units,
routes, ...) are free text in English or Russian and are resolved against the terminology tables in
``mappings/terminology`` when the case is mapped, so a case file never needs a code. Every list item
may carry an ``id``: a stable local key that other items refer to and that keeps the FHIR resource
id stable when other fields of the item are edited.

The schema is versioned (``schema_version``); ``fhir-onco schema`` prints its JSON Schema.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from fhir_onco.dates import DateError, parse_date
from fhir_onco.documents import DocumentError, load_document

SCHEMA_VERSION = "1"

__all__ = [
    "SCHEMA_VERSION", "Address", "AdverseEvent", "AeEpisode", "AeParticipant", "AgeAtEvent", "Case", "CaseError",
    "CellDose", "Chimerism", "Coded", "DateExpr", "Death", "Diagnosis", "Donor", "Drug", "Engraftment", "Finding",
    "Hsct", "HumanName", "Identifier", "MedicationRequest", "MrdMeasurement",
    "Patient", "Radiotherapy", "Regimen", "Relapse", "ResponseAssessment", "Stage", "SuspectedCause",
    "case_json_schema", "dump_case", "field_path", "load_case", "parse_case",
]


def _date_to_text(value: Any) -> Any:
    # YAML turns 2021-07-02 into a date object; the model keeps what was written as text.
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, int) and 1800 < value < 2200:
        return str(value)
    return value


def _check_date(value: str) -> str:
    try:
        parse_date(value)
    except DateError as exc:
        # pydantic adds the field path; DateError never quotes the date as written (dates identify)
        raise ValueError(str(exc)) from None
    return value.strip()


DateExpr = Annotated[str, BeforeValidator(_date_to_text), AfterValidator(_check_date)]
"""A date: ``2021-07-02``, ``2020-07``, ``15.12.2021``, ``D+21`` (after HSCT), ``day 8@regimen``."""

def _no_bool(value: Any) -> Any:
    # YAML `dose: true` would otherwise be read as 1.0.
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


MAX_DOSE = 1e7
"""Largest dose number accepted (10 million, e.g. IU of interferon); 1e308 is a typo, not a dose."""

Number = Annotated[float, BeforeValidator(_no_bool)]
"""A number written as a number (true/false refused)."""

def _day_number_to_text(value: Any) -> Any:
    # Clerks write one day as a bare number (`days: 1`, `cycles: 2`); YAML reads it as an int.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


DayList = Annotated[str, BeforeValidator(_day_number_to_text)]
"""A day or cycle list as written: ``1``, ``1-7``, ``1,8,15``, ``-7..-4``; a bare number is read as text."""

Term = Annotated[str, Field(min_length=1)]
"""A clinical term in English or Russian, resolved through the terminology tables."""

LocalId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_]{0,63}$")]


class _ConstructionErrors(type(BaseModel)):  # type: ignore[misc]
    """``Case(...)``, ``Regimen(...)``: a bad value raises CaseError with field paths, as loading a file does.

    On the metaclass, not ``__init__``: pydantic calls a custom ``__init__`` from ``model_validate``
    and nested validation too, where the error must stay pydantic's.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            raise CaseError(f"<{cls.__name__}>", _issues(exc)) from None


class _Model(BaseModel, metaclass=_ConstructionErrors):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Identifier(_Model):
    """A patient identifier: its system (namespace) and value."""

    system: str = Field(description="Identifier namespace (URI), e.g. the registry or hospital MRN system.")
    value: str = Field(min_length=1, description="The identifier within that system, e.g. the registry patient number.")


class AgeAtEvent(_Model):
    """Age when birth date is unknown, e.g. ``{years: 6, at: 2017-10-09}``."""

    years: int = Field(ge=0, le=130, description="Age in completed years.")
    at: DateExpr = Field(description="Date of the event at which the age was stated.")


class Death(_Model):
    """Death: date and cause (death_causes table)."""

    date: DateExpr | None = None
    cause: Term | None = Field(None, description="Cause of death (death_causes table).")
    note: str | None = None


class HumanName(_Model):
    """The patient's name (personal data: de-identification removes it; never logged)."""

    family: str | None = Field(None, min_length=1, description="Family name (surname).")
    given: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Given names in order (first, middle).")

    @model_validator(mode="after")
    def _not_empty(self) -> HumanName:
        if self.family is None and not self.given:
            raise ValueError("give family and/or given")
        return self


class Address(_Model):
    """The patient's home address (personal data: de-identification keeps the state/country at most)."""

    lines: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Street lines.")
    city: str | None = Field(None, min_length=1, description="City or town.")
    state: str | None = Field(None, min_length=1, description="State, region or oblast.")
    postal_code: str | None = Field(None, min_length=1, description="Postal (ZIP) code.")
    country: str | None = Field(None, min_length=1, description="Country (ISO 3166 code or name), when stated.")

    @model_validator(mode="after")
    def _not_empty(self) -> Address:
        if not (self.lines or self.city or self.state or self.postal_code or self.country):
            raise ValueError("an address needs at least one of lines, city, state, postal_code, country")
        return self


def _no_semicolon(value: str) -> str:
    if ";" in value:
        raise ValueError("one race per list item (no ';')")
    return value


Language = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
"""A BCP-47 language tag: en, ru, en-US, no."""


class Patient(_Model):
    """The patient: identifiers, sex, birth date or age at an event, death, and the demographics registries
    export (name, address, birth sex, race, ethnicity, language)."""

    identifiers: list[Identifier] = Field(
        min_length=1,
        description="The first identifier is the business key: resource ids derive from it.",
    )
    sex: Literal["male", "female", "other", "unknown"] = Field(description="Administrative sex (FHIR Patient.gender).")
    birth_date: DateExpr | None = Field(None, description="Birth date, partial allowed (2011 or 2011-05).")
    age: AgeAtEvent | None = Field(None, description="Age at an event, when the birth date is not known.")
    death: Death | None = Field(None, description="Death: date and cause.")
    last_contact: DateExpr | None = Field(
        None, description="Date of the last contact (last known alive, or death); survival censors the living here.")
    vital_status: Literal["alive", "dead", "unknown"] | None = Field(
        None, description="Vital status at the last contact; a death block implies dead.")
    name: HumanName | None = Field(
        None, description="Name (personal data: removed by de-identification). Leave out for pseudonymous cases.")
    address: Address | None = Field(
        None, description="Home address (personal data: de-identification keeps only the state).")
    birth_sex: Literal["male", "female", "unknown"] | None = Field(
        None, description="Sex assigned at birth (US Core birthsex M / F / UNK).")
    race: list[Annotated[Term, AfterValidator(_no_semicolon)]] = Field(
        default_factory=list, description="Race (demographics table: OMB categories white, asian ..., CDC codes "
        "2106-3 ..., unknown, asked but unknown); US Core race extension.")
    ethnicity: Term | None = Field(
        None, description="Ethnicity (demographics table: hispanic or latino / not hispanic or latino, 2135-2 ...); "
        "US Core ethnicity extension.")
    language: Language | None = Field(
        None, description="Preferred language as a BCP-47 tag (en, ru, en-US): Patient.communication.")

    @model_validator(mode="after")
    def _alive_has_no_death(self) -> Patient:
        if self.vital_status == "alive" and self.death is not None:
            raise ValueError("vital_status alive contradicts the death block")
        return self


class Stage(_Model):
    """Stage or risk group: ISS, R-ISS, Durie-Salmon, INSS, INRG or ALL risk group."""

    id: LocalId | None = None
    system: Literal["iss", "riss", "durie-salmon", "inss", "inrg", "all-risk", "all-rez"] = Field(
        description="Staging or risk system; the value is read in that system.",
    )
    value: str = Field(description="e.g. 'III', '4S', 'L2', 'high', 'S3'.")
    date: DateExpr | None = None


class Finding(_Model):
    """Gene or cytogenetic finding, or a marker's expression level."""

    id: LocalId | None = None
    target: Term = Field(description="Gene (MYCN, ETV6, CD19) or abnormality (monosomy 7, del(17p)).")
    result: Literal[
        "amplified", "rearranged", "deleted", "mutated", "detected", "not-detected", "expressed"
    ] = Field(description="What was found for the target.")
    value_percent: Number | None = Field(None, ge=0, le=100, description="e.g. CD19 on 100 % of blasts.")
    method: str | None = Field(None, description="Free text: FISH, karyotype, PCR, flow cytometry.")
    date: DateExpr | None = None
    note: str | None = None


class Relapse(_Model):
    id: LocalId | None = None
    number: int = Field(ge=1, description="1 for the first relapse.")
    date: DateExpr
    sites: list[Term] = Field(min_length=1, description="bone marrow, CNS, testis, extramedullary ...")
    isolated: bool | None = Field(None, description="True for an isolated relapse (one site only).")
    hla_loss: bool | None = Field(
        None, description="After a haploidentical/mismatched HSCT: the leukaemia lost the mismatched HLA haplotype.")
    note: str | None = Field(None, description="e.g. 'with loss of the mismatched HLA haplotype'.")


def _suspected(value: Any) -> Any:
    # "suspected" is what clinicians write; FHIR calls it unconfirmed.
    if isinstance(value, str):
        return {"suspected": "unconfirmed", "подозрение": "unconfirmed"}.get(value, value)
    return value


_LATERALITY_WORDS = {"слева": "left", "левый": "left", "левая": "left", "справа": "right", "правый": "right",
                     "правая": "right", "с обеих сторон": "bilateral", "двусторонний": "bilateral",
                     "по средней линии": "midline"}


def _laterality_word(value: Any) -> Any:
    return _LATERALITY_WORDS.get(value.strip().lower(), value) if isinstance(value, str) else value


Laterality = Annotated[Literal["left", "right", "bilateral", "midline"], BeforeValidator(_laterality_word)]
"""left, right, bilateral, midline (слева, справа, с обеих сторон ... accepted)."""


class Metastasis(_Model):
    """A metastatic site of a cancer (mCODE SecondaryCancerCondition)."""

    id: LocalId | None = None
    site: Term = Field(description="Site of the metastasis (body_sites table): bone, bone marrow, liver, lung ...")
    laterality: Laterality | None = Field(None, description="left, right, bilateral, midline.")
    date: DateExpr | None = Field(None, description="Date it was found.")
    note: str | None = None


class RiskGroup(_Model):
    """A risk group beyond ALL: neuroblastoma INRG risk, AML ELN 2022 genetic risk, myeloma cytogenetic risk."""

    id: LocalId | None = None
    system: Literal["inrg-risk", "eln-2022", "mm-cytogenetic"] = Field(
        description="inrg-risk (very-low/low/intermediate/high), eln-2022 (favorable/intermediate/adverse), "
        "mm-cytogenetic (standard/high).")
    value: str = Field(min_length=1, description="The group within its system, e.g. high.")
    date: DateExpr | None = None


class Tnm(_Model):
    """TNM staging of a solid tumour (clinical or pathological), as mCODE STU4 profiles it."""

    id: LocalId | None = None
    type: Literal["clinical", "pathological"] = Field(description="clinical (cT/cN/cM) or pathological (pT/pN/pM).")
    t: str | None = Field(None, min_length=1, description="T category as written: cT3, pT1a, T2.")
    n: str | None = Field(None, min_length=1, description="N category as written: cN0, pN1.")
    m: str | None = Field(None, min_length=1, description="M category as written: cM0, M1b.")
    stage_group: str | None = Field(None, min_length=1, description="Stage group as written: IIB, 3C, IVA.")
    edition: Term | None = Field(None, description="Staging manual: AJCC 8 (tnm table).")
    date: DateExpr | None = None
    note: str | None = None


class Diagnosis(_Model):
    """A cancer: primary or secondary, with its stages, findings and relapses."""

    id: LocalId | None = None
    kind: Literal["primary", "secondary"] = Field(
        "primary", description="primary, or secondary (e.g. therapy-related; name the earlier cancer in related_to).",
    )
    condition: Term = Field(description="Disease (conditions table), e.g. 'B-ALL', 'ОМЛ'.")
    morphology: Term | None = Field(
        None, description="Histology as written (morphology table, ICD-O-3 with behaviour): 'AML M5', 'B-ALL', "
        "'ganglioneuroblastoma', «ОМЛ М4эо», an ICD-O-3 code '9861/3' (a sixth digit '8140/32' is the grade); a "
        "differentiation may be part of it: 'NB poorly differentiated'.")
    grade: Term | None = Field(
        None, description="Histologic grade / differentiation (grades table): G1-G4, GX, 'poorly differentiated', "
        "«низкодифференцированная», 'high grade'; must agree with a grade written in morphology.")
    immunophenotype: Term | None = Field(None, description="e.g. 'B-II' (EGIL).")
    onset: DateExpr | None = Field(None, description="Date of diagnosis.")
    body_sites: list[Term] = Field(default_factory=list, description="Primary sites (solid tumours).")
    related_to: LocalId | list[LocalId] | None = Field(
        None, description="id of the earlier cancer a secondary (e.g. therapy-related) one follows; a list for a "
        "chain (AML after MDS, both after a neuroblastoma: [mds, nb]).",
    )
    verification: Annotated[
        Literal["confirmed", "provisional", "differential", "unconfirmed", "refuted"], BeforeValidator(_suspected)
    ] = Field("confirmed", description="confirmed, provisional, differential, unconfirmed (suspected) or refuted.")
    laterality: Laterality | None = Field(None, description="Laterality of the primary site (solid tumours).")
    metastases: list[Metastasis] = Field(default_factory=list, description="Metastatic sites of this cancer.")
    therapy_related: bool = Field(False, description="The cancer is a consequence of earlier therapy.")
    status: Literal["active", "remission", "relapse", "resolved"] = Field(
        "active", description="Current clinical status (FHIR Condition.clinicalStatus).",
    )
    category: list[Literal["problem-list-item", "encounter-diagnosis", "health-concern"]] = Field(
        ["problem-list-item"], min_length=1,
        description="FHIR Condition.category (condition-category / US Core): problem-list-item (default), "
        "encounter-diagnosis, health-concern.")
    paraprotein: Term | None = Field(None, description="Myeloma paraprotein: IgG, IgA, Bence-Jones, non-secretory.")
    prior_lines: int | None = Field(
        None, ge=0, le=30, description="Lines of therapy before the index regimen (may also be listed as regimens).")
    stages: list[Stage] = Field(default_factory=list, description="Stage and risk classifications of this cancer.")
    risk_groups: list[RiskGroup] = Field(
        default_factory=list, description="Risk groups beyond ALL (INRG risk, ELN 2022, myeloma cytogenetic).")
    tnm: list[Tnm] = Field(default_factory=list, description="TNM staging (solid tumours), clinical and pathological.")
    findings: list[Finding] = Field(
        default_factory=list, description="Gene, cytogenetic and marker findings of this cancer.",
    )
    relapses: list[Relapse] = Field(default_factory=list, description="Relapses of this cancer, numbered from 1.")
    note: str | None = None


class Drug(_Model):
    """One drug of a regimen, expanded into one MedicationAdministration per dose given."""

    id: LocalId | None = None
    drug: Term = Field(description="Drug name in English or Russian, generic or brand (drugs table).")
    dose: Number | None = Field(
        None, gt=0, le=MAX_DOSE,
        description="Dose per administration (or per day, or course total: see dose_basis).",
    )
    unit: Term | None = Field(None, description="UCUM or written unit: mg/m2, мкг/кг/сут, mg ...")
    dose_basis: Literal["per-dose", "per-day", "course-total"] = Field(
        "per-dose",
        description="per-day: a daily rate (continuous infusions); course-total: one sum over the course.",
    )
    route: Term | None = Field(None, description="IV, continuous IV infusion, PO, SC, intrathecal, IM (routes table).")
    days: DayList | None = Field(
        None,
        description="Days of the regimen (day 1 = start): '1', '1-7', '1,8,15', '1-5,8-12', '+4,+5'; for "
        "conditioning with hsct_relative days: '-7..-4', 'D-7..D-4', '-1,+8'. Days -100..1830. "
        "Empty: the whole regimen period.",
    )
    times_per_day: int = Field(1, ge=1, le=24, description="2 for q12h.")
    every_days: int | None = Field(None, ge=1, le=366, description="7 = weekly, 14 = every 2 weeks, within days.")
    continuous: bool = Field(False, description="A continuous infusion: one administration with a period.")
    cycles: DayList | None = Field(None, description="Which cycles: '1', '2-', '1-3'. Empty: all cycles.")
    status: Literal["completed", "stopped", "not-done"] = Field(
        "completed", description="completed, stopped (give stop_day/stop_reason) or not-done.",
    )
    stop_reason: Term | None = Field(
        None, description="Why the drug was stopped: toxicity, progression, patient refusal ...",
    )
    stop_day: int | None = Field(None, ge=-100, le=1830, description="Regimen day it was stopped on (status stopped).")
    note: str | None = None


MAX_CYCLES = 200
"""Cycles one regimen may have (weekly cycles for almost 4 years); longer series are several regimens."""


class Regimen(_Model):
    """A course, block or cycle series: groups its drugs' administrations (FHIR CarePlan)."""

    id: LocalId | None = None
    name: str = Field(min_length=1, description="Name as used clinically: FLAI, IsaPd, Blinatumomab course 1.")
    protocol: str | None = Field(None, description="Treatment protocol: ALL IC-BFM 2002, ALL REZ-BFM 2002 ...")
    category: Term = Field(description="induction, salvage, bridging, conditioning, gvhd-prophylaxis ...")
    intensity: Term | None = Field(None, description="Conditioning intensity: MAC, RIC, reduced-toxicity MAC.")
    intent: Term | None = Field(None, description="curative / palliative.")
    diagnosis: LocalId | None = Field(None, description="id of the diagnosis treated (default: the primary).")
    part_of: LocalId | None = Field(None, description="id of an enclosing regimen (a phase of it).")
    start: DateExpr = Field(description="Start date (day 1).")
    end: DateExpr | None = Field(None, description="End date; computed from cycles x cycle length when left out.")
    hsct_relative: LocalId | None = Field(
        None, description="id of the HSCT whose day 0 the drug days count from (conditioning)."
    )
    cycles: int | None = Field(None, ge=1, le=MAX_CYCLES, description="Number of cycles given.")
    cycle_length_days: int | None = Field(
        None, ge=1, le=366, description="Days per cycle (28 for IsaPd); needed with cycles > 1 and drug days.")
    status: Literal["completed", "active", "stopped"] = Field(
        "completed", description="completed, active, or stopped early (give stop_reason).",
    )
    stop_reason: Term | None = Field(None, description="Why the regimen was stopped early.")
    drugs: list[Drug] = Field(default_factory=list, description="Drugs given; each expands into its administrations.")
    drug_classes: list[Term] = Field(
        default_factory=list, description="Drug classes when the source names classes only ('vinca alkaloids, "
        "platinum compounds'; drug_classes table, WHO ATC): coded on the regimen, no administrations.")
    note: str | None = None

    @model_validator(mode="after")
    def _cycles_need_length(self) -> Regimen:
        if (self.cycles or 1) > 1 and self.cycle_length_days is None and any(d.days for d in self.drugs):
            raise ValueError(f"cycles: {self.cycles} with drug days needs cycle_length_days (days per cycle), "
                             "or every cycle would fall on the same days")
        return self


class Coded(_Model):
    """A code as the source gives it (system and code), for what the terminology tables do not list:
    ``{system: http://www.nlm.nih.gov/research/umls/rxnorm, code: "10760", display: Triamcinolone Oral Paste}``."""

    system: str = Field(min_length=1, max_length=256, description="Code system URI (RxNorm, SNOMED CT, ATC ...).")
    code: str = Field(min_length=1, max_length=128, description="The code in that system.")
    display: str | None = Field(None, min_length=1, description="Its display name, as the source gives it.")


REQUEST_STATUSES = ("active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown")
REQUEST_INTENTS = ("proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order",
                   "option")


class MedicationRequest(_Model):
    """An order or prescription of a drug (FHIR MedicationRequest, aligned with mCODE STU4
    CancerRelatedMedicationRequest). What was ordered, not what was given: an order never becomes an
    administration; doses given are written as regimens."""

    id: LocalId | None = None
    drug: Term | Coded = Field(
        description="Drug ordered: a term in English or Russian (drugs table), or a code the tables do not list "
        "({system, code, display}).")
    diagnosis: LocalId | None = Field(
        None, description="id of the diagnosis the drug is for (reasonReference; default: the first diagnosis, "
        "unless a reason is given).")
    reason: Term | Coded | None = Field(
        None, description="The condition it is for when it is not one of the case's diagnoses (reasonCode): a term "
        "(conditions table) or a code.")
    intent: Term | None = Field(None, description="Treatment intent: curative / palliative (mCODE procedure intent).")
    status: Literal[REQUEST_STATUSES] = Field(  # type: ignore[valid-type]
        "unknown", description="FHIR MedicationRequest.status: active, on-hold, cancelled, completed, stopped, "
        "draft, entered-in-error; unknown (default) when the source does not say.")
    request_intent: Literal[REQUEST_INTENTS] = Field(  # type: ignore[valid-type]
        "order", description="FHIR MedicationRequest.intent: order (default), plan, proposal, original-order ...")
    authored: DateExpr | None = Field(None, description="Date the order was written (partial, D+N work).")
    requester: str | None = Field(
        None, min_length=1, max_length=128, description="Identifier of the prescriber (not a name).")
    regimen: LocalId | None = Field(None, description="id of the regimen the order belongs to (basedOn CarePlan).")
    dose: Number | None = Field(None, gt=0, le=MAX_DOSE, description="Dose per administration ordered.")
    unit: Term | None = Field(None, description="Unit of the dose (UCUM or written: mg, mg/m2, мг/кг).")
    dose_rate_type: Literal["calculated", "ordered"] | None = Field(
        None, description="Whether the dose was calculated (e.g. from body surface) or ordered as is (FHIR "
        "dose-rate-type).")
    route: Term | Coded | None = Field(
        None, description="IV, PO, SC, intrathecal ... (routes table), or a route code the table does not list.")
    as_needed: bool | Coded | None = Field(
        None, description="Given as needed: true, or the code of the reason it is needed for (asNeeded[x]).")
    timing_code: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9]{0,11}$", description="Timing abbreviation (HL7 v3 GTSAbbreviation, as "
        "written by the source): QD, BID, TID, Q8H, AM, WK ...")
    timing_event: DateExpr | None = Field(None, description="When the doses are to be given (Timing.event).")
    note: str | None = None

    @model_validator(mode="after")
    def _dose_has_unit(self) -> MedicationRequest:
        if self.dose is not None and self.unit is None:
            raise ValueError("a dose needs a unit (mg, mg/m2, mg/kg ...)")
        return self


class MrdMeasurement(_Model):
    """Minimal residual disease: a value in %, or negative (below a threshold)."""

    id: LocalId | None = None
    date: DateExpr
    value_percent: Number | None = Field(None, ge=0, le=100, description="Measured MRD in %.")
    negative: bool = Field(False, description="MRD not detected.")
    below_percent: Number | None = Field(
        None, gt=0, le=100, description="Negative below this threshold in %, e.g. 0.01 (= 1e-4)."
    )
    method: Term | None = Field(None, description="flow cytometry, PCR, NGS (mrd_methods table).")
    specimen: Term | None = Field(None, description="bone marrow, peripheral blood, CSF (specimens table).")
    sensitivity: Number | None = Field(None, gt=0, le=1, description="Assay sensitivity as a fraction, 1e-4.")
    diagnosis: LocalId | None = Field(None, description="id of the diagnosis measured (default: the first).")
    note: str | None = None

    @model_validator(mode="after")
    def _value_or_negative(self) -> MrdMeasurement:
        if self.value_percent is None and not self.negative:
            raise ValueError("give value_percent, or negative: true (optionally with below_percent)")
        if self.negative and self.value_percent not in (None, 0):
            raise ValueError("negative: true contradicts a positive value_percent")
        return self


class LabResult(_Model):
    """A laboratory result that defines disease course: bone-marrow / blood blasts %, blood counts (LOINC)."""

    id: LocalId | None = None
    test: Term = Field(description="Test (labs table): BM blasts, PB blasts, WBC, ANC, Hb, PLT ...")
    date: DateExpr
    value: Number = Field(ge=0, le=MAX_DOSE, description="Result in the unit given.")
    unit: Term | None = Field(None, description="UCUM or written unit (lab_units table): %, 10*9/L, g/L ...")
    diagnosis: LocalId | None = Field(None, description="id of the diagnosis it follows (default: the first).")
    note: str | None = None


class ResponseAssessment(_Model):
    """Response to treatment or disease status at a date (CR, CRi, VGPR, PR, MR, SD, PD, remission)."""

    id: LocalId | None = None
    date: DateExpr
    response: Term | None = Field(
        None, description="CR, CRi, sCR, VGPR, PR, MR, SD, PD, refractory, remission, not evaluable; leave out with "
        "data_absent.")
    data_absent: Literal["not-asked", "asked-unknown", "asked-declined", "temp-unknown", "unknown", "not-applicable",
                         "not-performed", "not-permitted"] | None = Field(
        None, description="Why there is no status (FHIR data-absent-reason), e.g. not-asked as mCODE writes it; "
        "instead of response.")
    criteria: str | None = Field(None, description="e.g. 'IMWG 2016'.")
    best: bool = Field(False, description="Best overall response of the regimen.")
    regimen: LocalId | None = Field(None, description="id of the regimen the response is to.")
    diagnosis: LocalId | None = Field(None, description="id of the diagnosis assessed (default: the first).")
    evidence: list[Term] = Field(
        default_factory=list, description="What the judgement rests on (evidence_types table: imaging, "
        "histopathology, symptoms, physical examination, laboratory): mCODE evidence type.")
    status: Literal["final", "preliminary", "registered", "amended", "corrected"] = Field(
        "final", description="FHIR Observation.status of the assessment.")
    recorded: DateExpr | None = Field(None, description="Date the assessment was recorded (entered).")
    note: str | None = None

    @model_validator(mode="after")
    def _response_or_absent(self) -> ResponseAssessment:
        if (self.response is None) == (self.data_absent is None):
            raise ValueError("give response, or data_absent (why there is none), not both")
        return self


class Donor(_Model):
    """The donor of an allogeneic graft."""

    relation: Term | None = Field(None, description="mother, father, sibling, unrelated ...")
    match: Term | None = Field(None, description="haploidentical, matched related, matched unrelated ...")
    hla_match: str | None = Field(None, pattern=r"^\d{1,2}/\d{1,2}$", description="e.g. '5/10'.")
    sex: Literal["male", "female", "other", "unknown"] | None = Field(None, description="Donor sex.")
    age_years: int | None = Field(None, ge=0, le=100, description="Donor age in years at donation.")


class CellDose(_Model):
    """Graft cell dose per kg recipient weight: nucleated, CD34+, CD3+ ..."""

    kind: Literal["nucleated", "cd34", "cd3", "cd3-alpha-beta", "cd19"] = Field(description="Which cells were counted.")
    value: Number = Field(gt=0, le=MAX_DOSE, description="Cells per kg recipient weight, in the unit given.")
    unit: Term = Field("10*6/kg", description="10*6/kg or 10*8/kg.")


class Engraftment(_Model):
    """Engraftment of a lineage on day +N after the HSCT."""

    kind: Literal["neutrophil", "leukocyte", "platelet"] = Field(description="Which lineage engrafted.")
    day: int = Field(ge=0, le=365, description="Day after the HSCT (D+N).")


class Chimerism(_Model):
    """Donor chimerism at a date: full donor, or mixed with % recipient cells."""

    id: LocalId | None = None
    date: DateExpr
    result: Literal["full-donor", "mixed", "autologous-recovery"] = Field(
        description="full-donor, mixed (give recipient_percent), or autologous-recovery.",
    )
    recipient_percent: Number | None = Field(
        None, ge=0, le=100, description="Recipient cells in %, for mixed chimerism.",
    )
    specimen: Term | None = Field(None, description="Specimen tested (specimens table).")
    note: str | None = None


_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}


def _roman_grade(value: Any) -> Any:
    # Transplant notes write acute GVHD grades in Roman numerals.
    return _ROMAN.get(value.strip().upper(), value) if isinstance(value, str) else value


ACUTE_ORGANS = ("skin", "liver", "upper-gi", "lower-gi")
CHRONIC_ORGANS = ("skin", "mouth", "eyes", "gi", "liver", "lungs", "joints-fascia", "genital-tract")


class GvhdOrgan(_Model):
    """One organ's stage (acute: skin, liver, lower GI 0-4, upper GI 0-1) or score (chronic, NIH: 0-3)."""

    organ: Literal["skin", "liver", "upper-gi", "lower-gi", "gi", "mouth", "eyes", "lungs", "joints-fascia",
                   "genital-tract"] = Field(description="Organ as the grading system names it.")
    stage: int = Field(ge=0, le=4, description="Organ stage (acute) or score (chronic).")


class Gvhd(_Model):
    """Graft-versus-host disease as transplant medicine grades it: acute by MAGIC / Glucksberg overall
    grade I-IV with organ stages, chronic by NIH global severity with organ scores (FHIR Condition)."""

    id: LocalId | None = None
    kind: Literal["acute", "chronic"] = Field(description="acute or chronic GVHD.")
    onset: DateExpr = Field(description="Onset (D+N works).")
    resolved: DateExpr | None = Field(None, description="Date it resolved.")
    criteria: Literal["MAGIC", "Glucksberg", "IBMTR", "NIH 2014"] | None = Field(
        None, description="Grading system: MAGIC, Glucksberg or IBMTR (acute), NIH 2014 (chronic).")
    grade: Annotated[int, BeforeValidator(_roman_grade)] | None = Field(
        None, ge=1, le=4, description="Acute overall grade 1-4 (I-IV accepted).")
    severity: Literal["mild", "moderate", "severe"] | None = Field(None, description="Chronic: NIH global severity.")
    organs: list[GvhdOrgan] = Field(default_factory=list, description="Organ stages (acute) or scores (chronic).")
    note: str | None = None

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Gvhd:
        if self.kind == "acute":
            if self.severity is not None or self.criteria == "NIH 2014":
                raise ValueError("acute GVHD is graded (grade, criteria MAGIC/Glucksberg/IBMTR), not by NIH severity")
            for o in self.organs:
                if o.organ not in ACUTE_ORGANS:
                    raise ValueError(f"acute GVHD organs are {', '.join(ACUTE_ORGANS)}; not {o.organ!r}")
                if o.organ == "upper-gi" and o.stage > 1:
                    raise ValueError("upper GI acute GVHD is staged 0 or 1")
        else:
            if self.grade is not None or self.criteria not in (None, "NIH 2014"):
                raise ValueError("chronic GVHD has an NIH global severity, not an acute grade")
            for o in self.organs:
                if o.organ not in CHRONIC_ORGANS:
                    raise ValueError(f"chronic GVHD organs are {', '.join(CHRONIC_ORGANS)}; not {o.organ!r}")
                if o.stage > 3:
                    raise ValueError("NIH organ scores run 0-3")
        if len({o.organ for o in self.organs}) != len(self.organs):
            raise ValueError("each organ once")
        return self


class GraftFailure(_Model):
    """Graft failure: primary (never engrafted) or secondary (lost after engraftment)."""

    kind: Literal["primary", "secondary"] = Field(description="primary or secondary graft failure.")
    date: DateExpr | None = Field(None, description="Date it was diagnosed (D+N works).")
    note: str | None = None


def _hsct_type(value: Any) -> Any:
    # Clerks write the kind as they say it: «алло-ТГСК», «ауто», "allo-SCT", "ASCT". The procedures table
    # knows these names; a haploidentical HSCT is allogeneic.
    if not isinstance(value, str) or value in ("allogeneic", "autologous"):
        return value
    from fhir_onco.terminology import default_terminology

    concept = default_terminology()["procedures"].lookup(value)
    kinds = {"allogeneic-hsct": "allogeneic", "haploidentical-hsct": "allogeneic", "autologous-hsct": "autologous"}
    return kinds.get(concept.key, value) if concept is not None else value


class Hsct(_Model):
    """A haematopoietic stem cell transplant: donor, graft, conditioning, engraftment, chimerism."""

    id: LocalId | None = None
    type: Annotated[Literal["allogeneic", "autologous"], BeforeValidator(_hsct_type)] = Field(
        description="allogeneic or autologous (also as written: алло-ТГСК, ауто, allo-SCT, ASCT).")
    date: DateExpr
    donor: Donor | None = Field(None, description="Donor of an allogeneic graft.")
    graft_source: Term | None = Field(None, description="bone marrow, PBSC, cord blood.")
    manipulations: list[Term] = Field(default_factory=list, description="e.g. TCR alpha/beta depletion.")
    cell_doses: list[CellDose] = Field(default_factory=list, description="Graft cell doses per kg.")
    conditioning: list[LocalId] = Field(default_factory=list, description="ids of conditioning regimens.")
    conditioning_intensity: Term | None = Field(None, description="MAC, RIC, reduced-toxicity MAC, NMA.")
    gvhd_prophylaxis: list[LocalId] = Field(default_factory=list, description="ids of regimens.")
    engraftment: list[Engraftment] = Field(
        default_factory=list, description="Engraftment days after the HSCT, per lineage.",
    )
    chimerism: list[Chimerism] = Field(default_factory=list, description="Chimerism measurements over time.")
    gvhd: list[Gvhd] = Field(default_factory=list, description="Acute and chronic GVHD after this HSCT, graded.")
    graft_failure: GraftFailure | None = Field(None, description="Primary or secondary graft failure.")
    diagnosis: LocalId | None = Field(None, description="id of the diagnosis transplanted for (default: the first).")
    note: str | None = None

    @model_validator(mode="after")
    def _donor_only_allogeneic(self) -> Hsct:
        if self.type == "autologous" and self.donor and self.donor.relation not in (None, "self"):
            raise ValueError("an autologous HSCT has no donor other than the patient")
        return self


class Radiotherapy(_Model):
    """A radiotherapy course: TBI, craniospinal or local irradiation."""

    id: LocalId | None = None
    kind: Term = Field(description="TBI, craniospinal irradiation, local radiotherapy ...")
    total_dose_gy: Number = Field(gt=0, le=100, description="Total dose in Gy.")
    fractions: int | None = Field(None, ge=1, description="Number of fractions.")
    start: DateExpr = Field(description="First day of irradiation.")
    end: DateExpr | None = Field(None, description="Last day of irradiation.")
    body_sites: list[Term] = Field(default_factory=list, description="Irradiated sites (body_sites table).")
    regimen: LocalId | None = Field(None, description="id of the regimen it belongs to (conditioning).")
    diagnosis: LocalId | None = Field(None, description="id of the diagnosis treated (default: the first).")
    note: str | None = None


class Procedure(_Model):
    """Surgery and other cancer-related procedures: resection, biopsy, bone marrow sampling, central
    line ... (FHIR Procedure aligned with mCODE CancerRelatedSurgicalProcedure)."""

    id: LocalId | None = None
    procedure: Term = Field(description="What was done (procedure_terms table): resection, biopsy, central line ...")
    date: DateExpr = Field(description="Date performed (partial, D+N and 'unknown' work).")
    body_site: Term | None = Field(None, description="Site (body_sites table).")
    laterality: Laterality | None = Field(None, description="left, right, bilateral, midline.")
    intent: Term | None = Field(None, description="curative, palliative, supportive, diagnostic.")
    outcome: Term | None = Field(None, description="R0 / R1 / R2, gross total, subtotal, diagnostic material ...")
    status: Literal["completed", "stopped", "not-done"] = Field("completed", description="FHIR Procedure.status.")
    diagnosis: LocalId | None = Field(None, description="id of the diagnosis it was done for (default: the first).")
    note: str | None = None


class SuspectedCause(_Model):
    """What the event is attributed to: a regimen, one drug of it, or an HSCT."""

    regimen: LocalId | None = Field(None, description="id of the suspected regimen.")
    drug: Term | None = Field(None, description="Narrows a regimen to one of its drugs.")
    hsct: LocalId | None = Field(None, description="id of the suspected HSCT.")
    causality: Term | None = Field(None, description="certain, probably, possibly, unlikely.")

    @model_validator(mode="after")
    def _one_target(self) -> SuspectedCause:
        if (self.regimen is None) == (self.hsct is None):
            raise ValueError("name exactly one of regimen (optionally with drug) or hsct")
        if self.drug and not self.regimen:
            raise ValueError("drug needs the regimen it was given in")
        return self


_GRADE_RANGE = r"^\s*([1-5]|I{1,3}|IV|V)\s*(-|–|\.\.)\s*([1-5]|I{1,3}|IV|V)\s*$"


def _check_grades(item: Any) -> None:
    if item.grade_range is not None:
        if item.grade is not None:
            raise ValueError("give grade or grade_range, not both")
        lo, hi = grade_bounds(item.grade_range)
        if not lo < hi:
            raise ValueError(f"grade_range {item.grade_range!r} must run from a lower to a higher grade")


class AeEpisode(_Model):
    """A further episode of an adverse event (recurrence or a change of grade): its own dates and grade."""

    onset: DateExpr = Field(description="Onset of this episode (D+N and 'day N@regimen' work).")
    resolved: DateExpr | None = Field(None, description="Date this episode resolved.")
    grade: int | None = Field(None, ge=1, le=5, description="CTCAE grade of this episode.")
    grade_range: str | None = Field(None, pattern=_GRADE_RANGE, description="A grade given as a range: 'I-II'.")
    note: str | None = None

    @model_validator(mode="after")
    def _one_grade(self) -> AeEpisode:
        _check_grades(self)
        return self


class AeParticipant(_Model):
    """Who took part in the event's record: CTCAE IG participant (actor and function)."""

    actor: str = Field(min_length=1, max_length=128, description="Identifier of the practitioner (not a name).")
    function: Term | None = Field(
        None, description="informant, author, witness, authenticator, participation (ae_terms, v3 ParticipationType).")


class AdverseEvent(_Model):
    """An adverse event graded by CTCAE (or acute GVHD graded I-IV). The top-level dates and grade are its
    first episode; `episodes` lists the further ones."""

    id: LocalId | None = None
    term: Term = Field(description="CTCAE term (English or Russian).")
    ctcae_version: Literal["4.03", "5.0"] | None = Field(
        "5.0", description="CTCAE version the grade follows; null when the source does not say.")
    grade: int | None = Field(None, ge=1, le=5, description="CTCAE grade; leave out when the source does not grade it.")
    grade_range: str | None = Field(
        None, pattern=_GRADE_RANGE,
        description="A grade the source gives as a range: '1-2', 'I-II', 'III-IV' (instead of grade).")
    gvhd_grade: int | None = Field(None, ge=1, le=4, description="Acute GVHD overall grade I-IV.")
    gvhd_organs: list[Term] = Field(default_factory=list, description="Organs of acute GVHD: skin, liver, gut.")
    onset: DateExpr = Field(description="Onset date (D+N and 'day N@regimen' work).")
    resolved: DateExpr | None = Field(None, description="Date the event resolved.")
    recorded: DateExpr | None = Field(None, description="Date the event was recorded (AdverseEvent.recordedDate).")
    serious: bool | None = Field(None, description="Serious adverse event (true/false); leave out when not stated.")
    outcome: Term | None = Field(None, description="resolved, recovering, ongoing, fatal ...")
    suspected_causes: list[SuspectedCause] = Field(default_factory=list, description="What the event is attributed to.")
    actions: list[Term] = Field(default_factory=list, description="dose paused, drug stopped, ICU ...")
    icu_days: int | None = Field(None, ge=1, description="Days in intensive care because of the event.")
    treated_with: list[LocalId] = Field(default_factory=list, description="ids of supportive regimens.")
    categories: list[Term] = Field(
        default_factory=list, description="AdverseEvent.category (ae_terms: product-problem, wrong-dose, "
        "expired-drug ...; FHIR R4 adverse-event-category).")
    expected: bool | None = Field(
        None, description="Expected (true) or unexpected (false) for the study or label (CTCAE IG expectation).")
    study: str | None = Field(
        None, min_length=1, max_length=128, description="Identifier of the research study it was reported in "
        "(e.g. an NCT number): AdverseEvent.study.")
    participants: list[AeParticipant] = Field(
        default_factory=list, description="Practitioners who recorded or witnessed it (CTCAE IG participant).")
    episodes: list[AeEpisode] = Field(
        default_factory=list, description="Further episodes after the first (each its own onset, resolution and "
        "grade): one AdverseEvent each, linked to the first.")
    note: str | None = None

    @model_validator(mode="after")
    def _one_grade(self) -> AdverseEvent:
        _check_grades(self)
        return self


def grade_bounds(text: str) -> tuple[int, int]:
    """'I-II' -> (1, 2); '2-3' -> (2, 3)."""
    roman = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}
    lo, hi = (p.strip() for p in re.split(r"-|–|\.\.", text.strip(), maxsplit=1))
    return (int(lo) if lo.isdigit() else roman[lo], int(hi) if hi.isdigit() else roman[hi])


class Case(_Model):
    """One patient's oncology history."""

    schema_version: Literal["1"] = Field(SCHEMA_VERSION, description="Version of this case format.")
    patient: Patient = Field(description="The patient.")
    diagnoses: list[Diagnosis] = Field(default_factory=list, description="Cancers: primary first, then secondary ones.")
    regimens: list[Regimen] = Field(default_factory=list, description="Treatment regimens in the order given.")
    medication_requests: list[MedicationRequest] = Field(
        default_factory=list, description="Drug orders and prescriptions (what was ordered, not what was given).")
    radiotherapy: list[Radiotherapy] = Field(default_factory=list, description="Radiotherapy courses.")
    procedures: list[Procedure] = Field(
        default_factory=list, description="Surgery and other procedures (resection, biopsy, central line ...).")
    hsct: list[Hsct] = Field(default_factory=list, description="Stem cell transplants (their dates anchor D+N dates).")
    mrd: list[MrdMeasurement] = Field(default_factory=list, description="MRD measurements.")
    labs: list[LabResult] = Field(default_factory=list, description="Blasts and blood counts (LOINC Observations).")
    responses: list[ResponseAssessment] = Field(
        default_factory=list, description="Response and disease-status assessments.",
    )
    adverse_events: list[AdverseEvent] = Field(default_factory=list, description="Adverse events graded by CTCAE.")
    note: str | None = Field(None, description="Free text about the case.")


class CaseError(ValueError):
    """A case file that cannot be read; `issues` holds (location, message) pairs."""

    def __init__(self, source: str, issues: list[tuple[str, str]]):
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  {source}: {loc}: {msg}" for loc, msg in issues)
        super().__init__(f"{source}: invalid case file\n{lines}")


def field_path(loc: tuple[int | str, ...]) -> str:
    """('regimens', 2, 'drugs', 0, 'dose') -> 'regimens[2].drugs[0].dose'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def parse_case(data: Any, source: str = "<case>") -> Case:
    """Validate a parsed case document; errors name the field path and what was expected."""
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        raise CaseError(source, _issues(exc)) from None


def _issues(exc: ValidationError) -> list[tuple[str, str]]:
    issues = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; `fhir-onco schema` lists the fields)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        issues.append((field_path(err["loc"]), msg))
    return issues


def load_case(path: str | Path) -> Case:
    """Read a case file: ``.yaml``/``.yml`` as YAML, anything else as strict JSON.

    The same parser (fhir_onco.documents) serves ``validate``, so a file gets one verdict; duplicate
    keys, over-deep nesting and absurd number literals are refused with their location.
    """
    p = Path(path)
    try:
        data = load_document(p)
    except DocumentError as exc:
        raise CaseError(str(p), exc.issues) from None
    if not isinstance(data, dict):
        raise CaseError(str(p), [("(root)", "expected a mapping with 'patient' and clinical sections")])
    return parse_case(data, str(p))


def dump_case(case: Case) -> str:
    """Case as YAML, omitting defaults, in field order (stable output)."""
    data = case.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def case_json_schema() -> dict[str, Any]:
    """JSON Schema of the case file (published as docs/case.schema.json)."""
    schema = Case.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://fhir-onco.org/schema/case-v{SCHEMA_VERSION}.json"
    return schema
