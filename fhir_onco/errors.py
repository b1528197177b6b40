"""Errors no check foresaw: each fails one input with a located "internal error", never the run.

Every command catches these per input (a case file, an extract's patient, a FHIR file), reports the
exception type only - its text may quote patient data - and goes on with the other inputs. The fuzz
suite (tests/fuzz) counts these messages, so they stay visible as bugs to fix.
"""

from __future__ import annotations

from fhir_onco.validation.report import Report

__all__ = ["UNEXPECTED_ERRORS", "internal_error"]

UNEXPECTED_ERRORS = (ArithmeticError, LookupError, RecursionError, TypeError, AttributeError, ValueError)


def internal_error(source: str, exc: BaseException, doing: str) -> Report:
    """A one-issue report: where, while doing what, which exception type."""
    report = Report()
    report.error(f"{source}: (input)", f"internal error while {doing} ({type(exc).__name__}); nothing was written "
                 "for this input - please report it", rule="internal")
    return report
