"""Bundled example case files and their golden FHIR bundles."""
