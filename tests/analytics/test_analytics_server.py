"""report / export / timeline against a real FHIR server: the same tables as from the files.

Uses ``FHIR_ONCO_TEST_SERVER`` when set (e.g. HAPI), else a local sekmet-fhir server like the
server tests do. Patients get a per-run identifier system so a shared server's other data can be
told apart (the cohort report itself reads everything on the server, so on a shared server only
the per-patient parts are compared).
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_onco import map_case, parse_case
from fhir_onco.analytics.reader import ResourceStore, read_server
from fhir_onco.analytics.report import cohort_report
from fhir_onco.cli.app import app
from fhir_onco.server.client import FhirClient, RetryPolicy

from .inline_cohort import COHORT


@pytest.fixture(scope="module")
def server_url(module_server: tuple[str, bool]) -> tuple[str, bool]:
    """(base URL, whether the server holds only what this module pushed)."""
    return module_server


@pytest.fixture(scope="module")
def pushed(server_url: tuple[str, bool]) -> tuple[str, bool, list[dict[str, Any]]]:
    base, exclusive = server_url
    system = f"urn:test:analytics:{uuid.uuid4().hex[:8]}"
    bundles = []
    for case in COHORT:
        c = copy.deepcopy(case)
        c["patient"]["identifiers"][0]["system"] = system
        bundles.append(map_case(parse_case(c)))
    with FhirClient(base, auth=None, retry=RetryPolicy(max_attempts=4, backoff_base=0.05)) as client:
        for b in bundles:
            client.transaction(b)
    return base, exclusive, bundles


def test_report_from_the_server_equals_the_report_from_the_bundles(pushed: tuple[str, bool, list[Any]]) -> None:
    base, exclusive, bundles = pushed
    if not exclusive:
        pytest.skip("a shared server holds other patients too")
    with FhirClient(base, auth=None) as client:
        store = read_server(base, client=client, page_size=7)  # several pages per type
    assert len(store.patients()) == 5
    assert cohort_report(store).to_dict() == cohort_report(ResourceStore().extend(bundles)).to_dict()


def test_cli_report_export_and_timeline_from_the_server(pushed: tuple[str, bool, list[Any]], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    base, exclusive, bundles = pushed
    for name in list(os.environ):
        if name.startswith("FHIR_ONCO_") and name != "FHIR_ONCO_TEST_SERVER":
            monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--server", base, "-f", "json"])
    assert result.exit_code == 0, result.output
    if exclusive:
        assert json.loads(result.stdout)["tables"]["deaths"]["rows"][0]["n"] == 3
    result = runner.invoke(app, ["export", "--server", base, "-o", str(tmp_path / "x"), "--tables", "patients"])
    assert result.exit_code == 0, result.output
    system = bundles[0]["entry"][0]["resource"]["identifier"][0]["system"]
    out = tmp_path / "t.png"
    result = runner.invoke(app, ["timeline", f"{system}|p1", "--server", base, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000 and "3 adverse events" in result.output


def test_one_patients_read_holds_only_that_patients_resources(pushed: tuple[str, bool, list[Any]]) -> None:
    # sekmet ignores `subject` on AdverseEvent searches and answers with everyone's AEs
    base, _, bundles = pushed
    with_aes = [b for b in bundles if any(e["resource"]["resourceType"] == "AdverseEvent" for e in b["entry"])]
    assert len(with_aes) >= 2, "the cohort needs AEs on two patients for this test to mean anything"
    patient = with_aes[0]["entry"][0]["resource"]
    with FhirClient(base, auth=None) as client:
        store = read_server(base, client=client, patient_id=patient["id"])
    mine = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in with_aes[0]["entry"]}
    got = {(r["resourceType"], r["id"]) for rtype in store.types for r in store.resources(rtype)}
    assert got == mine
