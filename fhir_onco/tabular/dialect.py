"""What real registry exports look like, and how one cell becomes a value.

Encodings: UTF-8 (with or without BOM), UTF-16 with BOM, and cp1251 (Russian Windows exports) when
the bytes are not valid UTF-8. A UTF-8 file with a few lines that are not UTF-8 (one row pasted from
a cp1251 export) stays UTF-8: only the rows on those lines fail, each with its location.
A cell longer than :data:`MAX_CELL_CHARS` fails its row (and so only its patient).
Separators: ``,``, ``;`` or tab, chosen from the header line.
Numbers: decimal point or decimal comma (``0,06``), spaces as thousands grouping (``10 000``).
Dates: everything ``fhir_onco.dates`` accepts (``2021-12-15``, ``15.12.2021``, ``12.2021``, ``D+21``,
``day 8@blina1``), optionally followed by a time of day (``15.12.2021 00:00:00``), which is dropped.
Empty cells and NULL markers (``NULL``, ``NA``, ``N/A``, ``nan``, ``None``, ``#N/A``, ``-``) are "no value".

Cell parsers raise :class:`CellError` with what was expected; they never repeat the cell's content,
so error output carries no patient data.
"""

from __future__ import annotations

import codecs
import csv
import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fhir_onco.dates import DateError, PartialDate, parse_date

V = TypeVar("V")

NULLS = frozenset({"", "null", "none", "na", "n/a", "nan", "#n/a", "-", "—", "–", "нет данных", "н/д"})
LIST_SEPARATOR = "|"
_DELIMITERS = (",", ";", "\t")
_SAMPLE = 1 << 20
MAX_CELL_CHARS = 131072  # the csv module's default field limit: no registry cell needs more
_CSV_FIELD_LIMIT = 1 << 30  # the csv module's own limit, raised so an over-long cell fails its row, not the file
UNDECODABLE = "\x00undecodable"  # reserved cell keys (real keys are normalised to letters and digits)
OVERSIZE = "\x00oversize"


class CellError(ValueError):
    """A cell that does not hold what its column expects; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class Dialect:
    encoding: str
    delimiter: str

    def describe(self) -> str:
        sep = {"\t": "tab", ",": "comma", ";": "semicolon"}[self.delimiter]
        return f"{self.encoding}, {sep}-separated"


_NOT_HEADER_CHAR = re.compile(r"[^0-9a-zа-яё]")


@functools.lru_cache(maxsize=4096)
def normalise_header(name: str) -> str:
    """'Patient ID', 'patient_id', 'patientId' -> 'patientid' (how columns are matched).

    Cached: readers normalise the same few header and key names for every cell they read.
    """
    return _NOT_HEADER_CHAR.sub("", name.strip().lstrip("\ufeff").casefold())


def sniff_encoding(path: Path) -> str:
    """utf-8-sig / utf-16 by BOM; utf-8 if the file decodes as UTF-8 or if some of its non-ASCII
    lines do (the others then fail row by row); cp1251 when no non-ASCII line is UTF-8."""
    with path.open("rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        fh.seek(0)
        utf8_lines = bad_lines = 0
        for line in fh:
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8_lines += 1
            except UnicodeDecodeError:
                bad_lines += 1
    return "cp1251" if bad_lines and not utf8_lines else "utf-8"


def sniff_delimiter(header_line: str, known: Iterable[str] = ()) -> str:
    """The separator that splits the header into the most known column names (else the most columns)."""
    wanted = {normalise_header(k) for k in known}

    def score(delim: str) -> tuple[int, int]:
        cells = next(csv.reader([header_line], delimiter=delim), [])
        return sum(normalise_header(c) in wanted for c in cells), len(cells)

    return max(_DELIMITERS, key=score)


def sniff(path: Path, known: Iterable[str] = (), encoding: str | None = None) -> Dialect:
    enc = encoding or sniff_encoding(path)
    with path.open(encoding=enc, newline="", errors="replace") as fh:
        first = fh.readline(_SAMPLE)
    return Dialect(enc, sniff_delimiter(first.rstrip("\r\n"), known))


def _byte_oriented(encoding: str) -> bool:
    """Lines can be split on b'\\n' before decoding (not so for UTF-16/32)."""
    return not codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def _decoded_lines(fh: Any, encoding: str, bad: set[int]) -> Iterator[str]:
    """Lines decoded one by one; a line that does not decode is replaced and its number put in ``bad``."""
    for number, raw in enumerate(fh, start=1):
        enc = encoding if number == 1 or encoding != "utf-8-sig" else "utf-8"
        try:
            yield raw.decode(enc)
        except UnicodeDecodeError:
            bad.add(number)
            yield raw.decode(enc, errors="replace")


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: the line it starts on and its cells by normalised column name."""

    line: int
    cells: dict[str, str]
    extra: int = 0  # number of non-empty cells beyond the header's columns


