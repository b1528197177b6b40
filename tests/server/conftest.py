"""Fixtures for the server I/O tests: a real FHIR R4 server, never a mock.

``FHIR_ONCO_TEST_SERVER=<base URL>`` points the tests at a server you run (e.g. HAPI); otherwise a
local sekmet-fhir server is installed (once, into its own virtual environment) and started for the
session. Tests that must stop or restart a server, or configure its authentication, start their own
sekmet instance (``own_server``) whatever the variable says.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fhir_onco.server.client import FhirClient, RetryPolicy
from fhir_onco.server.testserver import SekmetServer

FAST_RETRY = RetryPolicy(max_attempts=6, backoff_base=0.05, backoff_max=1.0)


# fhir_base_url, the session's server, is in tests/conftest.py (the fuzz suite uses it too)


@pytest.fixture(autouse=True)
def _no_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their credentials explicitly; a developer's env must not leak in."""
    for name in list(os.environ):
        if name.startswith("FHIR_ONCO_") and name not in (
            "FHIR_ONCO_TEST_SERVER",
            "FHIR_ONCO_CACHE",
        ):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def client(fhir_base_url: str) -> Iterator[FhirClient]:
    with FhirClient(fhir_base_url, auth=None, retry=FAST_RETRY) as c:
        yield c


@pytest.fixture
def run_key() -> str:
    """A per-test prefix so tests never see each other's patients on a shared server."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[..., SekmetServer]]:
    """Factory for a private sekmet server (for restart/kill/auth tests); stopped afterwards."""
    started: list[SekmetServer] = []

    def make(**kwargs: object) -> SekmetServer:
        server = SekmetServer(tmp_path / f"sekmet{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()
