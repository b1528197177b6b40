"""One analysis table per clinical domain, built from the cases the reverse mapping reads back.

Each table is a list of flat rows (dicts with the table's columns, in order). Terms are the
terminology *keys* (``cr``, ``neutrophil count decreased``) with a ``*_display`` column where a
person reads them; a term the tables do not know (data we did not write) stays as written. Dates
are ISO strings, partial dates stay partial (``2021-12``); relative dates (D+21) are resolved.
Every row has the FHIR resource id of its item (``id``) and of its patient (``patient_id``), and
references are FHIR ids too, so tables join on them.

The tables, their columns and what each column means are listed in docs/analytics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from fhir_onco.case import AdverseEvent, grade_bounds
from fhir_onco.cohort.tables import group_of
from fhir_onco.mappings.diagnosis import stage_key
from fhir_onco.mappings.hsct import hsct_key

from .cases import ReadCase, ReadStats, read_cases
from .reader import ResourceStore
from .values import Json, Labels

ColumnType = Literal["str", "int", "float", "bool", "date"]


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[tuple[str, ColumnType], ...]
    rows: Callable[[ReadCase, Labels], Iterator[Json]]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def date_columns(self) -> list[str]:
        return [c for c, t in self.columns if t == "date"]


def _join(values: Iterable[Any]) -> str | None:
    items = [str(v) for v in values if v not in (None, "")]
    return "|".join(items) if items else None


class _Refs:
    """Local ids of a case's items -> FHIR ids of their resources (cases refer by local id)."""

    def __init__(self, rc: ReadCase):
        c = rc.case
        self.rc = rc
        self.diagnoses = {d.id: rc.resource_id(f"diagnoses[{i}]") for i, d in enumerate(c.diagnoses) if d.id}
        self.regimens = {r.id: rc.resource_id(f"regimens[{i}]") for i, r in enumerate(c.regimens) if r.id}
        self.regimen_names = {r.id: r.name for r in c.regimens if r.id}
        self.hscts = {h.id: rc.resource_id(f"hsct[{i}]") for i, h in enumerate(c.hsct) if h.id}
        self.first_diagnosis = rc.resource_id("diagnoses[0]") if c.diagnoses else None

    def diagnosis(self, local: str | None) -> str | None:
        """An item without `diagnosis:` belongs to the first diagnosis, as the mapping reads it."""
        return self.diagnoses.get(local) if local else self.first_diagnosis


