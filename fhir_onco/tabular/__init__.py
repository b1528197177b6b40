"""Registry tables in: CSV extracts -> case model -> validated FHIR, one patient at a time.

Two layouts are read:

- the fhir-onco registry layout (``patients.csv`` + one CSV per domain, see docs/registry.md);
- the CSV layout of the mCODE Extraction Framework (``patient-mrns.csv``, ``patient-information.csv``,
  ``condition-information.csv`` ...), for its users to migrate.

>>> from fhir_onco.tabular import map_tables
>>> for result in map_tables("examples/registry"):   # doctest: +SKIP
...     print(result.source, result.ok)

Every bad cell is reported as ``file:row:column: what was expected``; a patient with any error is
reported and not mapped, and the other patients still go through.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal

from fhir_onco.pipeline import OutputFormat, PatientResult, forks, map_and_validate, ordered_map, warm_up
from fhir_onco.validation.report import Report

from .base import TabularError, TabularPatient, TabularReader
from .mcode import McodeReader
from .registry import RegistryReader

Layout = Literal["auto", "registry", "mcode"]

__all__ = ["Layout", "McodeReader", "RegistryReader", "TabularError", "TabularPatient", "TabularReader",
           "detect_layout", "map_tables", "open_reader"]


def detect_layout(directory: str | Path) -> Literal["registry", "mcode"]:
    """'registry' when there is a patients.csv, 'mcode' for patient-mrns / patient(-information).csv."""
    stems = {p.stem.casefold() for p in Path(directory).glob("*.csv")}
    if "patients" in stems:
        return "registry"
    if stems & {"patient-mrns", "patient-mrns-information", "patient", "patient-information"}:
        return "mcode"
    return "registry"  # its reader reports what is missing


def open_reader(directory: str | Path, layout: Layout = "auto", **options: Any) -> TabularReader:
    """A reader for the layout (not opened yet: use it as a context manager).

    Options: ``encoding`` (override the sniffed one), ``tmpdir`` (where the temporary index goes),
    ``id_system`` (registry), ``mrn_system`` and ``regimen_category`` (mCODE).
    """
    kind = detect_layout(directory) if layout == "auto" else layout
    if kind == "mcode":
        options.pop("id_system", None)
        return McodeReader(directory, **options)
    options.pop("mrn_system", None)
    options.pop("regimen_category", None)
    return RegistryReader(directory, **options)


def map_patient(patient: TabularPatient, *, allow_text_only: bool = False, validate: bool = True) -> PatientResult:
    """Map and validate one patient read from tables; mapping issues are relocated to file:row:column.

    Shared by :func:`map_tables` and the Spark runner (``fhir_onco.spark``)."""
    if patient.case is None:
        return PatientResult(patient.source, None, patient.report)
    result = map_and_validate(patient.case, patient.source, allow_text_only=allow_text_only, validate=validate)
    report = Report([patient.locate(issue) for issue in (*patient.report, *result.report)])
    return PatientResult(patient.source, result.bundle if report.ok else None, report)


def _map_patient_job(patient: TabularPatient, *, allow_text_only: bool, validate: bool,
                     encode_as: OutputFormat | None) -> PatientResult:
    return map_patient(patient, allow_text_only=allow_text_only, validate=validate).encoded_as(encode_as)


# the open reader of map_tables(jobs > 1), inherited by forked workers: they turn a patient's rows into
# its case themselves, so the parent only reads rows and writes output (it was the bottleneck of -j)
_WORKER_READER: TabularReader | None = None


def _map_rows_job(item: tuple[str, list[int]], *, allow_text_only: bool, validate: bool,
                  encode_as: OutputFormat | None) -> PatientResult:
    assert _WORKER_READER is not None, "set before the workers fork"
    patient_id, lines = item
    patient = _WORKER_READER.patient_from_rows(lines, _WORKER_READER.rows_of(patient_id))
    return map_patient(patient, allow_text_only=allow_text_only, validate=validate).encoded_as(encode_as)


def map_tables(directory: str | Path, layout: Layout = "auto", *, allow_text_only: bool = False,
               validate: bool = True, file_report: Report | None = None, jobs: int = 1,
               encode: OutputFormat | None = None, **options: Any) -> Iterator[PatientResult]:
    """Map every patient of a CSV extract; issue locations point at file:row:column where known.

    File-level findings (unknown columns, rows of patients not in the patient list, empty patient
    ids) go to ``file_report`` when given. Raises TabularError when the extract cannot be read at all.
    With ``jobs > 1`` the tables are read here and patients mapped in worker processes, results in
    extract order; ``encode`` makes results carry serialised output instead of the bundle.
    """
    with open_reader(directory, layout, **options) as reader:
        if file_report is not None:
            file_report.extend(reader.report)
        if jobs > 1:
            warm_up(validate)
        if jobs > 1 and forks():
            global _WORKER_READER
            _WORKER_READER = reader
            try:
                rows_job = partial(_map_rows_job, allow_text_only=allow_text_only, validate=validate,
                                   encode_as=encode)
                yield from ordered_map(rows_job, reader.patient_keys(), jobs)
            finally:
                _WORKER_READER = None
            return
        job = partial(_map_patient_job, allow_text_only=allow_text_only, validate=validate, encode_as=encode)
        yield from ordered_map(job, reader, jobs)
