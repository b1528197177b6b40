// fhir-onco extensions. URL: https://fhir-onco.org/fhir/StructureDefinition/<id>

RuleSet: Ctx(path)
* ^context[+].type = #element
* ^context[=].expression = "{path}"

Extension: SourceDate
Id: source-date
Title: "Source date expression"
Description: "The date as written in the source case (e.g. D+21, 15.12.2021), on any date element."
* insert Ctx(Element)
* value[x] only string

Extension: AgeAtEvent
Id: age-at-event
Title: "Age at event"
Description: "Patient age at a dated event, when the birth date is unknown."
* insert Ctx(Patient)
* extension contains age 1..1 and date 0..1
* extension[age].value[x] only Age
* extension[date].value[x] only dateTime

Extension: FollowUp
Id: follow-up
Title: "Follow-up"
Description: "Last contact with the patient and the vital status then; survival analyses censor the living at the last contact date."
* insert Ctx(Patient)
* extension contains lastContact 0..1 and vitalStatus 0..1
* extension[lastContact].value[x] only dateTime
* extension[vitalStatus].value[x] only code
* extension[vitalStatus].valueCode from VitalStatusVS (required)

CodeSystem: VitalStatusCS
Id: vital-status
Title: "Vital status"
Description: "Vital status at the last contact."
* ^url = "https://fhir-onco.org/fhir/CodeSystem/vital-status"
* ^caseSensitive = true
* ^content = #complete
* #alive "Alive"
* #dead "Dead"
* #unknown "Unknown"

ValueSet: VitalStatusVS
Id: vital-status
Title: "Vital status at last contact"
Description: "All vital status codes."
* ^url = "https://fhir-onco.org/fhir/ValueSet/vital-status"
* include codes from system VitalStatusCS

Extension: Regimen
Id: regimen
Title: "Regimen"
Description: "Links an administration, procedure or observation to its regimen (CarePlan)."
* insert Ctx(MedicationAdministration)
* insert Ctx(Procedure)
* insert Ctx(Observation)
* value[x] only Reference(OncoRegimen)

Extension: CycleNumber
Id: cycle-number
Title: "Cycle number"
Description: "The cycle of the regimen in which the drug was given."
* insert Ctx(MedicationAdministration)
* value[x] only positiveInt

CodeSystem: DoseBasisCS
Id: dose-basis
Title: "Dose basis"
Description: "Whether a recorded dose is per administration, per day or a course total."
* ^url = "https://fhir-onco.org/fhir/CodeSystem/dose-basis"
* ^caseSensitive = true
* ^content = #complete
* #per-dose "Per dose"
* #per-day "Per day"
* #course-total "Course total"

ValueSet: DoseBasisVS
Id: dose-basis
Title: "Dose basis"
Description: "All dose basis codes."
* ^url = "https://fhir-onco.org/fhir/ValueSet/dose-basis"
* include codes from system DoseBasisCS

Extension: DoseBasis
Id: dose-basis
Title: "Dose basis"
Description: "Whether the dose is per administration, per day or a course total."
* insert Ctx(MedicationAdministration)
* value[x] only code
* valueCode from DoseBasisVS (required)

Extension: StopDay
Id: stop-day
Title: "Stop day"
Description: "Regimen day on which the drug was stopped."
* insert Ctx(MedicationAdministration)
* value[x] only integer

Extension: RegimenProtocol
Id: regimen-protocol
Title: "Regimen protocol"
Description: "Treatment protocol the regimen follows (e.g. ALL IC-BFM 2002)."
* insert Ctx(CarePlan)
* value[x] only string

Extension: RegimenCycles
Id: regimen-cycles
Title: "Planned cycles"
Description: "Number of cycles of the regimen."
* insert Ctx(CarePlan)
* value[x] only positiveInt

Extension: RegimenCycleLength
Id: regimen-cycle-length
Title: "Cycle length"
Description: "Length of one cycle."
* insert Ctx(CarePlan)
* value[x] only Duration

Extension: ConditioningIntensity
Id: conditioning-intensity
Title: "Conditioning intensity"
Description: "MAC, RIC, reduced-toxicity MAC or NMA."
* insert Ctx(CarePlan)
* insert Ctx(Procedure)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/regimen-terms-intensity (required)

