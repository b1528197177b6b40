"""Registry CSV layout: the example extract, dialects, located cell errors, streaming."""

from __future__ import annotations

import re
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_onco.case import load_case
from fhir_onco.dates import PartialDate, parse_date
from fhir_onco.tabular import RegistryReader, TabularError, map_tables
from fhir_onco.tabular import dialect as d
from fhir_onco.validation.report import Report

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "examples" / "registry"
SEED000 = ROOT / "examples" / "seed000-b-all.yaml"


def _iso_dates(value: Any) -> Any:
    """Case data with absolute dates in ISO form (tables normalise 15.12.2021 to 2021-12-15)."""
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_dates(v) for v in value]
    if isinstance(value, str):
        try:
            parsed = parse_date(value)
        except ValueError:
            return value
        return parsed.iso() if isinstance(parsed, PartialDate) else value
    return value


def _write(directory: Path, name: str, text: str, encoding: str = "utf-8") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(text.lstrip("\n").encode(encoding))


def test_example_extract_maps_every_patient() -> None:
    file_report = Report()
    results = list(map_tables(REGISTRY, file_report=file_report))
    assert [r.ok for r in results] == [True, True, True], [r.report.to_text() for r in results]
    assert file_report.to_text() == ""


def test_seed000_as_tables_is_the_seed000_case() -> None:
    """Every domain of the seed-000 case arrives through the tables (incl. the cp1251 ';' files)."""
    with RegistryReader(REGISTRY) as reader:
        patient = next(iter(reader))
    assert patient.case is not None, patient.report.to_text()
    from_tables = patient.case.model_dump(mode="json", exclude_defaults=True)
    from_yaml = load_case(SEED000).model_dump(mode="json", exclude_defaults=True)
    for ae in from_tables["adverse_events"]:  # ae_causes.csv rows need an ae_id to name; the YAML nests them
        del ae["id"]
    assert _iso_dates(from_tables) == _iso_dates(from_yaml)


def test_example_dialects_are_sniffed() -> None:
    assert d.sniff(REGISTRY / "drugs.csv") == d.Dialect("cp1251", ";")
    assert d.sniff(REGISTRY / "patients.csv") == d.Dialect("utf-8-sig", ",")
    assert d.sniff(REGISTRY / "diagnoses.csv") == d.Dialect("utf-8", ",")


def test_cell_parsers() -> None:
    assert d.number("0,06") == 0.06
    assert d.number("10 000") == 10000
    assert d.number("1e-4") == 0.0001
    assert d.number("0,06%", percent=True) == 0.06
    assert d.number("NULL") is None and d.number("") is None and d.number(" n/a ") is None
    assert d.date("15.12.2021") == "2021-12-15"
    assert d.date("15.12.2021 00:00:00") == "2021-12-15"
    assert d.date("2021-12-15T10:30:00Z") == "2021-12-15"
    assert d.date("12.2021") == "2021-12"
    assert d.date("D+21") == "D+21"
    assert d.date("12/2/19", us=True) == "2019-12-02"
    assert d.boolean("да") is True and d.boolean("нет") is False
    assert d.sex("Ж") == "female" and d.sex("муж") == "male"
    assert d.items("bone marrow| CNS |") == ["bone marrow", "CNS"]
    for bad in ("1.2.3", "abc", "0,06,1"):
        with pytest.raises(d.CellError, match="expected a number"):
            d.number(bad)
    with pytest.raises(d.CellError, match="expected a date"):
        d.date("31.02.2021")
    with pytest.raises(d.CellError, match="expected a whole number"):
        d.integer("2,5")


PATIENTS = """
patient_id;sex;birth_date
A1;male;01.02.1960
B2;ж;1955
C3;female;2001-13-01
"""


def _bad_extract(tmp_path: Path) -> Path:
    """Three patients in a cp1251 ';' extract; B2 is clean, A1 and C3 have bad cells."""
    root = tmp_path / "bad"
    _write(root, "patients.csv", PATIENTS, "cp1251")
    _write(root, "diagnoses.csv", "patient_id;condition;onset\nA1;ММ;2019\nB2;ММ;03.2019\nC3;ММ;2019\n", "cp1251")
    _write(root, "regimens.csv", "patient_id;regimen_id;name;category;start;end\n"
           "B2;isapd;IsaPd;salvage;01.03.2022;28.03.2022\n"
           "A1;isapd;IsaPd;salvage;32.03.2022;\n", "cp1251")
    _write(root, "drugs.csv", "patient_id;regimen_id;drug;dose;unit;route;days\n"
           "B2;isapd;помалидомид;4;мг;PO;1-21\n"
           "A1;isapd;помалидомид;четыре;мг;PO;1-21\n", "cp1251")
    return root