def read_records(path: Path, dialect: Dialect) -> tuple[list[str], Iterator[Record]]:
    """Header (as written) and a lazy iterator of records; blank lines are skipped.

    A record on a line that does not decode gets the cell ``UNDECODABLE`` (its line numbers), one with
    cells over MAX_CELL_CHARS the cell ``OVERSIZE`` (their column keys, the cells emptied): the
    reader fails those rows, located, and reads on.
    """
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    bad: set[int] = set()
    if _byte_oriented(dialect.encoding):
        fh: Any = path.open("rb")
        lines: Iterable[str] = _decoded_lines(fh, dialect.encoding, bad)
    else:
        fh = path.open(encoding=dialect.encoding, newline="", errors="replace")
        lines = fh
    reader = csv.reader(lines, delimiter=dialect.delimiter)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        fh.close()
        return [], iter(())
    keys = [normalise_header(h) for h in header]

    def records() -> Iterator[Record]:
        start = reader.line_num + 1
        with fh:
            width = len(keys)
            for row in reader:
                line, start = start, reader.line_num + 1
                if not "".join(row).strip():
                    continue
                cells = dict(zip(keys, row, strict=False))
                if max(map(len, row)) > MAX_CELL_CHARS:  # rare: checked cell by cell only then
                    oversize = [k for k, c in zip(keys, row, strict=False) if len(c) > MAX_CELL_CHARS]
                    cells = {k: ("" if len(c) > MAX_CELL_CHARS else c) for k, c in zip(keys, row, strict=False)}
                    if oversize:
                        cells[OVERSIZE] = "|".join(oversize)
                if bad:
                    undecodable = [n for n in range(line, start) if n in bad]
                    if undecodable:
                        cells[UNDECODABLE] = ",".join(map(str, undecodable))
                extra = sum(1 for c in row[width:] if c.strip()) if len(row) > width else 0
                yield Record(line, cells, extra)

    return header, records()


# ---- cell parsers -------------------------------------------------------------------------------

def is_null(raw: str | None) -> bool:
    return not raw or raw.strip().casefold() in NULLS


def text(raw: str | None) -> str | None:
    if not raw:
        return None
    s = raw.strip()
    return None if s.casefold() in NULLS else s


_NUMBER = re.compile(r"^[+-]?(\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$")
_GROUPING = re.compile(r"(?<=\d)[ \u00a0\u202f\u2009](?=\d{3}(?:\D|$))")


def number(raw: str | None, *, percent: bool = False) -> float | None:
    s = text(raw)
    if s is None:
        return None
    if percent:
        s = s.removesuffix("%").strip()
    s = _GROUPING.sub("", s)
    if len(s) > 40:
        raise CellError(f"expected a number of at most 40 characters, not {len(s)}")
    if not _NUMBER.match(s):
        unit = " (a trailing % is allowed)" if percent else ""
        raise CellError(f"expected a number such as 0.06 or 0,06{unit}")
    value = float(s.replace(",", "."))
    if not math.isfinite(value) or abs(value) > 1e15:
        raise CellError("expected a number of plausible size (at most 1e15)")
    return value