Extension: HsctDonor
Id: hsct-donor
Title: "HSCT donor"
Description: "Donor of a haematopoietic stem cell transplant: relation, HLA match, sex, age."
* insert Ctx(Procedure)
* extension contains relation 0..1 and match 0..1 and hla-match 0..1 and sex 0..1 and age 0..1
* extension[relation].value[x] only CodeableConcept
* extension[relation].valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/hsct-donor-relation (extensible)
* extension[match].value[x] only CodeableConcept
* extension[match].valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/hsct-donor-type (required)
* extension[hla-match].value[x] only string
* extension[sex].value[x] only code
* extension[sex].valueCode from http://hl7.org/fhir/ValueSet/administrative-gender (required)
* extension[age].value[x] only Age

Extension: GraftSource
Id: graft-source
Title: "Graft source"
Description: "Bone marrow, peripheral blood stem cells or cord blood."
* insert Ctx(Procedure)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/hsct-graft-source (required)

Extension: GraftManipulation
Id: graft-manipulation
Title: "Graft manipulation"
Description: "Graft engineering, e.g. TCR alpha/beta depletion."
* insert Ctx(Procedure)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/hsct-graft-manipulation (required)

Extension: GraftCellDose
Id: graft-cell-dose
Title: "Graft cell dose"
Description: "Cell dose of the graft per kg recipient weight (nucleated, CD34+, CD3+ cells)."
* insert Ctx(Procedure)
* extension contains kind 1..1 and dose 1..1
* extension[kind].value[x] only code
* extension[dose].value[x] only Quantity
* extension[dose].valueQuantity.value 1..1

Extension: ConditioningRegimen
Id: conditioning-regimen
Title: "Conditioning regimen"
Description: "The conditioning regimen of a transplant."
* insert Ctx(Procedure)
* value[x] only Reference(OncoRegimen)

Extension: GvhdProphylaxisRegimen
Id: gvhd-prophylaxis-regimen
Title: "GVHD prophylaxis regimen"
Description: "The GVHD prophylaxis regimen of a transplant."
* insert Ctx(Procedure)
* value[x] only Reference(OncoRegimen)

Extension: RadiotherapyTotalDose
Id: radiotherapy-total-dose
Title: "Radiotherapy total dose"
Description: "Total delivered dose, UCUM Gy or cGy."
* insert Ctx(Procedure)
* value[x] only Quantity
* valueQuantity.value 1..1
* valueQuantity.system 1..1
* valueQuantity.system = $UCUM
* valueQuantity.code 1..1

Extension: RadiotherapyFractions
Id: radiotherapy-fractions
Title: "Radiotherapy fractions"
Description: "Number of fractions."
* insert Ctx(Procedure)
* value[x] only positiveInt

Extension: MrdSensitivity
Id: mrd-sensitivity
Title: "MRD assay sensitivity"
Description: "Sensitivity (detection limit) of the MRD assay, as a fraction (e.g. 0.0001)."
* insert Ctx(Observation)
* value[x] only decimal

Extension: RelapseNumber
Id: relapse-number
Title: "Relapse number"
Description: "1 for the first relapse, 2 for the second..."
* insert Ctx(Observation)
* insert Ctx(Condition)
* value[x] only positiveInt

Extension: RelapseIsolated
Id: relapse-isolated
Title: "Isolated relapse"
Description: "True for an isolated (single-site) relapse."
* insert Ctx(Observation)
* insert Ctx(Condition)
* value[x] only boolean

Extension: Immunophenotype
Id: immunophenotype
Title: "Immunophenotype"
Description: "Immunophenotype of a leukaemia (e.g. B-II, EGIL)."
* insert Ctx(Condition)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/morphology (extensible)

Extension: FindingTarget
Id: finding-target
Title: "Finding target"
Description: "Gene or cytogenetic abnormality a finding is about."
* insert Ctx(Observation)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/findings (extensible)

Extension: BodySite
Id: body-site
Title: "Body site"
Description: "A (further) site of disease; repeats, unlike Observation.bodySite (0..1 in R4)."
* insert Ctx(Observation)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/body-sites (extensible)

Extension: BestResponse
Id: best-response
Title: "Best response"
Description: "True when this assessment is the best response to its regimen."
* insert Ctx(Observation)
* value[x] only boolean

Extension: ResponseCriteria
Id: response-criteria
Title: "Response criteria"
Description: "Criteria used for the response assessment (e.g. IMWG)."
* insert Ctx(Observation)
* value[x] only string

