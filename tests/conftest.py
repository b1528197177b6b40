"""Fixtures shared by every test folder: the real FHIR R4 server of the session.

``FHIR_ONCO_TEST_SERVER=<base URL>`` points the tests at a server you run (e.g. HAPI); otherwise a
local sekmet-fhir server is installed (once, into its own virtual environment) and started for the
session. Tests that need a server of their own (restarts, authentication, counting only their own
patients) start their own sekmet instance instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fhir_onco.server.testserver import SekmetServer, TestServerError


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


@contextmanager
def _own_sekmet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a sekmet server of our own (skip when it cannot be installed); stop it afterwards."""
    server = SekmetServer(tmp_path_factory.mktemp("sekmet-module"))
    try:
        server.start()
    except TestServerError as exc:  # no network to install it, etc.
        pytest.skip(f"no local FHIR server: {exc}")
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bool]]:
    """(base URL, whether the requesting module alone uses it): the external test server when one is
    set, else a sekmet server started for the module."""
    external = os.environ.get("FHIR_ONCO_TEST_SERVER")
    if external:
        yield external.rstrip("/"), False
        return
    with _own_sekmet(tmp_path_factory) as url:
        yield url, True


@pytest.fixture(scope="module")
def private_sekmet_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sekmet server of the requesting module alone, for tests that count every patient on it;
    skipped against an external server, which holds other patients."""
    if os.environ.get("FHIR_ONCO_TEST_SERVER"):
        pytest.skip("needs a server holding only this module's patients (a shared server holds others)")
    with _own_sekmet(tmp_path_factory) as url:
        yield url
