"""``report --by FIELD`` and ``--where FIELD=VALUE``: the cohort tables per group, with a test.

A FIELD names a column of the export tables (docs/analytics.md), as ``table.column`` or, when only
one table has it, the bare column: ``conditioning_intensity``, ``donor_match``, ``sex``,
``cohort_group``, ``diagnoses.condition``. A patient's value is that of their first row in the table
(date order: the first HSCT, the first diagnosis). Values match by terminology key or display, case
insensitive, so ``--where condition=B-ALL`` and ``--where "condition=B-cell acute..."`` both work.

Each grouped table has, per group, ``n_<group>`` and ``percent_<group>`` (of the group's patients)
- or ``value_<group>`` for a median or survival estimate - then the total and ``p_value`` with
``test``: counts by Fisher's exact test (two groups) or the chi-square test (more), continuous values
by Mann-Whitney U (two groups) or Kruskal-Wallis, survival by the log-rank test, cumulative incidence
(Aalen-Johansen rows) by Gray's test. The tests come from scipy and lifelines (extra ``[stats]``), except
Gray's test, which neither has (:mod:`.gray`, checked against R cmprsk).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from .flatten import TABLES
from .report import CohortAggregate, CohortReport, ReportTable
from .values import Json

NO_VALUE = "not recorded"


class FieldError(ValueError):
    """A --by / --where field or condition that does not name a table column."""


class MissingStatsError(RuntimeError):
    """scipy / lifelines are not installed."""


def resolve_field(field: str) -> tuple[str, str]:
    """'hsct.donor_match' or 'donor_match' -> ('hsct', 'donor_match')."""
    if "." in field:
        table, column = field.split(".", 1)
        if table not in TABLES or column not in TABLES[table].column_names:
            raise FieldError(f"{field}: no such column; columns are listed in docs/analytics.md (export tables)")
        return table, column
    owners = [name for name, spec in TABLES.items() if field in spec.column_names]
    owners = [o for o in owners if field not in ("id", "patient_id")]
    if len(owners) == 1:
        return owners[0], field
    if not owners:
        raise FieldError(f"{field}: no table has this column; columns are listed in docs/analytics.md")
    raise FieldError(f"{field}: several tables have it ({', '.join(owners)}); write TABLE.{field}")


def patient_values(tables: dict[str, list[Json]], field: str) -> dict[str, str]:
    """Patient id -> the field's value (first row of the patient in date order)."""
    table, column = resolve_field(field)
    rows = tables.get(table)
    if rows is None:
        raise FieldError(f"{field}: table {table} is not part of the report input")
    out: dict[str, str] = {}
    for row in rows:  # tables are sorted by patient then date
        value = row.get(column)
        if value is not None and row["patient_id"] not in out:
            out[row["patient_id"]] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _displays(tables: dict[str, list[Json]], table: str, column: str) -> dict[str, str]:
    display = f"{column}_display"
    if display not in TABLES[table].column_names:
        return {}
    return {str(r[column]): str(r[display]) for r in tables.get(table, []) if r.get(column) and r.get(display)}


def where(tables: dict[str, list[Json]], conditions: Sequence[str]) -> dict[str, list[Json]]:
    """Only the patients meeting every FIELD=VALUE (or FIELD!=VALUE) condition."""
    keep = {r["patient_id"] for r in tables["patients"]}
    for cond in conditions:
        negate = "!=" in cond
        field, sep, wanted = cond.partition("!=" if negate else "=")
        if not sep or not field.strip():
            raise FieldError(f"--where {cond!r}: expected FIELD=VALUE or FIELD!=VALUE")
        table, column = resolve_field(field.strip())
        values = patient_values(tables, f"{table}.{column}")
        displays = _displays(tables, table, column)
        targets = _spellings(wanted.strip())

        def matches(pid: str, values: dict[str, str] = values, displays: dict[str, str] = displays,
                    targets: set[str] = targets) -> bool:
            v = values.get(pid)
            return v is not None and bool(targets & {v.casefold(), displays.get(v, "").casefold()})

        keep = {pid for pid in keep if matches(pid) != negate}
    return subset(tables, keep)


