"""The fhir-onco registry layout: one CSV per domain, every row keyed by ``patient_id``.

Child rows name their parent by a local id (``diagnosis_id``, ``regimen_id``, ``hsct_id``, ``ae_id``);
when a patient has exactly one parent the id may be left empty. List cells use ``|``. The full
layout, with every column, is in docs/registry.md (generated from the specs below).
"""

from __future__ import annotations

from typing import Any

from fhir_onco.validation.report import Report

from . import dialect as d
from .base import Column, Provenance, RowReader, TableSpec, TabularReader, put

DEFAULT_ID_SYSTEM = "urn:fhir-onco:registry:patient-id"

C = Column
PID = C("patient_id", "Registry patient id (the business key: FHIR ids derive from it).", True)

TABLES: tuple[TableSpec, ...] = (
    TableSpec("patients", ("patients",), "patient_id", (
        PID,
        C("id_system", f"URI of the patient id namespace (default {DEFAULT_ID_SYSTEM} or --id-system)."),
        C("sex", "male / female / other / unknown (also m/f, м/ж, муж/жен).", True),
        C("birth_date", "Date of birth (may be partial: 1957, 03.1957)."),
        C("age_years", "Age in years when the birth date is unknown ..."),
        C("age_at", "... and the date at which that age was stated."),
        C("deceased", "yes when dead but the date is unknown."),
        C("death_date", "Date of death."),
        C("death_cause", "Cause of death (death_causes terms: progression, COVID-19, pneumonia ...)."),
        C("death_note", "Free text about the death."),
        C("last_contact", "Date of the last contact (last known alive); survival censors the living here."),
        C("vital_status", "alive / dead / unknown at the last contact."),
        C("note", "Free text about the case."),
    ), driver=True),
    TableSpec("identifiers", ("identifiers",), "patient_id", (
        PID,
        C("system", "URI of another identifier of the patient (hospital MRN, trial subject id).", True),
        C("value", "Its value.", True),
    )),
    TableSpec("diagnoses", ("diagnoses",), "patient_id", (
        PID,
        C("diagnosis_id", "Local id of the diagnosis (needed when a patient has several)."),
        C("kind", "primary (default) / secondary."),
        C("condition", "Disease term (conditions table): multiple myeloma, В-ОЛЛ, ОМЛ ...", True),
        C("morphology", "ICD-O-3 morphology term."),
        C("immunophenotype", "e.g. B-II (EGIL)."),
        C("onset", "Date of diagnosis."),
        C("body_sites", "Body sites, '|'-separated."),
        C("related_to", "diagnosis_id of the earlier cancer a secondary one follows; '|'-separated for a chain "
                        "(AML after MDS after neuroblastoma: mds|nb)."),
        C("verification", "confirmed (default) / provisional / differential / unconfirmed (suspected) / refuted."),
        C("laterality", "Laterality of the primary site: left / right / bilateral / midline."),
        C("grade", "Histologic grade / differentiation: G1-G4, poorly differentiated ..."),
        C("therapy_related", "yes for a therapy-related (secondary) cancer."),
        C("status", "active (default) / remission / relapse / resolved."),
        C("paraprotein", "Myeloma paraprotein: IgG, IgA, IgD, Bence-Jones, non-secretory."),
        C("prior_lines", "Number of lines of therapy before the index regimen."),
        C("note", "Free text."),
    )),
    TableSpec("stages", ("stages",), "patient_id", (
        PID,
        C("diagnosis_id", "The diagnosis staged (may be empty with one diagnosis)."),
        C("stage_id", "Local id."),
        C("system", "iss / riss / durie-salmon / inss / inrg / all-risk / all-rez.", True),
        C("value", "Stage or risk group: III, IIA, 4S, L2, high, S3.", True),
        C("date", "Date of staging."),
    )),
    TableSpec("findings", ("findings",), "patient_id", (
        PID,
        C("diagnosis_id", "The diagnosis (may be empty with one diagnosis)."),
        C("finding_id", "Local id."),
        C("target", "Gene, marker or abnormality: MYCN, CD19, del(17p), t(4;14), monosomy 7.", True),
        C("result", "amplified / rearranged / deleted / mutated / detected / not-detected / expressed.", True),
        C("value_percent", "e.g. CD19 on 100 % of blasts."),
        C("method", "Free text: FISH, karyotype, PCR, flow cytometry."),
        C("date", "Date of the test."),
        C("note", "Free text."),
    )),
    TableSpec("risk_groups", ("risk_groups",), "patient_id", (
        PID,
        C("diagnosis_id", "The diagnosis (may be empty with one diagnosis)."),
        C("risk_group_id", "Local id."),
        C("system", "inrg-risk / eln-2022 / mm-cytogenetic.", True),
        C("value", "The group: high, adverse, standard ...", True),
        C("date", "Date of the assessment."),
    )),
    TableSpec("tnm", ("tnm",), "patient_id", (
        PID,
        C("diagnosis_id", "The diagnosis staged (may be empty with one diagnosis)."),
        C("tnm_id", "Local id."),
        C("type", "clinical / pathological.", True),
        C("t", "T category as written: cT3, pT1a."),
        C("n", "N category as written: cN0, pN1."),
        C("m", "M category as written: cM0, M1b."),
        C("stage_group", "Stage group as written: IIB, IVA."),
        C("edition", "Staging manual: AJCC 8."),
        C("date", "Date of staging."),
        C("note", "Free text."),
    )),
    TableSpec("metastases", ("metastases",), "patient_id", (
        PID,
        C("diagnosis_id", "The cancer (may be empty with one diagnosis)."),
        C("metastasis_id", "Local id."),
        C("site", "Site (body_sites table): bone, bone marrow, liver, lung ...", True),
        C("laterality", "left / right / bilateral / midline."),
        C("date", "Date it was found."),
        C("note", "Free text."),
    )),
    TableSpec("relapses", ("relapses",), "patient_id", (
        PID,
        C("diagnosis_id", "The diagnosis that relapsed (may be empty with one diagnosis)."),
        C("relapse_id", "Local id."),
        C("number", "1 for the first relapse.", True),
        C("date", "Date of the relapse.", True),
        C("sites", "Sites, '|'-separated: bone marrow|CNS.", True),
        C("isolated", "yes / no."),
        C("hla_loss", "yes when the relapse lost the mismatched HLA haplotype (after a haploidentical HSCT)."),
        C("note", "Free text."),
    )),
    TableSpec("regimens", ("regimens",), "patient_id", (
        PID,
        C("regimen_id", "Local id; drugs.csv rows name it (required when the regimen has drugs and the patient "
                        "has several regimens)."),
        C("name", "Regimen name as the clinic writes it: IsaPd, FLAI, ALL IC-BFM 2002.", True),
        C("protocol", "Protocol name."),
        C("category", "induction, consolidation, maintenance, salvage, bridging, conditioning, gvhd-prophylaxis, "
                      "supportive ...", True),
        C("intensity", "Conditioning intensity: MAC, RIC, reduced-toxicity MAC, NMA."),
        C("intent", "curative / palliative / supportive."),
        C("diagnosis_id", "The diagnosis treated (default: the primary)."),
        C("part_of", "regimen_id of an enclosing regimen."),
        C("start", "Start date (or 'day N@regimen', 'D-7').", True),
        C("end", "End date."),
        C("hsct_relative", "hsct_id whose day 0 the drug days count from (conditioning)."),
        C("cycles", "Number of cycles given."),
        C("cycle_length_days", "Cycle length in days."),
        C("status", "completed (default) / active / stopped."),
        C("stop_reason", "progression / toxicity / patient refusal / death / lost to follow-up / other."),
        C("drug_classes", "Drug classes when the source names classes only, '|'-separated: vinca alkaloids|platinum "
                          "compounds (drug_classes table, WHO ATC)."),
        C("note", "Free text."),
    )),
    TableSpec("drugs", ("drugs", "drug_administrations"), "patient_id", (
        PID,
        C("regimen_id", "The regimen the drug belongs to (may be empty when the patient has one regimen)."),
        C("drug_id", "Local id."),
        C("drug", "Drug (drugs table, English or Russian): isatuximab, помалидомид.", True),
        C("dose", "Dose (decimal comma allowed)."),
        C("unit", "mg, mg/m2, mg/kg, мкг/кг/сут ..."),
        C("dose_basis", "per-dose (default) / per-day / course-total."),
        C("route", "IV, PO, SC, intrathecal, continuous IV infusion ..."),
        C("days", "Regimen days: 1, 1-21, 1,8,15,22 (quote it in a comma-separated file); -7..-4 for "
                  "conditioning relative to the HSCT."),
        C("times_per_day", "2 for q12h (default 1)."),
        C("every_days", "7 = weekly, 14 = every two weeks (within days)."),
        C("continuous", "yes for a continuous infusion."),
        C("cycles", "Which cycles: 1, 2-, 1-3 (default all)."),
        C("status", "completed (default) / stopped / not-done."),
        C("stop_reason", "Why it was stopped."),
        C("stop_day", "Regimen day it was stopped on."),
        C("note", "Free text."),
    )),
    TableSpec("medication_requests", ("medication_requests", "prescriptions"), "patient_id", (
        PID,
        C("request_id", "Local id of the order."),
        C("drug", "Drug ordered (drugs table, English or Russian). An order, never a dose given.", True),
        C("diagnosis_id", "The diagnosis it is for (default: the first, unless reason is given)."),
        C("reason", "The condition it is for when not one of the patient's diagnoses (conditions table)."),
        C("intent", "Treatment intent: curative / palliative."),
        C("status", "active, on-hold, cancelled, completed, stopped, draft, entered-in-error; unknown (default)."),
        C("request_intent", "order (default), plan, proposal, original-order ..."),
        C("authored", "Date the order was written."),
        C("requester", "Identifier of the prescriber (not a name)."),
        C("regimen_id", "The regimen the order belongs to."),
        C("dose", "Dose per administration ordered (decimal comma allowed)."),
        C("unit", "mg, mg/m2, mg/kg ..."),
        C("dose_rate_type", "calculated / ordered."),
        C("route", "IV, PO, SC, intrathecal ..."),
        C("as_needed", "yes when given as needed."),
        C("timing_code", "HL7 v3 GTSAbbreviation: QD, BID, TID, Q8H, AM ..."),
        C("timing_event", "Date the doses are planned for."),
        C("note", "Free text."),
    )),
    TableSpec("radiotherapy", ("radiotherapy",), "patient_id", (
        PID,
        C("radiotherapy_id", "Local id."),
        C("kind", "TBI, craniospinal irradiation, local radiotherapy ...", True),
        C("total_dose_gy", "Total dose in Gy.", True),
        C("fractions", "Number of fractions."),
        C("start", "Start date.", True),
        C("end", "End date."),
        C("body_sites", "'|'-separated."),
        C("regimen_id", "Regimen it belongs to (conditioning)."),
        C("diagnosis_id", "The diagnosis treated."),
        C("note", "Free text."),
    )),
    TableSpec("procedures", ("procedures", "surgery"), "patient_id", (
        PID,
        C("procedure_id", "Local id."),
        C("procedure", "What was done (procedure_terms table): resection, biopsy, central line ...", True),
        C("date", "Date performed.", True),
        C("body_site", "Site (body_sites table)."),
        C("laterality", "left / right / bilateral / midline."),
        C("intent", "curative / palliative / supportive / diagnostic."),
        C("outcome", "R0 / R1 / R2, gross total, subtotal ..."),
        C("status", "completed (default) / stopped / not-done."),
        C("diagnosis_id", "The diagnosis it was done for."),
        C("note", "Free text."),
    )),
    TableSpec("hsct", ("hsct", "transplants"), "patient_id", (
        PID,
        C("hsct_id", "Local id (needed with several HSCTs or when other tables refer to it)."),
        C("type", "allogeneic / autologous (also allo/auto, алло/ауто).", True),
        C("date", "Day 0.", True),
        C("donor_relation", "mother, father, sibling, unrelated ..."),
        C("donor_match", "haploidentical, matched related, matched unrelated ..."),
        C("donor_hla_match", "e.g. 5/10."),
        C("donor_sex", "male / female."),
        C("donor_age_years", "Donor age in years."),
        C("graft_source", "bone marrow, PBSC, cord blood."),
        C("manipulations", "'|'-separated: TCR alpha/beta depletion."),
        C("conditioning", "regimen_ids of the conditioning, '|'-separated."),
        C("conditioning_intensity", "MAC, RIC, reduced-toxicity MAC."),
        C("gvhd_prophylaxis", "regimen_ids of the GVHD prophylaxis, '|'-separated."),
        C("neutrophil_engraftment_day", "Day (D+N) of neutrophil engraftment."),
        C("leukocyte_engraftment_day", "Day of leukocyte engraftment."),
        C("platelet_engraftment_day", "Day of platelet engraftment."),
        C("graft_failure", "primary / secondary graft failure."),
        C("graft_failure_date", "Date the graft failure was diagnosed (D+N allowed)."),
        C("diagnosis_id", "The diagnosis treated."),
        C("note", "Free text."),
    )),
    TableSpec("hsct_cell_doses", ("hsct_cell_doses", "cell_doses"), "patient_id", (
        PID,
        C("hsct_id", "The HSCT (may be empty with one HSCT)."),
        C("kind", "nucleated / cd34 / cd3 / cd3-alpha-beta / cd19.", True),
        C("value", "Cell dose.", True),
        C("unit", "10*6/kg (default) or 10*8/kg."),
    )),
    TableSpec("chimerism", ("chimerism",), "patient_id", (
        PID,
        C("hsct_id", "The HSCT (may be empty with one HSCT)."),
        C("chimerism_id", "Local id."),
        C("date", "Date (D+30 allowed).", True),
        C("result", "full-donor / mixed / autologous-recovery.", True),
        C("recipient_percent", "% recipient cells."),
        C("specimen", "Specimen."),
        C("note", "Free text."),
    )),
    TableSpec("gvhd", ("gvhd",), "patient_id", (
        PID,
        C("hsct_id", "The HSCT (may be empty with one HSCT)."),
        C("gvhd_id", "Local id."),
        C("kind", "acute / chronic.", True),
        C("onset", "Onset date (D+N allowed).", True),
        C("resolved", "Date it resolved."),
        C("criteria", "MAGIC / Glucksberg / IBMTR (acute), NIH 2014 (chronic)."),
        C("grade", "Acute overall grade 1-4 (I-IV accepted)."),
        C("severity", "Chronic: mild / moderate / severe (NIH global severity)."),
        C("organs", "Organ stages or scores, '|'-separated organ:stage pairs: skin:3|liver:1|lower-gi:2."),
        C("note", "Free text."),
    )),
    TableSpec("mrd", ("mrd",), "patient_id", (
        PID,
        C("mrd_id", "Local id."),
        C("date", "Date of the sample.", True),
        C("value_percent", "MRD in % (0,06 allowed)."),
        C("negative", "yes when MRD was not detected."),
        C("below_percent", "Negative below this threshold in %, e.g. 0,01."),
        C("method", "flow cytometry, PCR ..."),
        C("specimen", "bone marrow, peripheral blood."),
        C("sensitivity", "Assay sensitivity as a fraction: 1e-4 or 0,0001."),
        C("diagnosis_id", "The diagnosis."),
        C("note", "Free text."),
    )),
    TableSpec("labs", ("labs",), "patient_id", (
        PID,
        C("lab_id", "Local id."),
        C("test", "Test (labs table): BM blasts, PB blasts, WBC, ANC, Hb, PLT ...", True),
        C("date", "Date of the sample.", True),
        C("value", "Result (decimal comma allowed).", True),
        C("unit", "%, 10*9/L, g/L ... (lab_units table)."),
        C("diagnosis_id", "The diagnosis it follows."),
        C("note", "Free text."),
    )),
    TableSpec("responses", ("responses",), "patient_id", (
        PID,
        C("response_id", "Local id."),
        C("date", "Date of assessment.", True),
        C("response", "CR, VGPR, PR, MR, SD, PD, remission, not evaluable (ПО, ОХЧО, ЧО ...).", True),
        C("criteria", "e.g. IMWG 2016."),
        C("best", "yes for the best overall response of the regimen."),
        C("regimen_id", "The regimen assessed."),
        C("diagnosis_id", "The diagnosis."),
        C("note", "Free text."),
    )),
    TableSpec("adverse_events", ("adverse_events",), "patient_id", (
        PID,
        C("ae_id", "Local id (ae_causes.csv rows name it)."),
        C("term", "CTCAE term, English or Russian.", True),
        C("ctcae_version", "4.03 or 5.0 (default)."),
        C("grade", "CTCAE grade 1-5 (empty when the source does not grade it)."),
        C("grade_range", "A grade the source gives as a range: 1-2, I-II (instead of grade)."),
        C("gvhd_grade", "Acute GVHD overall grade 1-4."),
        C("gvhd_organs", "'|'-separated: skin|gut|liver."),
        C("onset", "Onset date (D+21, day 7@blina1 allowed).", True),
        C("resolved", "Resolution date."),
        C("recorded", "Date the event was recorded."),
        C("serious", "yes / no."),
        C("expected", "yes / no: expected for the study or label."),
        C("outcome", "resolved, recovering, ongoing, fatal ..."),
        C("actions", "'|'-separated: dose paused|drug stopped|ICU."),
        C("icu_days", "Days in intensive care."),
        C("treated_with", "regimen_ids of supportive regimens, '|'-separated."),
        C("note", "Free text."),
    )),
    TableSpec("ae_causes", ("ae_causes",), "patient_id", (
        PID,
        C("ae_id", "The adverse event (may be empty when the patient has one)."),
        C("regimen_id", "Suspected regimen ..."),
        C("drug", "... narrowed to one of its drugs."),
        C("hsct_id", "Or the suspected HSCT."),
        C("causality", "certain / probably / possibly / unlikely."),
    )),
)

