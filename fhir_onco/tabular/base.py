"""Machinery shared by the table layouts: find the files, index them by patient, read one row's
cells with located errors, and remember which file, row and column each case field came from so
that schema and mapping errors point back at ``file:row:column``."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from fhir_onco.case import Case, CaseError, parse_case
from fhir_onco.validation.report import Issue, Report

from . import dialect as d
from .store import Row, RowStore

T = TypeVar("T")
_MISSING = object()
_PARSED: dict[tuple[Any, str], Any] = {}  # (pure parser, cell text) -> value; cleared when full
_PARSED_MAX = 65_536
_LOCAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]{0,63}$")


class TabularError(ValueError):
    """The extract cannot be read at all (missing driver file, missing key column); see `report`."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__(report.to_text())


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # header as documented
    doc: str = ""  # what the column holds (docs/registry.md is generated from these)
    required: bool = False  # the header must have it (cells may still be checked for emptiness)


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str  # logical table name
    files: tuple[str, ...]  # accepted file names (stems without .csv)
    key: str  # patient key column
    columns: tuple[Column, ...]
    driver: bool = False

    def known(self) -> set[str]:
        return {d.normalise_header(c.name) for c in self.columns}


@dataclass(slots=True)
class TableFile:
    spec: TableSpec
    path: Path
    label: str  # how locations name the file
    dialect: d.Dialect
    header: list[str]

    _columns: dict[str, str] = field(default_factory=dict)  # key -> column_name (asked per cell)
    # key as the reader names it -> (normalised key, column name): resolved once per file, not per cell
    access: dict[str, tuple[str, str]] = field(default_factory=dict)

    def accessor(self, key: str) -> tuple[str, str]:
        """(normalised key, column as written) of a column the reader asks for by `key`."""
        acc = self.access.get(key)
        if acc is None:
            norm = d.normalise_header(key)
            acc = self.access[key] = (norm, self.column_name(norm))
        return acc

    def column_name(self, key: str) -> str:
        """The column as written in this file's header, else as documented."""
        name = self._columns.get(key)
        if name is None:
            name = next((h for h in self.header if d.normalise_header(h) == key), None)
            if name is None:
                name = next((c.name for c in self.spec.columns if d.normalise_header(c.name) == key), key)
            self._columns[key] = name
        return name


@dataclass(frozen=True, slots=True)
class Where:
    file: str
    line: int
    columns: dict[str, str]  # field path relative to the item -> column header


class Provenance:
    """Case field paths ('regimens[2].drugs[0].dose') -> file:row:column."""

    def __init__(self) -> None:
        self._entries: dict[str, Where] = {}

    def add(self, path: str, where: Where) -> None:
        self._entries[path] = where

    def locate(self, path: str) -> str | None:
        best: str | None = None
        for prefix in self._entries:
            hit = not prefix or path == prefix or path.startswith((prefix + ".", prefix + "["))
            if hit and (best is None or len(prefix) > len(best)):
                best = prefix
        if best is None:
            return None
        where = self._entries[best]
        rest = path[len(best):].lstrip(".")
        column = where.columns.get(rest)
        if column is None:
            keys = [k for k in where.columns if k and (rest.startswith((k + ".", k + "[")))]
            column = where.columns[max(keys, key=len)] if keys else None
        return f"{where.file}:{where.line}" + (f":{column}" if column else "")


