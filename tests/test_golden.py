"""Golden files: every example maps to exactly the bytes checked in under examples/golden/.

A failure here means the FHIR output changed. If the change is intended, regenerate with
``python scripts/update_golden.py`` and review the diff of examples/golden/ before committing.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from fhir_onco import load_case
from fhir_onco.case import Case
from fhir_onco.fhir.builders import dumps
from fhir_onco.mappings import map_case_to_bundle
from fhir_onco.validation import validate_bundle

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = ROOT / "examples" / "golden"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
HINT = "run `python scripts/update_golden.py` if the change is intended, then review the diff"


def _bytes(case: Case) -> str:
    bundle, _ = map_case_to_bundle(case, source="golden-test")
    return dumps(bundle)


def _ids(case: Case) -> list[str]:
    bundle, _ = map_case_to_bundle(case)
    return [e["resource"]["id"] for e in bundle["entry"]]


def _first_difference(expected: str, actual: str) -> str:
    exp, act = expected.splitlines(), actual.splitlines()
    for n, (a, b) in enumerate(zip(exp, act, strict=False), start=1):
        if a != b:
            return f"first difference at line {n}:\n  golden: {a.strip()}\n  mapped: {b.strip()}"
    return f"golden has {len(exp)} lines, mapping gives {len(act)}"


def test_there_are_examples_for_every_seed() -> None:
    stems = {p.stem for p in EXAMPLES}
    assert "seed000-b-all" in stems
    assert {"seed002-neurotoxicity", "seed002-fever"} <= stems
    assert len([s for s in stems if s.startswith("seed004-")]) >= 3
    assert "beyond-seeds-t-aml" in stems


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_matches_golden_bytes(example: Path) -> None:
    golden = GOLDEN / f"{example.stem}.json"
    assert golden.exists(), f"no golden file {golden.relative_to(ROOT)}; {HINT}"
    expected = golden.read_bytes().decode("utf-8")
    actual = _bytes(load_case(example))
    if actual != expected:
        pytest.fail(f"{example.name}: output differs from {golden.relative_to(ROOT)}; "
                    f"{_first_difference(expected, actual)}\n{HINT}", pytrace=False)


def test_no_orphan_golden_files() -> None:
    orphans = sorted(p.name for p in GOLDEN.glob("*.json") if not (ROOT / "examples" / f"{p.stem}.yaml").exists())
    assert not orphans, f"golden files without an example: {orphans}; {HINT}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_mapping_is_deterministic(example: Path) -> None:
    first = _bytes(load_case(example))
    second = _bytes(load_case(example))  # a fresh parse, a fresh context
    assert first == second


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_ids_are_uuids_and_entries_put_at_them(example: Path) -> None:
    bundle, _ = map_case_to_bundle(load_case(example))
    assert UUID.match(bundle["id"]), bundle["id"]
    ids = []
    for entry in bundle["entry"]:
        res = entry["resource"]
        rid = res["id"]
        assert UUID.match(rid), f"{res['resourceType']} id {rid!r} is not a UUIDv5"
        assert not rid.replace("-", "").isdigit()
        assert entry["fullUrl"] == f"urn:uuid:{rid}"
        assert entry["request"] == {"method": "PUT", "url": f"{res['resourceType']}/{rid}"}
        ids.append(rid)
    assert len(ids) == len(set(ids)), "duplicate resource ids"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_maps_and_validates_without_errors(example: Path) -> None:
    bundle, report = map_case_to_bundle(load_case(example), source=example.name)
    report.extend(validate_bundle(bundle, example.name))
    errors = [i.to_text() for i in report if i.severity in ("error", "fatal")]
    assert not errors, "\n".join(errors)


@pytest.fixture(scope="module")
def seed000() -> Case:
    return load_case(ROOT / "examples" / "seed000-b-all.yaml")


def test_editing_notes_keeps_every_id(seed000: Case) -> None:
    edited = seed000.model_copy(deep=True)
    edited.note = "edited"
    edited.diagnoses[0].note = "edited diagnosis note"
    edited.regimens[4].drugs[3].note = "edited drug note"
    edited.adverse_events[2].note = "edited AE note"
    edited.mrd[0].note = "edited MRD note"
    assert _ids(edited) == _ids(seed000)
    assert _bytes(edited) != _bytes(seed000)  # the edit did reach the output


def test_editing_values_keeps_ids_of_keyed_items(seed000: Case) -> None:
    edited = seed000.model_copy(deep=True)
    edited.regimens[4].drugs[0].dose = 120  # FLAI fludarabine dose
    edited.adverse_events[0].grade = 3
    assert _ids(edited) == _ids(seed000)


def test_adding_an_item_keeps_existing_ids(seed000: Case) -> None:
    edited = seed000.model_copy(deep=True)
    extra = copy.deepcopy(edited.adverse_events[0])
    extra.term, extra.onset = "fever", "2021-12-20"
    edited.adverse_events.insert(0, extra)
    before, after = _ids(seed000), _ids(edited)
    assert set(before) <= set(after)
    assert len(after) == len(before) + 1


def test_patient_identifier_changes_every_id(seed000: Case) -> None:
    edited = seed000.model_copy(deep=True)
    edited.patient.identifiers[0].value = "patient-2"
    before, after = _ids(seed000), _ids(edited)
    assert len(after) == len(before)
    assert not set(before) & set(after)


def test_only_the_first_identifier_is_the_business_key(seed000: Case) -> None:
    edited = seed000.model_copy(deep=True)
    edited.patient.identifiers.append(type(edited.patient.identifiers[0])(system="urn:x", value="second"))
    assert _ids(edited) == _ids(seed000)