_HSCT_TYPES = {"allogeneic": "allogeneic", "allo": "allogeneic", "алло": "allogeneic",
               "аллогенная": "allogeneic", "autologous": "autologous", "auto": "autologous",
               "ауто": "autologous", "аутологичная": "autologous"}


def _hsct_type(raw: str | None) -> str | None:
    s = d.text(raw)
    if s is None:
        return None
    try:
        return _HSCT_TYPES[s.casefold()]
    except KeyError:
        raise d.CellError("expected allogeneic or autologous (allo/auto)") from None


def _ctcae_version(raw: str | None) -> str | None:
    s = d.text(raw)
    if s is None:
        return None
    s = s.replace(",", ".").lower().removeprefix("v").strip()
    return {"4.03": "4.03", "4.3": "4.03", "5": "5.0", "5.0": "5.0"}.get(s, s)


_pct = d.percent


def _organ_stages(raw: str | None) -> list[dict[str, Any]] | None:
    """``skin:3|liver:1`` -> [{organ: skin, stage: 3}, ...] (the case model checks organ names and stages)."""
    items = d.items(raw)
    if not items:
        return None
    out = []
    for item in items:
        organ, sep, stage = item.rpartition(":")
        if not sep or not organ.strip() or not stage.strip().isdigit():
            raise d.CellError("expected organ:stage pairs such as skin:3|liver:1")
        out.append({"organ": organ.strip().lower(), "stage": int(stage)})
    return out


