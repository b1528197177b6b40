"""Dates as sources give them (partial, relative to partial anchors, clinician day lists) and the
limits that keep hostile input from hanging or crashing the mapping (issue 8 dates, issue 10)."""

from __future__ import annotations

from typing import Any

import pytest
from mapping_support import SD, assert_round_trip, ext
from mapping_support import case_data as _case_data

from fhir_onco.case import CaseError, parse_case


def case_data(**sections: Any) -> dict[str, Any]:
    """A case with a diagnosis (administrations must name what they treat, as in mCODE)."""
    sections.setdefault("diagnoses", [{"id": "dx", "condition": "B-ALL", "onset": "2019"}])
    return _case_data(**sections)


def _mas(m: Any) -> list[dict[str, Any]]:
    return m.all("MedicationAdministration")


def _date(ma: dict[str, Any]) -> str:
    return ma.get("effectiveDateTime") or ma["effectivePeriod"]["start"]


# ---- clinician day lists --------------------------------------------------------------------

@pytest.mark.parametrize(("days", "expected"), [
    ("-1,+8", ["2021-06-14", "2021-06-23"]),
    ("+4,+5", ["2021-06-19", "2021-06-20"]),
    ("D-7..D-4", ["2021-06-08", "2021-06-09", "2021-06-10", "2021-06-11"]),
    ("д-3..д-2", ["2021-06-12", "2021-06-13"]),
])
def test_hsct_relative_day_lists_as_clinicians_write_them(map_case, days: str, expected: list[str]) -> None:
    data = case_data(
        hsct=[{"id": "allo", "type": "allogeneic", "date": "2021-06-15"}],
        regimens=[{"id": "px", "name": "MTX", "category": "GVHD prophylaxis", "start": "D-7@allo",
                   "hsct_relative": "allo",
                   "drugs": [{"drug": "methotrexate", "dose": 10, "unit": "mg/m2", "route": "IV", "days": days}]}])
    m = map_case(data)
    assert sorted(_date(ma) for ma in _mas(m)) == expected
    assert_round_trip(m, data)


def test_day_list_with_gaps(map_case) -> None:
    data = case_data(regimens=[{"name": "R", "category": "salvage", "start": "2021-01-04", "drugs": [
        {"drug": "cytarabine", "dose": 100, "unit": "mg/m2", "route": "IV", "days": "1-5,8-12"}]}])
    m = map_case(data)
    assert len(_mas(m)) == 10
    assert "2021-01-09" not in {_date(ma) for ma in _mas(m)}  # days 6 and 7 are a pause
    assert_round_trip(m, data)


# ---- the same drug twice on one day ---------------------------------------------------------

def test_intrathecal_and_iv_methotrexate_on_one_day_are_distinct(map_case) -> None:
    data = case_data(regimens=[{"name": "HD-MTX", "category": "consolidation", "start": "2021-03-01", "drugs": [
        {"drug": "methotrexate", "dose": 5000, "unit": "mg/m2", "route": "IV", "days": "1"},
        {"drug": "methotrexate", "dose": 12, "unit": "mg", "route": "intrathecal", "days": "1"},
        {"drug": "methotrexate", "dose": 12, "unit": "mg", "route": "intrathecal", "days": "1",
         "note": "a second IT entry the clerk copied"}]}])
    m = map_case(data)
    ids = [ma["id"] for ma in _mas(m)]
    assert len(ids) == 3 == len(set(ids))
    assert_round_trip(m, data)


# ---- partial dates -----------------------------------------------------------------------------

def test_regimen_known_to_the_month_gives_one_course_administration_per_drug(map_case) -> None:
    data = case_data(regimens=[{"id": "ind", "name": "Induction", "category": "induction", "start": "2020-07",
                                "end": "2020-08", "cycles": 2, "cycle_length_days": 21, "drugs": [
        {"drug": "vincristine", "dose": 1.5, "unit": "mg/m2", "route": "IV", "days": "1,8,15"},
        {"drug": "dexamethasone", "dose": 6, "unit": "mg/m2", "route": "PO", "days": "1-7", "times_per_day": 2}]}])
    m = map_case(data)
    mas = _mas(m)
    assert len(mas) == 2
    for ma in mas:
        assert ma["effectivePeriod"] == {"start": "2020-07", "end": "2020-08"}  # no invented day
        assert ext(ma, "course-administration") == [True]
        assert ext(ma, "cycle-number") == []
    schedules = [a["detail"]["extension"][0] for a in m.one("CarePlan")["activity"]]
    assert {"url": "days", "valueString": "1,8,15"} in schedules[0]["extension"]
    assert {"url": "times-per-day", "valuePositiveInt": 2} in schedules[1]["extension"]
    assert_round_trip(m, data)


