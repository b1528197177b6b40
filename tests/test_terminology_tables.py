"""The terminology tables (mappings/terminology/*.csv) follow docs/terminology.md.

Checked here: every table parses; its header names the table, says what it holds and defines every
source tag its rows use; rows have 6 columns; systems are the documented URIs; own-system codes equal
their keys (source OWN, system of this table); no synonym names two keys; and every key the mapping
code asks for with ``ctx.fixed(table, key)`` exists, found by reading mappings/*.py.
"""

from __future__ import annotations

import ast
import csv
import io
import itertools
import re
import typing
from collections import defaultdict
from pathlib import Path

import pytest

from fhir_onco import case as case_model
from fhir_onco.terminology import OWN_SYSTEM_BASE, normalise, parse_table

ROOT = Path(__file__).resolve().parent.parent
TABLE_DIR = ROOT / "mappings" / "terminology"
TABLES = sorted(TABLE_DIR.glob("*.csv"))
COLUMNS = ["key", "system", "code", "display", "synonyms", "source"]
SOURCE_TAG = re.compile(r"^#\s*source\s+([A-Za-z0-9-]+)\s*:\s*(\S.*)$")
# docs/terminology.md "Code systems", plus the HL7 code systems FHIR and the CTCAE IG bind to.
DOCUMENTED = re.findall(r"\|\s*`((?:http|urn:oid:)[^`<]+)`\s*\|", (ROOT / "docs" / "terminology.md").read_text("utf-8"))
HL7_PREFIXES = ("http://terminology.hl7.org/CodeSystem/", "http://hl7.org/fhir/us/ctcae/CodeSystem/")