class _Parents:
    """Local ids of one kind of parent item (diagnoses, regimens ...) of one patient."""

    def __init__(self, what: str, file: str):
        self.what, self.file = what, file
        self.index: dict[str, int] = {}
        self.count = 0

    def add(self, local_id: str | None) -> int:
        i = self.count
        if local_id is not None:
            self.index[local_id] = i
        self.count += 1
        return i

    def find(self, r: RowReader, column: str) -> int | None:
        key = r.local_id(column)
        if key is None:
            if r.has(column):
                return None
            if self.count == 1:
                return 0
            r.error(column, f"expected the {column} of one of this patient's {self.count} {self.what} in "
                            f"{self.file}" if self.count else f"expected a row in {self.file} first (none for "
                            "this patient)")
            return None
        if key not in self.index:
            r.error(column, f"expected a {column} of this patient in {self.file}")
            return None
        return self.index[key]


class RegistryReader(TabularReader):
    """Reads the fhir-onco registry layout (see the module docstring)."""

    tables = TABLES
    layout = "fhir-onco registry"

    def __init__(self, *args: Any, id_system: str = DEFAULT_ID_SYSTEM, **kw: Any):
        super().__init__(*args, **kw)
        self.id_system = id_system

    def _label(self, table: str) -> str:
        f = self.files.get(table)
        return f.path.name if f else f"{table}.csv"

    def build(self, tables: dict[str, list[RowReader]], prov: Provenance, report: Report) -> dict[str, Any] | None:
        rows = tables.get("patients", [])
        if not rows:
            return None
        case: dict[str, Any] = {}
        case["patient"] = self._patient(rows[0], tables.get("identifiers", []), prov)
        put(case, "note", rows[0].get("note", field="note"))
        prov.add("", rows[0].where())
        prov.add("patient", rows[0].where())
        self._diagnoses(case, tables, prov)
        self._regimens(case, tables, prov)
        self._simple(case, tables, prov, "medication_requests", "medication_requests", self._request)
        self._radiotherapy(case, tables, prov)
        self._simple(case, tables, prov, "procedures", "procedures", self._procedure)
        self._hsct(case, tables, prov)
        self._simple(case, tables, prov, "mrd", "mrd", self._mrd)
        self._simple(case, tables, prov, "labs", "labs", self._lab)
        self._simple(case, tables, prov, "responses", "responses", self._response)
        self._adverse_events(case, tables, prov)
        return case

    # ---- patient ------------------------------------------------------------------------------
    def _patient(self, r: RowReader, extra_ids: list[RowReader], prov: Provenance) -> dict[str, Any]:
        p: dict[str, Any] = {}
        first = {"system": r.get("id_system", field="identifiers[0].system") or self.id_system,
                 "value": r.get("patient_id", field="identifiers[0].value")}
        p["identifiers"] = [first]
        for j, x in enumerate(extra_ids, start=1):
            p["identifiers"].append({"system": x.get("system", field="system", required=True, what="a URI"),
                                     "value": x.get("value", field="value", required=True, what="an identifier")})
            prov.add(f"patient.identifiers[{j}]", x.where())
        p["sex"] = r.get("sex", d.sex, field="sex", required=True, what="the sex")
        put(p, "birth_date", r.get("birth_date", d.date, field="birth_date"))
        years, at = r.get("age_years", d.integer, field="age.years"), r.get("age_at", d.date, field="age.at")
        if years is not None or at is not None:
            p["age"] = {"years": years, "at": at}
        death: dict[str, Any] = {}
        put(death, "date", r.get("death_date", d.date, field="death.date"))
        put(death, "cause", r.get("death_cause", field="death.cause"))
        put(death, "note", r.get("death_note", field="death.note"))
        if death or r.get("deceased", d.boolean, field="death"):
            p["death"] = death
        r.put_cells(p, (
            ("last_contact", "last_contact", d.date), ("vital_status", "vital_status", d.text),
        ))
        return p

    # ---- diagnoses and their children ---------------------------------------------------------
    def _diagnoses(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        parents = _Parents("diagnoses", self._label("diagnoses"))
        out: list[dict[str, Any]] = []
        for r in t.get("diagnoses", []):
            dx: dict[str, Any] = {}
            put(dx, "id", r.local_id("diagnosis_id", field="id"))
            put(dx, "kind", r.get("kind", field="kind"))
            dx["condition"] = r.get("condition", field="condition", required=True, what="a disease term")
            r.put_cells(dx, (
                ("morphology", "morphology", d.text), ("immunophenotype", "immunophenotype", d.text),
                ("onset", "onset", d.date), ("body_sites", "body_sites", d.items),
            ))
            related = r.get("related_to", d.items, field="related_to") or []
            put(dx, "related_to", related[0] if len(related) == 1 else related)
            r.put_cells(dx, (
                ("verification", "verification", d.text), ("laterality", "laterality", d.text),
                ("grade", "grade", d.text), ("therapy_related", "therapy_related", d.boolean),
                ("status", "status", d.text), ("paraprotein", "paraprotein", d.text),
                ("prior_lines", "prior_lines", d.integer), ("note", "note", d.text),
            ))
            prov.add(f"diagnoses[{parents.add(dx.get('id'))}]", r.where())
            out.append(dx)
        children = (("stages", "stages", self._stage), ("risk_groups", "risk_groups", self._risk_group),
                    ("tnm", "tnm", self._tnm), ("metastases", "metastases", self._metastasis),
                    ("findings", "findings", self._finding), ("relapses", "relapses", self._relapse))
        for table, key, parse in children:
            for r in t.get(table, []):
                i = parents.find(r, "diagnosis_id")
                item = parse(r)
                if i is None:
                    continue
                lst = out[i].setdefault(key, [])
                prov.add(f"diagnoses[{i}].{key}[{len(lst)}]", r.where())
                lst.append(item)
        put(case, "diagnoses", out)

    @staticmethod
    def _stage(r: RowReader) -> dict[str, Any]:
        return RegistryReader._system_value(r, "stage_id", "a staging system", "a stage")

    @staticmethod
    def _risk_group(r: RowReader) -> dict[str, Any]:
        return RegistryReader._system_value(r, "risk_group_id", "a risk-group system", "a risk group")

    @staticmethod
    def _system_value(r: RowReader, id_column: str, system_what: str, value_what: str) -> dict[str, Any]:
        """A stage or a risk group: the same columns (id, system, value, date), named in errors as
        what they are."""
        x: dict[str, Any] = {}
        put(x, "id", r.local_id(id_column, field="id"))
        system = r.get("system", field="system", required=True, what=system_what)
        x["system"] = system.lower() if system else None
        x["value"] = r.get("value", field="value", required=True, what=value_what)
        put(x, "date", r.get("date", d.date, field="date"))
        return x

    @staticmethod
    def _tnm(r: RowReader) -> dict[str, Any]:
        x: dict[str, Any] = {}
        put(x, "id", r.local_id("tnm_id", field="id"))
        x["type"] = r.get("type", field="type", required=True, what="clinical or pathological")
        for col in ("t", "n", "m", "stage_group", "edition", "note"):
            put(x, col, r.get(col, field=col))
        put(x, "date", r.get("date", d.date, field="date"))
        return x

    @staticmethod
    def _metastasis(r: RowReader) -> dict[str, Any]:
        x: dict[str, Any] = {}
        put(x, "id", r.local_id("metastasis_id", field="id"))
        x["site"] = r.get("site", field="site", required=True, what="a metastatic site")
        r.put_cells(x, (
            ("laterality", "laterality", d.text), ("date", "date", d.date), ("note", "note", d.text),
        ))
        return x

    @staticmethod
    def _finding(r: RowReader) -> dict[str, Any]:
        f: dict[str, Any] = {}
        put(f, "id", r.local_id("finding_id", field="id"))
        f["target"] = r.get("target", field="target", required=True, what="a gene, marker or abnormality")
        f["result"] = r.get("result", field="result", required=True, what="a result")
        r.put_cells(f, (
            ("value_percent", "value_percent", _pct), ("method", "method", d.text), ("date", "date", d.date),
            ("note", "note", d.text),
        ))
        return f

    @staticmethod
    def _relapse(r: RowReader) -> dict[str, Any]:
        x: dict[str, Any] = {}
        put(x, "id", r.local_id("relapse_id", field="id"))
        x["number"] = r.get("number", d.integer, field="number", required=True, what="a relapse number")
        x["date"] = r.get("date", d.date, field="date", required=True, what="a date")
        x["sites"] = r.get("sites", d.items, field="sites", required=True, what="one or more sites")
        r.put_cells(x, (
            ("isolated", "isolated", d.boolean), ("hla_loss", "hla_loss", d.boolean), ("note", "note", d.text),
        ))
        return x

    # ---- regimens and drugs -------------------------------------------------------------------
    def _regimens(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        parents = _Parents("regimens", self._label("regimens"))
        out: list[dict[str, Any]] = []
        for r in t.get("regimens", []):
            rg: dict[str, Any] = {}
            put(rg, "id", r.local_id("regimen_id", field="id"))
            rg["name"] = r.get("name", field="name", required=True, what="a regimen name")
            put(rg, "protocol", r.get("protocol", field="protocol"))
            rg["category"] = r.get("category", field="category", required=True, what="a category")
            r.put_cells(rg, (
                ("intensity", "intensity", d.text), ("intent", "intent", d.text),
            ))
            put(rg, "diagnosis", r.local_id("diagnosis_id", field="diagnosis"))
            put(rg, "part_of", r.local_id("part_of", field="part_of"))
            rg["start"] = r.get("start", d.date, field="start", required=True, what="a start date")
            put(rg, "end", r.get("end", d.date, field="end"))
            put(rg, "hsct_relative", r.local_id("hsct_relative", field="hsct_relative"))
            r.put_cells(rg, (
                ("cycles", "cycles", d.integer), ("cycle_length_days", "cycle_length_days", d.integer),
                ("status", "status", d.text), ("stop_reason", "stop_reason", d.text),
                ("drug_classes", "drug_classes", d.items), ("note", "note", d.text),
            ))
            prov.add(f"regimens[{parents.add(rg.get('id'))}]", r.where())
            out.append(rg)
        for r in t.get("drugs", []):
            i = parents.find(r, "regimen_id")
            dr: dict[str, Any] = {}
            put(dr, "id", r.local_id("drug_id", field="id"))
            dr["drug"] = r.get("drug", field="drug", required=True, what="a drug")
            r.put_cells(dr, (
                ("dose", "dose", d.number), ("unit", "unit", d.text), ("dose_basis", "dose_basis", d.text),
                ("route", "route", d.text), ("days", "days", d.text), ("times_per_day", "times_per_day", d.integer),
                ("every_days", "every_days", d.integer), ("continuous", "continuous", d.boolean),
                ("cycles", "cycles", d.text), ("status", "status", d.text), ("stop_reason", "stop_reason", d.text),
                ("stop_day", "stop_day", d.integer), ("note", "note", d.text),
            ))
            if i is None:
                continue
            lst = out[i].setdefault("drugs", [])
            prov.add(f"regimens[{i}].drugs[{len(lst)}]", r.where())
            lst.append(dr)
        put(case, "regimens", out)

    def _radiotherapy(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        out: list[dict[str, Any]] = []
        for r in t.get("radiotherapy", []):
            x: dict[str, Any] = {}
            put(x, "id", r.local_id("radiotherapy_id", field="id"))
            x["kind"] = r.get("kind", field="kind", required=True, what="a kind of radiotherapy")
            x["total_dose_gy"] = r.get("total_dose_gy", d.number, field="total_dose_gy", required=True,
                                       what="a total dose in Gy")
            put(x, "fractions", r.get("fractions", d.integer, field="fractions"))
            x["start"] = r.get("start", d.date, field="start", required=True, what="a start date")
            r.put_cells(x, (
                ("end", "end", d.date), ("body_sites", "body_sites", d.items),
            ))
            put(x, "regimen", r.local_id("regimen_id", field="regimen"))
            put(x, "diagnosis", r.local_id("diagnosis_id", field="diagnosis"))
            put(x, "note", r.get("note", field="note"))
            prov.add(f"radiotherapy[{len(out)}]", r.where())
            out.append(x)
        put(case, "radiotherapy", out)

    # ---- HSCT ---------------------------------------------------------------------------------
    def _hsct(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        parents = _Parents("HSCTs", self._label("hsct"))
        out: list[dict[str, Any]] = []
        for r in t.get("hsct", []):
            h: dict[str, Any] = {}
            put(h, "id", r.local_id("hsct_id", field="id"))
            h["type"] = r.get("type", _hsct_type, field="type", required=True, what="allogeneic or autologous")
            h["date"] = r.get("date", d.date, field="date", required=True, what="the HSCT date (day 0)")
            donor: dict[str, Any] = {}
            put(donor, "relation", r.get("donor_relation", field="donor.relation"))
            put(donor, "match", r.get("donor_match", field="donor.match"))
            put(donor, "hla_match", r.get("donor_hla_match", field="donor.hla_match"))
            put(donor, "sex", r.get("donor_sex", d.sex, field="donor.sex"))
            put(donor, "age_years", r.get("donor_age_years", d.integer, field="donor.age_years"))
            put(h, "donor", donor or None)
            r.put_cells(h, (
                ("graft_source", "graft_source", d.text), ("manipulations", "manipulations", d.items),
                ("conditioning", "conditioning", d.items),
                ("conditioning_intensity", "conditioning_intensity", d.text),
                ("gvhd_prophylaxis", "gvhd_prophylaxis", d.items),
            ))
            engraftment = []
            for kind in ("neutrophil", "leukocyte", "platelet"):
                col = f"{kind}_engraftment_day"
                day = r.get(col, d.integer, field=f"engraftment[{len(engraftment)}]")
                if day is not None:
                    engraftment.append({"kind": kind, "day": day})
                else:
                    r.fields.pop(f"engraftment[{len(engraftment)}]", None)
            put(h, "engraftment", engraftment)
            failure: dict[str, Any] = {}
            put(failure, "kind", r.get("graft_failure", field="graft_failure.kind"))
            put(failure, "date", r.get("graft_failure_date", d.date, field="graft_failure.date"))
            put(h, "graft_failure", failure or None)
            put(h, "diagnosis", r.local_id("diagnosis_id", field="diagnosis"))
            put(h, "note", r.get("note", field="note"))
            prov.add(f"hsct[{parents.add(h.get('id'))}]", r.where())
            out.append(h)
        for r in t.get("hsct_cell_doses", []):
            i = parents.find(r, "hsct_id")
            cd: dict[str, Any] = {}
            cd["kind"] = r.get("kind", field="kind", required=True, what="a cell kind")
            cd["value"] = r.get("value", d.number, field="value", required=True, what="a cell dose")
            put(cd, "unit", r.get("unit", field="unit"))
            if i is not None:
                lst = out[i].setdefault("cell_doses", [])
                prov.add(f"hsct[{i}].cell_doses[{len(lst)}]", r.where())
                lst.append(cd)
        for r in t.get("chimerism", []):
            i = parents.find(r, "hsct_id")
            ch: dict[str, Any] = {}
            put(ch, "id", r.local_id("chimerism_id", field="id"))
            ch["date"] = r.get("date", d.date, field="date", required=True, what="a date")
            ch["result"] = r.get("result", field="result", required=True, what="a chimerism result")
            r.put_cells(ch, (
                ("recipient_percent", "recipient_percent", _pct), ("specimen", "specimen", d.text),
                ("note", "note", d.text),
            ))
            if i is not None:
                lst = out[i].setdefault("chimerism", [])
                prov.add(f"hsct[{i}].chimerism[{len(lst)}]", r.where())
                lst.append(ch)
        for r in t.get("gvhd", []):
            i = parents.find(r, "hsct_id")
            g = self._gvhd(r)
            if i is not None:
                lst = out[i].setdefault("gvhd", [])
                prov.add(f"hsct[{i}].gvhd[{len(lst)}]", r.where())
                lst.append(g)
        put(case, "hsct", out)

    @staticmethod
    def _gvhd(r: RowReader) -> dict[str, Any]:
        g: dict[str, Any] = {}
        put(g, "id", r.local_id("gvhd_id", field="id"))
        g["kind"] = r.get("kind", field="kind", required=True, what="acute or chronic")
        g["onset"] = r.get("onset", d.date, field="onset", required=True, what="an onset date")
        r.put_cells(g, (
            ("resolved", "resolved", d.date), ("criteria", "criteria", d.text), ("grade", "grade", d.text),
            ("severity", "severity", d.text), ("organs", "organs", _organ_stages), ("note", "note", d.text),
        ))
        return g

    # ---- observations -------------------------------------------------------------------------
    @staticmethod
    def _simple(case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance, table: str, key: str,
                parse: Any) -> None:
        out = []
        for r in t.get(table, []):
            item = parse(r)
            prov.add(f"{key}[{len(out)}]", r.where())
            out.append(item)
        put(case, key, out)

    @staticmethod
    def _mrd(r: RowReader) -> dict[str, Any]:
        m: dict[str, Any] = {}
        put(m, "id", r.local_id("mrd_id", field="id"))
        m["date"] = r.get("date", d.date, field="date", required=True, what="a date")
        r.put_cells(m, (
            ("value_percent", "value_percent", _pct), ("negative", "negative", d.boolean),
            ("below_percent", "below_percent", _pct), ("method", "method", d.text), ("specimen", "specimen", d.text),
            ("sensitivity", "sensitivity", d.number),
        ))
        put(m, "diagnosis", r.local_id("diagnosis_id", field="diagnosis"))
        put(m, "note", r.get("note", field="note"))
        r.fields.setdefault("", r.table.column_name("valuepercent"))
        return m

    @staticmethod
    def _procedure(r: RowReader) -> dict[str, Any]:
        x: dict[str, Any] = {}
        put(x, "id", r.local_id("procedure_id", field="id"))
        x["procedure"] = r.get("procedure", field="procedure", required=True, what="a procedure term")
        x["date"] = r.get("date", d.date, field="date", required=True, what="a date")
        for col in ("body_site", "laterality", "intent", "outcome", "status", "note"):
            put(x, col, r.get(col, field=col))
        put(x, "diagnosis", r.local_id("diagnosis_id", field="diagnosis"))
        return x

    @staticmethod
    def _lab(r: RowReader) -> dict[str, Any]:
        x: dict[str, Any] = {}
        put(x, "id", r.local_id("lab_id", field="id"))
        x["test"] = r.get("test", field="test", required=True, what="a test")
        x["date"] = r.get("date", d.date, field="date", required=True, what="a date")
        x["value"] = r.get("value", d.number, field="value", required=True, what="a number")
        put(x, "unit", r.get("unit", field="unit"))
        put(x, "diagnosis", r.local_id("diagnosis_id", field="diagnosis"))
        put(x, "note", r.get("note", field="note"))
        return x

    @staticmethod
    def _request(r: RowReader) -> dict[str, Any]:
        x: dict[str, Any] = {}
        put(x, "id", r.local_id("request_id", field="id"))
        x["drug"] = r.get("drug", field="drug", required=True, what="a drug")
        put(x, "diagnosis", r.local_id("diagnosis_id", field="diagnosis"))
        for col in ("reason", "intent", "status", "request_intent", "requester", "unit", "dose_rate_type", "route",
                    "timing_code", "note"):
            put(x, col, r.get(col, field=col))
        put(x, "authored", r.get("authored", d.date, field="authored"))
        put(x, "regimen", r.local_id("regimen_id", field="regimen"))
        r.put_cells(x, (
            ("dose", "dose", d.number), ("as_needed", "as_needed", d.boolean),
            ("timing_event", "timing_event", d.date),
        ))
        return x

    @staticmethod
    def _response(r: RowReader) -> dict[str, Any]:
        x: dict[str, Any] = {}
        put(x, "id", r.local_id("response_id", field="id"))
        x["date"] = r.get("date", d.date, field="date", required=True, what="a date")
        x["response"] = r.get("response", field="response", required=True, what="a response")
        r.put_cells(x, (
            ("criteria", "criteria", d.text), ("best", "best", d.boolean),
        ))
        put(x, "regimen", r.local_id("regimen_id", field="regimen"))
        put(x, "diagnosis", r.local_id("diagnosis_id", field="diagnosis"))
        put(x, "note", r.get("note", field="note"))
        return x

    def _adverse_events(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        parents = _Parents("adverse events", self._label("adverse_events"))
        out: list[dict[str, Any]] = []
        for r in t.get("adverse_events", []):
            ae: dict[str, Any] = {}
            put(ae, "id", r.local_id("ae_id", field="id"))
            ae["term"] = r.get("term", field="term", required=True, what="a CTCAE term")
            r.put_cells(ae, (
                ("ctcae_version", "ctcae_version", _ctcae_version), ("grade", "grade", d.integer),
                ("grade_range", "grade_range", d.text), ("gvhd_grade", "gvhd_grade", d.integer),
                ("gvhd_organs", "gvhd_organs", d.items),
            ))
            ae["onset"] = r.get("onset", d.date, field="onset", required=True, what="an onset date")
            r.put_cells(ae, (
                ("resolved", "resolved", d.date), ("recorded", "recorded", d.date),
                ("serious", "serious", d.boolean), ("expected", "expected", d.boolean),
                ("outcome", "outcome", d.text), ("actions", "actions", d.items), ("icu_days", "icu_days", d.integer),
                ("treated_with", "treated_with", d.items), ("note", "note", d.text),
            ))
            prov.add(f"adverse_events[{parents.add(ae.get('id'))}]", r.where())
            out.append(ae)
        for r in t.get("ae_causes", []):
            i = parents.find(r, "ae_id")
            c: dict[str, Any] = {}
            put(c, "regimen", r.local_id("regimen_id", field="regimen"))
            put(c, "drug", r.get("drug", field="drug"))
            put(c, "hsct", r.local_id("hsct_id", field="hsct"))
            put(c, "causality", r.get("causality", field="causality"))
            r.fields.setdefault("", r.table.column_name("regimenid"))
            if i is not None:
                lst = out[i].setdefault("suspected_causes", [])
                prov.add(f"adverse_events[{i}].suspected_causes[{len(lst)}]", r.where())
                lst.append(c)
        put(case, "adverse_events", out)