class RowReader:
    """One row of one table: typed cells, with every bad cell recorded as file:row:column."""

    def __init__(self, table: TableFile, row: Row, report: Report):
        self.table, self.row, self.report = table, row, report
        self.fields: dict[str, str] = {}  # relative field path -> column header

    @property
    def line(self) -> int:
        return self.row.line

    def location(self, key: str | None = None) -> str:
        col = f":{self.table.column_name(d.normalise_header(key))}" if key else ""
        return f"{self.table.label}:{self.row.line}{col}"

    def error(self, key: str | None, message: str) -> None:
        self.report.error(self.location(key), message, rule="tabular")

    def warning(self, key: str | None, message: str) -> None:
        self.report.warning(self.location(key), message, rule="tabular")

    def raw(self, key: str) -> str | None:
        acc = self.table.access.get(key) or self.table.accessor(key)
        return self.row.cells.get(acc[0])

    def has(self, key: str) -> bool:
        return not d.is_null(self.raw(key))

    def get(self, key: str, parse: Callable[[str | None], T] = d.text, *, field: str | None = None,  # type: ignore[assignment]
            required: bool = False, what: str = "a value") -> T | None:
        """Parse a cell; `field` records which case field it fills (for later error locations).

        The hot path of the table readers (~150 cells per patient): the column is resolved once per
        file (`TableFile.accessor`), the null test runs on the stripped text once, and pure parsers
        (`dialect.PURE_PARSERS`) are memoised per distinct cell text.
        """
        acc = self.table.access.get(key) or self.table.accessor(key)
        if field is not None:
            self.fields[field] = acc[1]
        raw = self.row.cells.get(acc[0])
        s = raw.strip() if raw else None
        if not s or s.casefold() in d.NULLS:
            if required:
                self.error(key, f"expected {what} (the cell is empty)")
            return None
        if parse is d.text:
            return s  # type: ignore[return-value]
        pure = parse in d.PURE_PARSERS
        if pure:
            memo_key = (parse, raw)
            value = _PARSED.get(memo_key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[no-any-return]
        try:
            value = parse(raw)
        except d.CellError as exc:
            self.error(key, str(exc))
            return None
        if pure:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[memo_key] = value
        return value  # type: ignore[no-any-return]

    def put_cells(self, target: dict[str, Any], cells: tuple[tuple[str, str, Any], ...]) -> None:
        """``put(target, key, self.get(column, parse, field=key))`` for each (key, column, parse), in
        order: the optional cells of an item in one call instead of two per cell."""
        access, fields, row = self.table.access, self.fields, self.row.cells
        for key, column, parse in cells:
            acc = access.get(column) or self.table.accessor(column)
            fields[key] = acc[1]
            raw = row.get(acc[0])
            if not raw:
                continue
            s = raw.strip()
            if not s or s.casefold() in d.NULLS:
                continue
            value = s if parse is d.text else self.get(column, parse)
            if value is not None and value != []:
                target[key] = value

    def local_id(self, key: str, *, field: str | None = None) -> str | None:
        value = self.get(key, field=field)
        if value is not None and not _LOCAL_ID.match(value):
            self.error(key, "expected an id of letters, digits, '.', '-', '_' (at most 64, starting with a "
                            "letter or digit)")
            return None
        return value

    def where(self) -> Where:
        return Where(self.table.label, self.row.line, dict(self.fields))


def _spell(here: Any) -> str:
    """'diagnoses[0].stages[1]' from the (parent, key) links of `TabularReader._date_order`."""
    parts: list[Any] = []
    while isinstance(here, tuple):
        here, key = here
        parts.append(key)
    out = here
    for key in reversed(parts):
        out = f"{out}[{key}]" if isinstance(key, int) else (f"{out}.{key}" if out else str(key))
    return out


def put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set a case field only when the cell had a value (so model defaults stay in force)."""
    if value is not None and value != []:
        target[key] = value


@dataclass(slots=True)
class TabularPatient:
    """One patient read from tables: the case (None when a cell or the schema was wrong)."""

    source: str  # 'patients.csv:12' - the patient's driver row
    case: Case | None
    report: Report
    provenance: Provenance = field(default_factory=Provenance)

    def locate(self, issue: Issue) -> Issue:
        """Rewrite '<source>: regimens[2].dose' into 'drugs.csv:40:dose' where the path is known."""
        prefix = f"{self.source}: "
        if not issue.location.startswith(prefix):
            return issue
        where = self.provenance.locate(issue.location[len(prefix):])
        if where is None:
            return issue
        return Issue(issue.severity, where, issue.message, issue.code, issue.rule, issue.profile, issue.element)


class TabularReader:
    """Base of the layouts: discovers the files, indexes them, and yields one patient at a time.

    Use as a context manager (the index lives in a temporary directory)::

        with RegistryReader("extract/") as reader:
            for patient in reader:
                ...
        reader.report  # file-level findings: unknown columns, rows of unknown patients
    """

    tables: tuple[TableSpec, ...] = ()
    layout = "tables"

    def __init__(self, directory: str | Path, *, encoding: str | None = None, tmpdir: str | Path | None = None):
        self.directory = Path(directory)
        self.encoding = encoding
        self.tmpdir = tmpdir
        self.report = Report()
        self.files: dict[str, TableFile] = {}
        self._store: RowStore | None = None

    # ---- discovery ----------------------------------------------------------------------------
    def _discover(self) -> None:
        if not self.directory.is_dir():
            self.report.error(f"{self.directory}", "expected a directory of CSV files", rule="tabular")
            raise TabularError(self.report)
        present = {p.stem.casefold(): p for p in sorted(self.directory.glob("*.csv")) if self._inside(p)}
        used: set[str] = set()
        for spec in self.tables:
            for stem in spec.files:
                path = present.get(stem.casefold())
                if path is not None:
                    self._open(spec, path)
                    used.add(stem.casefold())
                    break
        for stem, path in present.items():
            if stem not in used:
                self.report.warning(str(path), "not a table of the " + self.layout + " layout; ignored", rule="tabular")
        if not any(spec.driver and spec.name in self.files for spec in self.tables):
            names = " or ".join(f"{s.files[0]}.csv" for s in self.tables if s.driver)
            self.report.error(str(self.directory), f"expected {names} (the list of patients)", rule="tabular")
        if not self.report.ok:
            raise TabularError(self.report)

    def _inside(self, path: Path) -> bool:
        """A link to a file outside the extract's directory is refused (it could expose any file)."""
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            self.report.error(str(path), "cannot read: a broken or looping link", rule="tabular")
            return False
        if path.is_symlink() and not target.is_relative_to(self.directory.resolve()):
            self.report.error(str(path), "a link to a file outside the input directory; refused", rule="tabular")
            return False
        return True

    def _open(self, spec: TableSpec, path: Path) -> None:
        label = str(path)
        try:
            dia = d.sniff(path, spec.known() | {spec.key}, self.encoding)
            header, _ = d.read_records(path, dia)
        except (OSError, UnicodeDecodeError, LookupError, csv.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            self.report.error(label, f"cannot read ({reason})", rule="tabular")
            return
        table = TableFile(spec, path, label, dia, header)
        keys = [d.normalise_header(h) for h in header]
        missing = [c.name for c in spec.columns if c.required and d.normalise_header(c.name) not in keys]
        if d.normalise_header(spec.key) not in keys:
            missing.insert(0, spec.key)
        for name in missing:
            self.report.error(f"{label}:1:{name}", f"expected a column {name!r} in the header "
                              f"(read as {dia.describe()})", rule="tabular")
        known = spec.known() | {d.normalise_header(spec.key)}
        unknown = [h for h, k in zip(header, keys, strict=True) if k not in known]
        if d.normalise_header(spec.key) not in keys:
            # no key column: most likely a file without a header line, whose first line is a patient's
            # row - so its cells are not repeated here
            self.report.error(f"{label}:1", f"the first line has none of the expected column names "
                              f"({len(header)} cells); is the header line missing?", rule="tabular")
        elif unknown:
            self.report.warning(f"{label}:1", f"columns not in the {spec.name} table, ignored: "
                                f"{', '.join(unknown)}", rule="tabular")
        seen: dict[str, str] = {}
        for h, k in zip(header, keys, strict=True):
            if k in seen and k and not missing:
                self.report.error(f"{label}:1:{h}", f"column repeats {seen[k]!r}", rule="tabular")
            seen[k] = h
        self.files[spec.name] = table

    # ---- loading ------------------------------------------------------------------------------
    def __enter__(self) -> TabularReader:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def discover(self) -> None:
        """Find the tables and check their headers without reading rows (raises TabularError)."""
        self._discover()

    def open(self) -> None:
        self.discover()
        self._store = RowStore(self.tmpdir)
        for table in self.files.values():
            self._store.add_rows(table.spec.name, self.keyed_rows(table), driver=table.spec.driver)
        for tab, line in self._store.orphans():
            self.report_orphan(tab, line)

    def report_orphan(self, table_name: str, line: int) -> None:
        """Rows of a patient missing from the driver file: reported at the first such row of each table."""
        table = self.files[table_name]
        driver = self.driver_file()
        self.report.error(f"{table.label}:{line}:{table.column_name(d.normalise_header(table.spec.key))}",
                          f"expected a patient listed in {driver.label if driver else 'the patient list'}; "
                          "rows of this patient are not imported", rule="tabular")

    def driver_file(self) -> TableFile | None:
        return next((t for t in self.files.values() if t.spec.driver), None)

    def keyed_rows(self, table: TableFile) -> Iterator[tuple[str, int, dict[str, str], int]]:
        """(patient id, line, cells, extra cells) of every row of one table; rows without a patient id
        and unreadable files are reported to ``self.report``."""
        key = d.normalise_header(table.spec.key)
        _, records = d.read_records(table.path, table.dialect)
        try:
            for rec in records:
                patient = d.text(rec.cells.get(key))
                if patient is None:
                    self.report.error(f"{table.label}:{rec.line}:{table.column_name(key)}",
                                      "expected a patient id (the cell is empty); row not imported", rule="tabular")
                    continue
                yield patient, rec.line, rec.cells, rec.extra
        except csv.Error as exc:
            self.report.error(table.label, f"not readable as CSV: {exc}", rule="tabular")
        except UnicodeDecodeError:
            self.report.error(table.label, f"not {table.dialect.encoding} text", rule="tabular")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # ---- patients -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[TabularPatient]:
        for lines, rows in self.patient_rows():
            yield self.patient_from_rows(lines, rows)

    def patient_rows(self) -> Iterator[tuple[list[int], list[Row]]]:
        """Each patient's driver-file lines and rows, in driver order: the input of
        :meth:`patient_from_rows` (which ``map_tables -j N`` runs in its workers)."""
        if self._store is None:
            self.open()
        assert self._store is not None
        for patient_id, lines in self._store.patients():
            yield lines, self._store.rows_of(patient_id)

    def patient_keys(self) -> Iterator[tuple[str, list[int]]]:
        """Each patient's id and driver-file lines, in driver order: what ``map_tables -j N`` sends
        its workers, which read the rows themselves (:meth:`rows_of`) instead of the parent reading
        and pickling them (the parent's share of the CPU capped the speed-up)."""
        if self._store is None:
            self.open()
        assert self._store is not None
        yield from self._store.patients()

    def rows_of(self, patient_id: str) -> list[Row]:
        """One patient's rows (ordered by table name, then line); safe in a forked worker."""
        assert self._store is not None, "opened"
        return self._store.rows_of(patient_id)

    def patient_from_rows(self, lines: list[int], rows: list[Row]) -> TabularPatient:
        """One patient from its driver-file lines and its rows (ordered by table name, then line).

        The single place where rows become a case: the SQLite-indexed iteration above and the Spark
        runner (which groups rows by patient itself) both call it, so both give the same case and the
        same located messages.
        """
        driver = self.driver_file()
        assert driver is not None
        source = f"{driver.label}:{lines[0]}"
        report = Report()
        prov = Provenance()
        if len(lines) > 1:
            for extra in lines[1:]:
                report.error(f"{driver.label}:{extra}:{driver.column_name(d.normalise_header(driver.spec.key))}",
                             f"patient id repeats row {lines[0]}; one row per patient", rule="tabular")
        by_table: dict[str, list[RowReader]] = {}
        seen_rows: dict[tuple[str, str], int] = {}
        for row in rows:
            reader = RowReader(self.files[row.table], row, report)
            self._row_checks(reader, seen_rows)
            by_table.setdefault(row.table, []).append(reader)
        case = None
        try:
            data = self.build(by_table, prov, report)
            if report.ok and data is not None:
                self._date_order(data, "", prov, source, report)
            if report.ok and data is not None:
                try:
                    case = parse_case(data, source)
                except CaseError as exc:
                    for location, message in exc.issues:
                        where = prov.locate(location) or f"{source}: {location}"
                        report.error(where, message, rule="case-schema")
        except (ArithmeticError, ValueError, RecursionError) as exc:
            # a value no cell parser foresaw must fail this patient only, never the whole extract
            case = None
            report.error(source, f"cannot read this patient's rows ({type(exc).__name__})", rule="tabular")
        return TabularPatient(source, case, report, prov)

    @staticmethod
    def _row_checks(reader: RowReader, seen_rows: dict[tuple[str, str], int]) -> None:
        """Row-level faults located at file:row: undecodable lines, over-long cells, extra cells, repeats."""
        row = reader.row
        undecodable = row.cells.pop(d.UNDECODABLE, None)
        if undecodable:
            reader.error(None, f"line(s) {undecodable} are not {reader.table.dialect.encoding} text (the rest of the "
                               "file is); row not imported")
        for key in filter(None, (row.cells.pop(d.OVERSIZE, None) or "").split("|")):
            reader.error(key, f"a cell of more than {d.MAX_CELL_CHARS} characters; row not imported")
        if row.extra:
            reader.error(None, f"{row.extra} cell(s) beyond the header's columns (a separator inside an "
                               "unquoted cell?)")
        # equal iff the cells are: every row of a file has its cells in the header's order
        signature = (row.table, tuple(row.cells.items()))
        first = seen_rows.setdefault(signature, row.line)
        if first != row.line:
            reader.error(None, f"repeats row {first} of the same file exactly; remove one of them")

    _DATE_PAIRS = (("start", "end"), ("onset", "resolved"))

    def _date_order(self, data: Any, path: str, prov: Provenance, source: str, report: Report) -> None:
        """An end before its start, located at the row and column of the end date."""
        from fhir_onco.dates import PartialDate, parse_date

        # a node's path is kept as (parent, key) links and spelt out only for a finding: most
        # nodes have none, and formatting every path was most of this walk's cost
        stack: list[tuple[Any, Any]] = [(data, path)]
        while stack:
            node, here = stack.pop()
            if type(node) is list:
                stack.extend((v, (here, i)) for i, v in enumerate(node) if type(v) is dict or type(v) is list)
                continue
            if type(node) is not dict:
                continue
            for first, last in self._DATE_PAIRS:
                a, b = node.get(first), node.get(last)
                if not (isinstance(a, str) and isinstance(b, str)):
                    continue
                try:
                    start, end = parse_date(a), parse_date(b)
                except (ValueError, ArithmeticError):
                    continue  # the case schema reports a bad date with its location
                if isinstance(start, PartialDate) and isinstance(end, PartialDate) and \
                        end.latest() < start.earliest():
                    spelt = _spell(here)
                    where = f"{spelt}.{last}" if spelt else last
                    report.error(prov.locate(where) or f"{source}: {where}",
                                 f"{last} is before {first} (dates out of order)", rule="tabular")
            stack.extend((v, (here, k)) for k, v in node.items() if type(v) is dict or type(v) is list)

    def build(self, tables: dict[str, list[RowReader]], prov: Provenance, report: Report) -> dict[str, Any] | None:
        raise NotImplementedError