def _split(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    text = path.read_text("utf-8")
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    data = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return comments, list(csv.DictReader(io.StringIO("\n".join(data))))


def _own_systems(table: str) -> set[str]:
    return {OWN_SYSTEM_BASE + table, OWN_SYSTEM_BASE + table.replace("_", "-")}


def test_documented_systems_were_read() -> None:
    assert "http://snomed.info/sct" in DOCUMENTED and "http://unitsofmeasure.org" in DOCUMENTED


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_table_parses_with_six_columns(path: Path) -> None:
    table = parse_table(path.stem, path.read_text("utf-8"), str(path))
    assert table.concepts, f"{path.name} has no rows"
    text = path.read_text("utf-8")
    header = next(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    assert header.split(",") == COLUMNS
    _, rows = _split(path)
    for n, row in enumerate(rows, start=2):
        assert None not in row and all(row[c] is not None for c in COLUMNS), f"{path.name} row {n}: not 6 columns"
        for column in ("key", "system", "code", "display", "source"):
            assert row[column].strip(), f"{path.name} row {n} ({row['key']}): empty {column}"
        assert row["key"] == row["key"].strip().lower() or path.stem in ("units", "drugs"), \
            f"{path.name}: key {row['key']!r} is not lower case"


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_header_names_table_and_defines_every_source_tag(path: Path) -> None:
    comments, rows = _split(path)
    assert f"# table: {path.stem}" in comments, f"{path.name}: first comments must say '# table: {path.stem}'"
    assert any(c.startswith("# what:") for c in comments), f"{path.name}: no '# what:' line"
    defined = {m.group(1) for c in comments if (m := SOURCE_TAG.match(c))}
    used = {row["source"].strip() for row in rows}
    assert used <= defined, f"{path.name}: source tags used but not defined in the header: {sorted(used - defined)}"


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_systems_are_documented_and_own_codes_equal_keys(path: Path) -> None:
    _, rows = _split(path)
    for row in rows:
        system, code, key, source = row["system"], row["code"], row["key"], row["source"]
        where = f"{path.name}: {key}"
        if system.startswith(OWN_SYSTEM_BASE):
            assert system in _own_systems(path.stem), f"{where}: own system {system} is not this table's"
            assert code == key, f"{where}: own-system code {code!r} must equal the key"
            assert source == "OWN", f"{where}: own-system rows cite source OWN, not {source}"
        else:
            assert system in DOCUMENTED or system.startswith(HL7_PREFIXES), f"{where}: undocumented system {system}"
            assert source != "OWN", f"{where}: source OWN on a {system} code"


def test_units_are_ucum() -> None:
    _, rows = _split(TABLE_DIR / "units.csv")
    for row in rows:
        assert row["system"] == "http://unitsofmeasure.org" and row["code"], row["key"]


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_no_synonym_names_two_keys(path: Path) -> None:
    _, rows = _split(path)
    owners: dict[str, set[str]] = defaultdict(set)
    displays: dict[str, set[tuple[str, str, str]]] = defaultdict(set)  # name -> (key, system, code)
    for row in rows:
        key = row["key"]
        names = [key, row["display"], *(s for s in row["synonyms"].split("|") if s.strip())]
        for name in names:
            owners[normalise(name)].add(key)
        displays[normalise(row["display"])].add((key, row["system"], row["code"]))
    for name, keys in owners.items():
        if len(keys) < 2:
            continue
        # allowed: the name is only a shared display, and every key carries it with the same system+code
        shared = displays.get(name, set())
        codings = {(s, c) for _, s, c in shared}
        synonym_owners = {k for k in keys if k not in {kk for kk, _, _ in shared}}
        one_code_per_system = len({system for system, _ in codings}) == len(codings)
        assert not synonym_owners and one_code_per_system, \
            f"{path.name}: {name!r} names several keys: {sorted(keys)}"


def test_first_row_of_a_key_is_its_primary_coding() -> None:
    path = TABLE_DIR / "drugs.csv"
    table = parse_table("drugs", path.read_text("utf-8"), str(path))
    _, rows = _split(path)
    first = {}
    for row in rows:
        first.setdefault(row["key"], (row["system"], row["code"]))
    for key, concept in table.concepts.items():
        assert (concept.primary.system, concept.primary.code) == first[key]


# ---- keys the mapping code relies on ------------------------------------------------------

# Which case-model field a formatted value in a fixed(...) key stands for: "ae.grade" -> AdverseEvent.grade.
MODEL_OF = {"ae": case_model.AdverseEvent, "st": case_model.Stage, "f": case_model.Finding,
            "e": case_model.Engraftment, "c": case_model.Chimerism, "g": case_model.Gvhd,
            "gf": case_model.GraftFailure, "organ": case_model.GvhdOrgan, "dx": case_model.Diagnosis,
            "m": case_model.Metastasis, "pr": case_model.Procedure, "t": case_model.Tnm, "rg": case_model.RiskGroup}


def _field_values(expr: str) -> list[str]:
    var, _, attr = expr.partition(".")
    if var not in MODEL_OF:
        raise AssertionError(f"fixed(...) key uses {{{expr}}}: teach MODEL_OF in this test what it stands for")
    info = MODEL_OF[var].model_fields[attr]
    ann = info.annotation
    args = [ann] if typing.get_origin(ann) is typing.Literal else [a for a in typing.get_args(ann) if a is not None]
    args = [typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a for a in args]
    literal = [a for a in args if typing.get_origin(a) is typing.Literal]
    if literal:
        return [str(v) for v in typing.get_args(literal[0])]
    ge = next(m.ge for m in info.metadata if hasattr(m, "ge"))
    le = next(m.le for m in info.metadata if hasattr(m, "le"))
    return [str(v) for v in range(ge, le + 1)]


class _Keys:
    """All string values a key expression can take, read from the source (constants, f-strings over
    case-model fields, conditionals, local names and function parameters)."""

    def __init__(self, modules: dict[str, ast.Module]):
        self.modules = modules
        self.functions = {node.name: node for tree in modules.values() for node in ast.walk(tree)
                          if isinstance(node, ast.FunctionDef)}

    def values(self, node: ast.expr, func: ast.FunctionDef, restrict: dict[str, set[str]] | None = None) -> set[str]:
        restrict = restrict or {}
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            body, orelse = dict(restrict), dict(restrict)
            test = node.test
            if (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.In)
                    and isinstance(test.comparators[0], ast.Tuple)):
                subject = ast.unparse(test.left)
                listed = {ast.literal_eval(e) for e in test.comparators[0].elts}
                domain = set(_field_values(subject)) if "." in subject else listed
                body[subject], orelse[subject] = domain & listed, domain - listed
            return self.values(node.body, func, body) | self.values(node.orelse, func, orelse)
        if isinstance(node, ast.JoinedStr):
            parts: list[set[str]] = []
            for piece in node.values:
                if isinstance(piece, ast.Constant):
                    parts.append({str(piece.value)})
                else:
                    assert isinstance(piece, ast.FormattedValue)
                    expr = ast.unparse(piece.value)
                    parts.append(restrict.get(expr, set(_field_values(expr))))
            return {"".join(p) for p in itertools.product(*parts)}
        if isinstance(node, ast.Name):
            return self._name(node.id, func, restrict)
        if isinstance(node, ast.Attribute):  # a case-model field passed as the key itself
            expr = ast.unparse(node)
            return restrict.get(expr, set(_field_values(expr)))
        raise AssertionError(f"cannot enumerate fixed(...) key {ast.unparse(node)!r} in {func.name}()")

    def _name(self, name: str, func: ast.FunctionDef, restrict: dict[str, set[str]]) -> set[str]:
        assigned = [n.value for n in ast.walk(func) if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name) and t.id == name]
        if assigned:
            return set().union(*(self.values(v, func, restrict) for v in assigned))
        params = [a.arg for a in func.args.args]
        assert name in params, f"{name!r} in {func.name}() is neither assigned nor a parameter"
        index = params.index(name)
        out: set[str] = set()
        for caller in self.functions.values():
            for call in ast.walk(caller):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == func.name:
                    arg = call.args[index] if index < len(call.args) else next(
                        k.value for k in call.keywords if k.arg == name)
                    out |= self.values(arg, caller)
        assert out, f"no call of {func.name}() passes {name!r}"
        return out