def _spellings(term: str) -> set[str]:
    """The term, and the key and display of every concept a terminology table resolves it to
    ('B-ALL' -> 'b-cell acute lymphoblastic leukemia'), group prefixes ('intensity-') dropped."""
    from fhir_onco.terminology import default_terminology

    out = {term.casefold()}
    for table in default_terminology().tables.values():
        concept = table.lookup(term)
        if concept is not None:
            out |= {concept.key.casefold(), concept.display.casefold()}
            if "-" in concept.key:
                out.add(concept.key.split("-", 1)[1].casefold())
    return out


def subset(tables: dict[str, list[Json]], patients: set[str]) -> dict[str, list[Json]]:
    return {name: [r for r in rows if r["patient_id"] in patients] for name, rows in tables.items()}


# ---- grouped report -----------------------------------------------------------------------------
_ROW_KEY = {"baseline": ("section", "item"), "best_response": ("response",), "adverse_events": ("term",),
            "deaths": ("cause",), "survival": ("endpoint",), "transplant": ("section", "item"),
            "transplant_outcomes": ("endpoint",)}
_TIME_TO_EVENT = ("survival", "transplant_outcomes")
_COUNT_COLUMNS = {"baseline": ("n",), "best_response": ("n",), "deaths": ("n",), "transplant": ("n",),
                  "adverse_events": ("any_grade", "grade_ge_2", "grade_ge_3", "grade_ge_4", "grade_5")}
_CONTINUOUS = "median (range)"  # items ending so ('lines, median (range)') have values as samples, not counts


def grouped_report(tables: dict[str, list[Json]], by: str, **options: Any) -> tuple[CohortReport, list[str]]:
    """The report's tables with a column block per group of `by`, the total and a p-value."""
    return stream_grouped_report([tables], by, **options)


def stream_grouped_report(patients: Iterable[dict[str, list[Json]]], by: str,
                          **options: Any) -> tuple[CohortReport, list[str]]:
    """:func:`grouped_report` from one patient's tables at a time (:func:`.report.patient_tables`):
    a :class:`.report.CohortAggregate` for the total and one per group, so memory holds their
    counters and per-patient numbers (which the tests need), never the rows."""
    stats = _stats()
    table, column = resolve_field(by)
    total = CohortAggregate(**options)
    per_group: dict[str, CohortAggregate] = {}
    displays: dict[str, str] = {}
    for tables in patients:
        total.add(tables)
        values = patient_values(tables, by)
        displays |= _displays(tables, table, column)
        members: dict[str, set[str]] = {}
        for r in tables["patients"]:
            if r["patient_id"] in values:
                members.setdefault(values[r["patient_id"]], set()).add(r["patient_id"])
        for g, pids in members.items():
            agg = per_group.setdefault(g, CohortAggregate(**options))
            agg.add(tables if len(members) == 1 and len(pids) == len(tables["patients"]) else subset(tables, pids))
    groups = sorted(per_group)
    if len(groups) < 2:
        raise FieldError(f"--by {by}: fewer than two groups in the data ({', '.join(groups) or 'no values'})")
    report = total.report()
    reports = {g: per_group[g].report() for g in groups}
    names = {g: displays.get(g, g) for g in groups}
    out_tables = [_merge(t, {g: _part(r, t) for g, r in reports.items()},
                         {g: r.n_patients for g, r in reports.items()}, report.n_patients, names, stats)
                  for t in report.tables]
    missing = report.n_patients - sum(r.n_patients for r in reports.values())
    notes = [f"groups by {table}.{column}: " + ", ".join(f"{names[g]} (n={reports[g].n_patients})" for g in groups)]
    if missing:
        notes.append(f"{missing} patient(s) without a {column} value are in the total only")
    for t in out_tables:
        t.notes[:0] = notes
    definitions = report.definitions | {"p-value": "counts: Fisher's exact test (2 groups) or chi-square (more); "
                                       "medians: Mann-Whitney U (2 groups) or Kruskal-Wallis; survival: log-rank; "
                                       "cumulative incidence: Gray's test (K-sample, rho=0, as R cmprsk); "
                                       "two-sided, from scipy / lifelines / fhir_onco.analytics.gray"}
    return CohortReport(report.n_patients, report.index_rule, out_tables, definitions), groups


