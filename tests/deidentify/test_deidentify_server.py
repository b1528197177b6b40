"""A de-identified cohort on a real FHIR server: a second delivery updates in place.

Uses ``FHIR_ONCO_TEST_SERVER`` when set, else starts a local sekmet-fhir server like the server tests.
Each test uses a fresh random key, so its pseudonyms and ids are new even on a shared server.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fhir_onco.cli.app import app
from fhir_onco.server.client import FhirClient, RetryPolicy

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "examples").glob("seed00*.yaml"))
GOLDEN = ROOT / "examples" / "golden"


@pytest.fixture(scope="module")
def server_url(module_server: tuple[str, bool]) -> str:
    # not the session server: the tests assert the original ids are absent, and that server holds them
    return module_server[0]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("FHIR_ONCO_") and name not in ("FHIR_ONCO_TEST_SERVER", "FHIR_ONCO_CACHE"):
            monkeypatch.delenv(name)
    return {"FHIR_ONCO_DEID_KEY": secrets.token_hex(16)}


def _push(runner: CliRunner, env: dict[str, str], *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["push", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_pushed_twice_updates_in_place(server_url: str, env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    args = [*map(str, CASES), "--server", server_url, "--deidentify",
            str(ROOT / "fhir_onco" / "deidentify" / "policies" / "safe-harbor.yaml")]
    first = _push(runner, env, *args)
    totals = first["totals"]["resources"]  # type: ignore[index]
    assert totals["created"] > 300 and totals["failed"] == 0
    second = _push(runner, env, *args)
    again = second["totals"]["resources"]  # type: ignore[index]
    assert again["created"] == 0 and again["updated"] == 0 and again["unchanged"] == totals["created"]

    # `deidentify` to files and a plain push of them: the very same resources, nothing new
    out = runner.invoke(app, ["deidentify", *map(str, CASES), "-o", str(tmp_path / "deid")], env=env)
    assert out.exit_code == 0, out.output
    third = _push(runner, env, str(tmp_path / "deid"), "--server", server_url)
    assert third["totals"]["resources"]["created"] == 0  # type: ignore[index]
    assert third["totals"]["resources"]["unchanged"] == totals["created"]  # type: ignore[index]

    # the server holds no original id and no original identifier
    original = json.loads((GOLDEN / f"{CASES[0].stem}.json").read_text(encoding="utf-8"))
    patient = original["entry"][0]["resource"]
    with FhirClient(server_url, auth=None, retry=RetryPolicy(max_attempts=4, backoff_base=0.05)) as client:
        assert client.read("Patient", patient["id"]) is None
        value = patient["identifier"][0]["value"]
        assert list(client.search("Patient", {"identifier": f"{patient['identifier'][0]['system']}|{value}"})) == []


def test_sync_deidentified_sends_nothing_the_second_time(server_url: str, env: dict[str, str],
                                                        tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for case in CASES[:3]:
        (src / case.name).write_bytes(case.read_bytes())
    runner = CliRunner()
    args = ["sync", str(src), "--server", server_url, "--state", str(tmp_path / "state.db"), "--json",
            "--deidentify", str(ROOT / "fhir_onco" / "deidentify" / "policies" / "safe-harbor.yaml")]
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["totals"]["resources"]["created"] > 50
    second = runner.invoke(app, args, env=env)
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["totals"]["patients"]["skipped_by_state"] == 3
    assert report["totals"]["resources"]["created"] == report["totals"]["resources"]["updated"] == 0
