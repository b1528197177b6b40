"""Canonical URLs: ours (profiles, extensions, identifier systems) and the external ones we align with."""

from __future__ import annotations

BASE = "https://fhir-onco.org/fhir"
SD = f"{BASE}/StructureDefinition/"
LOCAL_ID_SYSTEM = f"{BASE}/sid/case-item"
FLAGS_SYSTEM = f"{BASE}/CodeSystem/flags"


def profile(name: str) -> str:
    return SD + name


def ext(name: str) -> str:
    return SD + name


# Our extensions (defined in profiles/).
EXT_SOURCE_DATE = ext("source-date")  # the date expression as written (D+21, 15.12.2021)
EXT_AGE_AT_EVENT = ext("age-at-event")
EXT_FOLLOW_UP = ext("follow-up")  # last contact date and vital status then (censoring)
EXT_REGIMEN = ext("regimen")  # MedicationAdministration -> its CarePlan
EXT_CYCLE = ext("cycle-number")
EXT_DOSE_BASIS = ext("dose-basis")
EXT_PROTOCOL = ext("regimen-protocol")
EXT_CYCLES = ext("regimen-cycles")
EXT_CYCLE_LENGTH = ext("regimen-cycle-length")
EXT_CONDITIONING_INTENSITY = ext("conditioning-intensity")
EXT_DONOR = ext("hsct-donor")
EXT_GRAFT_SOURCE = ext("graft-source")
EXT_GRAFT_MANIPULATION = ext("graft-manipulation")
EXT_CELL_DOSE = ext("graft-cell-dose")
EXT_CONDITIONING = ext("conditioning-regimen")
EXT_GVHD_PROPHYLAXIS = ext("gvhd-prophylaxis-regimen")
EXT_TOTAL_DOSE = ext("radiotherapy-total-dose")
EXT_FRACTIONS = ext("radiotherapy-fractions")
EXT_MRD_SENSITIVITY = ext("mrd-sensitivity")
EXT_RELAPSE_NUMBER = ext("relapse-number")
EXT_ISOLATED = ext("relapse-isolated")
EXT_IMMUNOPHENOTYPE = ext("immunophenotype")
EXT_AE_ACTION = ext("adverse-event-action")
EXT_ICU_DAYS = ext("adverse-event-icu-days")
EXT_GVHD_GRADE = ext("gvhd-grade")
EXT_GVHD_ORGAN = ext("gvhd-organ")
EXT_TREATED_WITH = ext("adverse-event-treatment")
EXT_BEST_RESPONSE = ext("best-response")
EXT_RESPONSE_CRITERIA = ext("response-criteria")
EXT_STOP_DAY = ext("stop-day")
EXT_COURSE_ADMINISTRATION = ext("course-administration")  # one administration stands for an undated course
EXT_ANCHOR_PRECISION = ext("relative-date-precision")  # a D+N / day N date limited by a partial anchor
EXT_RELATED_HSCT = ext("related-hsct")  # GVHD / graft failure -> the HSCT it follows
EXT_RELATED_AS_LIST = ext("related-as-list")  # related_to written as a one-item list (round trip)
EXT_RELAPSE_HLA_LOSS = ext("relapse-hla-loss")  # relapse with loss of the mismatched HLA haplotype
EXT_DRUG_CLASS_ONLY = ext("drug-class-only")  # a regimen activity naming a drug class, not a drug
EXT_GRADE_RANGE = ext("ctcae-grade-range")  # an AE grade the source gives as a range (I-II)
EXT_DATE_BOUNDS = ext("date-bounds")  # an unknown date's known bounds (before/after/during an HSCT or regimen)
EXT_RECORDED_DATE = ext("recorded-date")  # when a disease-status assessment was recorded (issued needs a time)
EXT_AE_EPISODE = ext("adverse-event-episode")  # a further episode of an AE: number and the first episode

# HL7 mCODE STU4 (http://hl7.org/fhir/us/mcode) - see docs/terminology-notes.md for sources.
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
EXT_MCODE_HISTOLOGY = MCODE + "mcode-histology-morphology-behavior"
EXT_MCODE_RELATED_CONDITION = MCODE + "mcode-related-condition"
EXT_MCODE_NORMALIZATION_BASIS = MCODE + "mcode-normalization-basis"
EXT_MCODE_TREATMENT_INTENT = MCODE + "mcode-procedure-intent"
EXT_MCODE_LATERALITY = MCODE + "mcode-laterality-qualifier"  # on a bodySite CodeableConcept
EXT_MCODE_EVIDENCE_TYPE = MCODE + "mcode-evidence-type"  # on the disease-status Observation

# HL7 US Core (http://hl7.org/fhir/us/core), as mCODE CancerPatient (a US Core Patient) carries them.
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
EXT_US_CORE_RACE = US_CORE + "us-core-race"
EXT_US_CORE_ETHNICITY = US_CORE + "us-core-ethnicity"
EXT_US_CORE_BIRTHSEX = US_CORE + "us-core-birthsex"
BCP47 = "urn:ietf:bcp:47"

# HL7 CTCAE IG (http://hl7.org/fhir/us/ctcae).
EXT_CTCAE_GRADE = "http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade"
EXT_CTCAE_RESOLVED_DATE = "http://hl7.org/fhir/us/ctcae/StructureDefinition/adverse-event-resolved-date"
EXT_CTCAE_EXPECTATION = "http://hl7.org/fhir/us/ctcae/StructureDefinition/adverse-event-expectation"
EXT_CTCAE_PARTICIPANT = "http://hl7.org/fhir/us/ctcae/StructureDefinition/adverse-event-participant"

EXT_DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# FHIR core code systems used for required bindings.
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
EXT_FINDING_TARGET = ext("finding-target")
EXT_BODY_SITE = ext("body-site")  # repeating; Observation.bodySite is 0..1 in R4
EXT_NOTE = ext("note")  # for resources without a note element (R4 AdverseEvent)
EXT_ADMINISTRATION_ROUTE = ext("administration-route")  # route of an administration whose dose is not stated
EXT_DOSE_UNIT = ext("dose-unit")  # a unit written without a dose

# Extensions that let the reverse mapping (mappings/*_reverse.py) rebuild the case exactly; see
# docs/roundtrip.md. They carry only what the case says and FHIR has no element for.
EXT_POSITION = ext("case-item-position")  # 1-based place of the item in its case list
EXT_DRUG_SCHEDULE = ext("drug-schedule")  # on CarePlan.activity.detail: the schedule as written
EXT_REGIMEN_STOP_REASON = ext("regimen-stop-reason")  # R4 CarePlan has no statusReason
EXT_HSCT_RELATIVE = ext("regimen-hsct-relative")  # the HSCT whose day 0 the drug days count from
EXT_DERIVED_DATE = ext("derived-date")  # on a primitive: computed, not written in the case
EXT_SUSPECTED_CAUSE = ext("adverse-event-suspected-cause")  # each cause as written, in order
EXT_STATED_REFERENCE = ext("stated-reference")  # on a Reference the case states though it is the default
