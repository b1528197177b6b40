"""Diagnoses -> Condition (primary / secondary), staging, gene findings and relapses."""

from __future__ import annotations

from mapping_support import LOINC, NCIT, SCT, SD, case_data, codes, ext

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
RELATED = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-condition"


def test_primary_condition_codes_morphology_and_partial_onset(map_case) -> None:
    dx = {"condition": "множественная миелома", "morphology": "plasma cell myeloma", "onset": "2020-07",
          "body_sites": ["костный мозг"]}
    cond = map_case(case_data(diagnoses=[dx])).one("Condition")
    assert codes(cond["code"]) == {(SCT, "109989006"), (ICD10, "C90.0")}
    assert cond["code"]["text"] == "множественная миелома"
    assert codes(ext(cond, "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior")
                 [0]) == {(ICDO3, "9732/3")}
    assert cond["onsetDateTime"] == "2020-07"
    assert "_onsetDateTime" not in cond  # plain ISO: nothing to keep
    assert codes(cond["bodySite"][0]) == {(SCT, "14016003")}
    assert cond["meta"]["profile"] == [SD + "onco-primary-cancer-condition"]
    assert cond["clinicalStatus"]["coding"][0]["code"] == "active"


def test_secondary_cancer_links_to_the_earlier_one(map_case) -> None:
    m = map_case(case_data(diagnoses=[
        {"id": "taml", "kind": "secondary", "condition": "t-AML", "related_to": "nb", "therapy_related": True,
         "onset": "15.02.2016"},
        {"id": "nb", "condition": "нейробластома", "onset": "2012-05"}]))  # primary listed later on purpose
    taml, nb = m.all("Condition")
    assert m.get(ext(taml, RELATED)[0]) is nb
    assert taml["meta"]["profile"] == [SD + "onco-secondary-cancer-condition"]
    assert taml["meta"]["tag"][0]["code"] == "therapy-related"
    assert taml["onsetDateTime"] == "2016-02-15"
    assert ext(nb, RELATED) == []


def test_secondary_without_related_warns(map_case) -> None:
    m = map_case(case_data(diagnoses=[{"kind": "secondary", "condition": "AML"}]))
    assert [(i.severity, i.message) for i in m.report] == [
        ("warning", "a secondary cancer should name the earlier cancer")]


def test_stage_keys_iss_durie_salmon_inss(map_case) -> None:
    dx = {"condition": "MM", "stages": [
        {"system": "iss", "value": "III", "date": "2022-03"},
        {"system": "durie-salmon", "value": "IIIA"},
        {"system": "inss", "value": "4S"},
        {"system": "riss", "value": "stage II"}]}
    m = map_case(case_data(diagnoses=[dx]))
    iss, ds, inss, riss = m.all("Observation", "onco-stage-group")
    assert codes(iss["code"]) == {(NCIT, "C139007")}
    assert codes(iss["valueCodeableConcept"]) == {(NCIT, "C70660")}
    assert iss["valueCodeableConcept"]["text"] == "III" and iss["effectiveDateTime"] == "2022-03"
    assert ds["valueCodeableConcept"]["coding"][0]["code"] == "durie-salmon-3a"
    assert codes(inss["code"]) == {(SCT, "409720004")}
    assert inss["valueCodeableConcept"]["coding"][0]["code"] == "inss-4s"
    assert codes(riss["valueCodeableConcept"]) == {(NCIT, "C141395")}
    assert all(m.get(o["focus"][0])["resourceType"] == "Condition" for o in (iss, ds, inss, riss))


def test_gene_and_cytogenetic_findings(map_case) -> None:
    dx = {"condition": "neuroblastoma", "findings": [
        {"target": "N-MYC", "result": "amplified", "method": "FISH", "date": "2012-05"},
        {"target": "моносомия 7", "result": "detected"},
        {"target": "CD19", "result": "expressed", "value_percent": 100}]}
    mycn, mono7, cd19 = map_case(case_data(diagnoses=[dx])).all("Observation", "onco-genomic-finding")
    assert codes(mycn["code"]) == {(LOINC, "69548-6")}
    assert codes(ext(mycn, "finding-target")[0]) == {("http://www.genenames.org", "HGNC:7559")}
    assert mycn["valueCodeableConcept"]["coding"][0]["code"] == "kind-amplified"
    assert mycn["method"] == {"text": "FISH"}
    assert mono7["code"]["coding"][0]["code"] == "cytogenetic-finding"
    assert codes(mono7["valueCodeableConcept"]) == {(LOINC, "LA9633-4")}
    assert cd19["valueQuantity"]["value"] == 100 and cd19["valueQuantity"]["code"] == "%"


def test_relapse_with_site_number_and_hsct_relative_date(map_case) -> None:
    dx = {"condition": "AML", "relapses": [
        {"number": 1, "date": "D+150", "sites": ["костный мозг"], "isolated": True,
         "note": "no loss of the mismatched HLA haplotype"},
        {"number": 2, "date": "2017-03", "sites": ["CNS", "bone marrow"]}]}
    m = map_case(case_data(diagnoses=[dx], hsct=[{"id": "allo", "type": "allogeneic", "date": "2016-05-18"}]))
    first, second = m.all("Observation", "onco-disease-status")
    assert first["effectiveDateTime"] == "2016-10-15"
    assert ext(first, "relapse-number") == [1] and ext(first, "relapse-isolated") == [True]
    assert codes(first["bodySite"]) == {(SCT, "14016003")}
    assert first["valueCodeableConcept"]["coding"][0]["code"] == "relapse"
    assert first["note"] == [{"text": "no loss of the mismatched HLA haplotype"}]
    assert len(ext(second, "body-site")) == 2 and "bodySite" not in second  # R4 bodySite is 0..1


def test_marker_expressed_without_percent(map_case) -> None:
    dx = {"condition": "B-ALL", "findings": [{"target": "CD19", "result": "expressed", "method": "flow cytometry"}]}
    obs = map_case(case_data(diagnoses=[dx])).one("Observation", "onco-genomic-finding")
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == "kind-expressed"
    assert obs["valueCodeableConcept"]["text"] == "expressed"
