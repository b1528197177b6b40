// Histologic grade of a cancer, as HL7 mCODE STU4 records it (HistologicGrade, mcode-histologic-grade:
// an Observation with code NCIt C18000, value from HistologicGradeVS, the cancer in the related-condition
// extension). Histology itself stays on the Condition (mcode-histology-morphology-behavior).

Profile: OncoHistologicGrade
Parent: Observation
Id: onco-histologic-grade
Title: "Histologic grade"
Description: "Histologic grade / differentiation of a cancer, aligned with mCODE STU4 HistologicGrade: code NCIt C18000 'Histologic Grade'; value = the ICD-O-3 grade/differentiation code (own code system, sixth digit 1-9) with the mCODE HistologicGradeVS code it corresponds to (SNOMED low/intermediate/high), text = the grade as written; the cancer is named both in focus and in the mCODE related-condition extension."
* extension contains McodeConditionRelated named relatedCondition 1..1
* status 1..1
* category 1..*
* code 1..1
* code = http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl#C18000
* subject 1..1
* subject only Reference(OncoPatient)
* focus 1..*
* focus only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/grades (extensible)
