// fhir-onco profiles. URL: https://fhir-onco.org/fhir/StructureDefinition/<id>

Profile: OncoPatient
Parent: Patient
Id: onco-patient
Title: "Oncology patient"
Description: "The patient of a case. Aligned with mCODE CancerPatient except that name is optional (cases are pseudonymous)."
* identifier 1..*
* identifier.system 1..1
* identifier.value 1..1
* gender 1..1
* extension contains AgeAtEvent named ageAtEvent 0..*
* extension contains FollowUp named followUp 0..1
* extension contains UsCoreRace named race 0..1 and UsCoreEthnicity named ethnicity 0..1 and
    UsCoreBirthSex named birthsex 0..1

Profile: OncoPrimaryCancerCondition
Parent: Condition
Id: onco-primary-cancer-condition
Title: "Primary cancer condition"
Description: "A primary haematological or solid cancer. Aligned with mCODE PrimaryCancerCondition."
* extension contains
    McodeHistologyMorphologyBehavior named histologyMorphologyBehavior 0..1 and
    Immunophenotype named immunophenotype 0..1 and
    RelapseNumber named relapseNumber 0..1
* category 1..*
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/conditions (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* severity 0..0
* asserter only Reference(Practitioner or PractitionerRole)
* recorder only Reference(Practitioner or PractitionerRole)
* bodySite from https://fhir-onco.org/fhir/ValueSet/body-sites (extensible)

Profile: OncoSecondaryCancerCondition
Parent: Condition
Id: onco-secondary-cancer-condition
Title: "Secondary cancer condition"
Description: "A second (e.g. therapy-related) cancer, linked to the earlier one. Aligned with mCODE SecondaryCancerCondition (related-condition extension)."
* extension contains
    McodeHistologyMorphologyBehavior named histologyMorphologyBehavior 0..1 and
    McodeConditionRelated named relatedPrimaryCancerCondition 0..* and
    Immunophenotype named immunophenotype 0..1
* category 1..*
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/conditions (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* severity 0..0
* bodySite from https://fhir-onco.org/fhir/ValueSet/body-sites (extensible)

ValueSet: OncoStageCodes
Id: stage-codes
Title: "Staging and risk observation codes"
Description: "Codes of the staging/risk observation (ISS, R-ISS, Durie-Salmon, INSS, INRG, ALL risk)."
* ^url = "https://fhir-onco.org/fhir/ValueSet/stage-codes"
* $NCIT#C139007 "International Staging System Stage"
* $NCIT#C141392 "Revised International Staging System Stage"
* $ONCO_OBS#stage-durie-salmon
* $SCT#409720004 "International neuroblastoma staging system"
* $NCIT#C133427 "International Neuroblastoma Risk Group Staging System"
* $ONCO_OBS#risk-all

Profile: OncoStageGroup
Parent: Observation
Id: onco-stage-group
Title: "Stage group or risk group"
Description: "One staging or risk classification (ISS, R-ISS, Durie-Salmon, INSS, INRG, ALL risk). mCODE has per-system profiles (myeloma ISS/R-ISS, neuroblastoma INSS/INRGSS); this one profile carries the same code/value pairs."
* status 1..1
* code from OncoStageCodes (required)
* subject 1..1
* subject only Reference(OncoPatient)
* effective[x] 1..1
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/stages (extensible)
* focus only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)

ValueSet: OncoFindingCodes
Id: finding-codes
Title: "Genomic / cytogenetic finding observation codes"
Description: "Codes of gene and cytogenetic finding observations."
* ^url = "https://fhir-onco.org/fhir/ValueSet/finding-codes"
* $LNC#69548-6 "Genetic variant assessment"
* $ONCO_OBS#cytogenetic-finding
* $ONCO_OBS#cd19-expression

Profile: OncoGenomicFinding
Parent: Observation
Id: onco-genomic-finding
Title: "Gene or cytogenetic finding"
Description: "A gene or cytogenetic finding (amplified, rearranged, deleted, mutated, detected, not detected)."
* extension contains FindingTarget named target 0..1
* status 1..1
* code from OncoFindingCodes (required)
* subject 1..1
* subject only Reference(OncoPatient)
* effective[x] 1..1
* value[x] only CodeableConcept or Quantity or string or boolean
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/findings (extensible)
* focus only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)

