// Surgery and other cancer-related procedures (issue 8).

Profile: OncoProcedure
Parent: Procedure
Id: onco-procedure
Title: "Cancer-related procedure"
Description: "Surgery (resection, biopsy) and other cancer-related procedures (bone marrow sampling, lumbar puncture, central line) with body site and laterality, date, intent and outcome. Aligned with mCODE STU4 CancerRelatedSurgicalProcedure (procedure-intent extension, laterality qualifier on bodySite, reasonReference to the cancer); codes from our procedure-terms table (SNOMED CT where citable)."
* extension contains
    McodeProcedureIntent named treatmentIntent 0..1 and
    CaseItemPosition named position 0..1
* status 1..1
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/procedure-terms (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* performed[x] 1..1
* reasonReference only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)
* bodySite from https://fhir-onco.org/fhir/ValueSet/body-sites (extensible)
* outcome from https://fhir-onco.org/fhir/ValueSet/procedure-terms (extensible)
