// GVHD and graft failure after an HSCT, and relapse with loss of the mismatched HLA haplotype (issue 8).

Extension: RelatedHsct
Id: related-hsct
Title: "Related HSCT"
Description: "The HSCT a GVHD or graft failure follows."
* insert Ctx(Condition)
* value[x] only Reference(OncoHSCT)

Extension: RelapseHlaLoss
Id: relapse-hla-loss
Title: "Relapse with HLA loss"
Description: "True when a relapse after a haploidentical or mismatched HSCT has lost the mismatched HLA haplotype (immune escape)."
* insert Ctx(Observation)
* value[x] only boolean

Profile: OncoGvhd
Parent: Condition
Id: onco-gvhd
Title: "Graft-versus-host disease"
Description: "Acute GVHD graded by MAGIC / Glucksberg / IBMTR (overall grade I-IV) or chronic GVHD by NIH 2014 global severity: stage[0] carries the overall grade or severity (summary) and the criteria (type); each further stage one organ (type) and its stage or score (summary). code is SNOMED CT 234646005 plus the kind (NCIt C4980 acute / C4981 chronic). CTCAE does not grade GVHD, so it is not a CTCAE AdverseEvent."
* extension contains
    RelatedHsct named hsct 1..1 and
    CaseItemPosition named position 0..1
* clinicalStatus 1..1
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/gvhd (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
* onset[x] 1..1
* stage.summary from https://fhir-onco.org/fhir/ValueSet/gvhd (extensible)
* stage.type from https://fhir-onco.org/fhir/ValueSet/gvhd (extensible)

Profile: OncoGraftFailure
Parent: Condition
Id: onco-graft-failure
Title: "Graft failure"
Description: "Primary (never engrafted) or secondary (graft lost after engraftment) graft failure after an HSCT."
* extension contains RelatedHsct named hsct 1..1
* clinicalStatus 1..1
* code 1..1
* code from https://fhir-onco.org/fhir/ValueSet/gvhd (extensible)
* subject 1..1
* subject only Reference(OncoPatient)