def test_bad_cells_are_located_and_other_patients_go_through(tmp_path: Path) -> None:
    results = {r.source.rsplit(":", 1)[1]: r for r in map_tables(_bad_extract(tmp_path))}
    assert results["3"].ok  # B2, patients.csv row 3
    a1 = results["2"].report.to_text()
    assert not results["2"].ok
    assert "regimens.csv:3:start: expected a date" in a1
    assert "drugs.csv:3:dose: expected a number" in a1
    c3 = results["4"].report.to_text()
    assert "patients.csv:4:birth_date: expected a date" in c3
    # messages never repeat the cell contents
    assert "четыре" not in a1 and "2001-13-01" not in c3


def test_schema_and_mapping_errors_point_at_file_row_column(tmp_path: Path) -> None:
    root = tmp_path / "x"
    _write(root, "patients.csv", "patient_id,sex\nP1,female\nP2,male\n")
    _write(root, "adverse_events.csv", "patient_id,term,grade,onset\nP1,neutropenia,7,2022-01-01\n"
           "P2,neutropenia,3,2022-01-01\n")
    _write(root, "regimens.csv", "patient_id,name,category,start\nP2,X,salvage,2022-01-01\n")
    _write(root, "drugs.csv", "patient_id,drug\nP2,unobtainium\n")
    results = list(map_tables(root))
    p1, p2 = (r.report.to_text() for r in results)
    assert "adverse_events.csv:2:grade: Input should be less than or equal to 5" in p1
    assert "drugs.csv:2:drug: unknown drugs term" in p2


def test_orphans_duplicates_and_any_row_order(tmp_path: Path) -> None:
    root = tmp_path / "x"
    _write(root, "patients.csv", "patient_id,sex\nP2,female\nP10,male\nP1,male\nP1,female\n")
    # child rows in another order than patients.csv, one for a patient that is not listed
    _write(root, "diagnoses.csv", "patient_id,condition\nP1,MM\nP10,MM\nZZ,MM\nP2,MM\n")
    file_report = Report()
    results = list(map_tables(root, file_report=file_report))
    assert [r.source for r in results] == [f"{root}/patients.csv:{n}" for n in (2, 3, 4)]
    assert results[0].ok and results[1].ok
    assert "patients.csv:5:patient_id: patient id repeats row 4" in results[2].report.to_text()
    assert f"{root}/diagnoses.csv:4:patient_id: expected a patient listed in" in file_report.to_text()


def test_missing_patient_list_or_key_column_stops_early(tmp_path: Path) -> None:
    with pytest.raises(TabularError, match=re.escape("expected patients.csv")):
        list(map_tables(tmp_path))
    _write(tmp_path, "patients.csv", "id,sex\n1,male\n")
    with pytest.raises(TabularError, match=re.escape("patients.csv:1:patient_id: expected a column 'patient_id'")):
        list(map_tables(tmp_path))


def test_separator_inside_unquoted_cell_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, "patients.csv", "patient_id,sex,note\nP1,male,a, b\nP2,female,\n")
    r1, r2 = map_tables(tmp_path)
    assert "patients.csv:2: 1 cell(s) beyond the header's columns" in r1.report.to_text()
    assert r2.ok


def _big_extract(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "patients.csv").open("w", encoding="utf-8") as fh:
        fh.write("patient_id,sex,birth_date\n")
        for i in range(n):
            fh.write(f"P{i},{'male' if i % 2 else 'female'},1960-01-01\n")
    with (root / "adverse_events.csv").open("w", encoding="utf-8") as fh:
        fh.write("patient_id,term,grade,onset\n")
        for i in reversed(range(n)):  # the other order: no sort is assumed
            fh.write(f"P{i},neutropenia,3,2022-01-01\nP{i},anemia,2,2022-02-01\n")


def _peak_reading(root: Path) -> tuple[int, int]:
    tracemalloc.start()
    count = 0
    with RegistryReader(root) as reader:
        for patient in reader:
            assert patient.case is not None and len(patient.case.adverse_events) == 2
            count += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return count, peak


def test_memory_does_not_grow_with_the_number_of_patients(tmp_path: Path) -> None:
    _big_extract(tmp_path / "small", 200)
    _big_extract(tmp_path / "large", 1500)
    n_small, peak_small = _peak_reading(tmp_path / "small")
    n_large, peak_large = _peak_reading(tmp_path / "large")
    assert (n_small, n_large) == (200, 1500)
    assert peak_large < 1.5 * peak_small + 256 * 1024, (peak_small, peak_large)


