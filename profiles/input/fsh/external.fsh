// Local stand-ins for the external (HL7 mCODE STU4 / hl7.fhir.us.ctcae) extension definitions our
// resources use, so the offline validator can check their value types. Each keeps the external
// canonical URL, context and value type as published (facts listed in docs/terminology-notes.md);
// they are NOT our artifacts and are listed separately by `fhir-onco profiles`.

Extension: McodeHistologyMorphologyBehavior
Id: mcode-histology-morphology-behavior
Title: "mCODE HistologyMorphologyBehavior (stand-in)"
Description: "Stand-in for the mCODE STU4 extension (context Condition). mCODE binds it (required) to a SNOMED CT value set we cannot expand offline; here the value type is checked and the binding is extensible to our morphology table."
* ^url = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
* ^context[0].type = #element
* ^context[0].expression = "Condition"
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/morphology (extensible)

Extension: McodeProcedureIntent
Id: mcode-procedure-intent
Title: "mCODE ProcedureIntent (stand-in)"
Description: "Stand-in for the mCODE STU4 treatment intent extension, with the required binding to ProcedureIntentVS."
* ^url = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-procedure-intent"
* ^context[0].type = #element
* ^context[0].expression = "Procedure"
* ^context[1].type = #element
* ^context[1].expression = "MedicationAdministration"
* ^context[2].type = #element
* ^context[2].expression = "MedicationRequest"
* ^context[3].type = #element
* ^context[3].expression = "CarePlan"
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from McodeProcedureIntentVS (required)

ValueSet: McodeProcedureIntentVS
Id: mcode-procedure-intent-vs
Title: "mCODE ProcedureIntentVS (stand-in)"
Description: "Enumerated copy of mCODE STU4 ProcedureIntentVS (SNOMED CT)."
* ^url = "http://hl7.org/fhir/us/mcode/ValueSet/mcode-procedure-intent-vs"
* $SCT#373808002 "Curative - procedure intent"
* $SCT#363676003 "Palliative - procedure intent"
* $SCT#399707004 "Supportive - procedure intent"
* $SCT#261004008 "Diagnostic intent"
* $SCT#129428001 "Preventive - procedure intent"
* $SCT#429892002 "Guidance intent"
* $SCT#360156006 "Screening - procedure intent"
* $SCT#447295008 "Forensic intent"

Extension: McodeNormalizationBasis
Id: mcode-normalization-basis
Title: "mCODE normalization basis (stand-in; URL unverified)"
Description: "Stand-in for the mCODE STU4 dose normalization basis extension (body surface area / body weight)."
* ^url = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-normalization-basis"
* ^context[0].type = #element
* ^context[0].expression = "MedicationAdministration"
* ^context[1].type = #element
* ^context[1].expression = "MedicationRequest"
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/normalization-basis (extensible)

Extension: McodeConditionRelated
Id: mcode-related-condition
Title: "mCODE related condition (stand-in)"
Description: "Stand-in for the mCODE STU4 related-condition extension (value Reference(Condition))."
* ^url = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-condition"
* ^context[0].type = #element
* ^context[0].expression = "Condition"
* ^context[1].type = #element
* ^context[1].expression = "Observation"
* value[x] 1..1
* value[x] only Reference(Condition)

Extension: CtcaeGrade
Id: ctcae-grade
Title: "CTCAE grade (stand-in for hl7.fhir.us.ctcae)"
Description: "Stand-in for the hl7.fhir.us.ctcae grade extension: CodeableConcept, required binding to the IG's grade value set (codes 0-5)."
* ^url = "http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade"
* ^context[0].type = #element
* ^context[0].expression = "AdverseEvent"
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from CtcaeGradeVS (required)

CodeSystem: CtcaeGradeCS
Id: ctcae-grade-code-system
Title: "CTCAE grade code system (stand-in for hl7.fhir.us.ctcae)"
Description: "The hl7.fhir.us.ctcae grade codes 0-5."
* ^url = "http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system"
* ^caseSensitive = true
* ^content = #complete
* #0 "Absent Adverse Event"
* #1 "Mild Adverse Event"
* #2 "Moderate Adverse Event"
* #3 "Severe Adverse Event"
* #4 "Life Threatening or Disabling Adverse Event"
* #5 "Death Related to Adverse Event"

ValueSet: CtcaeGradeVS
Id: ctcae-grade-value-set
Title: "CTCAE grade value set (stand-in for hl7.fhir.us.ctcae)"
Description: "The hl7.fhir.us.ctcae grade value set: all codes of the grade code system."
* ^url = "http://hl7.org/fhir/us/ctcae/ValueSet/ctcae-grade-value-set"
* include codes from system CtcaeGradeCS

Extension: CtcaeResolvedDate
Id: adverse-event-resolved-date
Title: "Adverse event resolved date (stand-in for hl7.fhir.us.ctcae)"
Description: "Stand-in for the hl7.fhir.us.ctcae resolved-date extension (dateTime)."
* ^url = "http://hl7.org/fhir/us/ctcae/StructureDefinition/adverse-event-resolved-date"
* ^context[0].type = #element
* ^context[0].expression = "AdverseEvent"
* value[x] 1..1
* value[x] only dateTime
