// TNM staging of solid tumours (issue 8), as mCODE STU4 profiles it.

Profile: OncoTnmStageGroup
Parent: Observation
Id: onco-tnm-stage-group
Title: "TNM stage group"
Description: "Clinical or pathological TNM stage group of a cancer. Aligned with mCODE STU4 TNMStageGroup: code SNOMED CT 399537006 / 399588009, method the staging manual (AJCC 8th edition 897275008), hasMember the T, N and M category Observations, focus the cancer. Deviation: the value is the stage group as written (text), not an AJCC SNOMED CT code."
* extension contains CaseItemPosition named position 0..1
* status 1..1
* code from https://fhir-onco.org/fhir/ValueSet/tnm (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* focus 1..*
* effective[x] 1..1
* method from https://fhir-onco.org/fhir/ValueSet/tnm (extensible)
* hasMember only Reference(OncoTnmCategory)

Profile: OncoTnmCategory
Parent: Observation
Id: onco-tnm-category
Title: "TNM category"
Description: "A clinical or pathological T, N or M category. Aligned with mCODE STU4 TNMPrimaryTumorCategory / TNMRegionalNodesCategory / TNMDistantMetastasesCategory (codes 399504009, 399534004, 399387003, 384625004, 371494008, 371497001); the value is the category as written (text)."
* status 1..1
* code from https://fhir-onco.org/fhir/ValueSet/tnm (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* focus 1..*
* effective[x] 1..1
* value[x] only CodeableConcept
