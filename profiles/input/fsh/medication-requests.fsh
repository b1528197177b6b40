// Medication requests (orders, prescriptions): the mCODE Extraction Framework's
// cancer-related-medication-request file and case files' medication_requests (issue 8).

Profile: OncoMedicationRequest
Parent: MedicationRequest
Id: onco-medication-request
Title: "Cancer-related medication request"
Description: "An order or prescription of a drug for a cancer: what was ordered, not what was given (doses given are MedicationAdministrations of a regimen; an order never becomes one). Aligned with mCODE STU4 CancerRelatedMedicationRequest: subject, medication[x], reasonCode or reasonReference (invariant as mcode-reason-required), the mCODE procedure-intent extension, requester. Drug codes from our drugs table, or the code the source gives; dose in UCUM."
* obeys onco-mr-reason
* extension contains
    McodeProcedureIntent named treatmentIntent 0..1 and
    CaseItemPosition named position 0..1
* status 1..1
* intent 1..1
* medication[x] only CodeableConcept
* medicationCodeableConcept from https://fhir-onco.org/fhir/ValueSet/drugs (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* reasonReference only Reference(OncoPrimaryCancerCondition or OncoSecondaryCancerCondition)
* basedOn only Reference(OncoRegimen)
* requester only Reference(Practitioner or Organization or OncoPatient)
* dosageInstruction.route from https://fhir-onco.org/fhir/ValueSet/routes (extensible)
* dosageInstruction.doseAndRate.doseQuantity.system 1..1
* dosageInstruction.doseAndRate.doseQuantity.system = $UCUM
* dosageInstruction.doseAndRate.doseQuantity.code 1..1

Invariant: onco-mr-reason
Description: "reasonCode or reasonReference SHALL be present (as mCODE mcode-reason-required)"
Expression: "reasonCode.exists() or reasonReference.exists()"
Severity: #error
