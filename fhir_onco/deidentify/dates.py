"""Shifting FHIR dates by whole days, keeping each date's precision.

Day-precise dates (and dateTimes, whose time and zone stay as written) move by exactly the
patient's offset, so every interval between them - and each D+N after a transplant - is the same
after the shift. A partial date moves with its first day: ``2020-07`` becomes the month (and
``2020`` the year) into which the 1st of July (1st of January) falls after the shift, so it stays
partial, and a partial start never lands after a day-precise date that followed it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from fhir_onco.dates import DateError, PartialDate, parse_date

FHIR_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?$")
_RU_DAY = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$")
_RU_MONTH = re.compile(r"^\d{1,2}\.\d{4}$")


def is_fhir_date(value: object) -> bool:
    return isinstance(value, str) and FHIR_DATE.match(value) is not None


def shift_partial(value: PartialDate, days: int) -> PartialDate:
    moved = value.earliest() + timedelta(days=days)
    if value.precision == "day":
        return PartialDate.of(moved)
    if value.precision == "month":
        return PartialDate(moved.year, moved.month)
    return PartialDate(moved.year)


def shift_fhir_date(value: str, days: int) -> str:
    """Shift a FHIR date/dateTime/instant string; raises ValueError for anything else."""
    m = FHIR_DATE.match(value)
    if m is None:
        raise ValueError("not a FHIR date")
    year, month, day, time = m.groups()
    partial = PartialDate(int(year), int(month) if month else None, int(day) if day else None)
    if partial.day:
        date(partial.year, partial.month or 1, partial.day)  # a real calendar date, else ValueError
    return shift_partial(partial, days).iso() + (time or "")


def shift_written_date(expr: str, days: int) -> str | None:
    """A date as the source wrote it (source-date extension), shifted in the same notation.

    Relative expressions (``D+21``, ``day 8@blina1``) are offsets from other dates of the same
    patient and stay as written; an absolute date moves like every other date; anything that is
    not a date expression is None (the caller drops it).
    """
    text = expr.strip()
    try:
        parsed = parse_date(text)
    except DateError:
        return None
    if not isinstance(parsed, PartialDate):
        return text
    moved = shift_partial(parsed, days)
    if _RU_DAY.match(text):
        return f"{moved.day:02d}.{moved.month:02d}.{moved.year:04d}"
    if _RU_MONTH.match(text):
        return f"{moved.month:02d}.{moved.year:04d}"
    return moved.iso()


def generalise_date(value: str, precision: str) -> str | None:
    """Reduce a FHIR date to its year or year-month; None for 'remove'."""
    m = FHIR_DATE.match(value)
    if m is None or precision == "remove":
        return None
    year, month, _, _ = m.groups()
    if precision == "year-month" and month:
        return f"{year}-{month}"
    return year