Extension: AdverseEventAction
Id: adverse-event-action
Title: "Action taken"
Description: "Action taken because of the adverse event (dose paused, drug stopped, ICU...)."
* insert Ctx(AdverseEvent)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/ae-terms-action (extensible)

Extension: AdverseEventIcuDays
Id: adverse-event-icu-days
Title: "ICU days"
Description: "Length of the ICU stay caused by the adverse event."
* insert Ctx(AdverseEvent)
* value[x] only Duration

Extension: GvhdGrade
Id: gvhd-grade
Title: "GVHD grade"
Description: "Overall GVHD grade I-IV (not a CTCAE grade)."
* insert Ctx(AdverseEvent)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/regimen-terms-gvhd-grade (required)

Extension: GvhdOrgan
Id: gvhd-organ
Title: "GVHD organ"
Description: "Organ involved by GVHD."
* insert Ctx(AdverseEvent)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/regimen-terms (extensible)

Extension: AdverseEventTreatment
Id: adverse-event-treatment
Title: "Treated with"
Description: "Regimen given to treat the adverse event."
* insert Ctx(AdverseEvent)
* value[x] only Reference(OncoRegimen)

Extension: Note
Id: note
Title: "Note"
Description: "A note on a resource that has no note element in R4 (AdverseEvent)."
* insert Ctx(AdverseEvent)
* value[x] only Annotation

Extension: CaseItemPosition
Id: case-item-position
Title: "Case item position"
Description: "1-based position of the item in its list in the source case (keeps source order)."
* insert Ctx(Resource)
* value[x] only positiveInt

Extension: RegimenStopReason
Id: regimen-stop-reason
Title: "Regimen stop reason"
Description: "Why a regimen was stopped (R4 CarePlan has no statusReason)."
* insert Ctx(CarePlan)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/regimen-terms-stop (extensible)

Extension: DrugSchedule
Id: drug-schedule
Title: "Drug schedule"
Description: "The schedule of a drug in a regimen, as written: days, interval, times per day, continuous infusion, cycles, stop day."
* insert Ctx(CarePlan.activity.detail)
* extension contains days 0..1 and every-days 0..1 and times-per-day 0..1 and continuous 0..1 and cycles 0..1 and stop-day 0..1
* extension[days].value[x] only string
* extension[every-days].value[x] only positiveInt
* extension[times-per-day].value[x] only positiveInt
* extension[continuous].value[x] only boolean
* extension[cycles].value[x] only string
* extension[stop-day].value[x] only integer

Extension: AdverseEventSuspectedCause
Id: adverse-event-suspected-cause
Title: "Suspected cause"
Description: "A suspected cause as written: the regimen or HSCT, the drug name, and the causality wording."
* insert Ctx(AdverseEvent)
* obeys onco-suspect-one
* extension contains regimen 0..1 and hsct 0..1 and drug 0..1 and causality 0..1
* extension[regimen].value[x] only Reference(OncoRegimen)
* extension[hsct].value[x] only Reference(OncoHSCT)
* extension[drug].value[x] only string
* extension[causality].value[x] only string

Invariant: onco-suspect-one
Description: "A suspected cause names a regimen or an HSCT"
Expression: "extension('regimen').exists() or extension('hsct').exists()"
Severity: #error

Extension: RegimenHsctRelative
Id: regimen-hsct-relative
Title: "HSCT-relative regimen"
Description: "The HSCT whose day 0 the regimen's drug days count from (days -7..-4)."
* insert Ctx(CarePlan)
* value[x] only Reference(OncoHSCT)

Extension: DerivedDate
Id: derived-date
Title: "Derived date"
Description: "On a date primitive: computed (e.g. end = start + cycles x cycle length), not written in the case."
* insert Ctx(Element)
* value[x] only boolean

Extension: StatedReference
Id: stated-reference
Title: "Stated reference"
Description: "On a Reference to a diagnosis: the case names it explicitly, though it is the default."
* insert Ctx(Reference)
* value[x] only boolean

Extension: AdministrationRoute
Id: administration-route
Title: "Administration route (dose not stated)"
Description: "The route of an administration whose dose the source does not state: R4 mad-1 forbids a dosage without dose or rate."
* insert Ctx(MedicationAdministration)
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/routes (extensible)

Extension: DoseUnit
Id: dose-unit
Title: "Dose unit written without a dose"
Description: "A dose unit the source states without the dose itself, kept as written."
* insert Ctx(MedicationAdministration)
* value[x] only string