Profile: OncoRegimen
Parent: CarePlan
Id: onco-regimen
Title: "Treatment regimen"
Description: "A regimen (induction, conditioning, GVHD prophylaxis...): groups its MedicationAdministrations via activity.outcomeReference. mCODE has no regimen profile."
* extension contains
    RegimenProtocol named protocol 0..1 and
    McodeProcedureIntent named treatmentIntent 0..1 and
    ConditioningIntensity named conditioningIntensity 0..1 and
    RegimenCycles named cycles 0..1 and
    RegimenCycleLength named cycleLength 0..1 and
    RegimenStopReason named stopReason 0..1 and
    RegimenHsctRelative named hsctRelative 0..1
* activity.detail.extension contains DrugSchedule named schedule 0..1 and DrugClassOnly named drugClassOnly 0..1
* status 1..1
* intent 1..1
* category 1..*
* category from https://fhir-onco.org/fhir/ValueSet/regimen-terms-category (extensible)
* title 1..1
* subject 1..1
* subject only Reference(OncoPatient)
* addresses only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)
* activity.outcomeReference only Reference(OncoMedicationAdministration or OncoRadiotherapy or OncoHSCT)

Profile: OncoMedicationAdministration
Parent: MedicationAdministration
Id: onco-medication-administration
Title: "Cancer-related medication administration"
Description: "One administration (or one continuous infusion, as a period) of a drug of a regimen. Aligned with mCODE CancerRelatedMedicationAdministration (treatmentIntent, normalizationBasis, reason)."
* obeys onco-mad-reason
* extension contains
    Regimen named regimen 1..1 and
    CycleNumber named cycle 0..1 and
    DoseBasis named doseBasis 0..1 and
    McodeNormalizationBasis named normalizationBasis 0..1 and
    McodeProcedureIntent named treatmentIntent 0..1 and
    StopDay named stopDay 0..1 and
    AdministrationRoute named route 0..1 and
    DoseUnit named doseUnit 0..1 and
    CourseAdministration named course 0..1
* status 1..1
* statusReason from https://fhir-onco.org/fhir/ValueSet/regimen-terms-stop (extensible)
* medication[x] only CodeableConcept
* medicationCodeableConcept from https://fhir-onco.org/fhir/ValueSet/drugs (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* effective[x] 1..1
* reasonReference only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)
* dosage.route from https://fhir-onco.org/fhir/ValueSet/routes (extensible)
* dosage.dose.system 1..1
* dosage.dose.system = $UCUM
* dosage.dose.code 1..1

Invariant: onco-mad-reason
Description: "reasonCode or reasonReference SHALL be present (as in mCODE CancerRelatedMedicationAdministration)"
Expression: "reasonCode.exists() or reasonReference.exists()"
Severity: #error

Profile: OncoMRD
Parent: Observation
Id: onco-mrd
Title: "Minimal residual disease"
Description: "An MRD measurement: % of cells, or negative below the assay threshold; method (flow, PCR, NGS), specimen, sensitivity. mCODE has no MRD profile."
* obeys onco-mrd-range
* extension contains MrdSensitivity named sensitivity 0..1
* status 1..1
* code = $ONCO_OBS#mrd
* subject 1..1
* subject only Reference(OncoPatient)
* effective[x] 1..1
* value[x] only Quantity or CodeableConcept
* valueQuantity.system 1..1
* valueQuantity.system = $UCUM
* valueQuantity.code = #%
* method from https://fhir-onco.org/fhir/ValueSet/mrd-methods (extensible)
* focus only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)

Invariant: onco-mrd-range
Description: "An MRD percentage lies between 0 and 100"
Expression: "value.ofType(Quantity).value.empty() or (value.ofType(Quantity).value >= 0 and value.ofType(Quantity).value <= 100)"
Severity: #error

ValueSet: OncoDiseaseStatusCodes
Id: disease-status-codes
Title: "Disease status / response observation codes"
Description: "mCODE's cancer disease progression code and our response assessment code."
* ^url = "https://fhir-onco.org/fhir/ValueSet/disease-status-codes"
* $LNC#97509-4 "Cancer disease progression"
* $ONCO_OBS#response

