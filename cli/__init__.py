"""Typer command-line interface: a thin layer over the fhir_onco library."""
