// Laboratory results that define disease course (issue 8).

Profile: OncoLab
Parent: Observation
Id: onco-lab
Title: "Disease-course laboratory result"
Description: "Bone-marrow / blood blasts (%) and blood counts as LOINC-coded (where citable) laboratory Observations with a UCUM quantity and the cancer in focus. mCODE has no profile for these; US Core Laboratory Result Observation is the closest (category laboratory, code, value)."
* extension contains CaseItemPosition named position 0..1
* status 1..1
* category 1..*
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/labs (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* effective[x] 1..1
* value[x] only Quantity
* valueQuantity 1..1