def _merge(total: ReportTable, parts: dict[str, ReportTable], sizes: dict[str, int], n: int,
           names: dict[str, str], stats: Any) -> ReportTable:
    """One grouped table: the total's rows, each with its per-group cells and a test."""
    keys = _ROW_KEY[total.name]
    label_cols = [c for c in total.columns if c in (*keys, "label")]
    measures = _COUNT_COLUMNS.get(total.name, ())
    multi = len(measures) > 1
    kinds = {"survival": ("value",), "transplant_outcomes": ("value",), "baseline": ("n", "n_percent", "value"),
             "transplant": ("n", "n_percent", "value")}.get(total.name, ("n", "n_percent"))
    block = [_col(kind, name) for name in [*(names[g] for g in parts), ""] for kind in kinds]
    cols = [*label_cols, *(["measure"] if multi else []), *block, "p_value", "test"]
    out = ReportTable(total.name, f"{total.title} by group", cols, notes=list(total.notes),
                      key_column=total.key_column)
    index = {g: {tuple(r[k] for k in keys): r for r in t.rows} for g, t in parts.items()}
    for row in total.rows:
        key = tuple(row[k] for k in keys)
        base = {c: row[c] for c in label_cols}
        if total.name in _TIME_TO_EVENT:
            out.add(**base, **_survival_cells(row, key[0], total, parts, index, names, stats))
            continue
        sample_key = "|".join(str(k) for k in key)
        if sample_key in total.samples and str(key[-1]).endswith(_CONTINUOUS):
            out.add(**base, **_continuous_cells(row, sample_key, parts, names, stats))
            continue
        for m in measures:
            cells: Json = {"measure": m} if multi else {}
            counts = {g: (index[g].get(key) or {}).get(m) or 0 for g in parts}
            for g in parts:
                cells[_col("n", names[g])] = counts[g]
                cells[_col("n_percent", names[g])] = _pct(counts[g], sizes[g])
            cells[_col("n", "")], cells[_col("n_percent", "")] = row[m], _pct(row[m] or 0, n)
            if key != ("Patients", "total") and key != ("all",):
                cells["p_value"], cells["test"] = _count_test(counts, sizes, stats)
            out.add(**base, **cells)
    return out


def _part(report: CohortReport, total: ReportTable) -> ReportTable:
    """A group's table; empty when the group has none (no transplanted patient: no transplant tables)."""
    return next((t for t in report.tables if t.name == total.name),
                ReportTable(total.name, total.title, total.columns, key_column=total.key_column))


def _col(kind: str, group: str) -> str:
    """n_MAC, n_MAC_percent, value_MAC; the total: n_total, n_total_percent, value_total."""
    name = group or "total"
    return f"n_{name}_percent" if kind == "n_percent" else f"{kind}_{name}"


def _continuous_cells(row: Json, sample_key: str, parts: dict[str, ReportTable], names: dict[str, str],
                      stats: Any) -> Json:
    cells: Json = {}
    samples = {g: list(t.samples.get(sample_key, ())) for g, t in parts.items()}
    for g, values in samples.items():
        cells[_col("n", names[g])] = len(values)
        cells[_col("value", names[g])] = _median_range(values)
    cells[_col("n", "")], cells[_col("value", "")] = row["n"], row.get("value")
    usable = [v for v in samples.values() if v]
    if len(usable) >= 2 and len({x for v in usable for x in v}) > 1:
        if len(usable) == 2:
            p, test = stats.mannwhitneyu(*usable, alternative="two-sided").pvalue, "Mann-Whitney U"
        else:
            p, test = stats.kruskal(*usable).pvalue, "Kruskal-Wallis"
        cells["p_value"], cells["test"] = _p(p), test
    return cells


