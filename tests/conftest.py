"""Fixtures shared by every test folder: the real FHIR R4 server of the session.

``FHIR_ONCO_TEST_SERVER=<base URL>`` points the tests at a server you run (e.g. HAPI); otherwise a
local sekmet-fhir server is installed (once, into its own virtual environment) and started for the
session. Tests that need a server of their own (restarts, authentication, counting only their own
patients) start their own sekmet instance instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fhir_onco.server.testserver import SekmetServer


@pytest.fixture(scope="session")
def fhir_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("FHIR_ONCO_TEST_SERVER")
    if external:
        yield external.rstrip("/")
        return
    server = SekmetServer(tmp_path_factory.mktemp("sekmet-session"))
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
