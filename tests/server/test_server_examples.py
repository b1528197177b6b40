"""The project's own examples, mapped by fhir_onco.map_case, through a real server and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_onco.server.canonical import canonical
from fhir_onco.server.client import FhirClient
from fhir_onco.server.inputs import PatientBundle, from_bundle, load_input
from fhir_onco.server.pull import pull_patient
from fhir_onco.server.push import fetch_current, push

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CASES = sorted(EXAMPLES.glob("*.yaml"))
GOLDEN = sorted((EXAMPLES / "golden").glob("*.json"))


def _load(path: Path) -> PatientBundle:
    if path.suffix == ".json":
        return from_bundle(json.loads(path.read_text()), str(path))
    return load_input(path)


@pytest.mark.skipif(not CASES and not GOLDEN, reason="no examples in this checkout")
@pytest.mark.parametrize("path", CASES + GOLDEN, ids=lambda p: p.name)
def test_example_push_repush_pull(client: FhirClient, path: Path) -> None:
    b = _load(path)
    refs = [f"{r['resourceType']}/{r['id']}" for r in b.resources]
    first = push(client, [b])
    assert first.ok, first.to_json()
    # examples share fixed ids across test runs on a long-lived server: created or unchanged
    assert first.totals()["resources"]["failed"] == 0
    before = {k: v["meta"]["versionId"] for k, v in fetch_current(client, refs).items() if v}
    assert len(before) == len(refs)

    again = push(client, [_load(path)])
    assert again.totals()["resources"]["unchanged"] == len(refs)
    after = {k: v["meta"]["versionId"] for k, v in fetch_current(client, refs).items() if v}
    assert after == before

    pulled = pull_patient(client, b.key, known=refs)
    got = {f"{r['resourceType']}/{r['id']}": r for r in pulled.resources}
    assert sorted(got) == sorted(refs)
    for r in b.resources:
        theirs = got[f"{r['resourceType']}/{r['id']}"]
        assert canonical(theirs, client.base_url) == canonical(r), f"{r['resourceType']} differs"
    # without help from known ids, what comes back is still only this patient's data
    unaided = {f"{r['resourceType']}/{r['id']}" for r in pull_patient(client, b.key).resources}
    assert unaided <= set(refs) and f"Patient/{b.key}" in unaided


@pytest.mark.skipif(not CASES, reason="no example cases in this checkout")
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_example_round_trip_case_push_pull_case(client: FhirClient, path: Path) -> None:
    """case -> FHIR -> server -> pulled resources -> case gives back the original case."""
    from fhir_onco.case import load_case
    from fhir_onco.mappings.reverse import case_from_resources

    b = load_input(path)
    assert push(client, [b]).ok
    refs = [f"{r['resourceType']}/{r['id']}" for r in b.resources]
    pulled = pull_patient(client, b.key, known=refs)
    assert case_from_resources(pulled.resources) == load_case(path)