Profile: OncoDiseaseStatus
Parent: Observation
Id: onco-disease-status
Title: "Response and disease status"
Description: "A response assessment (CR, CRi, VGPR, PR, MR, SD, PD...) or disease status, including relapse with its site(s). Compatible with mCODE CancerDiseaseStatus when code is LOINC 97509-4 and a SNOMED trend coding is present."
* extension contains
    RelapseNumber named relapseNumber 0..1 and
    RelapseIsolated named isolated 0..1 and
    RelapseHlaLoss named hlaLoss 0..1 and
    BodySite named site 0..* and
    BestResponse named bestResponse 0..1 and
    ResponseCriteria named criteria 0..1 and
    Regimen named regimen 0..1 and
    McodeEvidenceType named evidenceType 0..* and
    RecordedDate named recordedDate 0..1
* status 1..1
* code from OncoDiseaseStatusCodes (required)
* subject 1..1
* subject only Reference(OncoPatient)
* effective[x] 1..1
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/responses (extensible)
* bodySite from https://fhir-onco.org/fhir/ValueSet/body-sites (extensible)
* focus only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)

ValueSet: OncoHsctCodes
Id: hsct-codes
Title: "HSCT procedure codes"
Description: "Autologous and allogeneic HSCT procedure codes from the procedures table."
* ^url = "https://fhir-onco.org/fhir/ValueSet/hsct-codes"
* include codes from valueset https://fhir-onco.org/fhir/ValueSet/procedures

Profile: OncoHSCT
Parent: Procedure
Id: onco-hsct
Title: "Haematopoietic stem cell transplant"
Description: "An HSCT with donor (type, relation, HLA match), graft source and manipulation, conditioning intensity, cell doses and links to its conditioning and GVHD-prophylaxis regimens. mCODE has no HSCT profile."
* extension contains
    HsctDonor named donor 0..1 and
    GraftSource named graftSource 0..1 and
    GraftManipulation named graftManipulation 0..* and
    GraftCellDose named cellDose 0..* and
    ConditioningIntensity named conditioningIntensity 0..1 and
    ConditioningRegimen named conditioning 0..* and
    GvhdProphylaxisRegimen named gvhdProphylaxis 0..*
* status 1..1
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/procedures (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* performed[x] 1..1
* reasonReference only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)

Profile: OncoEngraftment
Parent: Observation
Id: onco-engraftment
Title: "Engraftment"
Description: "Neutrophil, platelet or leukocyte engraftment: the day after HSCT (UCUM d) and its date."
* status 1..1
* code from https://fhir-onco.org/fhir/ValueSet/observation-codes (required)
* code.coding 1..*
* subject 1..1
* subject only Reference(OncoPatient)
* effective[x] 1..1
* partOf 1..*
* partOf only Reference(OncoHSCT)
* value[x] only Quantity
* valueQuantity.system = $UCUM
* valueQuantity.code = #d
* focus only Reference(OncoHSCT)

Profile: OncoChimerism
Parent: Observation
Id: onco-chimerism
Title: "Chimerism"
Description: "Donor chimerism after HSCT: full donor, or mixed with the % of recipient cells."
* status 1..1
* code = $ONCO_OBS#chimerism
* subject 1..1
* subject only Reference(OncoPatient)
* effective[x] 1..1
* partOf 1..*
* partOf only Reference(OncoHSCT)
* value[x] only Quantity
* valueQuantity.system = $UCUM
* valueQuantity.code = #%
* focus only Reference(OncoHSCT)

Profile: OncoRadiotherapy
Parent: Procedure
Id: onco-radiotherapy
Title: "Radiotherapy course"
Description: "A radiotherapy course (TBI, craniospinal...) with its total dose in Gy."
* extension contains
    RadiotherapyTotalDose named totalDose 1..1 and
    RadiotherapyFractions named fractions 0..1 and
    Regimen named regimen 0..1
* status 1..1
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/procedures (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* performed[x] 1..1
* reasonReference only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)