def test_partial_hsct_anchors_relative_dates_at_its_precision(map_case) -> None:
    data = case_data(
        diagnoses=[{"id": "nb", "condition": "neuroblastoma", "onset": "2019"}],
        hsct=[{"id": "auto", "type": "autologous", "date": "2021-06"}],
        regimens=[{"id": "cond", "name": "BuMel", "category": "conditioning", "start": "D-6@auto",
                   "hsct_relative": "auto", "drugs": [
                       {"drug": "busulfan", "dose": 0.8, "unit": "mg/kg", "route": "IV", "days": "-6..-3"}]}],
        adverse_events=[{"term": "fever", "grade": 1, "onset": "D+0@auto"}])
    m = map_case(data)
    assert m.one("Procedure")["performedDateTime"] == "2021-06"
    event = m.one("AdverseEvent")
    assert event["date"] == "2021-06"
    assert {"url": SD + "relative-date-precision", "valueCode": "month"} in event["_date"]["extension"]
    cp = m.one("CarePlan")
    assert cp["period"]["start"] == "2021"  # D-6 of a June HSCT may fall in May or June: only the year is sure
    ma = m.one("MedicationAdministration")
    assert ext(ma, "course-administration") == [True]
    assert_round_trip(m, data)


def test_autologous_hsct_in_a_year(map_case) -> None:
    data = case_data(diagnoses=[{"condition": "neuroblastoma", "onset": "2020"}],
                     hsct=[{"type": "autologous", "date": "2021"}])
    m = map_case(data)
    assert m.one("Procedure")["performedDateTime"] == "2021"
    assert_round_trip(m, data)


# ---- suspects as pharmacovigilance records them -------------------------------------------------

def test_suspects_are_the_doses_given_by_the_onset(map_case) -> None:
    data = case_data(
        regimens=[{"id": "r", "name": "R", "category": "salvage", "start": "2021-01-04", "drugs": [
            {"drug": "cytarabine", "dose": 100, "unit": "mg/m2", "route": "IV", "days": "1-7"}]}],
        adverse_events=[{"term": "fever", "grade": 2, "onset": "day 3@r", "suspected_causes": [{"regimen": "r"}]}])
    m = map_case(data)
    suspects = sorted(m.get(s["instance"])["effectiveDateTime"] for s in m.one("AdverseEvent")["suspectEntity"])
    assert suspects == ["2021-01-04", "2021-01-05", "2021-01-06"]  # days 1-3, not days 4-7
    cause = ext(m.one("AdverseEvent"), "adverse-event-suspected-cause")
    assert cause  # the regimen itself stays named
    assert_round_trip(m, data)


# ---- limits and refusals (issue 10) ------------------------------------------------------------

def _rg(**kw: Any) -> dict[str, Any]:
    drug = {"drug": "cytarabine", "dose": 100, "unit": "mg/m2", "route": "IV", "days": "1-5"}
    drug.update(kw.pop("drug", {}))
    return {"id": "r", "name": "R", "category": "salvage", "start": "2021-01-04", "drugs": [drug], **kw}


@pytest.mark.parametrize(("data", "where", "says"), [
    (case_data(hsct=[{"type": "allogeneic", "date": "2021-01-01"}],
               adverse_events=[{"term": "fever", "onset": "D+99999999"}]),
     "adverse_events[0].onset", "offset beyond the limit of 36600 days"),
    (case_data(regimens=[_rg(cycle_length_days=1000000000)]), "regimens[0].cycle_length_days", "less than or equal"),
    (case_data(regimens=[_rg(cycles=100000, cycle_length_days=28)]), "regimens[0].cycles", "less than or equal to 200"),
    (case_data(regimens=[_rg(cycles=4)]), "regimens[0]", "cycles: 4 with drug days needs cycle_length_days"),
    (case_data(regimens=[_rg(drug={"dose": True})]), "regimens[0].drugs[0].dose", "not true/false"),
    (case_data(regimens=[_rg(drug={"dose": 1e308})]), "regimens[0].drugs[0].dose", "less than or equal to 10000000"),
    (case_data(regimens=[_rg()], adverse_events=[{"term": "fever", "onset": "day 0@r"}]),
     "adverse_events[0].onset", "there is no day 0"),
    (case_data(regimens=[_rg()], adverse_events=[{"term": "fever", "onset": "day -2@r"}]),
     "adverse_events[0].onset", "no day 0 or negative day"),
    (case_data(patient={"identifiers": [{"system": "s", "value": "v"}], "sex": "male", "birth_date": "0099-01-01"}),
     "patient.birth_date", "year outside 1800-2200"),
])
def test_model_refusals_are_located(data: dict[str, Any], where: str, says: str) -> None:
    with pytest.raises(CaseError) as info:
        parse_case(data, "case.yaml")
    assert any(loc == where and says in msg for loc, msg in info.value.issues), info.value.issues


