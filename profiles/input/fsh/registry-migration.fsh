// What the mCODE Extraction Framework's CSV layout carries and the case model now holds (issue 8):
// the disease-status recorded date and adverse-event episodes (own extensions), and stand-ins for the
// external US Core / mCODE / CTCAE IG extensions used for demographics, evidence type, expectation and
// participant. Stand-ins keep the external canonical URL, context and value type as published.

Extension: RecordedDate
Id: recorded-date
Title: "Recorded date"
Description: "When a disease-status assessment was recorded (entered), as a date of the precision the source gives; Observation.issued is an instant and would need an invented time."
* insert Ctx(Observation)
* value[x] only dateTime

Extension: AdverseEventEpisode
Id: adverse-event-episode
Title: "Adverse event episode"
Description: "A further episode of an adverse event (recurrence or a change of grade) recorded as its own AdverseEvent with its own dates and grade: the episode number (the first episode is 1 and carries no extension) and the first episode's AdverseEvent. The first's identifier with '#n' appended is this episode's identifier."
* insert Ctx(AdverseEvent)
* extension contains number 1..1 and first 1..1
* extension[number].value[x] only positiveInt
* extension[first].value[x] only Reference(AdverseEvent)

Extension: UsCoreRace
Id: us-core-race
Title: "US Core race (stand-in)"
Description: "Stand-in for the US Core 3.1.1 race extension (mCODE CancerPatient is a US Core Patient): OMB race categories, detailed CDC codes and the race as text."
* ^url = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
* insert Ctx(Patient)
* extension contains ombCategory 0..5 and detailed 0..* and text 1..1
* extension[ombCategory].value[x] only Coding
* extension[ombCategory].valueCoding from https://fhir-onco.org/fhir/ValueSet/race (required)
* extension[detailed].value[x] only Coding
* extension[text].value[x] only string

Extension: UsCoreEthnicity
Id: us-core-ethnicity
Title: "US Core ethnicity (stand-in)"
Description: "Stand-in for the US Core 3.1.1 ethnicity extension: OMB ethnicity category, detailed CDC codes and the ethnicity as text."
* ^url = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
* insert Ctx(Patient)
* extension contains ombCategory 0..1 and detailed 0..* and text 1..1
* extension[ombCategory].value[x] only Coding
* extension[ombCategory].valueCoding from https://fhir-onco.org/fhir/ValueSet/ethnicity (required)
* extension[detailed].value[x] only Coding
* extension[text].value[x] only string

ValueSet: UsCoreBirthSexVS
Id: us-core-birthsex
Title: "US Core birth sex (stand-in)"
Description: "Enumerated copy of the US Core 3.1.1 BirthSex value set (v3 AdministrativeGender F, M; v3 NullFlavor UNK)."
* ^url = "http://hl7.org/fhir/us/core/ValueSet/birthsex"
* http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender#F "Female"
* http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender#M "Male"
* http://terminology.hl7.org/CodeSystem/v3-NullFlavor#UNK "Unknown"

Extension: UsCoreBirthSex
Id: us-core-birthsex
Title: "US Core birth sex (stand-in)"
Description: "Stand-in for the US Core 3.1.1 birth sex extension (code M / F / UNK)."
* ^url = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
* insert Ctx(Patient)
* value[x] only code
* valueCode from UsCoreBirthSexVS (required)

Extension: McodeEvidenceType
Id: mcode-evidence-type
Title: "mCODE evidence type (stand-in)"
Description: "Stand-in for the mCODE STU4 evidence type extension on CancerDiseaseStatus. mCODE binds it (required) to is-a filters over SNOMED CT we cannot expand offline; here the value type is checked and the binding is extensible to our evidence_types table."
* ^url = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-evidence-type"
* insert Ctx(Observation)
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/evidence-types (extensible)

ValueSet: CtcaeExpectationVS
Id: adverse-event-expectation-value-set
Title: "Adverse event expectation (stand-in for hl7.fhir.us.ctcae)"
Description: "Enumerated copy of the hl7.fhir.us.ctcae expectation value set (NCIt)."
* ^url = "http://hl7.org/fhir/us/ctcae/ValueSet/adverse-event-expectation-value-set"
* $NCIT#C41333 "Expected Adverse Event"
* $NCIT#C41334 "Unexpected Adverse Event"

Extension: CtcaeExpectation
Id: adverse-event-expectation
Title: "Adverse event expectation (stand-in for hl7.fhir.us.ctcae)"
Description: "Stand-in for the hl7.fhir.us.ctcae expectation extension: expected or unexpected adverse event."
* ^url = "http://hl7.org/fhir/us/ctcae/StructureDefinition/adverse-event-expectation"
* insert Ctx(AdverseEvent)
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from CtcaeExpectationVS (required)

ValueSet: CtcaeParticipantFunctionVS
Id: adverse-event-participant-function-value-set
Title: "Adverse event participant function (stand-in for hl7.fhir.us.ctcae)"
Description: "Enumerated copy of the hl7.fhir.us.ctcae participant function value set (v3 ParticipationType)."
* ^url = "http://hl7.org/fhir/us/ctcae/ValueSet/adverse-event-participant-function-value-set"
* http://terminology.hl7.org/CodeSystem/v3-ParticipationType#INF "Informant"
* http://terminology.hl7.org/CodeSystem/v3-ParticipationType#PART "Participation"
* http://terminology.hl7.org/CodeSystem/v3-ParticipationType#WIT "Witness"
* http://terminology.hl7.org/CodeSystem/v3-ParticipationType#AUT "Author (originator)"
* http://terminology.hl7.org/CodeSystem/v3-ParticipationType#AUTHEN "Authenticator"

Extension: CtcaeParticipant
Id: adverse-event-participant
Title: "Adverse event participant (stand-in for hl7.fhir.us.ctcae)"
Description: "Stand-in for the hl7.fhir.us.ctcae participant extension: function and actor (a practitioner; we write a logical reference by identifier, never a name)."
* ^url = "http://hl7.org/fhir/us/ctcae/StructureDefinition/adverse-event-participant"
* insert Ctx(AdverseEvent)
* extension contains function 0..1 and actor 1..1
* extension[function].value[x] only CodeableConcept
* extension[function].valueCodeableConcept from CtcaeParticipantFunctionVS (required)
* extension[actor].value[x] only Reference(Practitioner)
