"""Cohort tables computed from FHIR data alone: baseline, best response, adverse events, deaths, survival.

Definitions (also in docs/analytics.md):

* **Index date** (cohort entry; survival and "prior therapy" count from it), per patient, by
  ``index``: ``auto`` = start of the regimen the best-response Observation points at, else the first
  treatment line's start, else the primary diagnosis onset; or ``best-response-regimen``,
  ``first-regimen``, ``hsct`` (first HSCT), ``diagnosis`` (first primary diagnosis onset).
* Partial dates count as the middle of their span (2021-12 -> 2021-12-16, 2021 -> 2021-07-02).
* **Age** in whole years at the index date (from birthDate, or the age-at-event extension).
* **Best response**: the Observation flagged best-response (the one of the index regimen when there
  are several, else the best ranked). ORR = sCR + CR + CRi + remission + VGPR + PR over all patients.
* **Paraprotein type**: the coded value of the patient's paraprotein-type Observation
  (onco-disease-characteristic), labelled with the terminology display.
* **Prior lines**: the patient's prior-lines Observation (onco-disease-characteristic) when there is
  one (the highest if several), else the count of top-level treatment lines that started before the
  index date. The stated number wins: registries often record "3 prior lines" without every regimen.
* **Adverse events**: each patient counts once per CTCAE term, at the highest grade recorded.
* **OS**: index -> death from any cause; **PFS**: index -> first progression / relapse / refractory
  disease after the index date, or death. Alive patients are censored at their last known date (the
  latest date on any of their resources). Kaplan-Meier, median with 95 % CI: see :mod:`.km`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fhir_onco.files import write_private_text

from .cases import ReadCase
from .flatten import TABLES, case_rows, flatten_all, sort_rows
from .km import KaplanMeier, kaplan_meier, reverse_kaplan_meier
from .reader import ResourceStore
from .transplant import TransplantAggregate, transplant_facts
from .values import Json, Labels, point

IndexRule = Literal["auto", "best-response-regimen", "first-regimen", "hsct", "diagnosis"]
INDEX_RULES: tuple[str, ...] = ("auto", "best-response-regimen", "first-regimen", "hsct", "diagnosis")

# Terminology keys (responses table) - the analysis rules, not codes.
RESPONSE_RANK = ("scr", "cr", "cri", "remission", "vgpr", "pr", "mr", "sd", "pd", "refractory", "relapse",
                 "not-evaluable")
RESPONDERS = frozenset({"scr", "cr", "cri", "remission", "vgpr", "pr"})
PROGRESSION = frozenset({"pd", "relapse", "refractory"})
# Regimen categories (regimen_terms keys) that are not a line of therapy.
NOT_A_LINE = frozenset({"conditioning", "gvhd-prophylaxis", "supportive", "premedication",
                        "intrathecal-prophylaxis"})
# observation_codes keys of the onco-disease-characteristic Observations the baseline table reads.
PARAPROTEIN_TYPE = "paraprotein-type"
PRIOR_LINES = "prior-lines"
# Myeloma high-risk cytogenetics (IMWG; findings keys): high = any found, standard = tested, none found.
MYELOMA_HIGH_RISK = ("cyto-del-17p", "cyto-t-4-14", "cyto-t-14-16")
NOT_FOUND = "not-detected"
DAYS_PER_MONTH = 365.25 / 12
AE_GRADES = (1, 2, 3, 4, 5)
NOT_RECORDED = "not recorded"


@dataclass
class ReportTable:
    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key_column: str | None = None  # machine key (CSV/JSON); the text shows the label column instead
    # Per-patient values behind a row that is not a count (row key -> one value per patient): ages,
    # prior lines, (months, event) of a survival endpoint. Group comparisons test on them.
    samples: dict[str, Sequence[Any]] = field(default_factory=dict)

    def add(self, **row: Any) -> None:
        self.rows.append({c: row.get(c) for c in self.columns})

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
        return out.getvalue()

    def _percent_column(self, column: str) -> str | None:
        for candidate in (f"{column}_percent", "percent" if column == "n" else "",
                          "percent_of_patients" if column == "n" else ""):
            if candidate in self.columns:
                return candidate
        return None

    def to_text(self) -> str:
        """Aligned plain-text table; a count and its percentage print as one cell, 'n (p%)'."""
        paired = {self._percent_column(c) for c in self.columns} - {None}
        shown = [c for c in self.columns if c not in paired and c != self.key_column]
        header = [_heading(c) for c in shown]
        body = []
        for r in self.rows:
            cells = []
            for c in shown:
                pc = self._percent_column(c)
                cell = _p_text(r[c]) if c == "p_value" else _text_value(r[c])
                if pc and r[c] is not None and r.get(pc) is not None:
                    cell = f"{cell} ({r[pc]:.1f}%)"
                cells.append(cell)
            body.append(cells)
        widths = [max([len(h), *(len(b[i]) for b in body)]) for i, h in enumerate(header)]
        numeric = [all(_is_number(r[c]) or r[c] is None for r in self.rows) for c in shown]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.rjust(w) if num else c.ljust(w)
                             for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

        out = [self.title, "=" * len(self.title), line(header), line(["-" * w for w in widths])]
        out += [line(b) for b in body]
        out += [f"  * {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def _heading(column: str) -> str:
    for prefix, label in (("grade_ge_", "grade >="), ("at_", "at ")):
        if column.startswith(prefix):
            column = label + column.removeprefix(prefix)
    return column.replace("_", " ")


def _p_text(p: Any) -> str:
    if p is None:
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _text_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    return "" if v is None else v


@dataclass
class CohortReport:
    n_patients: int
    index_rule: str
    tables: list[ReportTable]
    definitions: dict[str, str]

    def table(self, name: str) -> ReportTable:
        return next(t for t in self.tables if t.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_patients": self.n_patients,
            "index": self.index_rule,
            "definitions": self.definitions,
            "tables": {t.name: {"title": t.title, "columns": t.columns, "rows": t.rows, "notes": t.notes}
                       for t in self.tables},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=_json_default) + "\n"

    def to_text(self) -> str:
        return "\n".join(t.to_text() for t in self.tables)

    def to_csv(self) -> str:
        """All tables in one text: each preceded by a '# name' line (use write_csv for files)."""
        return "\n".join(f"# {t.name}\n{t.to_csv()}" for t in self.tables)

    def write_csv(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for t in self.tables:
            path = directory / f"{t.name}.csv"
            write_private_text(path, t.to_csv(), newline="")
            paths.append(path)
        return paths


def _json_default(v: Any) -> Any:
    if isinstance(v, date):
        return v.isoformat()
    raise TypeError(type(v).__name__)


def pct(n: int, total: int) -> float | None:
    return round(100 * n / total, 1) if total else None


# ---- per-patient facts --------------------------------------------------------------------------
@dataclass(slots=True)
class PatientFacts:
    patient_id: str
    row: Json
    index_date: date | None = None
    index_regimen: str | None = None
    last_date: date | None = None
    death_date: date | None = None
    progression_date: date | None = None
    last_contact: date | None = None


def _group(rows: Iterable[Json]) -> dict[str, list[Json]]:
    out: dict[str, list[Json]] = defaultdict(list)
    for r in rows:
        out[r["patient_id"]].append(r)
    return out


def _first(dates: Iterable[date | None]) -> date | None:
    return min((d for d in dates if d is not None), default=None)


def _date_columns(row: Json) -> Iterable[Any]:
    return (v for k, v in row.items() if (k == "date" or k.endswith("_date")) and k != "age_at_date")


REPORT_TABLES = tuple(n for n in TABLES if n != "drugs")


class _Cohort:
    """The flattened tables, grouped by patient, plus the per-patient derived facts."""

    def __init__(self, tables: dict[str, list[Json]], decoder: Labels, index: str):
        self.dec = decoder
        self.tables = {n: tables.get(n, []) for n in REPORT_TABLES}
        self.by = {n: _group(rows) for n, rows in self.tables.items() if n != "patients"}
        self.regimens = {r["id"]: r for r in self.tables["regimens"]}
        self.facts = [self._facts(p, index) for p in self.tables["patients"]]

    def rows(self, table: str, pid: str) -> list[Json]:
        return self.by[table].get(pid, [])

    def _lines(self, pid: str) -> list[Json]:
        return sorted((r for r in self.rows("regimens", pid)
                       if not r["part_of_id"] and r["category"] not in NOT_A_LINE and point(r["start_date"])),
                      key=lambda r: point(r["start_date"]))  # type: ignore[arg-type,return-value]

    def best_response(self, pid: str, index_regimen: str | None) -> Json | None:
        best = [r for r in self.rows("responses", pid) if r["best"]]
        if not best:
            return None
        of_index = [r for r in best if index_regimen and r["regimen_id"] == index_regimen]
        pool = of_index or best
        return min(pool, key=lambda r: RESPONSE_RANK.index(r["response"]) if r["response"] in RESPONSE_RANK
                   else len(RESPONSE_RANK))

    def _facts(self, p: Json, index: str) -> PatientFacts:
        pid = p["patient_id"]
        f = PatientFacts(pid, p)
        diagnosis = _first(point(d["onset_date"]) for d in self.rows("diagnoses", pid) if d["kind"] == "primary")
        diagnosis = diagnosis or _first(point(d["onset_date"]) for d in self.rows("diagnoses", pid))
        best_reg = None
        best = sorted((r for r in self.rows("responses", pid) if r["best"] and r["regimen_id"] in self.regimens),
                      key=lambda r: point(r["date"]) or date.max)
        if best:
            best_reg = best[0]["regimen_id"]
        lines = self._lines(pid)
        if index in ("auto", "best-response-regimen") and best_reg:
            f.index_regimen = best_reg
            f.index_date = point(self.regimens[best_reg]["start_date"])
        elif index in ("auto", "first-regimen") and lines:
            f.index_regimen = lines[0]["id"]
            f.index_date = point(lines[0]["start_date"])
        elif index == "hsct":
            f.index_date = _first(point(h["date"]) for h in self.rows("hsct", pid))
        elif index in ("auto", "diagnosis"):
            f.index_date = diagnosis
        f.death_date = point(p["death_date"])
        every = [point(v) for t in self.by for r in self.rows(t, pid) for v in _date_columns(r)]
        f.last_contact = point(p.get("last_contact_date"))
        # The living are censored at their stated last contact; without one, at the latest date of
        # any of their records (which then understates follow-up: the notes say for how many).
        f.last_date = max((d for d in [*every, f.death_date, f.last_contact] if d is not None), default=None)
        if f.index_date is not None:
            events = [point(r["date"]) for r in self.rows("responses", pid) if r["response"] in PROGRESSION]
            events += [point(r["date"]) for r in self.rows("relapses", pid)]
            f.progression_date = _first(d for d in events if d is not None and d > f.index_date)
        return f

    def age_at(self, f: PatientFacts) -> int | None:
        p = f.row
        ref = f.index_date or _first(point(d["onset_date"]) for d in self.rows("diagnoses", f.patient_id))
        birth = point(p["birth_date"])
        if birth is not None and ref is not None:
            return ref.year - birth.year - ((ref.month, ref.day) < (birth.month, birth.day))
        if p["age_years"] is None:
            return None
        at = point(p["age_at_date"])
        years = int(p["age_years"])
        if at is None or ref is None:
            return years
        return years + int((ref - at).days / 365.25)


# ---- the report ---------------------------------------------------------------------------------
def cohort_report(data: ResourceStore | dict[str, list[Json]], *, index: str = "auto",
                  age_bands: Sequence[int] = (), landmarks_months: Sequence[float] = (12,),
                  decoder: Labels | None = None) -> CohortReport:
    """All cohort tables for the patients in a store, or in already flattened tables.

    Keeps the per-patient samples group comparisons test on (:mod:`.compare`); for a cohort too
    large for memory, feed :func:`stream_report` one patient at a time instead.
    """
    agg = CohortAggregate(index=index, age_bands=age_bands, landmarks_months=landmarks_months, decoder=decoder)
    tables = flatten_all(data, agg.dec, REPORT_TABLES) if isinstance(data, ResourceStore) else data
    agg.add(tables)
    return agg.report()


def stream_report(patients: Iterable[dict[str, list[Json]]], *, index: str = "auto",
                  age_bands: Sequence[int] = (), landmarks_months: Sequence[float] = (12,),
                  decoder: Labels | None = None, keep_samples: bool = False) -> CohortReport:
    """The same tables as :func:`cohort_report`, from one patient's tables at a time
    (:func:`patient_tables`): memory holds counters and a number or two per patient, not the rows.
    Patients should come in patient id order (as :func:`.reader.iter_patients` yields them) for
    the same output as the whole-table report, label for label."""
    agg = CohortAggregate(index=index, age_bands=age_bands, landmarks_months=landmarks_months, decoder=decoder,
                          keep_samples=keep_samples)
    for tables in patients:
        agg.add(tables)
    return agg.report()


def patient_tables(cases: Iterable[ReadCase], names: Sequence[str] = REPORT_TABLES,
                   labels: Labels | None = None) -> Iterator[dict[str, list[Json]]]:
    """Each case's rows per table, sorted as the whole tables are (the unit :func:`stream_report` takes)."""
    lab = labels or Labels()
    for rc in cases:
        yield {name: sort_rows(name, rows) for name, rows in case_rows(rc, names, lab).items()}