@pytest.mark.parametrize(("regimens", "where", "says"), [
    ([_rg(drug={"days": "1-10000000"})], "regimens[0].drugs[0]", "outside -100..1830"),
    ([_rg(drug={"days": "1-" + "9" * 5000})], "regimens[0].drugs[0]", "a day number is outside"),
    ([_rg(drug={"days": "1-1800", "times_per_day": 24})], "regimens[0].drugs[0]",
     "more than 5000 administrations"),
    ([_rg(drug={"days": "0"})], "regimens[0].drugs[0].days", "days count from 1"),
    ([_rg(drug={"days": "-7-4"})], "regimens[0].drugs[0]", "'-7-4' is ambiguous"),
    ([_rg(part_of="r")], "regimens[0].part_of", "a regimen cannot be part of itself"),
    ([_rg(id="a", part_of="b"), _rg(id="b", part_of="c"), _rg(id="c", part_of="a")], "regimens[1].part_of",
     "cycle b -> c -> a -> b"),
])
def test_schedule_and_reference_refusals_are_located(map_errors, regimens: list[Any], where: str,
                                                     says: str) -> None:
    errors = map_errors(case_data(regimens=regimens))
    assert any(loc == where and says in msg for loc, msg in errors), errors


def test_relative_date_beyond_the_calendar_is_located(map_errors) -> None:
    errors = map_errors(case_data(hsct=[{"type": "allogeneic", "date": "2200-12-01"}],
                                  adverse_events=[{"term": "fever", "onset": "D+36000"}]))
    assert errors and errors[0][0] == "adverse_events[0].onset"


# ---- unknown and bounded dates ------------------------------------------------------------------

DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def test_unknown_and_bounded_dates_carry_a_data_absent_reason_and_bounds(map_case) -> None:
    data = case_data(
        hsct=[{"id": "allo", "type": "allogeneic", "date": "2021-06-15"}],
        regimens=[{"id": "cons", "name": "Consolidation", "category": "consolidation", "start": "2021-02-01",
                   "end": "2021-03-30"}],
        adverse_events=[{"term": "fever", "grade": 1, "onset": "during@cons"},
                        {"term": "sepsis", "grade": 4, "onset": "before@allo"},
                        {"term": "diarrhea", "grade": 2, "onset": "после@allo"},
                        {"term": "mucositis oral", "grade": 2, "onset": "неизвестно"}],
        mrd=[{"date": "unknown", "negative": True}])
    m = map_case(data)
    events = m.all("AdverseEvent")
    bounds = []
    for ev in events:
        assert "date" not in ev  # no invented date
        marks = {e["url"]: e for e in ev["_date"]["extension"]}
        assert marks[DAR]["valueCode"] == "unknown"
        bounds.append(marks.get(SD + "date-bounds", {}).get("valuePeriod"))
    assert bounds == [{"start": "2021-02-01", "end": "2021-03-30"}, {"end": "2021-06-15"},
                      {"start": "2021-06-15"}, None]
    assert "effectiveDateTime" not in m.one("Observation")
    assert_round_trip(m, data)


def test_regimen_with_unknown_start_gives_course_administrations(map_case) -> None:
    data = case_data(regimens=[{"name": "Induction", "category": "induction", "start": "unknown", "drugs": [
        {"drug": "vincristine", "dose": 1.5, "unit": "mg/m2", "route": "IV", "days": "1,8,15"}]}])
    m = map_case(data)
    ma = m.one("MedicationAdministration")
    assert ext(ma, "course-administration") == [True]
    assert "start" not in ma["effectivePeriod"]
    assert_round_trip(m, data)


def test_relative_to_an_undated_hsct_and_bounds_of_an_unknown_id(map_errors) -> None:
    errors = map_errors(case_data(hsct=[{"id": "allo", "type": "allogeneic", "date": "unknown"}],
                                  adverse_events=[{"term": "fever", "onset": "D+5"},
                                                  {"term": "fever", "onset": "before@nope"}]))
    assert errors == [
        ("adverse_events[0].onset", "the HSCT 'allo' has no known date, so a date relative to it cannot be placed; "
                                    "write 'after@allo', 'unknown' or the date itself"),
        ("adverse_events[1].onset", "no HSCT or regimen with id 'nope'; ids given in this case: allo")]
