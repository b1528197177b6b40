"""The CSV layout of the mCODE Extraction Framework (github.com/mcode/mcode-extraction-framework),
so its users can migrate: same file names (``patient-mrns.csv``, ``patient-information.csv`` /
``patient.csv``, ...) and the published column names of its CSV schemas.

Codes become terms through the terminology tables' reverse lookup (system + code -> our key), else
the display text is kept as the term and resolved like any written term. Which column lands where is
tabulated in docs/registry.md (since issue 8 every column of the extractors read has a home). Name and
address cells are personal data: messages name their file, row and column, never their content.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from typing import Any

from fhir_onco.case import REQUEST_INTENTS, REQUEST_STATUSES
from fhir_onco.terminology import Concept, default_terminology
from fhir_onco.validation.report import Report

from . import dialect as d
from .base import Column, Provenance, RowReader, TableSpec, TabularReader, put

DEFAULT_MRN_SYSTEM = "urn:fhir-onco:mcode:mrn"
C = Column
MRN = C("mrn", "Patient MRN.", True)


def _t(name: str, stem: str, cols: tuple[Column, ...], driver: bool = False) -> TableSpec:
    return TableSpec(name, (stem, f"{stem}-information"), "mrn", (MRN, *cols), driver)


TABLES: tuple[TableSpec, ...] = (
    _t("patient_mrns", "patient-mrns", (), driver=True),
    _t("patient", "patient", (
        C("familyName"), C("givenName"), C("gender"), C("birthsex"), C("dateOfBirth"), C("race"), C("ethnicity"),
        C("language"), C("addressLine"), C("city"), C("state"), C("zip")), driver=True),
    _t("condition", "condition", (
        C("conditionId", required=True), C("codeSystem", required=True), C("code", required=True), C("displayName"),
        C("category", required=True), C("dateOfDiagnosis"), C("clinicalStatus"), C("verificationStatus"),
        C("bodySite"), C("laterality"), C("histology"))),
    _t("disease_status", "cancer-disease-status", (
        C("conditionId", required=True), C("diseaseStatusCode", required=True), C("diseaseStatusText"),
        C("dateOfObservation", required=True), C("evidence"), C("observationStatus"), C("dateRecorded"))),
    _t("medication_administration", "cancer-related-medication-administration", (
        C("medicationId"), C("code", required=True), C("codeSystem", required=True), C("displayText"),
        C("startDate"), C("endDate"), C("treatmentReasonCode"), C("treatmentReasonCodeSystem"),
        C("treatmentReasonDisplayText"), C("treatmentIntent"), C("status", required=True))),
    _t("medication_request", "cancer-related-medication-request", (
        C("requestId"), C("code", required=True), C("codeSystem", required=True), C("displayText"),
        C("treatmentReasonCode"), C("treatmentReasonCodeSystem"), C("treatmentReasonDisplayText"),
        C("procedureIntent"), C("status", required=True), C("intent", required=True), C("authoredOn"),
        C("requesterId", required=True), C("dosageRoute"), C("asNeededCode"), C("doseRateType"), C("doseQuantityValue"),
        C("doseQuantityUnit"), C("timingCode"), C("timingEvent"))),
    _t("procedure", "procedure", (
        C("procedureId", required=True), C("conditionId"), C("status", required=True), C("code", required=True),
        C("codeSystem", required=True), C("displayName"), C("reasonCode"), C("reasonCodeSystem"),
        C("reasonDisplayName"), C("effectiveDate", required=True), C("bodySite"), C("laterality"),
        C("treatmentIntent"))),
    _t("staging", "staging", (
        C("conditionId", required=True), C("stageGroup", required=True), C("t"), C("n"), C("m"),
        C("type", required=True), C("stagingSystem"), C("stagingCodeSystem"), C("effectiveDate", required=True))),
    _t("ctc_adverse_event", "ctc-adverse-event", (
        C("adverseEventId"), C("adverseEventCode", required=True), C("adverseEventCodeSystem"),
        C("adverseEventCodeVersion"), C("adverseEventDisplayText"), C("adverseEventText"), C("suspectedCauseId"),
        C("suspectedCauseType"), C("seriousness"), C("seriousnessCodeSystem"), C("seriousnessDisplayText"),
        C("category"), C("categoryCodeSystem"), C("categoryDisplayText"), C("studyId"),
        C("effectiveDate", required=True), C("recordedDate"), C("grade", required=True), C("expectation"),
        C("resolvedDate"), C("seriousnessOutcome"), C("actor"), C("functionCode"))),
)

# Columns that have no home in the case model (reported once per file when they hold values). Since issue 8
# every column of the extractors we read has one; the mechanism stays for layouts that add columns.
NO_HOME: dict[str, tuple[str, ...]] = {}

_SYSTEM_ALIASES = {
    # the CTCAE IG's MedDRA system (our tables use it); the THO canonical is accepted as the same system
    "https://www.meddra.org": "http://terminology.hl7.org/CodeSystem/MDRAE",
    "http://terminology.hl7.org/codesystem/mdrae": "http://terminology.hl7.org/CodeSystem/MDRAE",
    "http://snomed.info/sct/": "http://snomed.info/sct",
    "http://ncimeta.nci.nih.gov": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
}
_CONDITION_CATEGORIES = ("problem-list-item", "encounter-diagnosis", "health-concern")
_OBSERVATION_STATUS = {"final", "preliminary", "registered", "amended", "corrected"}
_BIRTH_SEX = d.one_of({"m": "male", "male": "male", "f": "female", "female": "female", "unk": "unknown",
                       "unknown": "unknown"}, "expected M, F or UNK (US Core birth sex) or male/female/unknown")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_AE_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-category"
_PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
_EXPECTATION = d.one_of({"c41333": True, "expected": True, "c41334": False, "unexpected": False},
                         "expected NCIt C41333 (expected) or C41334 (unexpected)")
_VERIFICATION = d.one_of({v: v for v in ("confirmed", "provisional", "differential", "unconfirmed", "refuted")},
                         "expected confirmed, provisional, differential, unconfirmed or refuted")
_TNM_TYPES = {"clinical": "clinical", "pathologic": "pathological", "pathological": "pathological"}
_CTCAE_VERSIONS = {"5": "5.0", "5.0": "5.0", "5.0.0": "5.0", "4.03": "4.03", "4.0.3": "4.03"}
_MED_TYPES = {"medication", "medicationadministration", "medicationstatement", "medicationrequest"}
_LOCAL_BAD = re.compile(r"[^A-Za-z0-9.\-_]+")
# mCODE cancer disease status (SNOMED, ConditionStatusTrendVS) -> our response key, when no text resolves.
_DATA_ABSENT = {"not-asked", "asked-unknown", "asked-declined", "temp-unknown", "unknown", "not-applicable",
                "not-performed", "not-permitted"}  # FHIR data-absent-reason codes the case model keeps
_STATUS = {"268910001": "remission", "359746009": "sd", "271299001": "pd", "709137006": "not-evaluable"}
_CLINICAL = d.one_of({"active": "active", "recurrence": "relapse", "relapse": "relapse", "remission": "remission",
                      "resolved": "resolved"}, "expected active, recurrence, relapse, remission or resolved")
_MED_STATUS = {"completed": "completed", "in-progress": "active", "on-hold": "active", "stopped": "stopped",
               "not-done": "not-done"}
_REQUEST_INTENT = d.one_of({v: v for v in REQUEST_INTENTS}, "expected a FHIR MedicationRequest intent: "
                          + ", ".join(REQUEST_INTENTS))
_DOSE_RATE_TYPE = d.one_of({"calculated": "calculated", "ordered": "ordered"},
                           "expected calculated or ordered (FHIR dose-rate-type)")
_SCT = "http://snomed.info/sct"
_HSCT_KEYS = {"allogeneic-hsct": ("allogeneic", None), "haploidentical-hsct": ("allogeneic", "haploidentical"),
              "autologous-hsct": ("autologous", None)}


def _system(raw: str | None) -> str | None:
    s = d.text(raw)
    if s is None:
        return None
    s = s.strip("'\"")
    return _SYSTEM_ALIASES.get(s.casefold(), s)


@lru_cache(maxsize=4096)
def _by_code(table: str, system: str | None, code: str) -> Concept | None:
    tab = default_terminology()[table]
    if system:
        return tab.key_for(system, code)
    hits = tab.with_code(code)
    return hits[0] if len(hits) == 1 else None


def _parallel(raw: str | None) -> list[str]:
    """A '|'-separated cell whose parts line up with another column's: empty parts are kept ('|x')."""
    s = d.text(raw)
    return [] if s is None else [part.strip() for part in s.split("|")]