def _survival_cells(row: Json, endpoint: str, total: ReportTable, parts: dict[str, ReportTable],
                    index: dict[str, dict[tuple[Any, ...], Json]], names: dict[str, str], stats: Any) -> Json:
    cells: Json = {}
    for g in parts:
        r = index[g].get((endpoint,))
        cells[_col("value", names[g])] = _km_text(r) if r else None
    cells[_col("value", "")] = _km_text(row)
    data = {g: list(t.samples.get(endpoint, ())) for g, t in parts.items()}
    if row.get("method") == "Aalen-Johansen":
        cells["p_value"], cells["test"] = _gray(data)
        return cells
    if endpoint in total.samples and sum(1 for d in data.values() if d) >= 2:
        from lifelines.statistics import multivariate_logrank_test

        times = [t for d in data.values() for t, _ in d]
        events = [e for d in data.values() for _, e in d]
        labels = [g for g, d in data.items() for _ in d]
        if any(events):
            result = multivariate_logrank_test(times, labels, events)
            cells["p_value"], cells["test"] = _p(result.p_value), "log-rank"
    return cells


def _gray(data: dict[str, list[tuple[float, int]]]) -> tuple[float | None, str | None]:
    """Gray's test on (day, 1 = the event / 2 = a competing event / 0 = censored) per group."""
    from .gray import gray_test

    used = {g: d for g, d in data.items() if d}
    if len(used) < 2 or not any(e == 1 for d in used.values() for _, e in d):
        return None, None
    times = [max(t, 0.0) for d in used.values() for t, _ in d]
    status = [e for d in used.values() for _, e in d]
    groups = [g for g, d in used.items() for _ in d]
    return _p(gray_test(times, status, groups).p_value), "Gray"


def _km_text(row: Json) -> str:
    if "method" in row:  # transplant outcomes: the estimate at 1 year
        value = row.get("at_1y_percent")
        lo, hi = row.get("at_1y_ci_lower"), row.get("at_1y_ci_upper")
        text = f"1y {value:.1f}% ({_num(lo)}-{_num(hi)})" if value is not None else "1y not estimable"
        return f"{text}; {row.get('events', 0)}/{row.get('n', 0)} events"
    median = row.get("median_months")
    lo, hi = row.get("ci_lower"), row.get("ci_upper")
    text = f"median {median:.1f} ({_num(lo)}-{_num(hi)})" if median is not None else "median not reached"
    return f"{text}; {row.get('events', 0)}/{row.get('n', 0)} events"


def _num(x: float | None) -> str:
    return "NR" if x is None else f"{x:.1f}"


def _median_range(values: list[float]) -> str | None:
    if not values:
        return None
    import statistics

    med = statistics.median(values)
    return f"{med:g} ({min(values):g}-{max(values):g})"


def _count_test(counts: dict[str, int], sizes: dict[str, int], stats: Any) -> tuple[float | None, str | None]:
    table = [[counts[g], sizes[g] - counts[g]] for g in counts]
    if sum(r[0] for r in table) == 0 or sum(r[1] for r in table) == 0:
        return None, None  # nobody or everybody: nothing to compare
    if len(table) == 2:
        return _p(stats.fisher_exact(table).pvalue), "Fisher exact"
    return _p(stats.chi2_contingency(table).pvalue), "chi-square"


def _pct(k: int, n: int) -> float | None:
    return round(100 * k / n, 1) if n else None


def _p(p: float) -> float | None:
    return None if p is None or math.isnan(p) else round(float(p), 4)


def _stats() -> Any:
    try:
        import lifelines  # noqa: F401
        from scipy import stats
    except ImportError:
        raise MissingStatsError("group comparisons need scipy and lifelines: pip install 'fhir-onco[stats]'") from None
    return stats