def _fixed_keys() -> dict[tuple[str, str], list[str]]:
    modules = {p.name: ast.parse(p.read_text("utf-8")) for p in sorted((ROOT / "mappings").glob("*.py"))}
    keys = _Keys(modules)
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, tree in modules.items():
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            for call in ast.walk(func):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "fixed" and len(call.args) == 2):
                    table = ast.literal_eval(call.args[0])
                    for key in keys.values(call.args[1], func):
                        found[(table, key)].append(f"{name}:{call.lineno}")
    return found


def test_fixed_keys_are_found_in_the_source() -> None:
    found = _fixed_keys()
    # a few the code certainly uses; if these vanish, the reader above lost track of the source
    for expected in [("units", "%"), ("observation_codes", "mrd"), ("ctcae_grades", "grade-5"),
                     ("observation_codes", "stage-durie-salmon"), ("observation_codes", "engraftment-platelet"),
                     ("hsct", "chimerism-mixed"), ("procedures", "autologous-hsct"),
                     ("findings", "kind-not-detected"), ("normalization_basis", "body-weight")]:
        assert expected in found, expected
    assert ("observation_codes", "stage-all-risk") not in found  # excluded by the `in (...)` condition


def test_every_fixed_key_exists() -> None:
    tables = {p.stem: parse_table(p.stem, p.read_text("utf-8"), str(p)) for p in TABLES}
    missing = [f"{table}:{key} (used at {', '.join(where)})" for (table, key), where in sorted(_fixed_keys().items())
               if table not in tables or tables[table].find(key) is None]
    assert not missing, "keys the mapping code relies on are missing from the tables:\n" + "\n".join(missing)


# ---- citations, one meaning per code, scripts (issue 8) ------------------------------------