def percent(raw: str | None) -> float | None:
    """A number with an optional trailing %."""
    return number(raw, percent=True)


def one_of(values: Mapping[str, V], expected: str) -> Callable[[str | None], V | None]:
    """A parser for a cell holding one of `values`' keys (case-insensitive), giving its value;
    anything else is a CellError whose message is `expected`."""
    def parse(raw: str | None) -> V | None:
        s = text(raw)
        if s is None:
            return None
        try:
            return values[s.casefold()]
        except KeyError:
            raise CellError(expected) from None
    return parse


def integer(raw: str | None) -> int | None:
    value = number(raw)
    if value is None:
        return None
    if not value.is_integer():
        raise CellError("expected a whole number")
    return int(value)


_TRUE = frozenset({"true", "yes", "y", "1", "да", "д", "истина", "+", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "нет", "н", "ложь", "f"})


def boolean(raw: str | None) -> bool | None:
    s = text(raw)
    if s is None:
        return None
    key = s.casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise CellError("expected yes/no (true/false, 1/0, да/нет)")


_TIME = re.compile(r"^(.+?)(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)$")
_US_DATE = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{2}|\d{4})$")


def date(raw: str | None, *, us: bool = False) -> str | None:
    """A date expression; absolute dates come back as ISO, relative ones (D+21) as written.

    ``us``: also accept month-first ``12/2/2019``, ``12/2/19`` and ``12-09-1994`` (mCODE extracts).
    """
    s = text(raw)
    if s is None:
        return None
    if m := _TIME.match(s):
        s = m.group(1).strip()
    if us and (m := _US_DATE.match(s)):
        mo, d, y = (int(g) for g in m.groups())
        if len(m.group(3)) == 2:
            y += 2000 if y < 70 else 1900
        s = f"{y:04d}-{mo:02d}-{d:02d}"
    try:
        value = parse_date(s)
    except (DateError, OverflowError, ValueError):
        forms = "YYYY-MM-DD, DD.MM.YYYY, MM.YYYY, YYYY, D+N or 'day N@regimen'"
        if us:
            forms += ", MM/DD/YYYY"
        raise CellError(f"expected a date ({forms})") from None
    return value.iso() if isinstance(value, PartialDate) else s


def us_date(raw: str | None) -> str | None:
    """:func:`date` with month-first US forms (mCODE extracts); a named function, so cells parsed
    with it are memoised like the other pure parsers."""
    return date(raw, us=True)


def items(raw: str | None) -> list[str]:
    """A '|'-separated list cell: 'bone marrow|CNS'."""
    s = text(raw)
    if s is None:
        return []
    return [part.strip() for part in s.split(LIST_SEPARATOR) if part.strip()]


_SEX = {
    "male": "male", "m": "male", "м": "male", "муж": "male", "мужской": "male", "мужчина": "male",
    "female": "female", "f": "female", "ж": "female", "жен": "female", "женский": "female",
    "женщина": "female", "other": "other", "другой": "other", "unknown": "unknown", "u": "unknown",
    "неизвестно": "unknown",
}


def sex(raw: str | None) -> str | None:
    s = text(raw)
    if s is None:
        return None
    try:
        return _SEX[s.casefold().rstrip(".")]
    except KeyError:
        raise CellError("expected male/female/other/unknown (also m/f, м/ж, муж/жен)") from None


PURE_PARSERS: frozenset[Callable[[str | None], Any]] = frozenset(
    {date, us_date, number, percent, integer, boolean, sex})
"""Parsers whose result depends on the cell's text only and is immutable (str, float, int, bool):
readers may memoise them per distinct cell text (a registry repeats the same dates and numbers)."""