def test_cli_map_tables_writes_bundles_and_cases(tmp_path: Path) -> None:
    from fhir_onco.cli.app import app

    runner = CliRunner()
    result = runner.invoke(app, ["map-tables", str(REGISTRY), "-o", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "b").glob("Patient-*.json"))) == 3
    result = runner.invoke(app, ["map-tables", str(REGISTRY), "-o", str(tmp_path / "c"), "-f", "cases"])
    assert result.exit_code == 0, result.output
    assert load_case(tmp_path / "c" / "patient-000002.yaml").regimens[1].name == "IsaPd"


def test_cli_exit_1_and_located_errors(tmp_path: Path) -> None:
    from fhir_onco.cli.app import app

    root = _bad_extract(tmp_path)
    shutil.copy(root / "patients.csv", root / "extra.csv")
    result = CliRunner().invoke(app, ["map-tables", str(root), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "drugs.csv:3:dose: expected a number" in result.output
    assert "1 patients (" in result.output and "2 patient(s) failed" in result.output


def test_docs_list_every_column_of_both_layouts() -> None:
    from fhir_onco.tabular.mcode import TABLES as MCODE
    from fhir_onco.tabular.registry import TABLES

    docs = (ROOT / "docs" / "registry.md").read_text(encoding="utf-8")
    for table in TABLES:
        section = docs.split(f"### `{table.files[0]}.csv`", 1)[1].split("\n### ", 1)[0]
        assert all(f"| `{c.name}` |" in section for c in table.columns), table.name
    mcode = docs.split("## mCODE Extraction Framework layout", 1)[1]
    assert all(f"`{c.name}`" in mcode for t in MCODE for c in t.columns)



def test_paraprotein_and_prior_lines_columns_reach_the_case(tmp_path: Path) -> None:
    with RegistryReader(REGISTRY) as reader:
        cases = [p.case for p in reader]
    assert [c.diagnoses[0].paraprotein if c else None for c in cases] == [None, "IgG", "Bence-Jones"]
    bad = tmp_path / "x"
    shutil.copytree(REGISTRY, bad)
    text = (bad / "diagnoses.csv").read_text(encoding="utf-8-sig").replace("active,IgG,,", "active,IgG,two,")
    (bad / "diagnoses.csv").write_text(text, encoding="utf-8")
    results = list(map_tables(bad, validate=False))
    assert results[1].bundle is None
    assert any("diagnoses.csv:3:prior_lines" in i.location for i in results[1].report.errors), \
        results[1].report.to_text()


def _issue8_extract(root: Path) -> Path:
    """A neuroblastoma -> auto HSCT -> t-MDS -> t-AML -> haplo HSCT patient written only with the tables
    added for issue 8's facts (procedures, metastases, risk groups, TNM, labs, GVHD, graft failure,
    follow-up, AE grade ranges)."""
    _write(root, "patients.csv",
           "patient_id,sex,birth_date,last_contact,vital_status\nP1,female,2012-03,2024-05,alive\n")
    _write(root, "diagnoses.csv",
           "patient_id,diagnosis_id,kind,condition,morphology,onset,body_sites,laterality,verification,grade,"
           "related_to,therapy_related\n"
           "P1,nb,primary,нейробластома,neuroblastoma NOS,2014-02,надпочечник,left,confirmed,poorly differentiated,,\n"
           "P1,mds,secondary,МДС,,2019,,,provisional,,nb,yes\n"
           "P1,aml,secondary,вторичный ОМЛ,AML M5,2020-01,,,,,mds|nb,yes\n")
    _write(root, "risk_groups.csv", "patient_id,diagnosis_id,system,value,date\nP1,nb,inrg-risk,high,2014-02\n")
    _write(root, "tnm.csv",
           "patient_id,diagnosis_id,type,t,n,m,stage_group,edition\nP1,nb,clinical,cT2,cN1,cM1,IV,AJCC 8\n")
    _write(root, "metastases.csv",
           "patient_id,diagnosis_id,site,date\nP1,nb,костный мозг,2014-02\nP1,nb,кости,2014-02\n")
    _write(root, "procedures.csv", "patient_id,procedure,date,body_site,laterality,intent,outcome,diagnosis_id\n"
           "P1,резекция,2014-07,надпочечник,left,curative,R0,nb\n")
    _write(root, "regimens.csv", "patient_id,name,category,start,drug_classes,diagnosis_id\n"
           "P1,N7,induction,2014-03,vinca alkaloids|platinum compounds,nb\n")
    _write(root, "labs.csv", "patient_id,test,date,value,unit,diagnosis_id\nP1,BM blasts,2020-01,34,%,aml\n")
    _write(root, "hsct.csv", "patient_id,hsct_id,type,date,donor_relation,donor_match,graft_failure,graft_failure_date,"
           "diagnosis_id\nP1,auto,auto,2014,,,,,nb\nP1,haplo,allo,2020-04-10,мать,гаплоидентичный,secondary,D+60,aml\n")
    _write(root, "gvhd.csv", "patient_id,hsct_id,kind,onset,criteria,grade,organs,severity\n"
           "P1,haplo,acute,D+25,MAGIC,II,skin:3|lower-gi:1,\n"
           "P1,haplo,chronic,D+150@haplo,NIH 2014,,mouth:1,mild\n")
    _write(root, "relapses.csv",
           "patient_id,diagnosis_id,number,date,sites,hla_loss\nP1,aml,1,2021-02,костный мозг,yes\n")
    _write(root, "adverse_events.csv", "patient_id,term,grade_range,onset,recorded,expected\n"
           "P1,мукозит полости рта,I-II,D+5@haplo,2020-04-20,yes\n")
    return root


def test_issue8_facts_have_columns_and_reach_the_case(tmp_path: Path) -> None:
    root = _issue8_extract(tmp_path / "x")
    with RegistryReader(root) as reader:
        (patient,) = list(reader)
    assert patient.report.ok, patient.report.to_text()
    case = patient.case
    nb, mds, aml = case.diagnoses
    assert (case.patient.last_contact, case.patient.vital_status) == ("2024-05", "alive")
    assert (nb.laterality, nb.verification, nb.grade) == ("left", "confirmed", "poorly differentiated")
    assert (mds.verification, mds.related_to, aml.related_to) == ("provisional", "nb", ["mds", "nb"])
    assert [m.site for m in nb.metastases] == ["костный мозг", "кости"]
    assert [(r.system, r.value) for r in nb.risk_groups] == [("inrg-risk", "high")]
    assert (nb.tnm[0].t, nb.tnm[0].stage_group, nb.tnm[0].edition) == ("cT2", "IV", "AJCC 8")
    assert (case.procedures[0].outcome, case.procedures[0].diagnosis) == ("R0", "nb")
    assert (case.labs[0].test, case.labs[0].value) == ("BM blasts", 34)
    haplo = case.hsct[1]
    assert (haplo.graft_failure.kind, haplo.graft_failure.date) == ("secondary", "D+60")
    acute, chronic = haplo.gvhd
    assert (acute.grade, [(o.organ, o.stage) for o in acute.organs]) == (2, [("skin", 3), ("lower-gi", 1)])
    assert (chronic.severity, chronic.criteria) == ("mild", "NIH 2014")
    assert aml.relapses[0].hla_loss is True
    assert case.regimens[0].drug_classes == ["vinca alkaloids", "platinum compounds"]
    ae = case.adverse_events[0]
    assert (ae.grade, ae.grade_range, ae.recorded, ae.expected) == (None, "I-II", "2020-04-20", True)
    (result,) = list(map_tables(root))
    assert result.ok, result.report.to_text()


def test_issue8_columns_report_bad_cells_at_file_row_column(tmp_path: Path) -> None:
    root = _issue8_extract(tmp_path / "x")
    _write(root, "gvhd.csv", "patient_id,hsct_id,kind,onset,organs\nP1,haplo,acute,D+25,skin3\n")
    _write(root, "metastases.csv", "patient_id,diagnosis_id,site\nP1,nb,\n")
    _write(root, "patients.csv", "patient_id,sex,last_contact,vital_status\nP1,female,2024-13-01,maybe\n")
    (result,) = list(map_tables(root))
    text = result.report.to_text()
    assert not result.ok
    assert "gvhd.csv:2:organs: expected organ:stage pairs such as skin:3|liver:1" in text
    assert "metastases.csv:2:site: expected a metastatic site" in text
    assert "patients.csv:2:last_contact: expected a date" in text
    # a cell that parses but breaks the case model is traced back to its cell too
    root = _issue8_extract(tmp_path / "y")
    _write(root, "patients.csv", "patient_id,sex,vital_status\nP1,female,maybe\n")
    (result,) = list(map_tables(root))
    assert "patients.csv:2:vital_status: Input should be 'alive', 'dead' or 'unknown'" in result.report.to_text()
