"""Date expressions in case files: absolute, partial, or relative to an HSCT or a regimen.

Grammar (whitespace and case are ignored):

- ``2021-07-02``, ``2020-07``, ``2020`` - ISO dates, partial allowed;
- ``15.12.2021``, ``12.2021`` - Russian day-first dates;
- ``D+21``, ``D-7``, ``D0`` - days after (before) an HSCT; with several HSCTs name it: ``D+21@allo2``;
- ``day 8`` / ``день 8`` - day 8 of a regimen (day 1 = its start): ``day 8@blina1``; inside a regimen
  the regimen itself is the anchor. There is no day 0 and no negative regimen day.

- ``unknown`` / ``неизвестно`` - a date the source does not give (FHIR: data-absent reason);
- ``before@allo``, ``after@ind``, ``during@cons`` (``до@``, ``после@``, ``во время@``) - unknown but
  bounded by an HSCT or a regimen (FHIR: data-absent reason and the bounds as a Period).

Relative expressions resolve to absolute dates in the FHIR output; the original expression travels
along in an extension so a pulled case reads exactly as it was written. An anchor known only to the
month or year gives a relative date at the precision the anchor allows (``shift``): never a made-up
day. Offsets are limited to +/- ``MAX_OFFSET_DAYS`` (100 years), years to 1800-2200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_RU = re.compile(r"^(?:(\d{1,2})\.)?(\d{1,2})\.(\d{4})$")
_HSCT = re.compile(r"^d\s*([+-]?)\s*(\d+)(?:@([\w.-]+))?$", re.IGNORECASE)
_DAY = re.compile(r"^(?:day|день)\s*(-?\d+)(?:@([\w.-]+))?$", re.IGNORECASE)
_UNKNOWN = re.compile(r"^(?:unknown|неизвестно|не известно|н/д|\?)$", re.IGNORECASE)
_BOUNDED = re.compile(r"^(before|after|during|до|после|во время|в период)\s*@\s*([\w.-]+)$", re.IGNORECASE)
_BOUND_WORDS = {"before": "before", "до": "before", "after": "after", "после": "after",
                "during": "during", "во время": "during", "в период": "during"}


MAX_OFFSET_DAYS = 36_600
"""Largest |N| in D+N / day N: a century, far beyond any clinical follow-up."""
MIN_YEAR, MAX_YEAR = 1800, 2200
"""Years a case may name (birth dates of the oldest patients to follow-up of the youngest)."""

__all__ = ["DateError", "DateValue", "PartialDate", "RelativeDate", "parse_date", "shift"]


class DateError(ValueError):
    """A date expression that cannot be parsed or resolved."""


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A calendar date whose month and day may be unknown."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def precision(self) -> Literal["year", "month", "day"]:
        return "day" if self.day else "month" if self.month else "year"

    def iso(self) -> str:
        if self.day:
            return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
        if self.month:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}"

    def to_date(self) -> date:
        if not self.day:
            raise DateError(f"the anchor date is known only to the {self.precision}; "
                            "a relative date cannot count from it")
        assert self.month is not None
        return date(self.year, self.month, self.day)

    def earliest(self) -> date:
        """First day the partial date may denote (for ordering checks)."""
        return date(self.year, self.month or 1, self.day or 1)

    def latest(self) -> date:
        if self.day:
            return self.to_date()
        if self.month:
            nxt = date(self.year + (self.month == 12), self.month % 12 + 1, 1)
            return nxt - timedelta(days=1)
        return date(self.year, 12, 31)

    @classmethod
    def of(cls, d: date) -> PartialDate:
        return cls(d.year, d.month, d.day)


@dataclass(frozen=True, slots=True)
class RelativeDate:
    """``D+N`` after an HSCT (anchor kind "hsct") or ``day N`` of a regimen (kind "regimen")."""

    anchor_kind: Literal["hsct", "regimen"]
    offset: int
    anchor_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnknownDate:
    """A date the source does not give; optionally bounded by an HSCT or a regimen (by its id):
    ``before`` its date/start, ``after`` its date/end, ``during`` its period."""

    bound: Literal["before", "after", "during"] | None = None
    anchor_id: str | None = None


DateValue = PartialDate | RelativeDate | UnknownDate


_PARSED: dict[str, DateValue] = {}
_PARSED_MAX = 65_536


def parse_date(text: str) -> DateValue:
    """Parse one date expression; raises DateError with the accepted forms.

    Memoised per distinct string (the values are frozen, so sharing them is safe): a registry
    repeats the same few thousand dates, and the reader, the case model and the mappers each parse
    every date of a case. The memo is cleared when full, so memory stays bounded; errors are not
    memoised (they are rare and raise afresh).
    """
    value = _PARSED.get(text) if type(text) is str else None
    if value is None:
        value = _parse_date(text)
        if type(text) is str:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[text] = value
    return value


def _parse_date(text: str) -> DateValue:
    s = str(text).strip()
    if m := _ISO.match(s):
        y, mo, d = (int(g) if g else None for g in m.groups())
        return _checked(y or 0, mo, d, s)
    if m := _RU.match(s):
        d, mo, y = (int(g) if g else None for g in m.groups())
        return _checked(y or 0, mo, d, s)
    if _UNKNOWN.match(s):
        return UnknownDate()
    if m := _BOUNDED.match(s):
        return UnknownDate(_BOUND_WORDS[m.group(1).lower()], m.group(2))  # type: ignore[arg-type]
    if m := _HSCT.match(s):
        sign, n, anchor = m.groups()
        return RelativeDate("hsct", _offset(n, sign, s), anchor)
    if m := _DAY.match(s):
        n, anchor = m.groups()
        day = _offset(n.lstrip("-"), "-" if n.startswith("-") else "+", s)
        if day < 1:
            raise DateError("regimen days count from day 1 (its start); there is no day 0 or "
                            "negative day - write the date itself, or D-N relative to an HSCT")
        return RelativeDate("regimen", day, anchor)
    raise DateError(
        "the value is not a date; expected YYYY-MM-DD, YYYY-MM, YYYY, DD.MM.YYYY, "
        "D+N (days after HSCT, optionally D+N@hsct-id), 'day N@regimen-id', 'unknown' or "
        "'before@id' / 'after@id' / 'during@id' (an HSCT or regimen)"
    )


def _offset(digits: str, sign: str, s: str) -> int:
    if len(digits) > 6 or int(digits) > MAX_OFFSET_DAYS:
        raise DateError(f"offset beyond the limit of {MAX_OFFSET_DAYS} days (100 years)")
    return -int(digits) if sign == "-" else int(digits)


def _checked(y: int, mo: int | None, d: int | None, s: str) -> PartialDate:
    if not MIN_YEAR <= y <= MAX_YEAR:
        raise DateError(f"year outside {MIN_YEAR}-{MAX_YEAR}")
    try:
        if d:
            date(y, mo or 0, d)
        elif mo and not 1 <= mo <= 12:
            raise ValueError
    except ValueError:
        raise DateError("the value is not a real calendar date") from None
    return PartialDate(y, mo, d)


def shift(anchor: PartialDate, days: int) -> PartialDate:
    """The date `days` after `anchor`, at the precision the anchor allows.

    From a full date: a full date. From a month or a year: every day the anchor may denote is
    shifted, and the result keeps what all of them share - the month when they all fall in one
    month, else the year; when even the year is not shared, DateError (no day is ever invented).
    """
    try:
        first = anchor.earliest() + timedelta(days=days)
        last = anchor.latest() + timedelta(days=days)
    except OverflowError:
        first = last = date.max
    if first.year < MIN_YEAR or last.year > MAX_YEAR:
        raise DateError(f"the offset from its anchor date falls outside the years {MIN_YEAR}-{MAX_YEAR}")
    if anchor.day:
        return PartialDate.of(first)
    if first.year != last.year:
        raise DateError(f"the offset from an anchor date known only to the {anchor.precision} may fall in "
                        "either of two years; write the date itself")
    if (first.month == last.month) and anchor.month:
        return PartialDate(first.year, first.month)
    return PartialDate(first.year)
