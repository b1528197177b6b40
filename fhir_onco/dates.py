"""Date expressions in case files: absolute, partial, or relative to an HSCT or a regimen.

Grammar (whitespace and case are ignored):

- ``2021-07-02``, ``2020-07``, ``2020`` - ISO dates, partial allowed;
- ``15.12.2021``, ``12.2021`` - Russian day-first dates;
- ``D+21``, ``D-7``, ``D0`` - days after (before) an HSCT; with several HSCTs name it: ``D+21@allo2``;
- ``day 8`` / ``день 8`` - day 8 of a regimen (day 1 = its start): ``day 8@blina1``; inside a regimen
  the regimen itself is the anchor.

Relative expressions resolve to absolute dates in the FHIR output; the original expression travels
along in an extension so a pulled case reads exactly as it was written.
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
            raise DateError(f"{self.iso()} has no day; a relative date cannot count from it")
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


DateValue = PartialDate | RelativeDate


def parse_date(text: str) -> DateValue:
    """Parse one date expression; raises DateError with the accepted forms."""
    s = str(text).strip()
    if m := _ISO.match(s):
        y, mo, d = (int(g) if g else None for g in m.groups())
        return _checked(y or 0, mo, d, s)
    if m := _RU.match(s):
        d, mo, y = (int(g) if g else None for g in m.groups())
        return _checked(y or 0, mo, d, s)
    if m := _HSCT.match(s):
        sign, n, anchor = m.groups()
        return RelativeDate("hsct", -int(n) if sign == "-" else int(n), anchor)
    if m := _DAY.match(s):
        n, anchor = m.groups()
        return RelativeDate("regimen", int(n), anchor)
    raise DateError(
        f"{s!r} is not a date; expected YYYY-MM-DD, YYYY-MM, YYYY, DD.MM.YYYY, "
        "D+N (days after HSCT, optionally D+N@hsct-id) or 'day N@regimen-id'"
    )


def _checked(y: int, mo: int | None, d: int | None, s: str) -> PartialDate:
    try:
        if d:
            date(y, mo or 0, d)
        elif mo and not 1 <= mo <= 12:
            raise ValueError
    except ValueError:
        raise DateError(f"{s!r} is not a real calendar date") from None
    return PartialDate(y, mo, d)


def shift(anchor: PartialDate, days: int) -> PartialDate:
    return PartialDate.of(anchor.to_date() + timedelta(days=days))
