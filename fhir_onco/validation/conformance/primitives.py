"""FHIR R4 primitive data types: JSON representation and lexical rules (spec section 2.24)."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from typing import Any

_DATE = re.compile(
    r"(?P<y>[0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
    r"(-(?P<m>0[1-9]|1[0-2])(-(?P<d>0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)
_DATETIME = re.compile(
    r"(?P<y>[0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
    r"(-(?P<m>0[1-9]|1[0-2])(-(?P<d>0[1-9]|[1-2][0-9]|3[0-1])"
    r"(?P<t>T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
    r"(?P<tz>Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?)?)?"
)
_INSTANT = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?")
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_ID = re.compile(r"[A-Za-z0-9\-\.]{1,64}")
_URI = re.compile(r"\S+")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BASE64 = re.compile(r"(\s*([0-9a-zA-Z+/=]){4}\s*)+")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

Checker = Callable[[Any], str | None]


def _calendar_ok(m: re.Match[str]) -> bool:
    day = m.group("d")
    if day is None:
        return True
    y, mo, d = int(m.group("y")), int(m.group("m")), int(day)
    return d <= calendar.monthrange(y, mo)[1]


def _string(v: Any) -> str | None:
    if type(v) is not str:
        return f"expected a JSON string, got {_jtype(v)}"
    if not v.strip():
        return "empty or whitespace-only string (ele-1: a value or children are required)"
    if _CTRL.search(v):
        return "string contains control characters"
    return None


def _regex(rx: re.Pattern[str], what: str) -> Checker:
    def check(v: Any) -> str | None:
        if type(v) is not str:
            return f"expected a JSON string ({what}), got {_jtype(v)}"
        if not v:
            return f"empty string is not a valid {what}"
        if rx.fullmatch(v) is None:
            return f"{v!r} is not a valid {what}"
        return None

    return check


def _date(v: Any) -> str | None:
    if type(v) is not str:
        return f"expected a JSON string (date), got {_jtype(v)}"
    m = _DATE.fullmatch(v)
    if m is None:
        return f"{v!r} is not a valid date (YYYY, YYYY-MM or YYYY-MM-DD)"
    if not _calendar_ok(m):
        return f"{v!r} is not a calendar date"
    return None


def _datetime(v: Any) -> str | None:
    if type(v) is not str:
        return f"expected a JSON string (dateTime), got {_jtype(v)}"
    m = _DATETIME.fullmatch(v)
    if m is None:
        return f"{v!r} is not a valid dateTime"
    if m.group("t") and not m.group("tz"):
        return f"{v!r}: a dateTime with a time must have a timezone (Z or +hh:mm)"
    if not _calendar_ok(m):
        return f"{v!r} is not a calendar date"
    return None


def _boolean(v: Any) -> str | None:
    return None if type(v) is bool else f"expected JSON true/false, got {_jtype(v)}"


def _integer(lo: int, hi: int, what: str) -> Checker:
    def check(v: Any) -> str | None:
        if type(v) is not int:
            if type(v) is float and v.is_integer():
                return f"expected a JSON integer ({what}), got a decimal number {v!r}"
            return f"expected a JSON integer ({what}), got {_jtype(v)}"
        if not lo <= v <= hi:
            return f"{v} is out of range for {what} ({lo}..{hi})"
        return None

    return check


def _decimal(v: Any) -> str | None:
    if type(v) is int or type(v) is float:
        if v != v or v in (float("inf"), float("-inf")):
            return "decimal must be a finite number"
        return None
    if type(v).__name__ == "Decimal":
        return None
    return f"expected a JSON number (decimal), got {_jtype(v)}"


def _xhtml(v: Any) -> str | None:
    if type(v) is not str:
        return f"expected a JSON string (xhtml), got {_jtype(v)}"
    s = v.lstrip()
    if not s.startswith("<div") or 'xmlns="http://www.w3.org/1999/xhtml"' not in s:
        return 'xhtml must be a <div xmlns="http://www.w3.org/1999/xhtml"> element'
    return None


def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    if type(v) is bool:
        return "boolean"
    # the type only: a misplaced value may be patient data (a birth date, an identifier)
    if type(v) in (int, float):
        return "number"
    if type(v) is str:
        return "string"
    if type(v) is list:
        return "array"
    if type(v) is dict:
        return "object"
    return type(v).__name__


# the lexical rule of the types checked by one regular expression, and the range of the integer
# types: shared with the generated checks of conformance/compiled.py, which inline them
REGEXES: dict[str, re.Pattern[str]] = {
    "code": _CODE, "id": _ID, "uri": _URI, "url": _URI, "canonical": _URI, "oid": _OID,
    "uuid": _UUID, "base64Binary": _BASE64, "instant": _INSTANT, "time": _TIME,
}
INT_RANGES: dict[str, tuple[int, int]] = {
    "integer": (-(2**31), 2**31 - 1), "positiveInt": (1, 2**31 - 1), "unsignedInt": (0, 2**31 - 1),
}
STRING_CONTROL = _CTRL
_REGEX_NAMES = {"instant": "instant (full date, time and timezone)"}

CHECKERS: dict[str, Checker] = {
    "boolean": _boolean,
    **{t: _integer(lo, hi, t) for t, (lo, hi) in INT_RANGES.items()},
    "decimal": _decimal,
    "string": _string,
    "markdown": _string,
    **{t: _regex(rx, _REGEX_NAMES.get(t, t)) for t, rx in REGEXES.items()},
    "date": _date,
    "dateTime": _datetime,
    "xhtml": _xhtml,
}
PRIMITIVES = frozenset(CHECKERS)


def jtype(v: Any) -> str:
    return _jtype(v)