# The first HSCT's columns the baseline counts: (column, section, terminology table, key prefix).
_HSCT_COLUMNS = (("donor_match", "HSCT donor", "hsct", "donor-"),
                 ("graft_source", "HSCT graft source", "hsct", "graft-"),
                 ("conditioning_intensity", "HSCT conditioning intensity", "regimen_terms", "intensity-"),
                 ("manipulations", "HSCT graft manipulation", "hsct", "manipulation-"))
_HSCT_FIRST = "HSCT (first, any time)"
_AE_COUNTS = ("any_grade", *(f"grade_ge_{g}" for g in AE_GRADES[1:-1]), "grade_5", "ungraded")


class CohortAggregate:
    """The report's figures, accumulated patient by patient (:meth:`add`), then tabled (:meth:`report`).

    Holds counters, an age, a number of prior lines and two survival times per patient (compact
    arrays), and for the transplant tables counters and seven days per transplanted patient
    (:class:`.transplant.TransplantAggregate`); with ``keep_samples`` also the per-patient values
    group comparisons test on. Never the rows themselves.
    """

    def __init__(self, *, index: str = "auto", age_bands: Sequence[int] = (),
                 landmarks_months: Sequence[float] = (12,), decoder: Labels | None = None,
                 keep_samples: bool = True):
        if index not in INDEX_RULES:
            raise ValueError(f"index must be one of {', '.join(INDEX_RULES)}")
        self.dec = decoder or Labels()
        self.index, self.bands, self.landmarks = index, sorted(age_bands), landmarks_months
        self.keep_samples = keep_samples
        self.n = 0
        self.sex: Counter[str] = Counter()
        self.ages: list[int] = []
        self.diagnosis: Counter[str] = Counter()
        self.stages: dict[str, Counter[str]] = defaultdict(Counter)
        self.findings: dict[str, Counter[str]] = defaultdict(Counter)
        self.high_risk_tested = False
        self.risk: Counter[str] = Counter()
        self.paraprotein: Counter[str] = Counter()
        self.lines: list[int] = []
        self.prior_drugs: Counter[str] = Counter()
        self.prior_hscts: Counter[str] = Counter()
        self.stated_for = 0
        self.any_hsct = False
        self.hsct_first: dict[str, Counter[str]] = {s: Counter() for s in (_HSCT_FIRST, *(c[1] for c in _HSCT_COLUMNS))}
        self.responses: Counter[str] = Counter()
        self.response_displays: dict[str, str] = {}
        self.no_response = 0
        self.ae: dict[str, dict[str, int]] = {}  # term -> patients per column, in first-seen order
        self.ae_labels: dict[str, str] = {}
        self.dead = 0
        self.causes: Counter[str] = Counter()
        self.cause_labels: dict[str, str] = {}
        self.os_times, self.os_events = array("d"), bytearray()
        self.pfs_times, self.pfs_events = array("d"), bytearray()
        self.excluded = self.alive = self.alive_stated = 0
        self.transplant = TransplantAggregate(self.dec, keep_samples)

    # ---- accumulate ----
    def add(self, tables: dict[str, list[Json]]) -> None:
        """Patients' flattened rows (usually one patient's), each table sorted as :mod:`.flatten` sorts it."""
        c = _Cohort(tables, self.dec, self.index)
        for f in c.facts:
            self._add(c, f)
        hsct = transplant_facts(c)
        if hsct:
            self.transplant.add(c, hsct)

    def _add(self, c: _Cohort, f: PatientFacts) -> None:
        self.n += 1
        pid, p = f.patient_id, f.row
        if p["sex"] is not None:
            self.sex[p["sex"]] += 1
        age = c.age_at(f)
        if age is not None:
            self.ages.append(age)
        dx = _first_value(c.rows("diagnoses", pid), "condition_display", "primary")
        if dx is not None:
            self.diagnosis[dx] += 1
        stages = c.rows("stages", pid)
        for system in sorted({r["system"] for r in stages if r["system"]}):
            row = _baseline_row([r for r in stages if r["system"] == system], f.index_date)
            if row is not None:
                self.stages[system][row["stage_display"] or row["stage"]] += 1
        self._add_findings(c, pid)
        paraprotein = [r for r in c.rows("diagnoses", pid) if r["paraprotein"]]
        if paraprotein:
            self.paraprotein[paraprotein[0]["paraprotein_display"] or paraprotein[0]["paraprotein"]] += 1
        self._add_prior(c, f)
        hscts = c.rows("hsct", pid)
        if hscts:
            self.any_hsct = True
            h = min(hscts, key=lambda h: h["date"] or "")
            values = [h["type"], *(_label(self.dec, table, h[col], prefix) for col, _, table, prefix in _HSCT_COLUMNS)]
            for section, value in zip(self.hsct_first, values, strict=True):
                if value is not None:
                    self.hsct_first[section][value] += 1
        best = c.best_response(pid, f.index_regimen)
        if best is None:
            self.no_response += 1
        else:
            self.responses[best["response"]] += 1
            self.response_displays[best["response"]] = best["response_display"] or best["response"]
        self._add_adverse_events(c, pid)
        if p["deceased"]:
            self.dead += 1
            if p["death_cause"]:
                self.causes[p["death_cause"]] += 1
                self.cause_labels[p["death_cause"]] = p["death_cause_display"]
        self._add_survival(f)

    def _add_findings(self, c: _Cohort, pid: str) -> None:
        seen: dict[str, str] = {}
        for r in c.rows("findings", pid):
            seen.setdefault(r["target_display"] or r["target"] or "?",
                            _label(self.dec, "findings", r["result"], "kind-") or "?")  # 'Absent', not 'not-detected'
        for target, result in seen.items():
            self.findings[target][result] += 1
        results = [r["result"] for r in c.rows("findings", pid) if r["target"] in MYELOMA_HIGH_RISK]
        if results:
            self.high_risk_tested = True
            self.risk["high" if any(x != NOT_FOUND for x in results) else "standard"] += 1

    def _add_prior(self, c: _Cohort, f: PatientFacts) -> None:
        stated = _stated_prior_lines(c, f.patient_id)
        if f.index_date is None:
            if stated is not None:
                self._line(f.patient_id, stated)
                self.stated_for += 1
            return
        prior = [r for r in c.rows("regimens", f.patient_id)
                 if r["id"] != f.index_regimen and (point(r["start_date"]) or date.max) < f.index_date]
        if stated is not None:  # the source's own number wins over what its regimens show
            self._line(f.patient_id, stated)
            self.stated_for += 1
        else:
            self._line(f.patient_id, sum(1 for r in prior if not r["part_of_id"] and r["category"] not in NOT_A_LINE))
        self.prior_drugs.update({d for r in prior for d in (r["drugs"] or "").split("|") if d})
        self.prior_hscts.update({h["type"] for h in c.rows("hsct", f.patient_id)
                                 if (point(h["date"]) or date.max) < f.index_date})

    def _line(self, pid: str, lines: int) -> None:
        self.lines.append(lines)

    def _add_adverse_events(self, c: _Cohort, pid: str) -> None:
        worst: dict[str, int | None] = {}  # term -> the patient's highest grade
        for ae in c.rows("adverse_events", pid):
            term = ae["term"] or "?"
            self.ae_labels[term] = ae["term_display"] or term
            current = worst.get(term, -1)
            grade = ae["grade"]
            if grade is not None and (current is None or current < grade):
                worst[term] = grade
            elif grade is None and current == -1:
                worst[term] = None
        for term, g in worst.items():
            counts = self.ae.setdefault(term, dict.fromkeys(_AE_COUNTS, 0))
            counts["any_grade"] += 1
            for threshold in AE_GRADES[1:-1]:
                counts[f"grade_ge_{threshold}"] += g is not None and g >= threshold
            counts["grade_5"] += g == 5
            counts["ungraded"] += g is None

    def _add_survival(self, f: PatientFacts) -> None:
        if f.index_date is None or f.last_date is None or f.last_date < f.index_date:
            self.excluded += 1
            return
        dead = f.death_date is not None
        end = f.death_date if dead else f.last_date
        assert end is not None
        os_point = ((end - f.index_date).days / DAYS_PER_MONTH, dead)
        pfs_event = _first([f.progression_date, f.death_date])
        pfs_end = pfs_event or f.last_date
        pfs_point = ((pfs_end - f.index_date).days / DAYS_PER_MONTH, pfs_event is not None)
        self.os_times.append(os_point[0])
        self.os_events.append(os_point[1])
        self.pfs_times.append(pfs_point[0])
        self.pfs_events.append(pfs_point[1])
        if not dead:
            self.alive += 1
            self.alive_stated += f.last_contact is not None

    # ---- table ----
    def report(self) -> CohortReport:
        n = self.n
        tables = [self._baseline(n), self._best_response(n), self._adverse_events(n), self._deaths(n),
                  self._survival()]
        tables += self.transplant.tables(ReportTable)
        return CohortReport(n, self.index, tables, _DEFINITIONS | {"index": _INDEX_TEXT[self.index]})

    def _baseline(self, n: int) -> ReportTable:
        t = ReportTable("baseline", "Baseline characteristics", ["section", "item", "n", "percent", "value"])
        t.add(section="Patients", item="total", n=n, percent=pct(n, n))

        def counts(section: str, counter: Counter[str], missing: bool = True) -> None:
            for item, k in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
                t.add(section=section, item=item, n=k, percent=pct(k, n))
            unknown = n - sum(counter.values())
            if missing and unknown and counter:
                t.add(section=section, item=NOT_RECORDED, n=unknown, percent=pct(unknown, n))

        counts("Sex", self.sex)
        ages = self.ages
        if self.keep_samples:
            t.samples["Age at index, years|median (range)"] = self.ages
        if ages:
            t.add(section="Age at index, years", item="median (range)", n=len(ages), percent=pct(len(ages), n),
                  value=f"{_num(statistics.median(ages))} ({min(ages)}-{max(ages)})")
            if self.bands:
                per_band = Counter(_band(a, self.bands) for a in ages)
                for label in _band_labels(self.bands):
                    t.add(section="Age at index, years", item=label, n=per_band[label],
                          percent=pct(per_band[label], n))
        counts("Diagnosis", self.diagnosis)
        for system in sorted(self.stages):
            label, values = _stage_system_label(self.dec, system), self.stages[system]
            for item, k in sorted(values.items()):
                t.add(section=label, item=item, n=k, percent=pct(k, n))
            if n - values.total():
                t.add(section=label, item=NOT_RECORDED, n=n - values.total(), percent=pct(n - values.total(), n))
        for target in sorted(self.findings):
            for result, k in sorted(self.findings[target].items()):
                t.add(section=f"Finding: {target}", item=result, n=k, percent=pct(k, n))
        self._cytogenetic_risk_rows(t, n)
        self._paraprotein_rows(t, n)
        self._prior_rows(t, n)
        if self.any_hsct:
            for section, counter in self.hsct_first.items():
                counts(section, counter, missing=False)
        return t

    def _cytogenetic_risk_rows(self, t: ReportTable, n: int) -> None:
        """Derived myeloma FISH risk: high if any IMWG high-risk abnormality was found."""
        if not self.high_risk_tested:
            return
        labels = [_label(self.dec, "findings", k) for k in MYELOMA_HIGH_RISK]
        section = f"Cytogenetic risk (high: {', '.join(x for x in labels if x)})"
        for item in ("high", "standard"):
            t.add(section=section, item=item, n=self.risk[item], percent=pct(self.risk[item], n))
        missing = n - self.risk.total()
        t.add(section=section, item=NOT_RECORDED, n=missing, percent=pct(missing, n))

    def _paraprotein_rows(self, t: ReportTable, n: int) -> None:
        """Myeloma paraprotein type of the patient's (first) diagnosis that states one."""
        values = self.paraprotein
        if not values:
            return
        section = _label(self.dec, "observation_codes", PARAPROTEIN_TYPE) or "Paraprotein type"
        for item, k in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add(section=section, item=item, n=k, percent=pct(k, n))
        if n - values.total():
            t.add(section=section, item=NOT_RECORDED, n=n - values.total(), percent=pct(n - values.total(), n))

    def _prior_rows(self, t: ReportTable, n: int) -> None:
        lines = self.lines
        if not lines or not (any(lines) or self.prior_drugs or self.prior_hscts):
            return
        if self.keep_samples:
            t.samples["Prior therapy (before index)|lines, median (range)"] = self.lines
        t.add(section="Prior therapy (before index)", item="lines, median (range)", n=len(lines),
              percent=pct(len(lines), n), value=f"{_num(statistics.median(lines))} ({min(lines)}-{max(lines)})")
        if self.stated_for:
            t.notes.append(f"prior lines: stated (prior-lines Observation) for {self.stated_for} patient(s), "
                           f"counted from the regimens before the index date for {len(lines) - self.stated_for}")
        for drug, k in sorted(self.prior_drugs.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add(section="Prior therapy (before index)", item=_label(self.dec, "drugs", drug), n=k, percent=pct(k, n))
        for kind, k in sorted(self.prior_hscts.items()):
            t.add(section="Prior therapy (before index)", item=f"{kind} HSCT", n=k, percent=pct(k, n))

    def _best_response(self, n: int) -> ReportTable:
        t = ReportTable("best_response", "Best response", ["response", "label", "n", "percent"],
                        key_column="response")
        picked = self.responses
        order = [k for k in RESPONSE_RANK if k in picked] + sorted(k for k in picked if k not in RESPONSE_RANK)
        orr = sum(picked[k] for k in RESPONDERS)
        t.add(response="ORR", label="overall response (PR or better)", n=orr, percent=pct(orr, n))
        for key in order:
            t.add(response=key, label=self.response_displays[key], n=picked[key], percent=pct(picked[key], n))
        evaluated = picked.total() - picked["not-evaluable"]
        t.add(response="evaluated", label="patients with an evaluable best response", n=evaluated,
              percent=pct(evaluated, n))
        if self.no_response:
            t.add(response=NOT_RECORDED, label="no best response recorded", n=self.no_response,
                  percent=pct(self.no_response, n))
        t.notes.append(f"percent of all {n} patients")
        return t

    def _adverse_events(self, n: int) -> ReportTable:
        cols = ["term", *_AE_COUNTS]
        t = ReportTable("adverse_events", "Adverse events by CTCAE term and grade (patients)",
                        [*cols[:1], "label", *cols[1:], *[f"{k}_percent" for k in cols[1:-1]]], key_column="term")
        rows = []
        for term, counts in self.ae.items():
            row: dict[str, Any] = {"term": term, "label": self.ae_labels[term], **counts}
            for k in cols[1:-1]:
                row[f"{k}_percent"] = pct(row[k], n)
            rows.append(row)
        for row in sorted(rows, key=lambda r: (-r["any_grade"], r["label"])):
            t.add(**row)
        t.notes.append(f"patients counted once per term at their highest grade; percent of all {n} patients")
        return t

    def _deaths(self, n: int) -> ReportTable:
        t = ReportTable("deaths", "Deaths by cause",
                        ["cause", "label", "n", "percent_of_patients", "percent_of_deaths"], key_column="cause")
        d = self.dead
        t.add(cause="all", label="deaths", n=d, percent_of_patients=pct(d, n), percent_of_deaths=pct(d, d))
        for cause, k in sorted(self.causes.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add(cause=cause, label=self.cause_labels[cause], n=k, percent_of_patients=pct(k, n),
                  percent_of_deaths=pct(k, d))
        missing = d - self.causes.total()
        if missing:
            t.add(cause=NOT_RECORDED, label="cause not recorded", n=missing, percent_of_patients=pct(missing, n),
                  percent_of_deaths=pct(missing, d))
        return t

    def _survival(self) -> ReportTable:
        landmarks = self.landmarks
        cols = ["endpoint", "n", "events", "censored", "excluded", "median_months", "ci_lower", "ci_upper"]
        for m in landmarks:
            cols += [f"at_{_num(m)}m_percent", f"at_{_num(m)}m_ci_lower", f"at_{_num(m)}m_ci_upper"]
        t = ReportTable("survival", "Survival (Kaplan-Meier, months from the index date)", cols)
        if self.keep_samples:  # built here, from the arrays, only for the group comparisons
            t.samples |= {name: [(m, bool(e)) for m, e in zip(times, events, strict=True)]
                          for name, times, events in (("OS", self.os_times, self.os_events),
                                                      ("PFS", self.pfs_times, self.pfs_events))}
        excluded = self.excluded
        for name, times, events in (("OS", self.os_times, self.os_events), ("PFS", self.pfs_times, self.pfs_events)):
            km = kaplan_meier(list(times), [bool(e) for e in events]) if times else None
            t.add(**_km_row(name, km, excluded, landmarks))
        if self.os_times:
            follow = reverse_kaplan_meier(list(self.os_times), [bool(e) for e in self.os_events])
            t.add(**_km_row("follow-up (reverse KM)", follow, excluded, ()))
        if excluded:
            t.notes.append(f"{excluded} patients without an index date or a date after it are left out")
        if self.alive:
            t.notes.append(f"living patients censored at their stated last contact: {self.alive_stated}; at their "
                           f"latest recorded date (no last contact stated): {self.alive - self.alive_stated}")
        t.notes.append("95% CI: Greenwood variance, log-log transform; median CI by Brookmeyer-Crowley; "
                       "empty = not reached")
        return t


_INDEX_TEXT = {
    "auto": "start of the regimen the best response refers to, else of the first treatment line, "
            "else the primary diagnosis onset",
    "best-response-regimen": "start of the regimen the best response refers to",
    "first-regimen": "start of the first treatment line (top-level regimen that is not conditioning, "
                     "GVHD prophylaxis, supportive care or premedication)",
    "hsct": "date of the first HSCT",
    "diagnosis": "onset of the first primary diagnosis",
}
_DEFINITIONS = {
    "partial dates": "a partial date counts as the middle of its span (YYYY-MM -> 16th, YYYY -> 2 July)",
    "age": "whole years at the index date (birth date, or age stated at a date)",
    "best response": "Observation flagged best-response; of the index regimen when several",
    "ORR": "sCR + CR + CRi + remission + VGPR + PR, over all patients",
    "paraprotein type": "coded value of the paraprotein-type Observation (onco-disease-characteristic)",
    "prior lines": "the prior-lines Observation when there is one (highest if several), else the treatment "
                   "lines (top-level, not conditioning/supportive) that started before the index date",
    "adverse events": "patients counted once per CTCAE term at their highest grade",
    "OS": "index date to death from any cause; the living censored at their last contact date (patient "
          "last_contact), else at the latest date of any of their records",
    "PFS": "index date to the first progression, relapse or refractory disease after it, or death",
    "median CI": "Kaplan-Meier; Greenwood variance, log-log pointwise CI, Brookmeyer-Crowley median CI",
    "months": f"days / {DAYS_PER_MONTH}",
}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _band_labels(cuts: list[int]) -> list[str]:
    return list(dict.fromkeys(_band(a, cuts) for a in range(cuts[0] - 1, cuts[-1] + 2)))


def _band(age: int, cuts: list[int]) -> str:
    """Cut points 65,75 -> '<65', '65-75', '>75'; 18,40,65 -> '<18', '18-40', '41-65', '>65'."""
    if age < cuts[0]:
        return f"<{cuts[0]}"
    if len(cuts) == 1:
        return f">={cuts[0]}"
    if age > cuts[-1]:
        return f">{cuts[-1]}"
    lo = cuts[0]
    for hi in cuts[1:]:
        if age <= hi:
            return f"{lo}-{hi}"
        lo = hi + 1
    raise AssertionError("unreachable: age is within the cut points")


def _first_value(rows: list[Json], column: str, kind: str | None = None) -> str | None:
    pool = [r for r in rows if kind is None or r.get("kind") == kind] or rows
    return pool[0][column] if pool else None


def _baseline_row(rows: list[Json], index_date: date | None) -> Json | None:
    """The latest row dated on or before the index date, else the earliest."""
    dated = sorted(rows, key=lambda r: point(r["date"]) or date.min)
    if index_date is not None:
        before = [r for r in dated if (point(r["date"]) or date.min) <= index_date]
        if before:
            return before[-1]
    return dated[0] if dated else None


def _stage_system_label(dec: Labels, system: str) -> str:
    table = dec.terminology["observation_codes"]
    concept = table.find(f"stage-{system}") or (table.find("risk-all") if system.startswith("all-") else None)
    return f"Stage: {concept.display if concept else system}" + (f" ({system})" if system.startswith("all-") else "")


def _stated_prior_lines(c: _Cohort, pid: str) -> int | None:
    stated = [r["prior_lines"] for r in c.rows("diagnoses", pid) if r["prior_lines"] is not None]
    return max(stated) if stated else None


def _label(dec: Labels, table: str, key: str | None, prefix: str = "") -> str | None:
    """Display of a terminology key (as flattened, i.e. without its group prefix); else the key."""
    if key is None:
        return None
    return dec.label_of_key(table, key, prefix)


def _km_row(name: str, km: KaplanMeier | None, excluded: int, landmarks: Sequence[float]) -> dict[str, Any]:
    row: dict[str, Any] = {"endpoint": name, "excluded": excluded}
    if km is None:
        return row | {"n": 0, "events": 0, "censored": 0}
    lo, hi = km.median_ci
    row |= {"n": km.n, "events": km.events, "censored": km.n - km.events,
            "median_months": _round(km.median), "ci_lower": _round(lo), "ci_upper": _round(hi)}
    for m in landmarks:
        s, slo, shi = km.survival_at(m)
        follow = max((st.time for st in km.steps), default=0.0)
        if follow < m:  # nobody followed that long: no estimate
            continue
        row[f"at_{_num(m)}m_percent"] = _round(100 * s)
        row[f"at_{_num(m)}m_ci_lower"] = _round(100 * slo) if slo is not None else None
        row[f"at_{_num(m)}m_ci_upper"] = _round(100 * shi) if shi is not None else None
    return row


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 1)