SHARED = re.compile(r"^#\s*shared:\s*(\S+)\|(\S+):\s*\S")
CITATION = re.compile(r"https?://|github\.com/|\bpackage\b", re.I)
CYRILLIC, LATIN = re.compile(r"[а-яё]", re.I), re.compile(r"[a-z]", re.I)


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_every_standard_code_cites_a_source(path: Path) -> None:
    comments, rows = _split(path)
    definitions: dict[str, str] = {}
    for n, line in enumerate(comments):
        if m := SOURCE_TAG.match(line):
            # a definition may continue on the following indented comment lines
            tail = itertools.takewhile(lambda c: c.startswith("#   "), comments[n + 1:])
            definitions[m.group(1)] = " ".join([m.group(2), *tail])
    for row in rows:
        if row["source"] == "OWN":
            continue
        text = definitions.get(row["source"], "")
        assert CITATION.search(text), \
            f"{path.name}: {row['key']} {row['code']}: source {row['source']} cites nothing checkable"


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_no_code_under_two_meanings(path: Path) -> None:
    comments, rows = _split(path)
    declared = {(m.group(1), m.group(2)) for c in comments if (m := SHARED.match(c))}
    keys: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        keys[(row["system"], row["code"])].add(row["key"])
    shared = {coding: ks for coding, ks in keys.items() if len(ks) > 1}
    undeclared = {f"{s}|{c}": sorted(ks) for (s, c), ks in shared.items() if (s, c) not in declared}
    assert not undeclared, f"{path.name}: codes under several keys without a '# shared:' reason: {undeclared}"
    assert declared <= set(shared), \
        f"{path.name}: '# shared:' lines for codes that are not shared: {declared - set(shared)}"


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_russian_words_are_cyrillic_only(path: Path) -> None:
    _, rows = _split(path)
    for row in rows:
        for name in (s for s in row["synonyms"].split("|") if s.strip()):
            for word in re.split(r"[\s\-/()+,.«»]+", name):
                assert not (CYRILLIC.search(word) and LATIN.search(word)), \
                    f"{path.name}: {row['key']}: {name!r} mixes Cyrillic and Latin letters in {word!r}"


def test_mixed_alphabet_words_are_caught() -> None:
    word = "ВCP"  # Cyrillic В + Latin C, P: what the review found
    assert CYRILLIC.search(word) and LATIN.search(word)


TERMS = {p.stem: parse_table(p.stem, p.read_text("utf-8"), str(p)) for p in TABLES}


@pytest.mark.parametrize(("table", "term", "means", "not_means"), [
    ("drugs", "митоксантон", "mitoxantrone", "methotrexate"),
    ("drugs", "mitoxantron", "mitoxantrone", "methotrexate"),
    ("drugs", "вориконазолл", "voriconazole", "posaconazole"),
    ("drugs", "venetoklaks", "venetoclax", None),
    ("ctcae_terms", "миелотоксичность", "bone marrow hypocellular", "nervous system disorders - other"),
    ("ctcae_terms", "нейтропения фебрильная", "febrile neutropenia", None),
    ("drugs", "флюдарабин", "fludarabine", None),  # a typo after the stem still matches
    ("ctcae_terms", "мукозит 3 ст", "mucositis oral", None),  # grades are not compared
    ("ctcae_terms", "пневмония двусторонняя", "lung infection", None),  # the known name inside a longer term
    ("ctcae_terms", "CRS 2", "cytokine release syndrome", None),
])
def test_suggestions_are_close_in_meaning(table: str, term: str, means: str, not_means: str | None) -> None:
    tab = TERMS[table]
    assert tab.lookup(term) is None, f"{term!r} is a known name now; pick another unknown spelling"
    suggested = [tab.lookup(name).key for name in tab.suggest(term)]
    assert suggested and suggested[0] == means, (term, suggested)
    assert not_means not in suggested


def test_required_names_resolve() -> None:
    drugs = TERMS["drugs"]
    for name, key in [("митоксантрон", "mitoxantrone"), ("азацитидин", "azacitidine"), ("5-азацитидин", "azacitidine"),
                      ("венетоклакс", "venetoclax"), ("руксолитиниб", "ruxolitinib"), ("вориконазол", "voriconazole"),
                      ("13-цис-ретиноевая кислота", "isotretinoin"), ("анти-GD2 антитела", "dinutuximab beta"),
                      ("atgam", "anti-thymocyte globulin (horse)")]:
        concept = drugs.lookup(name)
        assert concept is not None and concept.key == key, (name, concept)
    atc = {c.code for c in drugs.concepts.values() for c in c.codings if c.system == "http://www.whocc.no/atc"}
    assert {"L01XA01", "L01CA02", "L02BG03", "L03AA02", "L04AA03", "J02AC04", "B01AX01", "A05AA02"} <= atc
    assert drugs.get("blinatumomab").primary.code == "1597258"
    ncit = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
    assert len({c.code for k in TERMS["ctcae_terms"].concepts.values() for c in k.codings if c.system == ncit}) == 837


