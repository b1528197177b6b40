"""HSCT -> Procedure with donor, graft and cell doses; engraftment and chimerism Observations."""

from __future__ import annotations

from mapping_support import UCUM, case_data, codes, ext

ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
ALLO = {"id": "allo", "type": "allogeneic", "date": "15.12.2021",
        "donor": {"relation": "мать", "match": "haploidentical", "hla_match": "5/10", "sex": "female",
                  "age_years": 38},
        "graft_source": "ПСКК", "manipulations": ["TcRα/β-деплеция"],
        "cell_doses": [{"kind": "nucleated", "value": 9.1, "unit": "10*8/kg"},
                       {"kind": "cd34", "value": 7.4, "unit": "×10^6/кг"},
                       {"kind": "cd3", "value": 25, "unit": "10*6/kg"}],
        "conditioning": ["cond"], "conditioning_intensity": "MAC", "gvhd_prophylaxis": ["px"],
        "engraftment": [{"kind": "neutrophil", "day": 17}, {"kind": "platelet", "day": 23}],
        "chimerism": [{"date": "D+30", "result": "full-donor", "specimen": "peripheral blood"},
                      {"date": "D+60", "result": "mixed", "recipient_percent": 12.5}]}
REGIMENS = [{"id": "cond", "name": "Cond", "category": "conditioning", "start": "2021-12-08"},
            {"id": "px", "name": "GVHD px", "category": "профилактика РТПХ", "start": "2021-12-14"}]


def test_procedure_donor_graft_and_links(map_case) -> None:
    m = map_case(case_data(diagnoses=[{"condition": "B-ALL"}], regimens=REGIMENS, hsct=[ALLO]))
    proc = m.one("Procedure", "onco-hsct")
    assert [c["code"] for c in proc["code"]["coding"]] == ["174241000112100", "234336002", "allogeneic-hsct"]
    assert proc["performedDateTime"] == "2021-12-15"
    donor = {e["url"]: e for e in ext(proc, "hsct-donor")[0]["extension"]}
    assert codes(donor["relation"]["valueCodeableConcept"]) == {(ROLE, "MTH")}
    assert donor["match"]["valueCodeableConcept"]["coding"][0]["code"] == "donor-haploidentical"
    assert donor["hla-match"]["valueString"] == "5/10"
    assert donor["age"]["valueAge"] == {"value": 38, "unit": "a", "system": UCUM, "code": "a"}
    assert ext(proc, "graft-source")[0]["coding"][0]["code"] == "graft-peripheral-blood-stem-cells"
    assert ext(proc, "graft-manipulation")[0]["coding"][0]["code"] == "manipulation-tcr-alpha-beta-depletion"
    assert m.get(ext(proc, "conditioning-regimen")[0])["title"] == "Cond"
    assert m.get(ext(proc, "gvhd-prophylaxis-regimen")[0])["title"] == "GVHD px"
    assert m.get(proc["reasonReference"][0])["resourceType"] == "Condition"


def test_cell_doses_per_kg_in_ucum(map_case) -> None:
    proc = map_case(case_data(regimens=REGIMENS, hsct=[ALLO])).one("Procedure", "onco-hsct")
    doses = {d["extension"][0]["valueCode"]: d["extension"][1]["valueQuantity"]
             for d in ext(proc, "graft-cell-dose")}
    assert doses["nucleated"] == {"value": 9.1, "unit": "10*8/kg", "system": UCUM, "code": "10*8/kg"}
    assert doses["cd34"] == {"value": 7.4, "unit": "×10^6/кг", "system": UCUM, "code": "10*6/kg"}
    assert doses["cd3"]["value"] == 25 and doses["cd3"]["code"] == "10*6/kg"


def test_engraftment_days_are_dated_from_day_zero(map_case) -> None:
    m = map_case(case_data(regimens=REGIMENS, hsct=[ALLO]))
    proc = m.one("Procedure", "onco-hsct")
    neut, plt = m.all("Observation", "onco-engraftment")
    assert neut["code"]["coding"][0]["code"] == "engraftment-neutrophil"
    assert neut["effectiveDateTime"] == "2022-01-01"  # 2021-12-15 + 17
    assert neut["valueQuantity"] == {"value": 17, "unit": "d", "system": UCUM, "code": "d"}
    assert plt["effectiveDateTime"] == "2022-01-07"
    assert m.get(neut["partOf"][0]) is proc and m.get(neut["focus"][0]) is proc


def test_chimerism_full_and_mixed_with_recipient_percent(map_case) -> None:
    m = map_case(case_data(regimens=REGIMENS, hsct=[ALLO]))
    full, mixed = m.all("Observation", "onco-chimerism")
    assert full["effectiveDateTime"] == "2022-01-14"
    assert full["interpretation"][0]["coding"][0]["code"] == "chimerism-full-donor"
    assert "valueQuantity" not in full
    assert full["contained"][0]["type"]["coding"][0]["code"] == "119297000"  # peripheral blood
    assert mixed["interpretation"][0]["coding"][0]["code"] == "chimerism-mixed"
    assert mixed["valueQuantity"] == {"value": 12.5, "unit": "percent", "system": UCUM, "code": "%"}
    assert mixed["effectiveDateTime"] == "2022-02-13"


def test_autologous_and_allogeneic_in_one_history(map_case) -> None:
    data = case_data(hsct=[{"id": "auto", "type": "autologous", "date": "2012-10-15",
                            "engraftment": [{"kind": "neutrophil", "day": 10}]},
                           {"id": "allo", "type": "allogeneic", "date": "2016-05-18"}],
                     mrd=[{"date": "D+30@allo", "negative": True}, {"date": "D+30@auto", "negative": True}])
    m = map_case(data)
    auto, allo = m.all("Procedure", "onco-hsct")
    assert auto["code"]["coding"][0]["code"] == "709115004"  # SNOMED autologous HSCT
    assert allo["code"]["coding"][0]["code"] == "174241000112100"  # SNOMED allogeneic HSCT
    assert [o["effectiveDateTime"] for o in m.all("Observation", "onco-mrd")] == ["2016-06-17", "2012-11-14"]
    assert m.one("Observation", "onco-engraftment")["effectiveDateTime"] == "2012-10-25"
