"""Flatten FHIR resources into one analysis table per clinical domain.

Each table is a list of flat rows (dicts with the table's columns, in order). Coded values are the
terminology *keys* (``cr``, ``iss-3``, ``neutrophil count decreased``) with a ``*_display`` column
where a person reads them; values the tables do not know keep the text as written. Dates are ISO
strings exactly as on the resource, so a partial date (``2021-12``) stays partial. Every row has the
FHIR resource id (``id``) and the patient's resource id (``patient_id``) to join on.

The tables, their columns and what each column means are listed in docs/analytics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from fhir_onco.fhir import urls

from .decode import (
    Decoder,
    Json,
    ext_value,
    extensions,
    fhir_date,
    iso,
    period_dates,
    profile_names,
    quantity_value,
    ref_id,
    subject_id,
    text_of,
)
from .reader import ResourceStore

ColumnType = Literal["str", "int", "float", "bool"]


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[tuple[str, ColumnType], ...]
    rows: Callable[[ResourceStore, Decoder], Iterator[Json]]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


def _obs_kind(dec: Decoder, obs: Json) -> str | None:
    """Observation code as an observation_codes key ('mrd', 'disease-status', 'stage-iss', ...)."""
    concept = dec.concept(obs.get("code"), "observation_codes")
    return concept.key if concept is not None else None


def _observations(store: ResourceStore, dec: Decoder, *kinds: str, prefix: str = "") -> Iterator[Json]:
    for obs in store.resources("Observation"):
        kind = _obs_kind(dec, obs)
        if kind is not None and (kind in kinds or (prefix and kind.startswith(prefix))):
            yield obs


def _date(resource: Json, *prefixes: str) -> str | None:
    return iso(period_dates(resource, *prefixes)[0])


def _focus_id(obs: Json, rtype: str = "Condition") -> str | None:
    for ref in obs.get("focus") or []:
        if str(ref.get("reference", "")).split("/")[-2:-1] == [rtype]:
            return ref_id(ref)
    return None


def _join(values: Any) -> str | None:
    items = [str(v) for v in values if v not in (None, "")]
    return "|".join(items) if items else None


# ---- patients -----------------------------------------------------------------------------------
def _patients(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    causes: dict[str, Json] = {}
    for obs in _observations(store, dec, "cause-of-death"):
        pid = subject_id(obs)
        if pid is not None:
            causes[pid] = obs
    for p in store.patients():
        ident = (p.get("identifier") or [{}])[0]
        age = next(extensions(p, urls.EXT_AGE_AT_EVENT), None)
        cause = causes.get(p["id"])
        deceased = bool(p.get("deceasedDateTime") or p.get("deceasedBoolean"))
        yield {
            "patient_id": p["id"],
            "identifier_system": ident.get("system"),
            "identifier_value": ident.get("value"),
            "sex": p.get("gender"),
            "birth_date": p.get("birthDate"),
            "age_years": quantity_value(ext_value(age, "age", "valueAge")),
            "age_at_date": ext_value(age, "date", "valueDateTime"),
            "deceased": deceased or cause is not None,
            "death_date": iso(fhir_date(p.get("deceasedDateTime"))),
            "death_cause": dec.key((cause or {}).get("valueCodeableConcept"), "death_causes") if cause else None,
            "death_cause_display": dec.display(cause.get("valueCodeableConcept"), "death_causes") if cause else None,
        }


# ---- diagnoses ----------------------------------------------------------------------------------
def _diagnoses(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for c in store.resources("Condition"):
        tags = {t.get("code") for t in (c.get("meta") or {}).get("tag") or []}
        related = ext_value(c, urls.EXT_MCODE_RELATED_CONDITION, "valueReference")
        yield {
            "id": c["id"],
            "patient_id": subject_id(c),
            "kind": "secondary" if "onco-secondary-cancer-condition" in profile_names(c) or related else "primary",
            "condition": dec.key(c.get("code"), "conditions"),
            "condition_display": dec.display(c.get("code"), "conditions"),
            "morphology": dec.key(ext_value(c, urls.EXT_MCODE_HISTOLOGY), "morphology"),
            "immunophenotype": dec.key(ext_value(c, urls.EXT_IMMUNOPHENOTYPE), "morphology"),
            "onset_date": _date(c, "onset"),
            "clinical_status": text_of(c.get("clinicalStatus")),
            "therapy_related": "therapy-related" in tags,
            "related_condition_id": ref_id(related),
            "body_sites": _join(dec.key(s, "body_sites") for s in c.get("bodySite") or []),
        }


def _stages(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for obs in _observations(store, dec, "risk-all", prefix="stage-"):
        value = dec.concept(obs.get("valueCodeableConcept"), "stages")
        kind = _obs_kind(dec, obs) or ""
        system = value.key.rsplit("-", 1)[0] if value else kind.removeprefix("stage-")
        yield {
            "id": obs["id"],
            "patient_id": subject_id(obs),
            "condition_id": _focus_id(obs),
            "system": system,
            "stage": value.key if value else text_of(obs.get("valueCodeableConcept")),
            "stage_display": value.display if value else text_of(obs.get("valueCodeableConcept")),
            "date": _date(obs, "effective"),
        }


def _findings(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for obs in _observations(store, dec, "genomic-finding", "cytogenetic-finding"):
        target = ext_value(obs, urls.EXT_FINDING_TARGET, "valueCodeableConcept")
        if "valueCodeableConcept" in obs:
            result = dec.key(obs["valueCodeableConcept"], "findings", "kind-")
        else:
            result = text_of((obs.get("interpretation") or [None])[0])
        yield {
            "id": obs["id"],
            "patient_id": subject_id(obs),
            "condition_id": _focus_id(obs),
            "kind": (_obs_kind(dec, obs) or "").removesuffix("-finding"),
            "target": dec.key(target, "findings"),
            "target_display": dec.display(target, "findings"),
            "result": result,
            "value_percent": quantity_value(obs.get("valueQuantity")),
            "method": text_of(obs.get("method")),
            "date": _date(obs, "effective"),
        }


def _is_relapse(obs: Json) -> bool:
    return ext_value(obs, urls.EXT_RELAPSE_NUMBER) is not None


def _relapses(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for obs in _observations(store, dec, "disease-status"):
        if not _is_relapse(obs):
            continue
        sites = [e.get("valueCodeableConcept") for e in extensions(obs, urls.EXT_BODY_SITE)]
        yield {
            "id": obs["id"],
            "patient_id": subject_id(obs),
            "condition_id": _focus_id(obs),
            "number": ext_value(obs, urls.EXT_RELAPSE_NUMBER, "valuePositiveInt"),
            "date": _date(obs, "effective"),
            "isolated": ext_value(obs, urls.EXT_ISOLATED, "valueBoolean"),
            "sites": _join(dec.key(s, "body_sites") for s in sites),
        }


# ---- treatment ----------------------------------------------------------------------------------
def _regimens(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for cp in store.resources("CarePlan"):
        start, end = period_dates(cp, "period")
        drugs = [dec.key((a.get("detail") or {}).get("productCodeableConcept"), "drugs")
                 for a in cp.get("activity") or []]
        length = ext_value(cp, urls.EXT_CYCLE_LENGTH, "valueDuration")
        yield {
            "id": cp["id"],
            "patient_id": subject_id(cp),
            "title": cp.get("title"),
            "category": dec.key((cp.get("category") or [None])[0], "regimen_terms", "category-"),
            "protocol": ext_value(cp, urls.EXT_PROTOCOL, "valueString"),
            "status": cp.get("status"),
            "intent": dec.key(ext_value(cp, urls.EXT_MCODE_TREATMENT_INTENT), "regimen_terms", "intent-"),
            "intensity": dec.key(ext_value(cp, urls.EXT_CONDITIONING_INTENSITY), "regimen_terms", "intensity-"),
            "part_of_id": ref_id((cp.get("partOf") or [None])[0]),
            "start_date": iso(start),
            "end_date": iso(end),
            "cycles": ext_value(cp, urls.EXT_CYCLES, "valuePositiveInt"),
            "cycle_length_days": quantity_value(length),
            "condition_id": ref_id((cp.get("addresses") or [None])[0]),
            "drugs": _join(dict.fromkeys(drugs)),
        }


def _administrations(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for ma in store.resources("MedicationAdministration"):
        start, end = period_dates(ma, "effective")
        dosage = ma.get("dosage") or {}
        dose, rate = dosage.get("dose"), dosage.get("rateQuantity")
        yield {
            "id": ma["id"],
            "patient_id": subject_id(ma),
            "regimen_id": ref_id(ext_value(ma, urls.EXT_REGIMEN, "valueReference")),
            "cycle": ext_value(ma, urls.EXT_CYCLE, "valuePositiveInt"),
            "drug": dec.key(ma.get("medicationCodeableConcept"), "drugs"),
            "drug_display": dec.display(ma.get("medicationCodeableConcept"), "drugs"),
            "status": ma.get("status"),
            "start_date": iso(start),
            "end_date": iso(end),
            "dose": quantity_value(dose),
            "dose_unit": (dose or {}).get("code") or (dose or {}).get("unit"),
            "rate": quantity_value(rate),
            "rate_unit": (rate or {}).get("code") or (rate or {}).get("unit"),
            "dose_basis": ext_value(ma, urls.EXT_DOSE_BASIS, "valueCode") or "per-dose",
            "route": dec.key(dosage.get("route"), "routes"),
        }


def _procedure_kind(dec: Decoder, proc: Json) -> str | None:
    return dec.key(proc.get("code"), "procedures")


def _is_hsct(dec: Decoder, proc: Json) -> bool:
    return "onco-hsct" in profile_names(proc) or (_procedure_kind(dec, proc) or "").endswith("-hsct")


def _radiotherapy(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for proc in store.resources("Procedure"):
        if _is_hsct(dec, proc):
            continue
        start, end = period_dates(proc, "performed")
        yield {
            "id": proc["id"],
            "patient_id": subject_id(proc),
            "kind": _procedure_kind(dec, proc),
            "total_dose_gy": quantity_value(ext_value(proc, urls.EXT_TOTAL_DOSE, "valueQuantity")),
            "fractions": ext_value(proc, urls.EXT_FRACTIONS, "valuePositiveInt"),
            "start_date": iso(start),
            "end_date": iso(end),
            "regimen_id": ref_id(ext_value(proc, urls.EXT_REGIMEN, "valueReference")),
            "body_sites": _join(dec.key(s, "body_sites") for s in proc.get("bodySite") or []),
        }


def _hsct(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for proc in store.resources("Procedure"):
        if not _is_hsct(dec, proc):
            continue
        donor = next(extensions(proc, urls.EXT_DONOR), None)
        age = ext_value(donor, "age", "valueAge")
        kind = _procedure_kind(dec, proc) or ""
        yield {
            "id": proc["id"],
            "patient_id": subject_id(proc),
            "type": kind.removesuffix("-hsct"),
            "date": _date(proc, "performed"),
            "donor_relation": dec.key(ext_value(donor, "relation"), "hsct", "relation-"),
            "donor_match": dec.key(ext_value(donor, "match"), "hsct", "donor-"),
            "hla_match": ext_value(donor, "hla-match", "valueString"),
            "donor_sex": ext_value(donor, "sex", "valueCode"),
            "donor_age_years": quantity_value(age),
            "graft_source": dec.key(ext_value(proc, urls.EXT_GRAFT_SOURCE), "hsct", "graft-"),
            "manipulations": _join(dec.key(e.get("valueCodeableConcept"), "hsct", "manipulation-")
                                   for e in extensions(proc, urls.EXT_GRAFT_MANIPULATION)),
            "conditioning_intensity": dec.key(ext_value(proc, urls.EXT_CONDITIONING_INTENSITY),
                                              "regimen_terms", "intensity-"),
            "conditioning_ids": _join(ref_id(e.get("valueReference"))
                                      for e in extensions(proc, urls.EXT_CONDITIONING)),
            "gvhd_prophylaxis_ids": _join(ref_id(e.get("valueReference"))
                                          for e in extensions(proc, urls.EXT_GVHD_PROPHYLAXIS)),
            "condition_id": ref_id((proc.get("reasonReference") or [None])[0]),
        }


def _engraftment(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for obs in _observations(store, dec, prefix="engraftment-"):
        yield {
            "id": obs["id"],
            "patient_id": subject_id(obs),
            "hsct_id": _focus_id(obs, "Procedure"),
            "kind": (_obs_kind(dec, obs) or "").removeprefix("engraftment-"),
            "day": quantity_value(obs.get("valueQuantity")),
            "date": _date(obs, "effective"),
        }


def _chimerism(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for obs in _observations(store, dec, "chimerism"):
        interp = (obs.get("interpretation") or [None])[0]
        yield {
            "id": obs["id"],
            "patient_id": subject_id(obs),
            "hsct_id": _focus_id(obs, "Procedure"),
            "date": _date(obs, "effective"),
            "result": dec.key(interp, "hsct", "chimerism-"),
            "recipient_percent": quantity_value(obs.get("valueQuantity")),
        }


# ---- disease assessments ------------------------------------------------------------------------
def _specimen(obs: Json, dec: Decoder) -> str | None:
    for contained in obs.get("contained") or []:
        if contained.get("resourceType") == "Specimen":
            return dec.key(contained.get("type"), "specimens")
    return None


def _mrd(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for obs in _observations(store, dec, "mrd"):
        q = obs.get("valueQuantity")
        interp = (obs.get("interpretation") or [{}])[0]
        codes = {c.get("code") for c in interp.get("coding") or []}
        negative = "NEG" in codes or "valueCodeableConcept" in obs or (q or {}).get("comparator") == "<"
        yield {
            "id": obs["id"],
            "patient_id": subject_id(obs),
            "date": _date(obs, "effective"),
            "value_percent": quantity_value(q),
            "comparator": (q or {}).get("comparator"),
            "negative": bool(negative),
            "method": dec.key(obs.get("method"), "mrd_methods"),
            "specimen": _specimen(obs, dec),
            "sensitivity": ext_value(obs, urls.EXT_MRD_SENSITIVITY, "valueDecimal"),
        }


def _responses(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for obs in _observations(store, dec, "disease-status", "response"):
        if _is_relapse(obs):
            continue
        value = obs.get("valueCodeableConcept")
        yield {
            "id": obs["id"],
            "patient_id": subject_id(obs),
            "date": _date(obs, "effective"),
            "response": dec.key(value, "responses"),
            "response_display": dec.display(value, "responses"),
            "best": bool(ext_value(obs, urls.EXT_BEST_RESPONSE, "valueBoolean")),
            "criteria": ext_value(obs, urls.EXT_RESPONSE_CRITERIA, "valueString"),
            "regimen_id": ref_id(ext_value(obs, urls.EXT_REGIMEN, "valueReference")),
            "condition_id": _focus_id(obs),
        }


def _grade(dec: Decoder, cc: Json | None) -> int | None:
    key = dec.key(cc, "ctcae_grades", "grade-")
    return int(key) if key is not None and key.isdigit() else None


def _adverse_events(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    for ae in store.resources("AdverseEvent"):
        event = ae.get("event")
        version = next((c.get("version") for c in (event or {}).get("coding") or [] if c.get("version")), None)
        gvhd = dec.key(ext_value(ae, urls.EXT_GVHD_GRADE), "regimen_terms", "gvhd-grade-")
        yield {
            "id": ae["id"],
            "patient_id": subject_id(ae),
            "term": dec.key(event, "ctcae_terms"),
            "term_display": dec.display(event, "ctcae_terms"),
            "term_text": text_of(event),
            "ctcae_version": version,
            "grade": _grade(dec, ext_value(ae, urls.EXT_CTCAE_GRADE)),
            "onset_date": iso(fhir_date(ae.get("date"))),
            "resolved_date": iso(fhir_date(ext_value(ae, urls.EXT_CTCAE_RESOLVED_DATE, "valueDateTime"))),
            "serious": _serious(dec, ae.get("seriousness")),
            "outcome": dec.key(ae.get("outcome"), "ae_terms", "outcome-"),
            "gvhd_grade": int(gvhd) if gvhd and gvhd.isdigit() else None,
            "suspect_ids": _join(ref_id(s.get("instance")) for s in ae.get("suspectEntity") or []),
        }


def _serious(dec: Decoder, cc: Json | None) -> bool | None:
    key = dec.key(cc, "ae_terms")
    if key is None:
        return None
    return key == "seriousness-serious"


def _other_observations(store: ResourceStore, dec: Decoder) -> Iterator[Json]:
    """Observations no other table takes (e.g. paraprotein type, prior lines, ECOG): code and value as found
    (``value_number`` holds valueQuantity's value or valueInteger)."""
    for obs in store.resources("Observation"):
        kind = _obs_kind(dec, obs)
        if kind in _HANDLED_KINDS or (kind or "").startswith(("stage-", "engraftment-")):
            continue
        code_sys, code = next(((c.get("system"), c.get("code")) for c in obs["code"].get("coding") or []),
                              (None, None)) if obs.get("code") else (None, None)
        value = obs.get("valueCodeableConcept")
        yield {
            "id": obs["id"],
            "patient_id": subject_id(obs),
            "code": kind or (f"{code_sys}|{code}" if code else text_of(obs.get("code"))),
            "code_display": text_of(obs.get("code")),
            "date": _date(obs, "effective"),
            "value_code": _any_key(dec, value),
            "value_text": text_of(value) if value else obs.get("valueString"),
            "value_number": quantity_value(obs["valueQuantity"]) if "valueQuantity" in obs else obs.get("valueInteger"),
            "value_unit": (obs.get("valueQuantity") or {}).get("code"),
        }


_HANDLED_KINDS = {"mrd", "disease-status", "response", "risk-all", "genomic-finding", "cytogenetic-finding",
                  "chimerism", "cause-of-death"}


def _any_key(dec: Decoder, cc: Json | None) -> str | None:
    """Key of a value in whichever table knows it (for observations we have no table for)."""
    if not cc:
        return None
    for table in dec.terminology.tables:
        concept = dec.concept(cc, table)
        if concept is not None:
            return concept.key
    system, code = next(((c.get("system"), c.get("code")) for c in cc.get("coding") or []), (None, None))
    return f"{system}|{code}" if code else None


S, N, F, B = "str", "int", "float", "bool"
TABLES: dict[str, TableSpec] = {t.name: t for t in (
    TableSpec("patients", "one row per patient: sex, birth date or age at a date, death and its cause", (
        ("patient_id", S), ("identifier_system", S), ("identifier_value", S), ("sex", S), ("birth_date", S),
        ("age_years", F), ("age_at_date", S), ("deceased", B), ("death_date", S), ("death_cause", S),
        ("death_cause_display", S)), _patients),
    TableSpec("diagnoses", "cancers (Condition): primary or secondary, morphology, onset", (
        ("id", S), ("patient_id", S), ("kind", S), ("condition", S), ("condition_display", S), ("morphology", S),
        ("immunophenotype", S), ("onset_date", S), ("clinical_status", S), ("therapy_related", B),
        ("related_condition_id", S), ("body_sites", S)), _diagnoses),
    TableSpec("stages", "stage and risk groups (ISS, R-ISS, Durie-Salmon, INSS, INRG, ALL risk)", (
        ("id", S), ("patient_id", S), ("condition_id", S), ("system", S), ("stage", S), ("stage_display", S),
        ("date", S)), _stages),
    TableSpec("findings", "gene and cytogenetic findings, marker expression", (
        ("id", S), ("patient_id", S), ("condition_id", S), ("kind", S), ("target", S), ("target_display", S),
        ("result", S), ("value_percent", F), ("method", S), ("date", S)), _findings),
    TableSpec("relapses", "relapses with number, sites and date", (
        ("id", S), ("patient_id", S), ("condition_id", S), ("number", N), ("date", S), ("isolated", B),
        ("sites", S)), _relapses),
    TableSpec("regimens", "regimens / courses (CarePlan) with category, period and drugs", (
        ("id", S), ("patient_id", S), ("title", S), ("category", S), ("protocol", S), ("status", S),
        ("intent", S), ("intensity", S), ("part_of_id", S), ("start_date", S), ("end_date", S), ("cycles", N),
        ("cycle_length_days", F), ("condition_id", S), ("drugs", S)), _regimens),
    TableSpec("administrations", "single drug administrations (MedicationAdministration)", (
        ("id", S), ("patient_id", S), ("regimen_id", S), ("cycle", N), ("drug", S), ("drug_display", S),
        ("status", S), ("start_date", S), ("end_date", S), ("dose", F), ("dose_unit", S), ("rate", F),
        ("rate_unit", S), ("dose_basis", S), ("route", S)), _administrations),
    TableSpec("radiotherapy", "radiotherapy courses with total dose", (
        ("id", S), ("patient_id", S), ("kind", S), ("total_dose_gy", F), ("fractions", N), ("start_date", S),
        ("end_date", S), ("regimen_id", S), ("body_sites", S)), _radiotherapy),
    TableSpec("hsct", "stem cell transplants with donor, graft and conditioning", (
        ("id", S), ("patient_id", S), ("type", S), ("date", S), ("donor_relation", S), ("donor_match", S),
        ("hla_match", S), ("donor_sex", S), ("donor_age_years", F), ("graft_source", S), ("manipulations", S),
        ("conditioning_intensity", S), ("conditioning_ids", S), ("gvhd_prophylaxis_ids", S),
        ("condition_id", S)), _hsct),
    TableSpec("engraftment", "engraftment day after HSCT", (
        ("id", S), ("patient_id", S), ("hsct_id", S), ("kind", S), ("day", F), ("date", S)), _engraftment),
    TableSpec("chimerism", "chimerism after HSCT", (
        ("id", S), ("patient_id", S), ("hsct_id", S), ("date", S), ("result", S), ("recipient_percent", F)),
        _chimerism),
    TableSpec("mrd", "MRD measurements (value in %, or negative below a threshold)", (
        ("id", S), ("patient_id", S), ("date", S), ("value_percent", F), ("comparator", S), ("negative", B),
        ("method", S), ("specimen", S), ("sensitivity", F)), _mrd),
    TableSpec("responses", "response / disease status assessments (best response flagged)", (
        ("id", S), ("patient_id", S), ("date", S), ("response", S), ("response_display", S), ("best", B),
        ("criteria", S), ("regimen_id", S), ("condition_id", S)), _responses),
    TableSpec("adverse_events", "adverse events with CTCAE term and grade", (
        ("id", S), ("patient_id", S), ("term", S), ("term_display", S), ("term_text", S), ("ctcae_version", S),
        ("grade", N), ("onset_date", S), ("resolved_date", S), ("serious", B), ("outcome", S),
        ("gvhd_grade", N), ("suspect_ids", S)), _adverse_events),
    TableSpec("other_observations", "any other Observation, code and value as found", (
        ("id", S), ("patient_id", S), ("code", S), ("code_display", S), ("date", S), ("value_code", S),
        ("value_text", S), ("value_number", F), ("value_unit", S)), _other_observations),
)}


def flatten(store: ResourceStore, name: str, decoder: Decoder | None = None) -> list[Json]:
    """Rows of one table, sorted by patient then date-like columns (stable output)."""
    spec = TABLES[name]
    dec = decoder or Decoder()
    rows = [{c: _typed(row.get(c), t) for c, t in spec.columns} for row in spec.rows(store, dec)]
    return _sorted(name, rows)


def _sorted(name: str, rows: list[Json]) -> list[Json]:
    cols = TABLES[name].column_names
    order = [c for c in ("patient_id", "date", "start_date", "onset_date", "id") if c in cols]
    rows.sort(key=lambda r: tuple(str(r[c] or "") for c in order))
    return rows


def flatten_all(store: ResourceStore, decoder: Decoder | None = None,
                names: Iterable[str] | None = None) -> dict[str, list[Json]]:
    dec = decoder or Decoder()
    return {name: flatten(store, name, dec) for name in (names or TABLES)}


def flatten_stores(stores: Iterable[ResourceStore], names: Iterable[str] | None = None,
                   decoder: Decoder | None = None) -> dict[str, list[Json]]:
    """Flatten store by store (e.g. :func:`.reader.iter_stores`), keeping only rows in memory.

    A resource met in several stores (the same Type/id in two files) gives one row: the last one.
    """
    dec = decoder or Decoder()
    wanted = list(names or TABLES)
    merged: dict[str, dict[str, Json]] = {n: {} for n in wanted}
    for store in stores:
        for name in wanted:
            key = "patient_id" if name == "patients" else "id"
            for row in flatten(store, name, dec):
                merged[name][str(row[key])] = row
    return {name: _sorted(name, list(rows.values())) for name, rows in merged.items()}


def _typed(value: Any, kind: ColumnType) -> Any:
    if value is None:
        return None
    if kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if kind == "bool":
        return bool(value)
    return str(value)