def test_reverse_lookup_finds_the_first_key_of_a_coding() -> None:
    responses = TERMS["responses"]
    shared = next(c for c in responses.get("pr").codings if c.system == "http://snomed.info/sct")
    first = next(k for k, c in responses.concepts.items() if shared in c.codings)
    assert responses.key_for(shared.system, shared.code).key == first
    assert TERMS["drugs"].key_for("http://www.whocc.no/atc", "L01BA01").key == "methotrexate"
    assert TERMS["drugs"].key_for("http://www.whocc.no/atc", "L04AX03") is None  # one ATC code per substance
    assert {c.key for c in TERMS["drugs"].with_code("L01BA01")} == {"methotrexate"}
    ctcae, ncit = TERMS["ctcae_terms"], "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
    assert ctcae.concept_of([(ncit, "C143580")], "острая РТПХ").key == "graft versus host disease"
    assert ctcae.concept_of([(ncit, "C143580")], "eosinophilic something").key == "immune system disorders - other"


def test_every_antineoplastic_drug_falls_in_a_coded_class() -> None:
    classes = {c.code for concept in TERMS["drug_classes"].concepts.values() for c in concept.codings}
    for concept in TERMS["drugs"].concepts.values():
        for coding in concept.codings:
            if coding.system == "http://www.whocc.no/atc" and coding.code[:3] in ("L01", "L02", "L03", "L04"):
                assert any(coding.code.startswith(c) for c in classes), (concept.key, coding.code)
    assert TERMS["drug_classes"].lookup("vinca alkaloids").primary.code == "L01CA"
    assert TERMS["drug_classes"].lookup("препараты платины").primary.code == "L01XA"


def test_a_russian_record_of_new_drugs_and_terms_maps_and_validates() -> None:
    """End to end: drugs and CTCAE terms only the larger tables know, written in Russian."""
    from fhir_onco.case import parse_case
    from fhir_onco.pipeline import map_and_validate

    case = parse_case({
        "patient": {"identifiers": [{"system": "urn:test", "value": "ru-1"}], "sex": "male", "birth_date": "1960"},
        "diagnoses": [{"id": "dx", "condition": "ОМЛ", "onset": "2023-01-10"}],
        "regimens": [{"id": "aza-ven", "name": "Aza-Ven", "category": "induction", "start": "2023-01-20",
                      "drugs": [{"drug": "5-азацитидин", "dose": 75, "unit": "mg/m2", "route": "п/к", "days": "1-7"},
                                {"drug": "венетоклакс", "dose": 400, "unit": "mg", "route": "внутрь", "days": "1-28"},
                                {"drug": "позаконазол", "dose": 300, "unit": "mg", "route": "внутрь", "days": "1"}]}],
        "adverse_events": [{"term": "гипокалиемия", "grade": 3, "onset": "2023-01-25",
                            "suspected_causes": [{"regimen": "aza-ven", "drug": "венетоклакс"}]}],
    }, source="ru-1.yaml")
    result = map_and_validate(case, "ru-1.yaml", profiles=True)
    assert result.ok, result.report.to_text()
    resources = [e["resource"] for e in result.bundle["entry"]]
    drugs = {c["code"] for r in resources if r["resourceType"] == "MedicationAdministration"
             for c in r["medicationCodeableConcept"]["coding"]}
    assert {"L01BC07", "1251", "L01XX52", "1747556", "J02AC04"} <= drugs  # ATC + RxNorm where cited
    event = next(r for r in resources if r["resourceType"] == "AdverseEvent")["event"]
    assert {(c["system"], c["code"]) for c in event["coding"]} == {
        ("http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "C143569"),
        ("http://terminology.hl7.org/CodeSystem/MDRAE", "10021018")}
