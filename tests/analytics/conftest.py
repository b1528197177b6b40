"""Fixtures: the inline cohort of inline_cohort.py as FHIR bundles and as a ResourceStore."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_onco.analytics.reader import ResourceStore

from .inline_cohort import bundles


@pytest.fixture(scope="session")
def cohort_bundles() -> list[dict[str, Any]]:
    return bundles()


@pytest.fixture
def cohort_store(cohort_bundles: list[dict[str, Any]]) -> ResourceStore:
    return ResourceStore().extend(cohort_bundles)