def _local(raw: str | None) -> str | None:
    """An mCODE id as a case local id (other characters become '-')."""
    s = d.text(raw)
    if s is None:
        return None
    return _LOCAL_BAD.sub("-", s).strip("-._")[:64] or None


class McodeReader(TabularReader):
    """Reads a directory exported for the mCODE Extraction Framework's CSV extractors."""

    tables = TABLES
    layout = "mCODE Extraction Framework"

    def __init__(self, *args: Any, mrn_system: str = DEFAULT_MRN_SYSTEM, regimen_category: str | None = None,
                 **kw: Any):
        super().__init__(*args, **kw)
        self.mrn_system = mrn_system
        self.regimen_category = regimen_category
        self.condition_codes: dict[str, str | None] = {}  # condition code -> conditionId, current patient
        self.condition_texts: dict[str, str | None] = {}  # condition display name (casefold) -> conditionId

    def _discover(self) -> None:
        super()._discover()
        if "patient_mrns" in self.files and "patient" in self.files:
            table = self.files["patient"]
            table.spec = dataclasses.replace(table.spec, driver=False)

    def discover(self) -> None:
        super().discover()
        for name, cols in NO_HOME.items():
            table = self.files.get(name)
            if table is None:
                continue
            present = {d.normalise_header(h) for h in table.header}
            unused = [c for c in cols if d.normalise_header(c) in present]
            if unused:
                self.report.warning(f"{table.label}:1", "columns with no home in the case model, not imported: "
                                    + ", ".join(unused), rule="tabular")

    def _term(self, r: RowReader, table: str, code_col: str, system_col: str | None, text_cols: tuple[str, ...],
              field: str) -> str | None:
        code = r.get(code_col, field=field)
        system = _system(r.raw(system_col)) if system_col else None
        if code is not None:
            concept = _by_code(table, system, code)
            if concept is not None:
                return concept.key
        for col in text_cols:
            text = r.get(col)
            if text is not None:
                r.fields[field] = r.table.column_name(d.normalise_header(col))
                return text
        return code

    def build(self, tables: dict[str, list[RowReader]], prov: Provenance, report: Report) -> dict[str, Any] | None:
        driver = (tables.get("patient_mrns") or tables.get("patient") or [None])[0]
        if driver is None:
            return None
        case: dict[str, Any] = {}
        patient: dict[str, Any] = {"identifiers": [{"system": self.mrn_system,
                                                    "value": driver.get("mrn", field="identifiers[0].value")}]}
        prov.add("", driver.where())
        prov.add("patient", driver.where())
        prow = (tables.get("patient") or [None])[0]
        patient["sex"] = "unknown"
        if prow is not None:
            patient["sex"] = prow.get("gender", d.sex, field="sex") or "unknown"
            put(patient, "birth_date", prow.get("dateOfBirth", d.us_date, field="birth_date"))
            self._demographics(prow, patient)
            prov.add("patient", prow.where())
        case["patient"] = patient
        self._conditions(case, tables, prov)
        self._medications(case, tables, prov)
        self._medication_requests(case, tables, prov)
        self._procedures(case, tables, prov)
        self._adverse_events(case, tables, prov)
        return case

    def _demographics(self, r: RowReader, patient: dict[str, Any]) -> None:
        """Name, address (personal data: never in a message), birth sex, race, ethnicity, language."""
        name: dict[str, Any] = {}
        put(name, "family", r.get("familyName", field="name.family"))
        given = r.get("givenName", field="name.given")
        put(name, "given", given.split() if given else None)  # the framework splits given names on spaces
        put(patient, "name", name or None)
        address: dict[str, Any] = {}
        line = r.get("addressLine", field="address.lines")
        put(address, "lines", [line] if line else None)
        put(address, "city", r.get("city", field="address.city"))
        put(address, "state", r.get("state", field="address.state"))
        put(address, "postal_code", r.get("zip", field="address.postal_code"))
        put(patient, "address", address or None)  # no country: the framework assumes US, the file does not say
        put(patient, "birth_sex", r.get("birthsex", _BIRTH_SEX, field="birth_sex"))
        # a code we know becomes its key; anything else stays as written and is resolved as a term when
        # mapped (an unknown one fails unless --allow-text-only)
        race = [self._code_term("race", code) or code for code in d.items(r.raw("race"))]
        r.fields["race"] = r.table.column_name("race")
        put(patient, "race", race)
        ethnicity = r.get("ethnicity", field="ethnicity")
        put(patient, "ethnicity", (self._code_term("ethnicity", ethnicity) or ethnicity) if ethnicity else None)
        language = r.get("language", field="language")
        if language is not None:
            if _LANGUAGE.match(language):
                patient["language"] = language
            else:
                r.error("language", "expected a BCP-47 language tag such as en, ru, en-US")

    @staticmethod
    def _code_term(table: str, code: str, system: str | None = None, prefix: str = "") -> str | None:
        """A code of `table` (system given, or a code unique in the table) as its key without `prefix`."""
        concept = _by_code(table, system, code.strip())
        if concept is not None and concept.key.startswith(prefix):
            return concept.key.removeprefix(prefix)
        return None

    def _laterality(self, r: RowReader, col: str) -> str | None:
        key = self._term(r, "laterality", col, "http://snomed.info/sct", (), "laterality")
        if key is not None and default_terminology()["laterality"].lookup(key) is None:
            r.error(col, "expected a SNOMED CT laterality code (7771000, 24028007, 51440002, 399488007) or "
                         "left/right/bilateral/midline")
            return None
        concept = default_terminology()["laterality"].lookup(key) if key else None
        return concept.key if concept else None

    @staticmethod
    def _date(r: RowReader, col: str, field: str, required: bool = False) -> str | None:
        return r.get(col, d.us_date, field=field, required=required, what="a date")

    # ---- conditions, their status and stage ---------------------------------------------------
    def _conditions(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        dxs: list[dict[str, Any]] = []
        ids: dict[str, int] = {}
        for r in t.get("condition", []):
            dx: dict[str, Any] = {}
            put(dx, "id", r.get("conditionId", _local, field="id"))
            dx["condition"] = self._term(r, "conditions", "code", "codeSystem", ("displayName",), "condition")
            put(dx, "onset", self._date(r, "dateOfDiagnosis", "onset"))
            put(dx, "status", r.get("clinicalStatus", _CLINICAL, field="status"))
            site = self._term(r, "body_sites", "bodySite", None, (), "body_sites")
            put(dx, "body_sites", [site] if site else [])
            put(dx, "verification", r.get("verificationStatus", _VERIFICATION, field="verification"))
            put(dx, "laterality", self._laterality(r, "laterality"))
            put(dx, "morphology", self._term(r, "morphology", "histology", None, (), "morphology"))
            category = [c.strip() for c in d.items(r.raw("category"))]
            r.fields["category"] = r.table.column_name("category")
            if any(c not in _CONDITION_CATEGORIES for c in category):
                r.error("category", "expected problem-list-item, encounter-diagnosis or health-concern "
                                    "('|'-separated)")
            elif category:
                dx["category"] = category
            if dx.get("id"):
                ids[dx["id"]] = len(dxs)
            prov.add(f"diagnoses[{len(dxs)}]", r.where())
            dxs.append(dx)
        self.condition_codes = {(r.raw("code") or "").strip(): dx.get("id")
                                for r, dx in zip(t.get("condition", []), dxs, strict=True)}
        self.condition_texts = {(r.raw("displayName") or "").strip().casefold(): dx.get("id")
                                for r, dx in zip(t.get("condition", []), dxs, strict=True) if r.raw("displayName")}
        for r in t.get("staging", []):
            self._stage(r, dxs, ids, prov)
        responses: list[dict[str, Any]] = []
        for r in t.get("disease_status", []):
            item = self._status(r)
            if item is not None:
                put(item, "diagnosis", r.get("conditionId", _local, field="diagnosis"))
                prov.add(f"responses[{len(responses)}]", r.where())
                responses.append(item)
        put(case, "diagnoses", dxs)
        put(case, "responses", responses)

    def _status(self, r: RowReader) -> dict[str, Any] | None:
        code = r.get("diseaseStatusCode", field="response", required=True, what="a disease status code")
        text = r.get("diseaseStatusText")
        item: dict[str, Any] = {"date": self._date(r, "dateOfObservation", "date", required=True)}
        status = (r.get("observationStatus", field="status") or "final").casefold()
        if status in ("cancelled", "entered-in-error"):
            return None  # not a finding
        if status not in _OBSERVATION_STATUS:
            r.error("observationStatus", "expected final, preliminary, registered, amended, corrected (or "
                                         "cancelled / entered-in-error, skipped)")
        elif status != "final":
            item["status"] = status
        evidence = [self._code_term("evidence_types", e, "http://snomed.info/sct") or e
                    for e in d.items(r.raw("evidence"))]
        r.fields["evidence"] = r.table.column_name("evidence")
        put(item, "evidence", evidence)
        put(item, "recorded", self._date(r, "dateRecorded", "recorded"))
        if text is not None and default_terminology()["responses"].lookup(text) is not None:
            item["response"] = text
            r.fields["response"] = r.table.column_name("diseasestatustext")
        elif code in _STATUS:
            item["response"] = _STATUS[code]
            if text:
                item["note"] = f"mCODE disease status: {text}"
        elif code in _DATA_ABSENT:  # mCODE writes a status that was not assessed as a data-absent reason
            item["data_absent"] = code
            r.fields["data_absent"] = r.table.column_name("diseasestatuscode")
        elif code is not None:  # another code: its display (else the code) as a response term, resolved when
            item["response"] = text or code  # mapped (an unknown one fails unless --allow-text-only)
            if text:
                r.fields["response"] = r.table.column_name("diseasestatustext")
        return item

    def _stage(self, r: RowReader, dxs: list[dict[str, Any]], ids: dict[str, int], prov: Provenance) -> None:
        if any(r.get(c) for c in ("t", "n", "m")) or _by_code("tnm", _system(r.raw("stagingCodeSystem")),
                                                              r.get("stagingSystem") or "") is not None:
            self._tnm(r, dxs, ids, prov)
            return
        stage_system = r.get("stagingSystem")
        concept = _by_code("observation_codes", _system(r.raw("stagingCodeSystem")), stage_system or "")
        system = None
        if concept is not None and concept.key.startswith(("stage-", "risk-")):
            system = concept.key.removeprefix("stage-")
        elif stage_system and stage_system.lower().replace("_", "-") in ("iss", "riss", "r-iss", "durie-salmon",
                                                                         "inss", "inrg"):
            system = stage_system.lower().replace("r-iss", "riss")
        group = r.get("stageGroup", field="value")
        value = group
        if group is not None:
            stage = _by_code("stages", None, group)
            if stage is not None:
                system, _, value = stage.key.rpartition("-")
        if system is None:
            r.warning("stagingSystem", "only ISS, R-ISS, Durie-Salmon, INSS and INRG stages have a home (TNM "
                                       "does not); row not imported")
            return
        cond = r.get("conditionId", _local, field="")
        i = ids.get(cond or "", 0 if len(dxs) == 1 else None)  # type: ignore[arg-type]
        if i is None:
            r.error("conditionId", "expected a conditionId of this patient in the condition file")
            return
        lst = dxs[i].setdefault("stages", [])
        r.fields.update({"system": r.table.column_name("stagingsystem")})
        lst.append({"system": system, "value": value, "date": self._date(r, "effectiveDate", "date", True)})
        prov.add(f"diagnoses[{i}].stages[{len(lst) - 1}]", r.where())

    def _tnm(self, r: RowReader, dxs: list[dict[str, Any]], ids: dict[str, int], prov: Provenance) -> None:
        kind = (r.get("type", field="type") or "").casefold()
        if kind not in _TNM_TYPES:
            r.error("type", "expected Clinical or Pathologic for TNM staging")
            return
        cond = r.get("conditionId", _local, field="")
        i = ids.get(cond or "", 0 if len(dxs) == 1 else None)  # type: ignore[arg-type]
        if i is None:
            r.error("conditionId", "expected a conditionId of this patient in the condition file")
            return
        item: dict[str, Any] = {"type": _TNM_TYPES[kind]}
        for col in ("t", "n", "m"):
            put(item, col, r.get(col, field=col))
        put(item, "stage_group", r.get("stageGroup", field="stage_group"))
        edition = _by_code("tnm", _system(r.raw("stagingCodeSystem")), r.get("stagingSystem") or "")
        if edition is not None and edition.key.startswith("ajcc-"):
            item["edition"] = f"AJCC {edition.key.removeprefix('ajcc-')}"
            r.fields["edition"] = r.table.column_name("stagingsystem")
        elif r.get("stagingSystem"):
            r.warning("stagingSystem", "a TNM staging system other than AJCC 6-9 is kept out; row imported without it")
        item["date"] = self._date(r, "effectiveDate", "date", True)
        lst = dxs[i].setdefault("tnm", [])
        lst.append(item)
        prov.add(f"diagnoses[{i}].tnm[{len(lst) - 1}]", r.where())

    # ---- treatment ----------------------------------------------------------------------------
    def _medications(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        out: list[dict[str, Any]] = []
        for r in t.get("medication_administration", []):
            status = r.get("status", field="status", required=True, what="a status")
            key = (status or "").casefold()
            if key == "entered-in-error":
                continue
            if status is not None and key not in _MED_STATUS:
                r.error("status", "expected completed, in-progress, on-hold, stopped or not-done")
            drug = self._term(r, "drugs", "code", "codeSystem", ("displayText",), "drugs[0].drug")
            rg: dict[str, Any] = {"name": r.get("displayText") or drug or "medication"}
            put(rg, "id", r.get("medicationId", _local, field="id"))
            rg["category"] = self.regimen_category or "cancer-related medication"
            r.fields["category"] = r.table.column_name("code")
            rg["start"] = self._date(r, "startDate", "start", required=True)
            put(rg, "end", self._date(r, "endDate", "end"))
            intent = self._term(r, "regimen_terms", "treatmentIntent", "http://snomed.info/sct", (), "intent")
            put(rg, "intent", intent.removeprefix("intent-") if intent else None)
            reason = d.text(r.raw("treatmentReasonCode"))
            reason_text = (d.text(r.raw("treatmentReasonDisplayText")) or "").casefold()
            if reason and reason in self.condition_codes:
                put(rg, "diagnosis", self.condition_codes[reason])
            elif reason_text in self.condition_texts:  # no code, or another system's code: the display names it
                put(rg, "diagnosis", self.condition_texts[reason_text])
                r.fields["diagnosis"] = r.table.column_name("treatmentreasondisplaytext")
            dr: dict[str, Any] = {"drug": drug}
            if key == "not-done":
                dr["status"] = "not-done"
            elif key in _MED_STATUS:
                rg["status"] = _MED_STATUS[key]
            rg["drugs"] = [dr]
            prov.add(f"regimens[{len(out)}]", r.where())
            out.append(rg)
        put(case, "regimens", out)

    def _coded(self, r: RowReader, table: str, code_col: str, system: str | None, display_col: str | None,
               field: str) -> str | dict[str, str] | None:
        """A code of our table becomes its term; any other code is kept as given ({system, code, display})."""
        code = r.get(code_col, field=field)
        if code is None:
            return None
        concept = _by_code(table, system, code)
        if concept is not None:
            return concept.key
        if system is None:
            r.error(code_col, "expected a code with its code system (the system cell is empty)")
            return None
        coded = {"system": system, "code": code}
        put(coded, "display", r.get(display_col) if display_col else None)
        return coded

    def _medication_requests(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        """Orders and prescriptions: medication_requests[] (never administrations: an order is not a dose given)."""
        out: list[dict[str, Any]] = []
        for r in t.get("medication_request", []):
            status = (r.get("status", field="status", required=True, what="a status") or "").casefold()
            if status == "entered-in-error":
                r.warning("status", "an entered-in-error request records nothing; row not imported")
                continue
            mr: dict[str, Any] = {}
            if status in REQUEST_STATUSES:
                mr["status"] = status
            elif status:
                r.error("status", "expected a FHIR MedicationRequest status: " + ", ".join(REQUEST_STATUSES))
            put(mr, "id", r.get("requestId", _local, field="id"))
            mr["drug"] = self._coded(r, "drugs", "code", _system(r.raw("codeSystem")), "displayText", "drug")
            self._request_reason(r, mr)
            intent = self._term(r, "regimen_terms", "procedureIntent", _SCT, (), "intent")
            put(mr, "intent", intent.removeprefix("intent-") if intent else None)
            put(mr, "request_intent", r.get("intent", _REQUEST_INTENT, field="request_intent", required=True,
                                            what="a request intent (order, plan, proposal ...)"))
            put(mr, "authored", self._date(r, "authoredOn", "authored"))
            put(mr, "requester", r.get("requesterId", field="requester", required=True, what="the requester's id"))
            put(mr, "route", self._coded(r, "routes", "dosageRoute", _SCT, None, "route"))
            as_needed = r.get("asNeededCode", field="as_needed")
            if as_needed is not None:
                flag = d.boolean(as_needed) if as_needed.casefold() in ("true", "false", "yes", "no") else None
                mr["as_needed"] = flag if flag is not None else {"system": _SCT, "code": as_needed}
            put(mr, "dose_rate_type", r.get("doseRateType", _DOSE_RATE_TYPE, field="dose_rate_type"))
            put(mr, "dose", r.get("doseQuantityValue", d.number, field="dose"))
            put(mr, "unit", r.get("doseQuantityUnit", field="unit"))
            put(mr, "timing_code", r.get("timingCode", field="timing_code"))
            put(mr, "timing_event", self._date(r, "timingEvent", "timing_event"))
            prov.add(f"medication_requests[{len(out)}]", r.where())
            out.append(mr)
        put(case, "medication_requests", out)

    def _request_reason(self, r: RowReader, mr: dict[str, Any]) -> None:
        """treatmentReason*: one of the patient's conditions (diagnosis), else a condition term or the code as given."""
        code = d.text(r.raw("treatmentReasonCode"))
        display = d.text(r.raw("treatmentReasonDisplayText"))
        if code is not None and code in self.condition_codes and self.condition_codes[code]:
            mr["diagnosis"] = self.condition_codes[code]
            r.fields["diagnosis"] = r.table.column_name("treatmentreasoncode")
        elif display is not None and self.condition_texts.get(display.casefold()):
            mr["diagnosis"] = self.condition_texts[display.casefold()]
            r.fields["diagnosis"] = r.table.column_name("treatmentreasondisplaytext")
        elif code is not None:
            system = _system(r.raw("treatmentReasonCodeSystem"))
            if system is None and display is not None:  # no system: the display names the condition
                mr["reason"] = display
                r.fields["reason"] = r.table.column_name("treatmentreasondisplaytext")
            else:
                put(mr, "reason", self._coded(r, "conditions", "treatmentReasonCode", system,
                                              "treatmentReasonDisplayText", "reason"))
        elif display is not None:
            mr["reason"] = display
            r.fields["reason"] = r.table.column_name("treatmentreasondisplaytext")

    def _procedures(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        out: list[dict[str, Any]] = []
        for r in t.get("procedure", []):
            status = (r.get("status") or "").casefold()
            if status in ("not-done", "entered-in-error", "preparation"):
                continue
            key = self._term(r, "procedures", "code", "codeSystem", ("displayName",), "type")
            concept = default_terminology()["procedures"].lookup(key or "")
            if concept is None or concept.key not in _HSCT_KEYS:
                self._procedure(r, case, prov)
                continue
            kind, match = _HSCT_KEYS[concept.key]
            h: dict[str, Any] = {"type": kind, "date": self._date(r, "effectiveDate", "date", True)}
            put(h, "id", r.get("procedureId", _local, field="id"))
            if match:
                h["donor"] = {"match": match}
            put(h, "diagnosis", r.get("conditionId", _local, field="diagnosis"))
            prov.add(f"hsct[{len(out)}]", r.where())
            out.append(h)
        put(case, "hsct", out)

    def _procedure(self, r: RowReader, case: dict[str, Any], prov: Provenance) -> None:
        """Surgery and other procedures (not HSCT): procedures[] with site, laterality, intent, reason."""
        out = case.setdefault("procedures", [])
        pr: dict[str, Any] = {}
        put(pr, "id", r.get("procedureId", _local, field="id"))
        pr["procedure"] = self._term(r, "procedure_terms", "code", "codeSystem", ("displayName",), "procedure")
        code, system = d.text(r.raw("code")), _system(r.raw("codeSystem"))
        if (default_terminology()["procedure_terms"].lookup(pr["procedure"] or "") is None
                and system == "http://snomed.info/sct" and code):
            # mCODE's surgical procedures are SNOMED CT descendants of 387713003: one we do not list is
            # coded as that parent, and the specific code and name stay in the note (nothing is lost).
            pr["note"] = f"{r.get('displayName') or 'procedure'} (SNOMED CT {code})"
            pr["procedure"] = "surgery"
        pr["date"] = self._date(r, "effectiveDate", "date", True)
        put(pr, "body_site", self._term(r, "body_sites", "bodySite", "http://snomed.info/sct", (), "body_site"))
        put(pr, "laterality", self._laterality(r, "laterality"))
        intent = self._term(r, "procedure_terms", "treatmentIntent", "http://snomed.info/sct", (), "intent")
        put(pr, "intent", intent.removeprefix("intent-") if intent else None)
        status = (r.get("status", field="status") or "").casefold()
        if status in ("stopped",):
            pr["status"] = status
        diagnosis = r.get("conditionId", _local, field="diagnosis")
        reason = d.text(r.raw("reasonCode"))
        if diagnosis is None and reason and reason in self.condition_codes:
            diagnosis = self.condition_codes[reason]  # reasonCodeSystem / reasonDisplayName name the same condition
            r.fields["diagnosis"] = r.table.column_name("reasoncode")
        put(pr, "diagnosis", diagnosis)
        prov.add(f"procedures[{len(out)}]", r.where())
        out.append(pr)

    def _ae_context(self, r: RowReader, ae: dict[str, Any]) -> None:
        """Category ('|'-separated, with parallel systems and displays), expectation, study, participant."""
        codes = d.items(r.raw("category"))
        systems, displays = _parallel(r.raw("categoryCodeSystem")), _parallel(r.raw("categoryDisplayText"))
        r.fields["categories"] = r.table.column_name("category")
        if (systems and len(systems) != len(codes)) or (displays and len(displays) != len(codes)):
            r.error("category", "expected as many categoryCodeSystem and categoryDisplayText values as category "
                                "codes ('|'-separated)")
        else:
            out = []
            for j, code in enumerate(codes):
                system = (_system(systems[j]) if systems else None) or _AE_CATEGORY_SYSTEM
                term = self._code_term("ae_terms", code, system, "category-")
                # not a code we know: the display names it, else the code as written
                out.append(term or (displays[j] if displays and displays[j] else code))
            put(ae, "categories", out)
        put(ae, "expected", r.get("expectation", _EXPECTATION, field="expected"))
        put(ae, "study", r.get("studyId", field="study"))
        actor, function = r.get("actor", field="participants[0].actor"), r.get("functionCode")
        if function is not None and actor is None:
            r.error("functionCode", "a functionCode needs the actor it describes (the actor cell is empty)")
        elif actor is not None:
            part: dict[str, Any] = {"actor": actor}
            if function is not None:
                r.fields["participants[0].function"] = r.table.column_name("functioncode")
                part["function"] = self._code_term("ae_terms", function, _PARTICIPATION_SYSTEM, "function-") or function
            ae["participants"] = [part]

    def _adverse_events(self, case: dict[str, Any], t: dict[str, list[RowReader]], prov: Provenance) -> None:
        regimens = {rg.get("id") for rg in case.get("regimens", [])}
        hscts = {h.get("id") for h in case.get("hsct", [])}
        out: list[dict[str, Any]] = []
        for r in t.get("ctc_adverse_event", []):
            ae: dict[str, Any] = {}
            put(ae, "id", r.get("adverseEventId", _local, field="id"))
            ae["term"] = self._term(r, "ctcae_terms", "adverseEventCode", "adverseEventCodeSystem",
                                    ("adverseEventDisplayText",), "term")
            ae["grade"] = r.get("grade", d.integer, field="grade", required=True, what="a CTCAE grade 1-5")
            ae["onset"] = self._date(r, "effectiveDate", "onset", required=True)
            put(ae, "resolved", self._date(r, "resolvedDate", "resolved"))
            version = r.get("adverseEventCodeVersion", field="ctcae_version")
            if version is not None and version in _CTCAE_VERSIONS:
                ae["ctcae_version"] = _CTCAE_VERSIONS[version]
            elif version is not None:  # e.g. the MedDRA version of an MDRAE code: not a CTCAE version
                ae["note"] = f"code version {version}"
            put(ae, "recorded", self._date(r, "recordedDate", "recorded"))
            seriousness = (r.get("seriousness", field="serious") or r.get("seriousnessDisplayText", field="serious")
                           or "").casefold().replace(" ", "-")
            if seriousness in ("serious", "non-serious"):
                ae["serious"] = seriousness == "serious"
            outcome = r.get("seriousnessOutcome", field="outcome")
            put(ae, "outcome", outcome)
            text = r.get("adverseEventText", field="note")
            if text is not None:
                ae["note"] = f"{text} ({ae['note']})" if ae.get("note") else text
            self._ae_context(r, ae)
            cause, ctype = r.get("suspectedCauseId", _local), (r.get("suspectedCauseType") or "").casefold()
            if cause:
                if ctype in _MED_TYPES and cause in regimens:
                    ae["suspected_causes"] = [{"regimen": cause}]
                elif ctype == "procedure" and cause in hscts:
                    ae["suspected_causes"] = [{"hsct": cause}]
                else:
                    r.warning("suspectedCauseId", "a suspected cause that is not an imported medication "
                                                  "administration or HSCT has no home; not imported")
            prov.add(f"adverse_events[{len(out)}]", r.where())
            out.append(ae)
        put(case, "adverse_events", out)