# ---- patients -----------------------------------------------------------------------------------
def _patients(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    p = rc.case.patient
    ident = p.identifiers[0] if p.identifiers else None
    death = p.death
    yield {
        "patient_id": rc.patient_id,
        "identifier_system": ident.system if ident else None,
        "identifier_value": ident.value if ident else None,
        "sex": p.sex,
        "birth_date": rc.iso(p.birth_date),
        "age_years": p.age.years if p.age else None,
        "age_at_date": rc.iso(p.age.at) if p.age else None,
        "deceased": death is not None or p.vital_status == "dead",
        "death_date": rc.iso(death.date) if death else None,
        "death_cause": lab.key("death_causes", death.cause) if death else None,
        "death_cause_display": lab.display("death_causes", death.cause) if death else None,
        "last_contact_date": rc.iso(p.last_contact),
        "vital_status": p.vital_status,
        "cohort_group": group_of(rc.case),
    }


# ---- diagnoses ----------------------------------------------------------------------------------
def _diagnoses(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    refs = _Refs(rc)
    for i, d in enumerate(rc.case.diagnoses):
        yield {
            "id": rc.resource_id(f"diagnoses[{i}]"),
            "patient_id": rc.patient_id,
            "kind": d.kind,
            "condition": lab.key("conditions", d.condition),
            "condition_display": lab.display("conditions", d.condition),
            "morphology": lab.key("morphology", d.morphology),
            "immunophenotype": lab.key("morphology", d.immunophenotype),
            "onset_date": rc.iso(d.onset),
            "clinical_status": d.status,
            "therapy_related": d.therapy_related,
            "related_condition_id": refs.diagnoses.get(d.related_to) if d.related_to else None,
            "body_sites": _join(lab.key("body_sites", s) for s in d.body_sites),
            "paraprotein": lab.key("regimen_terms", d.paraprotein, "paraprotein-"),
            "paraprotein_display": lab.display("regimen_terms", d.paraprotein, "paraprotein-"),
            "prior_lines": d.prior_lines,
        }


def _stages(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    table = lab.terminology["stages"]
    for i, d in enumerate(rc.case.diagnoses):
        for j, st in enumerate(d.stages):
            concept = table.find(stage_key(st.system, st.value))
            yield {
                "id": rc.resource_id(f"diagnoses[{i}].stages[{j}]"),
                "patient_id": rc.patient_id,
                "condition_id": rc.resource_id(f"diagnoses[{i}]"),
                "system": st.system,
                # the value within its system ('3', 'high'), not the table key 'iss-3'
                "stage": concept.key.removeprefix(st.system + "-") if concept else st.value,
                "stage_display": concept.display if concept else st.value,
                "date": rc.iso(st.date),
            }


def _findings(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    for i, d in enumerate(rc.case.diagnoses):
        for j, f in enumerate(d.findings):
            target = lab.concept("findings", f.target)
            yield {
                "id": rc.resource_id(f"diagnoses[{i}].findings[{j}]"),
                "patient_id": rc.patient_id,
                "condition_id": rc.resource_id(f"diagnoses[{i}]"),
                "kind": "cytogenetic" if target is not None and target.key.startswith("cyto-") else "genomic",
                "target": target.key if target else f.target,
                "target_display": target.display if target else f.target,
                "result": f.result,
                "value_percent": f.value_percent,
                "method": f.method,
                "date": rc.iso(f.date),
            }


def _relapses(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    for i, d in enumerate(rc.case.diagnoses):
        for j, r in enumerate(d.relapses):
            yield {
                "id": rc.resource_id(f"diagnoses[{i}].relapses[{j}]"),
                "patient_id": rc.patient_id,
                "condition_id": rc.resource_id(f"diagnoses[{i}]"),
                "number": r.number,
                "date": rc.iso(r.date),
                "isolated": r.isolated,
                "sites": _join(lab.key("body_sites", s) for s in r.sites),
                "hla_loss": r.hla_loss,
                "note": r.note,
            }


# ---- treatment ----------------------------------------------------------------------------------
def _regimen_end(rc: ReadCase, i: int) -> str | None:
    """The end as written, else start + cycles x cycle length (what the mapping writes)."""
    rg = rc.case.regimens[i]
    if rg.end is not None:
        return rc.iso(rg.end)
    start = rc.date(rg.start)
    if start is None or not start.day or not (rg.cycles and rg.cycle_length_days):
        return None
    from fhir_onco.dates import shift

    return shift(start, rg.cycles * rg.cycle_length_days - 1).iso()


def _regimens(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    refs = _Refs(rc)
    for i, rg in enumerate(rc.case.regimens):
        yield {
            "id": rc.resource_id(f"regimens[{i}]"),
            "patient_id": rc.patient_id,
            "title": rg.name,
            "category": lab.key("regimen_terms", rg.category, "category-"),
            "protocol": rg.protocol,
            "status": rg.status,
            "stop_reason": lab.key("regimen_terms", rg.stop_reason, "stop-"),
            "intent": lab.key("regimen_terms", rg.intent, "intent-"),
            "intensity": lab.key("regimen_terms", rg.intensity, "intensity-"),
            "part_of_id": refs.regimens.get(rg.part_of) if rg.part_of else None,
            "start_date": rc.iso(rg.start),
            "end_date": _regimen_end(rc, i),
            "cycles": rg.cycles,
            "cycle_length_days": rg.cycle_length_days,
            "condition_id": refs.diagnosis(rg.diagnosis),
            "drugs": _join(dict.fromkeys(lab.key("drugs", d.drug) for d in rg.drugs)),
        }


def _drugs(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    for i, rg in enumerate(rc.case.regimens):
        for j, d in enumerate(rg.drugs):
            yield {
                "id": rc.resource_id(f"regimens[{i}].drugs[{j}]"),
                "patient_id": rc.patient_id,
                "regimen_id": rc.resource_id(f"regimens[{i}]"),
                "regimen": rg.name,
                "drug": lab.key("drugs", d.drug),
                "drug_display": lab.display("drugs", d.drug),
                "dose": d.dose,
                "unit": lab.key("units", d.unit),
                "dose_basis": d.dose_basis,
                "route": lab.key("routes", d.route),
                "days": d.days,
                "times_per_day": d.times_per_day,
                "every_days": d.every_days,
                "continuous": d.continuous,
                "cycles": d.cycles,
                "status": d.status,
                "stop_reason": lab.key("regimen_terms", d.stop_reason, "stop-"),
                "stop_day": d.stop_day,
            }


def _coded_key(lab: Labels, table: str, value: object) -> str | None:
    """A term's key, or a code the source gave as 'system|code'."""
    if value is None or isinstance(value, str):
        return lab.key(table, value)
    return f"{value.system}|{value.code}"  # type: ignore[attr-defined]


def _medication_requests(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    refs = _Refs(rc)
    for i, mr in enumerate(rc.case.medication_requests):
        yield {
            "id": rc.resource_id(f"medication_requests[{i}]"),
            "patient_id": rc.patient_id,
            "date": rc.iso(mr.authored),
            "drug": _coded_key(lab, "drugs", mr.drug),
            "drug_display": lab.display("drugs", mr.drug) if isinstance(mr.drug, str) else mr.drug.display,
            "status": mr.status,
            "request_intent": mr.request_intent,
            "intent": lab.key("regimen_terms", mr.intent, "intent-"),
            "dose": mr.dose,
            "unit": lab.key("units", mr.unit),
            "route": _coded_key(lab, "routes", mr.route),
            "regimen_id": refs.regimens.get(mr.regimen) if mr.regimen else None,
            "condition_id": refs.diagnosis(mr.diagnosis) if mr.reason is None or mr.diagnosis else None,
            "reason": _coded_key(lab, "conditions", mr.reason),
        }


def _radiotherapy(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    refs = _Refs(rc)
    for i, rt in enumerate(rc.case.radiotherapy):
        yield {
            "id": rc.resource_id(f"radiotherapy[{i}]"),
            "patient_id": rc.patient_id,
            "kind": lab.key("procedures", rt.kind),
            "total_dose_gy": rt.total_dose_gy,
            "fractions": rt.fractions,
            "start_date": rc.iso(rt.start),
            "end_date": rc.iso(rt.end),
            "regimen_id": refs.regimens.get(rt.regimen) if rt.regimen else None,
            "body_sites": _join(lab.key("body_sites", s) for s in rt.body_sites),
        }


def _agents(rc: ReadCase, lab: Labels, regimen_ids: list[str]) -> str | None:
    by_id = {r.id: r for r in rc.case.regimens if r.id}
    return _join(dict.fromkeys(lab.key("drugs", d.drug) for rid in regimen_ids if rid in by_id
                               for d in by_id[rid].drugs))


def _hsct(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    refs = _Refs(rc)
    for i, h in enumerate(rc.case.hsct):
        donor = h.donor
        cd34 = next((c for c in h.cell_doses if c.kind == "cd34"), None)
        yield {
            "id": rc.resource_id(f"hsct[{i}]"),
            "patient_id": rc.patient_id,
            "type": h.type,
            "date": rc.iso(h.date),
            "donor_relation": lab.key("hsct", donor.relation, "relation-") if donor else None,
            "donor_match": (lab.key("hsct", donor.match, "donor-") if donor else None)
            or ("autologous" if h.type == "autologous" else None),
            "hla_match": donor.hla_match if donor else None,
            "donor_sex": donor.sex if donor else None,
            "donor_age_years": donor.age_years if donor else None,
            "graft_source": lab.key("hsct", h.graft_source, "graft-"),
            "manipulations": _join(lab.key("hsct", m, "manipulation-") for m in h.manipulations),
            "cd34_dose": cd34.value if cd34 else None,
            "cd34_dose_unit": cd34.unit if cd34 else None,
            # as stated on the HSCT, else the intensity of its conditioning regimen
            "conditioning_intensity": lab.key("regimen_terms", h.conditioning_intensity or next(
                (r.intensity for r in rc.case.regimens if r.id in h.conditioning and r.intensity), None), "intensity-"),
            "conditioning_ids": _join(refs.regimens.get(r) for r in h.conditioning),
            "conditioning_agents": _agents(rc, lab, h.conditioning),
            "gvhd_prophylaxis_ids": _join(refs.regimens.get(r) for r in h.gvhd_prophylaxis),
            "gvhd_prophylaxis_agents": _agents(rc, lab, h.gvhd_prophylaxis),
            "graft_failure": h.graft_failure.kind if h.graft_failure else None,
            "graft_failure_date": rc.iso(h.graft_failure.date, hsct_key(h)) if h.graft_failure else None,
            "condition_id": refs.diagnosis(h.diagnosis),
        }


def _engraftment(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    from fhir_onco.dates import shift

    for i, h in enumerate(rc.case.hsct):
        day0 = rc.date(h.date)
        for j, e in enumerate(h.engraftment):
            yield {
                "id": rc.resource_id(f"hsct[{i}].engraftment[{j}]"),
                "patient_id": rc.patient_id,
                "hsct_id": rc.resource_id(f"hsct[{i}]"),
                "kind": e.kind,
                "day": e.day,
                "date": shift(day0, e.day).iso() if day0 is not None and day0.day else None,
            }


def _chimerism(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    for i, h in enumerate(rc.case.hsct):
        for j, c in enumerate(h.chimerism):
            yield {
                "id": rc.resource_id(f"hsct[{i}].chimerism[{j}]"),
                "patient_id": rc.patient_id,
                "hsct_id": rc.resource_id(f"hsct[{i}]"),
                "date": rc.iso(c.date, hsct_key(h)),
                "result": c.result,
                "recipient_percent": c.recipient_percent,
            }


def _gvhd(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    for i, h in enumerate(rc.case.hsct):
        for j, g in enumerate(h.gvhd):
            yield {
                "id": rc.resource_id(f"hsct[{i}].gvhd[{j}]"),
                "patient_id": rc.patient_id,
                "hsct_id": rc.resource_id(f"hsct[{i}]"),
                "kind": g.kind,
                "onset_date": rc.iso(g.onset, hsct_key(h)),
                "resolved_date": rc.iso(g.resolved, hsct_key(h)),
                "criteria": g.criteria,
                "grade": g.grade,
                "severity": g.severity,
                # organ:stage (acute) or organ:score (chronic, NIH), as the case lists them
                "organs": _join(f"{o.organ}:{o.stage}" for o in g.organs),
            }


# ---- disease assessments ------------------------------------------------------------------------
def _mrd(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    for i, m in enumerate(rc.case.mrd):
        yield {
            "id": rc.resource_id(f"mrd[{i}]"),
            "patient_id": rc.patient_id,
            "date": rc.iso(m.date),
            "value_percent": m.below_percent if m.negative else m.value_percent,
            "comparator": "<" if m.negative and m.below_percent is not None else None,
            "negative": m.negative,
            "method": lab.key("mrd_methods", m.method),
            "specimen": lab.key("specimens", m.specimen),
            "sensitivity": m.sensitivity,
        }


def _responses(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    refs = _Refs(rc)
    for i, r in enumerate(rc.case.responses):
        yield {
            "id": rc.resource_id(f"responses[{i}]"),
            "patient_id": rc.patient_id,
            "date": rc.iso(r.date),
            "response": lab.key("responses", r.response),
            "response_display": lab.display("responses", r.response),
            "best": r.best,
            "criteria": r.criteria,
            "regimen_id": refs.regimens.get(r.regimen) if r.regimen else None,
            "condition_id": refs.diagnosis(r.diagnosis),
        }


GVHD_TERM = "graft versus host disease"
CHRONIC_WORDS = ("chronic", "cgvhd", "хрон")
TRANSPLANT_WORDS = ("transplant", "трансплант", "ta-tma")


def _ae_label(lab: Labels, written: str) -> str | None:
    """The CTCAE display, as clinicians say it: GVHD as acute or chronic GVHD (CTCAE files it under
    'Immune system disorders - Other'); a term the source tied to the transplant ('transplant-
    associated TMA') as written, since CTCAE has no transplant-specific terms."""
    text = written.casefold()
    if lab.key("ctcae_terms", written) == GVHD_TERM:
        return "Chronic GVHD" if any(w in text for w in CHRONIC_WORDS) else "Acute GVHD"
    if any(w in text for w in TRANSPLANT_WORDS):
        return written
    return lab.display("ctcae_terms", written)


def _worst_grade(a: AdverseEvent) -> int | None:
    """The highest CTCAE grade of an event over its episodes; a range counts at its upper grade (what the
    FHIR ctcae-grade extension carries), so 'grade >= 3' never misses an episode or a range."""
    grades = [g for e in (a, *a.episodes)
              if (g := e.grade if e.grade is not None else (grade_bounds(e.grade_range)[1] if e.grade_range else None))
              is not None]
    return max(grades) if grades else None


def _adverse_events(rc: ReadCase, lab: Labels) -> Iterator[Json]:
    refs = _Refs(rc)
    for i, a in enumerate(rc.case.adverse_events):
        suspects, suspect_ids = [], []
        for s in a.suspected_causes:
            if s.hsct:
                suspect_ids.append(refs.hscts.get(s.hsct))
                suspects.append("HSCT")
            else:
                suspect_ids.append(refs.regimens.get(s.regimen or ""))
                name = refs.regimen_names.get(s.regimen or "") or s.regimen
                suspects.append(f"{name}/{lab.key('drugs', s.drug)}" if s.drug else name)
        yield {
            "id": rc.resource_id(f"adverse_events[{i}]"),
            "patient_id": rc.patient_id,
            "term": lab.key("ctcae_terms", a.term),
            "term_display": _ae_label(lab, a.term),
            "term_text": a.term,
            "ctcae_version": a.ctcae_version,
            "grade": _worst_grade(a),
            "onset_date": rc.iso(a.onset),
            "resolved_date": rc.iso(a.resolved),
            "serious": a.serious,
            "outcome": lab.key("ae_terms", a.outcome, "outcome-"),
            "gvhd_grade": a.gvhd_grade,
            "gvhd_organs": _join(lab.key("body_sites", o) for o in a.gvhd_organs),
            "suspects": _join(suspects),
            "suspect_ids": _join(suspect_ids),
        }


S, N, F, B, D = "str", "int", "float", "bool", "date"
TABLES: dict[str, TableSpec] = {t.name: t for t in (
    TableSpec("patients", "one row per patient: sex, birth date or age at a date, death and its cause, follow-up", (
        ("patient_id", S), ("identifier_system", S), ("identifier_value", S), ("sex", S), ("birth_date", D),
        ("age_years", F), ("age_at_date", D), ("deceased", B), ("death_date", D), ("death_cause", S),
        ("death_cause_display", S), ("last_contact_date", D), ("vital_status", S), ("cohort_group", S)), _patients),
    TableSpec("diagnoses", "cancers (Condition): primary or secondary, morphology, onset, paraprotein, prior lines", (
        ("id", S), ("patient_id", S), ("kind", S), ("condition", S), ("condition_display", S), ("morphology", S),
        ("immunophenotype", S), ("onset_date", D), ("clinical_status", S), ("therapy_related", B),
        ("related_condition_id", S), ("body_sites", S), ("paraprotein", S), ("paraprotein_display", S),
        ("prior_lines", N)), _diagnoses),
    TableSpec("stages", "stage and risk groups (ISS, R-ISS, Durie-Salmon, INSS, INRG, ALL risk)", (
        ("id", S), ("patient_id", S), ("condition_id", S), ("system", S), ("stage", S), ("stage_display", S),
        ("date", D)), _stages),
    TableSpec("findings", "gene and cytogenetic findings, marker expression", (
        ("id", S), ("patient_id", S), ("condition_id", S), ("kind", S), ("target", S), ("target_display", S),
        ("result", S), ("value_percent", F), ("method", S), ("date", D)), _findings),
    TableSpec("relapses", "relapses with number, sites and date", (
        ("id", S), ("patient_id", S), ("condition_id", S), ("number", N), ("date", D), ("isolated", B),
        ("sites", S), ("hla_loss", B), ("note", S)), _relapses),
    TableSpec("regimens", "regimens / courses (CarePlan) with category, status as written, period and drugs", (
        ("id", S), ("patient_id", S), ("title", S), ("category", S), ("protocol", S), ("status", S),
        ("stop_reason", S), ("intent", S), ("intensity", S), ("part_of_id", S), ("start_date", D),
        ("end_date", D), ("cycles", N), ("cycle_length_days", N), ("condition_id", S), ("drugs", S)), _regimens),
    TableSpec("drugs", "drugs of each regimen with dose, route and schedule as written", (
        ("id", S), ("patient_id", S), ("regimen_id", S), ("regimen", S), ("drug", S), ("drug_display", S),
        ("dose", F), ("unit", S), ("dose_basis", S), ("route", S), ("days", S), ("times_per_day", N),
        ("every_days", N), ("continuous", B), ("cycles", S), ("status", S), ("stop_reason", S), ("stop_day", N)),
        _drugs),
    TableSpec("medication_requests", "drug orders and prescriptions (MedicationRequest): what was ordered", (
        ("id", S), ("patient_id", S), ("date", D), ("drug", S), ("drug_display", S), ("status", S),
        ("request_intent", S), ("intent", S), ("dose", F), ("unit", S), ("route", S), ("regimen_id", S),
        ("condition_id", S), ("reason", S)), _medication_requests),
    TableSpec("radiotherapy", "radiotherapy courses with total dose", (
        ("id", S), ("patient_id", S), ("kind", S), ("total_dose_gy", F), ("fractions", N), ("start_date", D),
        ("end_date", D), ("regimen_id", S), ("body_sites", S)), _radiotherapy),
    TableSpec("hsct", "stem cell transplants with donor, graft, CD34+ dose, conditioning and GVHD prophylaxis", (
        ("id", S), ("patient_id", S), ("type", S), ("date", D), ("donor_relation", S), ("donor_match", S),
        ("hla_match", S), ("donor_sex", S), ("donor_age_years", F), ("graft_source", S), ("manipulations", S),
        ("cd34_dose", F), ("cd34_dose_unit", S), ("conditioning_intensity", S), ("conditioning_ids", S),
        ("conditioning_agents", S), ("gvhd_prophylaxis_ids", S), ("gvhd_prophylaxis_agents", S),
        ("graft_failure", S), ("graft_failure_date", D), ("condition_id", S)), _hsct),
    TableSpec("engraftment", "engraftment day after HSCT", (
        ("id", S), ("patient_id", S), ("hsct_id", S), ("kind", S), ("day", N), ("date", D)), _engraftment),
    TableSpec("chimerism", "chimerism after HSCT", (
        ("id", S), ("patient_id", S), ("hsct_id", S), ("date", D), ("result", S), ("recipient_percent", F)),
        _chimerism),
    TableSpec("gvhd", "acute GVHD (overall grade, criteria) and chronic GVHD (NIH severity) after an HSCT", (
        ("id", S), ("patient_id", S), ("hsct_id", S), ("kind", S), ("onset_date", D), ("resolved_date", D),
        ("criteria", S), ("grade", N), ("severity", S), ("organs", S)), _gvhd),
    TableSpec("mrd", "MRD measurements (value in %, or negative below a threshold)", (
        ("id", S), ("patient_id", S), ("date", D), ("value_percent", F), ("comparator", S), ("negative", B),
        ("method", S), ("specimen", S), ("sensitivity", F)), _mrd),
    TableSpec("responses", "response / disease status assessments (best response flagged)", (
        ("id", S), ("patient_id", S), ("date", D), ("response", S), ("response_display", S), ("best", B),
        ("criteria", S), ("regimen_id", S), ("condition_id", S)), _responses),
    TableSpec("adverse_events", "adverse events with CTCAE term and grade, suspected regimen/drug", (
        ("id", S), ("patient_id", S), ("term", S), ("term_display", S), ("term_text", S), ("ctcae_version", S),
        ("grade", N), ("onset_date", D), ("resolved_date", D), ("serious", B), ("outcome", S),
        ("gvhd_grade", N), ("gvhd_organs", S), ("suspects", S), ("suspect_ids", S)), _adverse_events),
)}


def case_rows(rc: ReadCase, names: Iterable[str] | None = None, labels: Labels | None = None) -> dict[str, list[Json]]:
    """The rows of one patient's case, per table (the unit a streaming writer works in)."""
    lab = labels or Labels()
    out = {}
    for name in names or TABLES:
        spec = TABLES[name]
        out[name] = [{c: _typed(row.get(c), t) for c, t in spec.columns} for row in spec.rows(rc, lab)]
    return out


def flatten_cases(cases: Iterable[ReadCase], names: Iterable[str] | None = None,
                  labels: Labels | None = None) -> dict[str, list[Json]]:
    lab = labels or Labels()
    wanted = list(names or TABLES)
    merged: dict[str, dict[str, Json]] = {n: {} for n in wanted}
    for rc in cases:
        for name, rows in case_rows(rc, wanted, lab).items():
            key = "patient_id" if name == "patients" else "id"
            for row in rows:
                merged[name][str(row[key])] = row
    return {name: _sorted(name, list(rows.values())) for name, rows in merged.items()}


def flatten(store: ResourceStore, name: str, labels: Labels | None = None) -> list[Json]:
    """Rows of one table, sorted by patient then date-like columns (stable output)."""
    return flatten_cases(read_cases(store), [name], labels)[name]


def flatten_all(store: ResourceStore, labels: Labels | None = None,
                names: Iterable[str] | None = None, stats: ReadStats | None = None) -> dict[str, list[Json]]:
    return flatten_cases(read_cases(store, stats=stats), names, labels)


def sort_rows(name: str, rows: list[Json]) -> list[Json]:
    return _sorted(name, rows)


def _sorted(name: str, rows: list[Json]) -> list[Json]:
    cols = TABLES[name].column_names
    order = [c for c in ("patient_id", "date", "start_date", "onset_date", "id") if c in cols]
    rows.sort(key=lambda r: tuple(str(r[c] or "") for c in order))
    return rows


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
