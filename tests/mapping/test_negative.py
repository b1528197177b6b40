"""Bad input: every error names the field path and says what is wrong (asserted on the message)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mapping_support import case_data

from fhir_onco.case import CaseError, load_case, parse_case
from fhir_onco.mappings import map_case_to_bundle

FLAGS = "https://fhir-onco.org/fhir/CodeSystem/flags"


def _regimen(**drug: object) -> dict:
    return {"id": "r", "name": "R", "category": "salvage", "start": "2021-01-04", "drugs": [drug]}


def _schema_issues(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(CaseError) as info:
        parse_case(data, "case.yaml")
    return info.value.issues


# ---- terminology --------------------------------------------------------------------------

def test_unknown_drug_names_field_and_closest_terms(map_errors) -> None:
    errors = map_errors(case_data(regimens=[_regimen(drug="blinatumomb")]))
    assert set(errors) == {("regimens[0].drugs[0].drug",
                            "unknown drugs term 'blinatumomb'; closest known: blinatumomab "
                            "(or map with --allow-text-only)")}


def test_unknown_term_in_a_prefixed_group_suggests_that_group(map_errors) -> None:
    errors = map_errors(case_data(regimens=[{"name": "R", "category": "salvagee", "start": "2021-01-04"}]))
    assert errors == [("regimens[0].category", "unknown regimen terms term 'salvagee'; closest known: salvage "
                       "(or map with --allow-text-only)")]


def test_unknown_ctcae_term_and_outcome(map_errors) -> None:
    errors = dict(map_errors(case_data(adverse_events=[
        {"term": "headache of doom", "onset": "2021-01-04", "outcome": "finished"}])))
    assert errors["adverse_events[0].term"].startswith("unknown ctcae terms term 'headache of doom'")
    assert errors["adverse_events[0].outcome"].startswith("unknown ae terms term 'finished'")


def test_allow_text_only_keeps_text_and_flags_the_bundle(map_case) -> None:
    m = map_case(case_data(regimens=[_regimen(drug="blinatumomb", dose=5, unit="mg", route="IV", days="1")]),
                 allow_text_only=True)
    ma = m.one("MedicationAdministration")
    assert ma["medicationCodeableConcept"] == {"text": "blinatumomb"}
    assert ma["dosage"]["route"]["coding"][0]["code"] == "47625008"  # known terms still coded
    assert m.bundle["meta"]["tag"] == [{"system": FLAGS, "code": "text-only-coding",
                                        "display": "Some terms are text only (no code)"}]
    assert {(i.severity, i.message) for i in m.report} == {
        ("warning", "unknown drugs term 'blinatumomb'; closest known: blinatumomab; "
                    "kept as text only")}


def test_without_text_only_terms_there_is_no_flag(map_case) -> None:
    m = map_case(case_data(regimens=[_regimen(drug="blinatumomab", days="1")]), allow_text_only=True)
    assert "tag" not in m.bundle["meta"]
    assert not m.report.issues


def test_unknown_stage_lists_the_stages_of_that_system(map_errors) -> None:
    errors = map_errors(case_data(diagnoses=[{"condition": "MM", "stages": [{"system": "iss", "value": "V"}]}]))
    assert errors == [("diagnoses[0].stages[0].value", "unknown iss stage 'V'; expected one of 1, 2, 3")]


# ---- dates --------------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "message"), [
    ("2021-02-30", "the value is not a real calendar date"),  # the path names the field; dates identify
    ("31.13.2021", "the value is not a real calendar date"),
    ("yesterday", "the value is not a date; expected YYYY-MM-DD, YYYY-MM, YYYY, DD.MM.YYYY, D+N"),
])
def test_bad_dates_are_schema_errors_at_their_field(written: str, message: str) -> None:
    issues = _schema_issues(case_data(mrd=[{"date": written, "negative": True}]))
    assert len(issues) == 1
    assert issues[0][0] == "mrd[0].date"
    assert message in issues[0][1]
    assert written not in issues[0][1]


def test_d_plus_n_with_two_hscts_needs_an_id(map_errors) -> None:
    data = case_data(hsct=[{"id": "auto", "type": "autologous", "date": "2012-10-15"},
                           {"id": "allo", "type": "allogeneic", "date": "2016-05-18"}],
                     mrd=[{"date": "D+30", "negative": True}])
    assert map_errors(data) == [("mrd[0].date", "relative to which HSCT? name it with @id (allo, auto)")]


def test_d_plus_n_without_any_hsct(map_errors) -> None:
    assert map_errors(case_data(responses=[{"date": "D+30", "response": "CR"}])) == [
        ("responses[0].date", "relative to which HSCT? name it with @id (none defined)")]


def test_relative_date_from_a_year_only_hsct_that_may_fall_in_two_years(map_errors) -> None:
    data = case_data(hsct=[{"id": "auto", "type": "autologous", "date": "2021"}],
                     adverse_events=[{"term": "fever", "onset": "D+30"}])
    # the message names the field and the rule, never the dates themselves
    assert map_errors(data) == [("adverse_events[0].onset", "the offset from an anchor date known only to the "
                                 "year may fall in either of two years; write the date itself")]


def test_day_n_of_an_unknown_regimen(map_errors) -> None:
    errors = map_errors(case_data(regimens=[{"id": "blina", "name": "B", "category": "bridging",
                                             "start": "2021-08-11"}],
                                  adverse_events=[{"term": "fever", "onset": "day 3@blin"}]))
    assert errors == [("adverse_events[0].onset", "no regimen with id 'blin' (known: blina)")]


# ---- schedules ----------------------------------------------------------------------------

@pytest.mark.parametrize(("drug", "path", "message"), [
    ({"days": "7-1"}, "regimens[0].drugs[0]", "range '7-1' runs backwards"),
    ({"days": "1-3x"}, "regimens[0].drugs[0]",
     "'1-3x': expected days like '1-7', '1,8,15', '1-5,8-12', '-1,+8' or '-7..-4' (D-7..D-4)"),
    ({"days": "-3..-1"}, "regimens[0].drugs[0].days",
     "days count from 1 (the regimen start); negative days need hsct_relative on the regimen"),
    ({"dose": 5}, "regimens[0].drugs[0].unit", "a dose needs a unit (mg/m2, mg/kg, ug/kg/d, mg ...)"),
    ({"cycles": "2-3"}, "regimens[0].drugs[0]", "cycles '2-3' outside 1..1"),
])
def test_bad_schedules(map_errors, drug: dict, path: str, message: str) -> None:
    assert (path, message) in map_errors(case_data(regimens=[_regimen(drug="MTX", **drug)]))


def test_day_beyond_cycle_length(map_errors) -> None:
    rg = _regimen(drug="pomalidomide", days="1-30")
    rg["cycle_length_days"] = 28
    assert map_errors(case_data(regimens=[rg])) == [("regimens[0].drugs[0].days", "day 30 is beyond the 28-day cycle")]


# ---- references between items -------------------------------------------------------------

def test_unknown_references_name_the_field_and_known_ids(map_errors) -> None:
    data = case_data(
        regimens=[{"id": "cond", "name": "C", "category": "conditioning", "start": "2021-12-08"},
                  {"name": "P", "category": "conditioning", "start": "2021-12-10", "part_of": "nope"}],
        hsct=[{"id": "allo", "type": "allogeneic", "date": "2021-12-15", "conditioning": ["condd"]}],
        responses=[{"date": "2022-01-10", "response": "CR", "regimen": "ghost"}],
        adverse_events=[{"term": "fever", "onset": "2021-12-20", "treated_with": ["abx"],
                         "suspected_causes": [{"regimen": "ghost"}, {"hsct": "auto"}]}])
    errors = map_errors(data)
    known = "ids given in this case: cond"  # the unnamed regimen 'P' has no id to refer to
    assert set(errors) == {
        ("regimens[1].part_of", f"no regimen with id 'nope'; {known}"),
        ("hsct[0].conditioning[0]", f"no regimen with id 'condd'; {known}"),
        ("responses[0].regimen", f"no regimen with id 'ghost'; {known}"),
        ("adverse_events[0].treated_with[0]", f"no regimen with id 'abx'; {known}"),
        ("adverse_events[0].suspected_causes[0].regimen", f"no regimen with id 'ghost'; {known}"),
        ("adverse_events[0].suspected_causes[1].hsct", "no hsct with id 'auto'; ids given in this case: allo"),
    }


def test_secondary_cancer_related_to_unknown_diagnosis(map_errors) -> None:
    errors = map_errors(case_data(diagnoses=[{"id": "taml", "kind": "secondary", "condition": "AML",
                                              "related_to": "nb"}]))
    assert errors == [("diagnoses[0].related_to", "no diagnosis with id 'nb'; ids given in this case: taml")]


def test_suspected_drug_not_in_regimen(map_errors) -> None:
    data = case_data(regimens=[_regimen(drug="MTX", days="1")],
                     adverse_events=[{"term": "fever", "onset": "2021-01-05",
                                      "suspected_causes": [{"regimen": "r", "drug": "cytarabine"}]}])
    assert map_errors(data) == [("adverse_events[0].suspected_causes[0].drug",
                                 "'cytarabine' was not given in regimen 'r'")]


def test_every_error_of_a_case_is_reported_at_once(map_errors) -> None:
    data = case_data(regimens=[_regimen(drug="blinatumomb")],
                     mrd=[{"date": "D+30", "negative": True}],
                     diagnoses=[{"condition": "MM", "stages": [{"system": "iss", "value": "V"}]}])
    paths = {p for p, _ in map_errors(data)}
    assert paths == {"regimens[0].drugs[0].drug", "mrd[0].date", "diagnoses[0].stages[0].value"}


# ---- case file schema (load_case / parse_case) ---------------------------------------------

def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "case.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "patient:\n  sex: male\n  identifiers: [unclosed\n")
    with pytest.raises(CaseError) as info:
        load_case(p)
    (where, message), = info.value.issues
    assert where.startswith("line 4, column") or where.startswith("line 3, column")
    assert message.startswith("not valid YAML")
    assert str(p) in str(info.value)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(CaseError) as info:
        load_case(_write(tmp_path, "- just\n- a list\n"))
    assert info.value.issues == [("(root)", "expected a mapping with 'patient' and clinical sections")]


def test_unknown_field_names_its_path(tmp_path: Path) -> None:
    p = _write(tmp_path, "patient:\n  identifiers: [{system: s, value: v}]\n  sex: male\n"
                         "regimens:\n  - {name: R, category: salvage, start: 2021-01-04, drugz: []}\n")
    with pytest.raises(CaseError) as info:
        load_case(p)
    assert info.value.issues == [
        ("regimens[0].drugz", "unknown field (check the spelling; `fhir-onco schema` lists the fields)")]


def test_missing_required_field_names_its_path(tmp_path: Path) -> None:
    p = _write(tmp_path, "patient:\n  identifiers: [{system: s, value: v}]\n"
                         "adverse_events:\n  - {term: fever}\n")
    with pytest.raises(CaseError) as info:
        load_case(p)
    assert set(info.value.issues) == {("patient.sex", "required field is missing"),
                                      ("adverse_events[0].onset", "required field is missing")}


def test_value_constraints_name_their_paths() -> None:
    issues = dict(_schema_issues(case_data(
        mrd=[{"date": "2021-01-04", "value_percent": 120}, {"date": "2021-01-05"}],
        adverse_events=[{"term": "fever", "onset": "2021-01-04", "grade": 6,
                         "suspected_causes": [{"regimen": "a", "hsct": "b"}]}])))
    assert issues["mrd[0].value_percent"] == "Input should be less than or equal to 100"
    assert "give value_percent, or negative: true" in issues["mrd[1]"]
    assert issues["adverse_events[0].grade"] == "Input should be less than or equal to 5"
    cause = issues["adverse_events[0].suspected_causes[0]"]
    assert "name exactly one of regimen (optionally with drug) or hsct" in cause


def test_missing_file() -> None:
    with pytest.raises(CaseError) as info:
        load_case("/nonexistent/case.yaml")
    assert info.value.issues[0][0] == "(file)"
    assert info.value.issues[0][1].startswith("cannot read")


def test_mapping_error_message_lists_every_issue() -> None:
    from fhir_onco.mappings import MappingError

    with pytest.raises(MappingError) as info:
        map_case_to_bundle(parse_case(case_data(mrd=[{"date": "D+1", "negative": True}])), source="x.yaml")
    assert "x.yaml: mrd[0].date" in str(info.value)
    assert "relative to which HSCT?" in str(info.value)


@pytest.mark.parametrize("written", ["2021-02-30", "31.13.2021", "D+99999999", "day -3@blina", "1700-05-01",
                                     "15.05.1957x"])
def test_date_errors_never_quote_the_date_as_written(written: str) -> None:
    from fhir_onco.dates import DateError, parse_date

    with pytest.raises(DateError) as caught:
        parse_date(written)
    digits = "".join(ch for ch in written if ch.isdigit())
    assert written not in str(caught.value) and digits not in str(caught.value)


def test_shift_errors_never_quote_the_anchor_date() -> None:
    from fhir_onco.dates import DateError, PartialDate, shift

    with pytest.raises(DateError) as caught:
        shift(PartialDate(2021, None, None), 30)
    assert "2021" not in str(caught.value) and "2022" not in str(caught.value)
