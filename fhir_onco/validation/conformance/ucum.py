"""UCUM syntax of Quantity codes (system http://unitsofmeasure.org), checked with `ucumvert`.

ucumvert parses a code against the UCUM grammar with the unit atoms and prefixes of the UCUM
essence table, so ``banana`` fails while ``mg/m2``, ``10*6/kg`` and ``{cells}/uL`` pass. Its parser
takes about two seconds to build, so the UCUM codes of our unit table (mappings/terminology/
units.csv; a test checks each against ucumvert) are accepted without it, and the parser is built
only for a code outside that table. Results are cached per code.
"""

from __future__ import annotations

import threading
from typing import Any

UCUM = "http://unitsofmeasure.org"
_lock = threading.Lock()
_parser: Any = None
_verdicts: dict[str, str | None] = {}
_MAX_CACHED = 10_000


def _known_codes() -> set[str]:
    from fhir_onco.terminology import default_terminology

    codes: set[str] = set()
    for concept in default_terminology()["units"].concepts.values():
        for coding in concept.codings:
            if coding.system == UCUM:
                codes.add(coding.code)
    return codes


def _parse(code: str) -> str | None:
    global _parser
    with _lock:
        if _parser is None:
            from ucumvert import get_ucum_parser

            _parser = get_ucum_parser()
    try:
        _parser.parse(code)
    except Exception as exc:  # lark's UnexpectedInput family: the code is not UCUM
        column = getattr(exc, "column", None)
        where = f" at character {column}" if isinstance(column, int) and column > 0 else ""
        return f"{code!r} is not a valid UCUM code{where} (UCUM syntax, https://ucum.org/ucum)"
    return None


def check(code: str) -> str | None:
    """None when code is valid UCUM syntax, else a message saying why not."""
    verdict = _verdicts.get(code, ...)
    if verdict is not ...:
        return verdict  # type: ignore[return-value]
    if not _verdicts:
        _verdicts.update(dict.fromkeys(_known_codes()))
        if code in _verdicts:
            return None
    verdict = "an empty code is not UCUM" if not code.strip() else _parse(code)
    if len(_verdicts) < _MAX_CACHED:
        _verdicts[code] = verdict
    return verdict