Profile: OncoAdverseEvent
Parent: AdverseEvent
Id: onco-adverse-event
Title: "CTCAE adverse event"
Description: "An adverse event graded with CTCAE (hl7.fhir.us.ctcae grade extension), or a GVHD graded I-IV. Enforces the CTCAE IG's grade-0 rule correctly (the IG's own invariant tests the old mCODE URL and never fires)."
* obeys onco-ae-grade-zero and onco-ae-graded
* extension contains
    CtcaeGrade named grade 0..1 and
    CtcaeResolvedDate named resolvedDate 0..1 and
    AdverseEventAction named action 0..* and
    AdverseEventIcuDays named icuDays 0..1 and
    GvhdGrade named gvhdGrade 0..1 and
    GvhdOrgan named gvhdOrgan 0..* and
    AdverseEventTreatment named treatment 0..* and
    AdverseEventSuspectedCause named suspectedCause 0..* and
    Note named note 0..* and
    CtcaeGradeRange named gradeRange 0..1 and
    CtcaeExpectation named expectation 0..1 and
    CtcaeParticipant named participant 0..* and
    AdverseEventEpisode named episode 0..1
* actuality = #actual
* event 1..1
* event.text 1..1
* event from https://fhir-onco.org/fhir/ValueSet/ctcae-terms (extensible)
* severity 0..0
* subject only Reference(OncoPatient)
* date 1..1
* seriousness from https://fhir-onco.org/fhir/ValueSet/ae-terms-seriousness (extensible)
* suspectEntity.causality.assessment from https://fhir-onco.org/fhir/ValueSet/ae-terms-causality (extensible)

Invariant: onco-ae-grade-zero
Description: "If the CTCAE grade is 0, seriousness and suspectEntity SHALL NOT be present (the hl7.fhir.us.ctcae rule, with the IG's own grade extension URL)"
Expression: "extension('http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade').value.coding.where((system = 'http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system' and code = '0') or (system = 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl' and code = 'C75533')).exists() implies (seriousness.empty() and suspectEntity.empty())"
Severity: #error

Invariant: onco-ae-graded
Description: "An adverse event has a CTCAE grade or, for GVHD, a GVHD grade"
Expression: "extension('http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade').exists() or extension('https://fhir-onco.org/fhir/StructureDefinition/gvhd-grade').exists()"
Severity: #warning

Profile: OncoCauseOfDeath
Parent: Observation
Id: onco-cause-of-death
Title: "Cause of death"
Description: "The cause of death (LOINC 69453-9, as in VRDR CauseOfDeathPart1)."
* status 1..1
* code = $LNC#69453-9
* subject 1..1
* subject only Reference(OncoPatient)
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/death-causes (extensible)

Profile: OncoTransactionBundle
Parent: Bundle
Id: onco-transaction-bundle
Title: "Per-patient transaction bundle"
Description: "All resources of one patient, as a transaction of PUTs with deterministic ids; every entry declares one of our profiles."
* obeys onco-bundle-one-patient and onco-bundle-profiled
* type = #transaction (exactly)
* entry 1..*
* entry.fullUrl 1..1
* entry.resource 1..1
* entry.request 1..1
* entry.request.method = #PUT

Invariant: onco-bundle-one-patient
Description: "A per-patient bundle holds exactly one Patient"
Expression: "entry.resource.ofType(Patient).count() = 1"
Severity: #error

Invariant: onco-bundle-profiled
Description: "Every entry resource declares a profile"
Expression: "entry.resource.all(meta.profile.exists())"
Severity: #error

ValueSet: OncoDiseaseCharacteristicCodes
Id: disease-characteristic-codes
Title: "Disease characteristic codes"
Description: "Codes of baseline disease characteristics registries tabulate."
* ^url = "https://fhir-onco.org/fhir/ValueSet/disease-characteristic-codes"
* $ONCO_OBS#paraprotein-type
* $ONCO_OBS#prior-lines

Profile: OncoDiseaseCharacteristic
Parent: Observation
Id: onco-disease-characteristic
Title: "Disease characteristic"
Description: "A baseline characteristic of a cancer that has no staging home: myeloma paraprotein type (value from the paraprotein value set), number of prior lines of therapy (integer). mCODE has no profile for these."
* status 1..1
* code from OncoDiseaseCharacteristicCodes (required)
* subject 1..1
* subject only Reference(OncoPatient)
* value[x] 1..1
* value[x] only CodeableConcept or integer
* focus 1..*
* focus only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)
