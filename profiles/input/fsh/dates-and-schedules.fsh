// Dates as sources give them: partial anchors and courses whose days cannot be dated (issue 8).
// The RuleSet Ctx comes from extensions.fsh.

Extension: CourseAdministration
Id: course-administration
Title: "Course administration"
Description: "This administration stands for every dose of the drug in its regimen: the regimen start is known only to the month or year, so the days of the schedule (kept on CarePlan.activity.detail, extension drug-schedule) cannot be dated. The period is the regimen's at the known precision; no day is invented."
* insert Ctx(MedicationAdministration)
* value[x] only boolean

Extension: RelativeDatePrecision
Id: relative-date-precision
Title: "Precision limited by a partial anchor"
Description: "On a date primitive resolved from D+N or day N: the anchor (HSCT or regimen start) is known only to the month or year, so the date keeps only what every possible anchor day gives (month or year)."
* insert Ctx(Element)
* value[x] only code
* valueCode from RelativeDatePrecisionValues (required)

ValueSet: RelativeDatePrecisionValues
Id: relative-date-precision
Title: "Precision of a relative date"
Description: "month or year (FHIR date precisions coarser than a day)."
* include http://hl7.org/fhir/date-precision#month
* include http://hl7.org/fhir/date-precision#year

Extension: DateBounds
Id: date-bounds
Title: "Bounds of an unknown date"
Description: "On a date primitive whose value the source does not give (data-absent-reason unknown) but bounds by an HSCT or a regimen: 'before@allo', 'after@ind', 'during@cons'. The period is what the anchor's known dates allow (an open end where they say nothing)."
* insert Ctx(Element)
* value[x] only Period

Extension: CtcaeGradeRange
Id: ctcae-grade-range
Title: "CTCAE grade given as a range"
Description: "An adverse-event grade the source gives as a range ('I-II'): low and high grade and the words as written. The ctcae-grade extension then holds the highest grade of the range."
* insert Ctx(AdverseEvent)
* extension contains low 1..1 and high 1..1 and as-written 0..1
* extension[low].value[x] only integer
* extension[high].value[x] only integer
* extension[as-written].value[x] only string

Extension: DrugClassOnly
Id: drug-class-only
Title: "Drug class only"
Description: "On CarePlan.activity.detail: the product is a drug class (WHO ATC group, drug_classes table) the source names without its drugs ('vinca alkaloids, platinum' in a named protocol); no administrations belong to it."
* insert Ctx(CarePlan.activity.detail)
* value[x] only boolean
