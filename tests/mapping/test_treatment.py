"""Regimens -> CarePlan, drug schedules -> one MedicationAdministration per dose given."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from mapping_support import MCODE, SCT, UCUM, case_data, codes, ext

DX = [{"id": "mm", "condition": "multiple myeloma"}]
ISAPD = {
    "id": "isapd", "name": "IsaPd", "category": "salvage", "intent": "palliative",
    "start": "2022-03-14", "cycles": 3, "cycle_length_days": 28,
    "drugs": [
        {"drug": "isatuximab", "dose": 10, "unit": "mg/kg", "route": "IV", "days": "1-22", "every_days": 7,
         "cycles": "1"},
        {"drug": "isatuximab", "dose": 10, "unit": "mg/kg", "route": "IV", "days": "1-15", "every_days": 14,
         "cycles": "2-"},
        {"drug": "pomalidomide", "dose": 4, "unit": "mg", "route": "PO", "days": "1-21"},
        {"drug": "dexamethasone", "dose": 40, "unit": "mg", "days": "1,8,15,22"},
    ],
}


def _drug(ma: dict) -> str:
    return ma["medicationCodeableConcept"]["coding"][0]["display"]


def _day(ma: dict) -> str:
    return ma.get("effectiveDateTime") or ma["effectivePeriod"]["start"]


def test_isapd_three_cycles_expands_to_exact_administrations(map_case) -> None:
    m = map_case(case_data(diagnoses=DX, regimens=[ISAPD]))
    mas = m.all("MedicationAdministration")
    assert Counter(_drug(ma) for ma in mas) == {"isatuximab": 4 + 2 + 2, "pomalidomide": 21 * 3,
                                                "dexamethasone": 4 * 3}
    start = date(2022, 3, 14)
    isa = sorted(_day(ma) for ma in mas if _drug(ma) == "isatuximab")
    # weekly in cycle 1 (days 1, 8, 15, 22), then every 2 weeks (days 1, 15) in cycles 2 and 3
    expected = [start + timedelta(d) for d in (0, 7, 14, 21, 28, 42, 56, 70)]
    assert isa == [d.isoformat() for d in expected]
    cycles = Counter(ext(ma, "cycle-number")[0] for ma in mas if _drug(ma) == "isatuximab")
    assert cycles == {1: 4, 2: 2, 3: 2}
    pom = sorted(_day(ma) for ma in mas if _drug(ma) == "pomalidomide")
    assert pom[0] == "2022-03-14" and pom[20] == "2022-04-03" and pom[21] == "2022-04-11"  # day 1 of cycle 2
    assert len(set(ma["id"] for ma in mas)) == len(mas)


def test_dose_units_are_ucum_with_normalization_basis(map_case) -> None:
    m = map_case(case_data(diagnoses=DX, regimens=[ISAPD]))
    by_drug = {_drug(ma): ma for ma in m.all("MedicationAdministration")}
    isa = by_drug["isatuximab"]
    assert isa["dosage"]["dose"] == {"value": 10, "unit": "mg/kg", "system": UCUM, "code": "mg/kg"}
    assert codes(isa["dosage"]["route"]) == {(SCT, "47625008")}
    assert codes(ext(isa, MCODE + "mcode-normalization-basis")[0]) == {(SCT, "363804004")}  # body weight, mCODE VS
    pom = by_drug["pomalidomide"]
    assert pom["dosage"]["dose"]["code"] == "mg"
    assert codes(pom["dosage"]["route"]) == {(SCT, "26643006")}
    assert ext(pom, MCODE + "mcode-normalization-basis") == []  # flat dose: no basis
    assert codes(ext(pom, MCODE + "mcode-procedure-intent")[0]) == {(SCT, "363676003")}  # palliative
    assert ("http://www.whocc.no/atc", "L04AX06") in codes(pom["medicationCodeableConcept"])


def test_careplan_groups_its_administrations_both_ways(map_case) -> None:
    m = map_case(case_data(diagnoses=DX, regimens=[ISAPD]))
    cp = m.one("CarePlan")
    assert cp["title"] == "IsaPd" and cp["status"] == "completed" and cp["intent"] == "order"
    assert cp["period"] == {"start": "2022-03-14", "end": "2022-06-05", "_end": cp["period"]["_end"]}  # 3 x 28 d
    assert m.get(cp["addresses"][0])["resourceType"] == "Condition"
    listed = [ref["reference"] for act in cp["activity"] for ref in act["outcomeReference"]]
    mas = m.all("MedicationAdministration")
    assert sorted(listed) == sorted(m.ref(ma) for ma in mas)
    for ma in mas:
        assert ext(ma, "regimen") == [{"reference": m.ref(cp)}]
    # each activity lists only administrations of its own drug
    for act in cp["activity"]:
        product = act["detail"]["productCodeableConcept"]["coding"][0]["code"]
        assert {m.get(r)["medicationCodeableConcept"]["coding"][0]["code"] for r in act["outcomeReference"]} \
            == {product}


def test_continuous_infusion_is_one_administration_with_a_period(map_case) -> None:
    blina = {"id": "blina", "name": "Blinatumomab", "category": "bridging", "start": "11.08.2021",
             "drugs": [
                 {"drug": "блинатумомаб", "dose": 5, "unit": "мкг/м2/сут", "dose_basis": "per-day",
                  "route": "continuous IV infusion", "continuous": True, "days": "1-7"},
                 {"drug": "блинатумомаб", "dose": 15, "unit": "мкг/м2/сут", "dose_basis": "per-day",
                  "route": "continuous IV infusion", "continuous": True, "days": "8-28"},
                 {"drug": "метотрексат", "dose": 12, "unit": "мг", "route": "интратекально", "days": "1"}]}
    m = map_case(case_data(diagnoses=[{"condition": "B-ALL"}], regimens=[blina]))
    mas = m.all("MedicationAdministration")
    assert len(mas) == 3
    low, high, it = mas
    assert low["effectivePeriod"] == {"start": "2021-08-11", "end": "2021-08-17"}
    assert high["effectivePeriod"] == {"start": "2021-08-18", "end": "2021-09-07"}
    assert low["dosage"]["rateQuantity"] == {"value": 5, "unit": "мкг/м2/сут", "system": UCUM, "code": "ug/m2/d"}
    assert "dose" not in low["dosage"]
    assert ext(low, "dose-basis") == ["per-day"]
    assert codes(ext(low, MCODE + "mcode-normalization-basis")[0]) == {(SCT, "301898006")}  # BSA
    assert low["medicationCodeableConcept"]["text"] == "блинатумомаб"
    assert it["effectiveDateTime"] == "2021-08-11"
    assert codes(it["dosage"]["route"]) == {(SCT, "72607000")}
    assert m.one("CarePlan")["period"]["_start"]["extension"][0]["valueString"] == "11.08.2021"


def test_course_total_is_one_administration_over_the_course(map_case) -> None:
    flai = {"name": "FLAI", "category": "salvage", "start": "2021-07-02", "end": "2021-07-06",
            "drugs": [{"drug": "fludarabine", "dose": 150, "unit": "mg/m2", "dose_basis": "course-total",
                       "route": "IV"}]}
    m = map_case(case_data(regimens=[flai]))
    ma = m.one("MedicationAdministration")
    assert ma["effectivePeriod"] == {"start": "2021-07-02", "end": "2021-07-06"}
    assert ma["dosage"]["dose"]["value"] == 150 and ma["dosage"]["text"] == "course total"
    assert ext(ma, "dose-basis") == ["course-total"]


def test_q12h_gives_two_administrations_a_day(map_case) -> None:
    rg = {"name": "Thiotepa", "category": "conditioning", "start": "2021-12-08",
          "drugs": [{"drug": "thiotepa", "dose": 5, "unit": "mg/kg", "route": "IV", "days": "1-2",
                     "times_per_day": 2}]}
    mas = map_case(case_data(regimens=[rg])).all("MedicationAdministration")
    assert sorted(ma["effectiveDateTime"] for ma in mas) == ["2021-12-08"] * 2 + ["2021-12-09"] * 2
    assert len({ma["id"] for ma in mas}) == 4


def test_hsct_relative_conditioning_days(map_case) -> None:
    data = case_data(
        hsct=[{"id": "allo", "type": "allogeneic", "date": "2021-12-15", "conditioning": ["cond"]}],
        regimens=[{"id": "cond", "name": "Flu/Treo", "category": "conditioning", "intensity": "RIC",
                   "hsct_relative": "allo", "start": "D-7", "end": "D-4",
                   "drugs": [{"drug": "fludarabine", "dose": 30, "unit": "mg/m2", "route": "IV",
                              "days": "-7..-4"}]}])
    m = map_case(data)
    mas = m.all("MedicationAdministration")
    assert [ma["effectiveDateTime"] for ma in mas] == ["2021-12-08", "2021-12-09", "2021-12-10", "2021-12-11"]
    cp = m.one("CarePlan")
    assert cp["period"]["start"] == "2021-12-08" and cp["period"]["end"] == "2021-12-11"
    assert cp["period"]["_start"]["extension"][0]["valueString"] == "D-7"
    assert ext(cp, "conditioning-intensity")[0]["coding"][0]["code"] == "intensity-ric"
    proc = m.one("Procedure")
    assert ext(proc, "conditioning-regimen") == [{"reference": m.ref(cp)}]


def test_stop_day_drops_later_doses_and_marks_the_stopped_one(map_case) -> None:
    rg = {"id": "isapd", "name": "IsaPd", "category": "salvage", "start": "2022-10-03", "cycles": 1,
          "cycle_length_days": 28, "status": "stopped", "stop_reason": "toxicity",
          "drugs": [{"drug": "pomalidomide", "dose": 4, "unit": "mg", "route": "PO", "days": "1-21",
                     "status": "stopped", "stop_day": 5, "stop_reason": "непереносимость"}]}
    m = map_case(case_data(regimens=[rg]))
    mas = sorted(m.all("MedicationAdministration"), key=_day)
    assert len(mas) == 5
    assert [ma["status"] for ma in mas] == ["completed"] * 4 + ["stopped"]
    assert codes(mas[-1]["statusReason"][0]) == {(SCT, "407563006")}
    assert ext(mas[-1], "stop-day") == [5]
    assert "statusReason" not in mas[0]
    cp = m.one("CarePlan")
    assert cp["status"] == "revoked"
    assert cp["activity"][0]["detail"]["status"] == "stopped"


def test_part_of_links_a_phase_to_its_regimen(map_case) -> None:
    data = case_data(regimens=[
        {"id": "cond", "name": "Conditioning", "category": "conditioning", "start": "2021-12-08"},
        {"id": "phase2", "name": "ATG phase", "category": "conditioning", "part_of": "cond",
         "start": "2021-12-12", "drugs": [{"drug": "ATG", "dose": 20, "unit": "mg/kg", "days": "1-3"}]}])
    m = map_case(data)
    parent, phase = m.all("CarePlan")
    assert m.get(phase["partOf"][0]) is parent
    assert "partOf" not in parent


def test_day_n_of_another_regimen_resolves(map_case) -> None:
    data = case_data(regimens=[
        {"id": "blina1", "name": "Blina 1", "category": "bridging", "start": "2021-08-11"},
        {"id": "blina2", "name": "Blina 2", "category": "bridging", "start": "day 38@blina1"}])
    second = map_case(data).all("CarePlan")[1]
    assert second["period"]["start"] == "2021-09-17"
    assert second["period"]["_start"]["extension"][0]["valueString"] == "day 38@blina1"
