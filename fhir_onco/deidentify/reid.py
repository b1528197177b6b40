"""The local re-identification table: pseudonym -> original identifiers, for the data owner only.

Written with mode 0600 from the first byte (never readable by others, not even briefly) and kept
apart from the de-identified output; it never travels with a delivery.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from fhir_onco.files import open_private

COLUMNS = ("pseudonym", "identifier_system", "identifier_value", "original_patient_id", "patient_id",
           "date_offset_days")


class ReidTable:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = open_private(self.path, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(COLUMNS)
        self.rows = 0

    def add(self, pseudonym: str, patient: dict[str, Any], new_id: str, offset: int) -> None:
        idents = patient.get("identifier") or [{}]
        for ident in idents:
            self._writer.writerow((pseudonym, ident.get("system", ""), ident.get("value", ""),
                                   patient.get("id", ""), new_id, offset))
            self.rows += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ReidTable:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
