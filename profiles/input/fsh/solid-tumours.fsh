// Solid tumours: laterality of a site, metastases (mCODE SecondaryCancerCondition), chains of related
// cancers (issue 8).

Extension: McodeLateralityQualifier
Id: mcode-laterality-qualifier
Title: "mCODE LateralityQualifier (stand-in)"
Description: "Stand-in for the mCODE STU4 laterality qualifier on a body site, with its required binding (mcode-laterality-qualifier-vs, enumerated)."
* ^url = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier"
* ^context[0].type = #element
* ^context[0].expression = "Condition.bodySite"
* ^context[1].type = #element
* ^context[1].expression = "Procedure.bodySite"
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from McodeLateralityQualifierVS (required)

ValueSet: McodeLateralityQualifierVS
Id: mcode-laterality-qualifier-vs
Title: "mCODE LateralityQualifierVS (stand-in)"
Description: "Enumerated copy of mCODE STU4 mcode-laterality-qualifier-vs (SNOMED CT)."
* ^url = "http://hl7.org/fhir/us/mcode/ValueSet/mcode-laterality-qualifier-vs"
* $SCT#51440002 "Right and left (qualifier value)"
* $SCT#399488007 "Midline (qualifier value)"
* $SCT#24028007 "Right (qualifier value)"
* $SCT#7771000 "Left (qualifier value)"

Extension: RelatedAsList
Id: related-as-list
Title: "Related conditions written as a list"
Description: "The case wrote related_to as a list with one item (so it reads back as written)."
* insert Ctx(Condition)
* value[x] only boolean

Profile: OncoMetastasis
Parent: Condition
Id: onco-metastasis
Title: "Metastasis"
Description: "A metastatic site of a cancer. Aligned with mCODE STU4 SecondaryCancerCondition: code SNOMED CT 128462008 (root of mcode-secondary-cancer-disorder-vs), the site in bodySite (with the mCODE laterality qualifier), the primary cancer in the related-condition extension."
* extension contains
    McodeConditionRelated named relatedPrimaryCancerCondition 1..1 and
    CaseItemPosition named position 0..1
* clinicalStatus 1..1
* category 1..*
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/metastasis (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* bodySite 1..1
* bodySite from https://fhir-onco.org/fhir/ValueSet/body-sites (extensible)

Profile: OncoRiskGroup
Parent: Observation
Id: onco-risk-group
Title: "Risk group"
Description: "A risk group beyond ALL: neuroblastoma INRG pretreatment risk group, AML ELN 2022 genetic risk, myeloma cytogenetic risk (IMWG). code = the classification, value = the group (own codes: no citable standard code exists), focus = the cancer."
* extension contains CaseItemPosition named position 0..1
* status 1..1
* code from https://fhir-onco.org/fhir/ValueSet/risk-groups (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* focus 1..*
* effective[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from https://fhir-onco.org/fhir/ValueSet/risk-groups (extensible)
