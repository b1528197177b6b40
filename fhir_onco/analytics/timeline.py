"""A patient swimmer plot from FHIR: regimens as bars, HSCT with a day +N axis, MRD on a log axis,
adverse events and GVHD with grades, responses, relapses, engraftment, chimerism, diagnoses, death.

:func:`build_timeline` extracts what is drawn (plain data, testable without matplotlib);
:func:`plot_timeline` draws it on a matplotlib Figure (imported lazily, no pyplot, no GUI backend).
Every artist carries a gid ("regimen", "radiotherapy", "hsct", "hsct-day0", "mrd", "mrd-negative",
"mrd-range", "mrd-trend", "ae", "gvhd", "response", "relapse", "engraftment", "chimerism",
"diagnosis", "graft-failure", "death"), which SVG output keeps as element ids.

Dates are drawn with the precision they have: a date known only to the month or year is a hatched
range over its whole span (never a point in its middle); a date known only to be before / after /
during a regimen or an HSCT (``before@allo``) is a range up to / from that anchor, open (arrow) on
the unknown side; a GVHD episode runs from onset to resolution (open while unresolved). MRD
negatives are "below threshold" markers at their threshold (or in a "not detected" band when no
threshold was given), never values joined to the measured ones by a line.
"""

from __future__ import annotations

import datetime as _dt
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_onco.dates import DateError, DateValue, PartialDate, RelativeDate, UnknownDate, parse_date
from fhir_onco.files import open_private

from .cases import ReadCase, read_cases
from .flatten import flatten_cases
from .reader import ResourceStore
from .transplant import ACUTE, acute_label, chronic_label
from .values import Json, Labels, fhir_date, point

# Bar colours by regimen category (regimen_terms keys without "category-").
CATEGORY_COLOURS = {
    "induction": "#1f77b4", "consolidation": "#17becf", "maintenance": "#9ecae1", "salvage": "#ff7f0e",
    "bridging": "#9467bd", "conditioning": "#d62728", "gvhd-prophylaxis": "#e377c2", "supportive": "#7f7f7f",
    "post-transplant-consolidation": "#bcbd22", "premedication": "#c7c7c7", "intrathecal-prophylaxis": "#8c564b",
}
RADIOTHERAPY_COLOUR = "#2ca02c"
HSCT_COLOUR = "#b2182b"
GRADE_COLOURS = {None: "#969696", 1: "#fdd49e", 2: "#fdae6b", 3: "#f16913", 4: "#d94801", 5: "#7f2704"}
# GVHD: acute by overall grade, chronic by NIH severity (mild, moderate, severe = 2, 3, 4)
GVHD_COLOURS = {None: "#bcbddc", 1: "#dadaeb", 2: "#9e9ac8", 3: "#756bb1", 4: "#54278f"}
SEVERITY_LEVEL = {"mild": 2, "moderate": 3, "severe": 4}
RESPONSE_COLOURS = {"good": "#1a9850", "stable": "#fee08b", "bad": "#d73027", "other": "#737373"}
KIND_COLOURS = {"death": "black", "relapse": RESPONSE_COLOURS["bad"], "hsct": HSCT_COLOUR, "engraftment": "#2166ac",
                "chimerism": "#5e3c99", "diagnosis": "#444444", "graft-failure": "#8c510a"}
KIND_MARKERS = {"death": "X", "relapse": "v", "hsct": "*", "engraftment": "^", "chimerism": "s", "diagnosis": "P",
                "graft-failure": "x", "ae": "D"}
_GOOD = {"scr", "cr", "cri", "remission", "vgpr", "pr", "mr"}
_BAD = {"pd", "refractory", "relapse"}
TRANSPLANT_WINDOW = (60, 365)  # days before / after day 0 shown by default for a transplant case
ENGRAFTMENT_LABEL = {"neutrophil": "ANC engraftment", "platelet": "PLT engraftment", "leukocyte": "WBC engraftment"}
FONT_SIZE = 8
LANE_LABEL_WIDTH = 30  # characters per line of a lane label (wrapped, never cut)


@dataclass
class Span:
    label: str
    start: _dt.date
    end: _dt.date
    kind: str  # "regimen" or "radiotherapy"
    category: str | None = None
    approximate: bool = False  # a date known only to the month/year, or no end date


@dataclass
class Event:
    """A dated fact. A point when `end` is None; else a range from `date` (its first possible /
    actual day) to `end`, open on a side whose bound is not known."""

    date: _dt.date
    label: str
    kind: str  # "ae", "gvhd", "response", "relapse", "death", "hsct", "engraftment", ...
    value: Any = None  # AE grade, response key, GVHD colour level
    approximate: bool = False  # the date is known only to the month / year, or only bounded
    end: _dt.date | None = None
    open_start: bool = False
    open_end: bool = False

    @property
    def last(self) -> _dt.date:
        return self.end or self.date

    @property
    def is_range(self) -> bool:
        return self.end is not None


@dataclass
class MrdPoint:
    date: _dt.date
    percent: float | None  # measured value, or the threshold of a negative; None: negative without one
    negative: bool
    approximate: bool = False
    end: _dt.date | None = None  # last day of a partial date's span


@dataclass
class PatientTimeline:
    title: str
    spans: list[Span] = field(default_factory=list)
    hsct: list[Event] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # responses, relapses, engraftment, death ...
    adverse_events: list[Event] = field(default_factory=list)  # adverse events and GVHD episodes
    mrd: list[MrdPoint] = field(default_factory=list)
    day0: _dt.date | None = None  # the HSCT the day axis counts from
    day0_span: tuple[_dt.date, _dt.date] | None = None  # its date's span when known only to the month / year

    def transplant_window(self) -> tuple[_dt.date, _dt.date] | None:
        """The default view of a transplant case: day -60 to day +365 (within the data)."""
        if self.day0 is None or not self.dates:
            return None
        first, last = self.day0_span or (self.day0, self.day0)  # an HSCT known to the month: its whole span
        lo = max(min(self.dates), first - _dt.timedelta(days=TRANSPLANT_WINDOW[0]))
        hi = min(max(self.dates), last + _dt.timedelta(days=TRANSPLANT_WINDOW[1]))
        return lo, max(hi, last + _dt.timedelta(days=30))

    @property
    def dates(self) -> list[_dt.date]:
        out = [d for s in self.spans for d in (s.start, s.end)]
        out += [d for e in (*self.hsct, *self.events, *self.adverse_events) for d in (e.date, e.last)
                if not (e.open_start and d == e.date) and not (e.open_end and d == e.last)]
        return out + [d for m in self.mrd for d in (m.date, m.end or m.date)]


def _approx(value: str | None) -> bool:
    pd = fhir_date(value)
    return pd is not None and pd.precision != "day"


def _span_dates(start: str | None, end: str | None) -> tuple[_dt.date, _dt.date, bool] | None:
    s, e = fhir_date(start), fhir_date(end)
    if s is None:
        return None
    approximate = s.precision != "day" or (e is not None and e.precision != "day") or e is None
    last = (e or s).latest() if e is not None or s.precision != "day" else s.to_date()
    return s.earliest(), max(last, s.earliest()), approximate


def _event(value: str | None, label: str, kind: str, item_value: Any = None) -> Event | None:
    """A point for a day, a range over the span of a month or a year."""
    pd = fhir_date(value)
    if pd is None:
        return None
    if pd.precision == "day":
        return Event(pd.to_date(), label, kind, item_value)
    return Event(pd.earliest(), label, kind, item_value, approximate=True, end=pd.latest())


class _Bounds:
    """Dates the case gives only as before / after / during an HSCT or a regimen -> their range."""

    def __init__(self, rc: ReadCase | None):
        self.rc = rc
        self.exprs: dict[str, str] = {}
        self.regimens: dict[str, tuple[str | None, str | None]] = {}
        if rc is None:
            return
        c = rc.case
        items: list[tuple[str, str | None]] = [(f"adverse_events[{i}]", a.onset)
                                               for i, a in enumerate(c.adverse_events)]
        items += [(f"responses[{i}]", r.date) for i, r in enumerate(c.responses)]
        for i, d in enumerate(c.diagnoses):
            items.append((f"diagnoses[{i}]", d.onset))
            items += [(f"diagnoses[{i}].relapses[{j}]", r.date) for j, r in enumerate(d.relapses)]
        for i, h in enumerate(c.hsct):
            items += [(f"hsct[{i}].gvhd[{j}]", g.onset) for j, g in enumerate(h.gvhd)]
            items += [(f"hsct[{i}].chimerism[{j}]", x.date) for j, x in enumerate(h.chimerism)]
        self.exprs = {rc.resource_id(path): expr for path, expr in items if expr}
        self.regimens = {rc.resource_id(f"regimens[{i}]"): (r.start, r.end) for i, r in enumerate(c.regimens)}

    def relative(self, expr: str | None) -> tuple[_dt.date, _dt.date] | None:
        """D+N / day N of an anchor known only to the month or year: every day it may be (the
        resolved date would be the coarser precision they share, up to a whole year)."""
        parsed = self._parsed(expr)
        if not isinstance(parsed, RelativeDate) or self.rc is None:
            return None
        c = self.rc.case
        if parsed.anchor_kind == "hsct":
            ids = [h.id for h in c.hsct]
            anchor_id = parsed.anchor_id or (ids[0] if len(ids) == 1 else None)
            anchor = next((h.date for h in c.hsct if h.id == anchor_id), None)
            offset = parsed.offset
        else:
            anchor = next((r.start for r in c.regimens if r.id == parsed.anchor_id), None)
            offset = parsed.offset - 1  # day 1 is the start
        pd = self.rc.date(anchor)
        if pd is None or pd.precision == "day":
            return None  # exact anchor: the resolved date is exact too
        return pd.earliest() + _dt.timedelta(days=offset), pd.latest() + _dt.timedelta(days=offset)

    def relative_event(self, row_id: str, label: str, kind: str, value: Any = None) -> Event | None:
        rng = self.relative(self.exprs.get(row_id))
        return None if rng is None else Event(rng[0], label, kind, value, approximate=True, end=rng[1])

    def event(self, row_id: str, label: str, kind: str, value: Any = None) -> Event | None:
        """The range of an item whose date is bounded by an anchor; None when it is not."""
        parsed = self._parsed(self.exprs.get(row_id))
        if not isinstance(parsed, UnknownDate) or parsed.bound is None or parsed.anchor_id is None:
            return None
        anchor = self._anchor(parsed.anchor_id)
        if anchor is None:
            return None
        first, last = anchor
        if parsed.bound == "before":
            return Event(first, label, kind, value, approximate=True, end=first, open_start=True)
        if parsed.bound == "after":
            return Event(last, label, kind, value, approximate=True, end=last, open_end=True)
        return Event(first, label, kind, value, approximate=True, end=last)

    def _parsed(self, expr: str | None) -> DateValue | None:
        """A written date parsed, or None (no case behind the rows, nothing written, not a date)."""
        if expr is None or self.rc is None:
            return None
        try:
            return parse_date(expr)
        except DateError:
            return None

    def _anchor(self, anchor_id: str) -> tuple[_dt.date, _dt.date] | None:
        assert self.rc is not None
        rc = self.rc
        for h in rc.case.hsct:
            if h.id == anchor_id:
                d = rc.date(h.date)
                return (d.earliest(), d.latest()) if d is not None else None
        for r in rc.case.regimens:
            if r.id == anchor_id:
                start, end = rc.date(r.start), rc.date(r.end) if r.end else None
                if start is None:
                    return None
                return start.earliest(), (end or start).latest()
        return None


def build_timeline(store: ResourceStore, patient_id: str, decoder: Labels | None = None,
                   title: str | None = None, hsct: int | None = None) -> PatientTimeline:
    """What to draw for one patient, read from its FHIR resources only. `hsct` picks the transplant
    the day axis counts from (1 = the first by date); default: the last allogeneic, else the last."""
    dec = decoder or Labels()
    cases = list(read_cases(store.only_patient(patient_id)))
    tables = flatten_cases(cases, None, dec)
    bounds = _Bounds(cases[0] if cases else None)

    def dated(row: Json, column: str, label: str, kind: str, value: Any = None) -> Event | None:
        rid = str(row.get("id"))
        return (bounds.relative_event(rid, label, kind, value) or _event(row[column], label, kind, value)
                or bounds.event(rid, label, kind, value))

    t = PatientTimeline(title or _default_title(tables))
    transplants = sorted((h for h in tables["hsct"] if point(h["date"]) is not None),
                         key=lambda h: point(h["date"]))  # type: ignore[arg-type,return-value]
    if transplants:
        if hsct is not None:
            if not 1 <= hsct <= len(transplants):
                raise ValueError(f"--hsct {hsct}: the patient has {len(transplants)} HSCT(s)")
            chosen = transplants[hsct - 1]
        else:
            allo = [h for h in transplants if h["type"] == "allogeneic"]
            chosen = (allo or transplants)[-1]
        t.day0 = point(chosen["date"])
        pd = fhir_date(chosen["date"])
        if pd is not None and pd.precision != "day":
            t.day0_span = (pd.earliest(), pd.latest())
    for r in tables["regimens"]:
        dates = _span_dates(r["start_date"], r["end_date"])
        if dates is None:
            continue
        first, end = dates[0], dates[1]
        exprs = bounds.regimens.get(r["id"], (None, None))
        rel_start, rel_end = bounds.relative(exprs[0]), bounds.relative(exprs[1])
        if rel_start is not None:  # D-6 of an HSCT known to the month: from its first possible day
            first = rel_start[0]
            end = rel_end[1] if rel_end is not None else max(end if exprs[1] else first, rel_start[1])
        if r["category"] == "conditioning" and t.day0 is not None:
            last_day0 = t.day0_span[1] if t.day0_span else t.day0
            if first < last_day0 < end:
                end = last_day0  # conditioning ends at day 0, whatever a derived end date says
        t.spans.append(Span(r["title"] or r["category"] or "regimen", first, end, "regimen",
                            r["category"], dates[2]))
    for r in tables["radiotherapy"]:
        dates = _span_dates(r["start_date"], r["end_date"])
        if dates is None:
            continue
        concept = dec.terminology["procedures"].find(r["kind"] or "")
        name = concept.display if concept else (r["kind"] or "radiotherapy")
        dose = f" {r['total_dose_gy']:g} Gy" if r["total_dose_gy"] else ""
        t.spans.append(Span(f"{name}{dose}", dates[0], dates[1], "radiotherapy", None, dates[2]))
    t.spans.sort(key=lambda s: (s.start, s.end))
    hsct_dates = {h["id"]: fhir_date(h["date"]) for h in tables["hsct"]}
    for h in tables["hsct"]:
        donor = f", {h['donor_match']}" if h["donor_match"] and h["donor_match"] != h["type"] else ""
        e = _event(h["date"], f"{h['type'] or ''} HSCT{donor}".strip(), "hsct")
        if e is not None:
            t.hsct.append(e)
        if h["graft_failure"]:
            label = f"{h['graft_failure']} graft failure"
            e = dated(h, "graft_failure_date", label, "graft-failure")
            if e is not None:
                t.events.append(e)
    for g in tables["engraftment"]:
        label = f"{ENGRAFTMENT_LABEL.get(g['kind'], g['kind'])} D+{g['day']}"
        e = _event(g["date"], label, "engraftment")
        anchor = hsct_dates.get(g["hsct_id"])
        if e is None and anchor is not None and g["day"] is not None:  # HSCT known to the month: a range
            e = Event(anchor.earliest() + _dt.timedelta(days=g["day"]), label, "engraftment", approximate=True,
                      end=anchor.latest() + _dt.timedelta(days=g["day"]))
        if e is not None:
            t.events.append(e)
    for c in tables["chimerism"]:
        value = f" {c['recipient_percent']:g}% recipient" if c["recipient_percent"] is not None else ""
        e = dated(c, "date", f"chimerism {(c['result'] or '').replace('-', ' ')}{value}".strip(), "chimerism")
        if e is not None:
            t.events.append(e)
    for d in tables["diagnoses"]:
        prefix = "second cancer: " if d["kind"] == "secondary" else "diagnosis: "
        e = dated(d, "onset_date", prefix + (d["condition_display"] or d["condition"] or "?"), "diagnosis")
        if e is not None:
            t.events.append(e)
    for r in tables["responses"]:
        e = dated(r, "date", _short_response(dec, r["response"]) + (" (best)" if r["best"] else ""), "response",
                  r["response"])
        if e is not None:
            t.events.append(e)
    for r in tables["relapses"]:
        sites = f" ({r['sites'].replace('|', ', ')})" if r["sites"] else ""
        hla = ", HLA loss" if r["hla_loss"] else ""
        e = dated(r, "date", f"relapse {r['number'] or ''}{sites}{hla}".replace("  ", " "), "relapse")
        if e is not None:
            t.events.append(e)
    for p in tables["patients"]:
        cause = f" ({p['death_cause_display']})" if p["death_cause_display"] else ""
        e = _event(p["death_date"], f"death{cause}", "death")
        if e is not None:
            t.events.append(e)
    for a in tables["adverse_events"]:
        term = a["term_display"] or a["term_text"] or "AE"
        if a["gvhd_grade"]:  # the overall (MAGIC) grade, as clinicians write it: 'Acute GVHD grade II'
            label = acute_label(a["gvhd_grade"]) if term == ACUTE else f"{term} grade {a['gvhd_grade']}"
        else:
            label = f"G{a['grade']} {term}" if a["grade"] else term
        e = dated(a, "onset_date", label, "ae", a["grade"] or a["gvhd_grade"])
        if e is not None:
            t.adverse_events.append(e)
    for g in tables["gvhd"]:
        e = _gvhd_event(g, dated)
        if e is not None:
            t.adverse_events.append(e)
    for m in tables["mrd"]:
        pd = fhir_date(m["date"])
        if pd is None:
            continue
        negative = bool(m["negative"]) or m["value_percent"] == 0
        percent = m["value_percent"] if m["value_percent"] else None
        t.mrd.append(MrdPoint(pd.earliest(), percent, negative, pd.precision != "day",
                              pd.latest() if pd.precision != "day" else None))
    _close_open_ranges(t)
    t.events.sort(key=lambda e: (e.date, e.kind, e.label))
    t.adverse_events.sort(key=lambda e: (e.date, e.kind, e.label))
    t.mrd.sort(key=lambda m: m.date)
    return t


def _gvhd_event(g: Json, dated: Any) -> Event | None:
    criteria = f" ({g['criteria']})" if g["criteria"] else ""
    if g["kind"] == "acute":
        label, level = acute_label(g["grade"]) + criteria, g["grade"]
    else:
        label, level = chronic_label(g["severity"]) + criteria, SEVERITY_LEVEL.get(g["severity"] or "")
    e = dated(g, "onset_date", label, "gvhd", level)
    if e is None:
        return None
    resolved = fhir_date(g["resolved_date"])
    if resolved is not None:
        e.end = max(resolved.latest(), e.last)
        e.approximate |= resolved.precision != "day"
    else:
        e.end, e.open_end = e.last, True  # not resolved (or not known to be): runs on
    return e


def _close_open_ranges(t: PatientTimeline) -> None:
    """An open side runs to the first / last date of the timeline (drawn with an arrow there)."""
    known = t.dates
    if not known:
        return
    first, last = min(known), max(known)
    for e in (*t.events, *t.adverse_events):
        if e.open_start:
            e.date = min(first, e.last)
        if e.open_end:
            e.end = max(last, e.date)


def _short_response(dec: Labels, key: str | None) -> str:
    if key is None:
        return "response"
    concept = dec.terminology["responses"].find(key)
    if concept is None:
        return key
    short = next((s for s in concept.synonyms if s.isascii() and s.isupper() and len(s) <= 5), None)
    return short or concept.display.lower()


def _default_title(tables: dict[str, list[Json]]) -> str:
    """Diagnosis, sex and age - never a name or an identifier."""
    dx = tables["diagnoses"]
    primary = next((d for d in dx if d["kind"] == "primary"), dx[0] if dx else None)
    parts = [primary["condition_display"] if primary else "Patient timeline"]
    patients = tables["patients"]
    if patients:
        p = patients[0]
        who = [p["sex"]] if p["sex"] and p["sex"] != "unknown" else []
        if p["age_years"] is not None:
            who.append(f"{int(p['age_years'])} y at {p['age_at_date']}")
        elif p["birth_date"]:
            who.append(f"born {fhir_date(p['birth_date']).year}")  # type: ignore[union-attr]
        if who:
            parts.append(", ".join(who))
    return " - ".join(parts)


# ---- drawing ------------------------------------------------------------------------------------
def _pack(intervals: list[tuple[float, float]]) -> list[int]:
    """Greedy rows for labelled markers: (left, right) extents -> row index, so labels do not overlap."""
    rows: list[list[tuple[float, float]]] = []
    out = []
    for a, b in intervals:
        for i, taken in enumerate(rows):
            if all(b < x or a > y for x, y in taken):
                taken.append((a, b))
                out.append(i)
                break
        else:
            rows.append([(a, b)])
            out.append(len(rows) - 1)
    return out


def _text_width_in(text: str, size: float = FONT_SIZE) -> float:
    """Width of a one-line text in inches (font metrics, no renderer), with a small margin."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width = max((TextToPath().get_text_width_height_descent(line, FontProperties(size=size), ismath=False)[0]
                 for line in text.split("\n")), default=0.0)
    return width / 72 * 1.05


def _wrap(label: str) -> str:
    """A lane label on up to three lines, never cut."""
    lines = textwrap.wrap(label, LANE_LABEL_WIDTH) or [label]
    if len(lines) > 3:
        lines = textwrap.wrap(label, -(-len(label) // 3) + 4)
    return "\n".join(lines)


@dataclass
class _Layout:
    """Where a labelled event goes: its x extent (days, as matplotlib date numbers), label side, row."""

    x0: float
    x1: float
    left: bool
    lo: float = 0.0
    hi: float = 0.0
    inside: bool = False  # the label sits on the range itself (no room on either side)
    row: int = 0


def plot_timeline(t: PatientTimeline, *, start: _dt.date | None = None, end: _dt.date | None = None) -> Any:
    """Draw the swimmer plot; returns the matplotlib Figure (not shown, nothing global touched)."""
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    all_dates = t.dates
    if not all_dates:
        raise ValueError("nothing dated to draw for this patient")
    lo, hi = start or min(all_dates), end or max(all_dates)
    if hi <= lo:
        hi = lo + _dt.timedelta(days=30)
    x0, x1 = mdates.date2num(lo), mdates.date2num(hi)
    pad = (x1 - x0) * 0.03
    xmin, xmax = x0 - pad, x1 + pad + 1

    def visible(d0: _dt.date, d1: _dt.date) -> bool:
        return d1 >= lo and d0 <= hi

    spans = [s for s in t.spans if visible(s.start, s.end)]
    aes = [e for e in t.adverse_events if visible(e.date, e.last)]
    events = sorted([e for e in [*t.events, *t.hsct] if visible(e.date, e.last)], key=lambda e: (e.date, e.kind))
    mrd = [m for m in t.mrd if visible(m.date, m.end or m.date)]

    # fixed layout (inches), so label widths in days are known before drawing
    lane_labels = {id(s): _wrap(s.label) for s in spans}
    legend = _legend_entries(spans, aes, events)
    lane_width = max([_text_width_in(x) for x in [*lane_labels.values(), "events", "adverse events, GVHD"]])
    legend_width = max([_text_width_in(label) for _, label in legend], default=0.0) + 0.55
    fig_width = 13.0
    left_margin, right_margin = lane_width + 0.25, legend_width + 0.2
    axis_width = fig_width - left_margin - right_margin
    days_per_inch = (xmax - xmin) / axis_width

    def layout(e: Event) -> _Layout:
        a, b = mdates.date2num(max(e.date, lo)), mdates.date2num(min(e.last, hi)) + (1 if e.is_range else 0)
        gap = 0.1 * days_per_inch
        width = _text_width_in(e.label) * days_per_inch + gap
        room_right, room_left = xmax - b, a - xmin
        if room_right < width and room_left < width and b - a >= width:  # a long range: the label inside it
            return _Layout(a, b, False, a - gap, b, inside=True)
        left = not (room_right >= width or room_right >= room_left)
        extent = (a - width - gap, b) if left else (a - gap, b + width)
        return _Layout(a, b, left, *extent)

    ev_layout = [layout(e) for e in events]
    ae_layout = [layout(e) for e in aes]
    for lay, row in zip(ev_layout, _pack([(x.lo, x.hi) for x in ev_layout]), strict=True):
        lay.row = row
    for lay, row in zip(ae_layout, _pack([(x.lo, x.hi) for x in ae_layout]), strict=True):
        lay.row = row
    n_ev = max((x.row for x in ev_layout), default=-1) + 1
    n_ae = max((x.row for x in ae_layout), default=-1) + 1
    lanes = len(spans) + n_ae + n_ev
    lane_in = 0.3 if max((x.count("\n") for x in lane_labels.values()), default=0) < 2 else 0.42
    top_height = max(lanes, 3) * lane_in + 0.2
    mrd_height = 2.3 if mrd else 0.0
    top_margin, bottom_margin, gap_in = 0.95, 0.55, 0.3
    fig_height = top_margin + top_height + (gap_in + mrd_height if mrd else 0) + bottom_margin
    fig = Figure(figsize=(fig_width, fig_height))
    ax = fig.add_axes((left_margin / fig_width, (fig_height - top_margin - top_height) / fig_height,
                       axis_width / fig_width, top_height / fig_height))
    bottom = ax
    if mrd:
        bottom = fig.add_axes((left_margin / fig_width, bottom_margin / fig_height, axis_width / fig_width,
                               mrd_height / fig_height), sharex=ax)
        ax.tick_params(labelbottom=False)
    fig.text(0.2 / fig_width, 1 - 0.3 / fig_height, t.title, fontsize=12, ha="left", va="center")

    # lanes from the top: events, adverse events / GVHD, then one per regimen / radiotherapy course
    y = float(lanes)
    labels: dict[float, str] = {}
    for e, lay in zip(events, ev_layout, strict=True):
        colour = KIND_COLOURS.get(e.kind) or RESPONSE_COLOURS[
            "good" if e.value in _GOOD else "bad" if e.value in _BAD else "stable" if e.value == "sd" else "other"]
        _draw_event(ax, e, lay, y - lay.row - 0.5, colour, KIND_MARKERS.get(e.kind, "o"),
                    12 if e.kind == "hsct" else 9)
    if n_ev:
        labels[y - n_ev / 2] = "events"
    y -= n_ev
    for e, lay in zip(aes, ae_layout, strict=True):
        colour = (GVHD_COLOURS if e.kind == "gvhd" else GRADE_COLOURS).get(e.value, GRADE_COLOURS[None])
        _draw_event(ax, e, lay, y - lay.row - 0.5, colour, "D", 7)
    if n_ae:
        labels[y - n_ae / 2] = "adverse events, GVHD" if any(e.kind == "gvhd" for e in aes) else "adverse events"
    y -= n_ae
    min_width = (xmax - xmin) * 0.004  # a 4-day course stays visible on a 5-year axis
    for s in spans:
        yy = y - 0.5
        colour = RADIOTHERAPY_COLOUR if s.kind == "radiotherapy" else CATEGORY_COLOURS.get(s.category or "", "#7f7f7f")
        left = mdates.date2num(s.start)
        width = max(mdates.date2num(s.end) + 1 - left, min_width)
        bars = ax.barh([yy], [width], left=[left], height=0.62, color=colour, edgecolor=colour,
                       alpha=0.55 if s.approximate else 0.9, hatch="///" if s.approximate else None)
        for patch in bars.patches:
            patch.set_gid(s.kind)
        labels[yy] = lane_labels[id(s)]
        y -= 1
    ax.set_ylim(0, max(lanes, 1))
    ax.set_yticks(list(labels), list(labels.values()), fontsize=FONT_SIZE)
    ax.tick_params(axis="y", length=0)  # a tick beside a wrapped label reads as a stray dash
    ax.grid(axis="x", linestyle=":", alpha=0.5)
    ax.set_xlim(xmin, xmax)

    axes = [ax, bottom] if mrd else [ax]
    for h in t.hsct:
        if h.is_range:  # an HSCT known to the month: its possible days shaded, no line on a made-up day
            for a in axes:
                a.axvspan(mdates.date2num(h.date), mdates.date2num(h.last) + 1, color=HSCT_COLOUR, alpha=0.08,
                          gid="hsct-day0")
        else:
            for a in axes:
                a.axvline(mdates.date2num(h.date), color=HSCT_COLOUR, linestyle="--", linewidth=1.2, gid="hsct-day0")
    if t.day0 is not None and t.day0_span is None:
        day0 = mdates.date2num(t.day0)
        sec = ax.secondary_xaxis("top", functions=(lambda x, d=day0: x - d, lambda x, d=day0: x + d))
        sec.set_xlabel(f"days from HSCT ({t.day0.isoformat()} = day 0)", fontsize=9)
        sec.tick_params(labelsize=FONT_SIZE)
    elif t.day0_span is not None:
        precision = "month" if t.day0_span[1] - t.day0_span[0] < _dt.timedelta(days=60) else "year"
        ax.set_title(f"HSCT date known only to the {precision} (shaded): no day +N axis", fontsize=9)

    if legend:
        handles = [h for h, _ in legend]
        fig.legend(handles=handles, loc="upper left", fontsize=FONT_SIZE, frameon=False,
                   bbox_to_anchor=((left_margin + axis_width + 0.15) / fig_width, 1 - top_margin / fig_height))
    if mrd:
        _plot_mrd(bottom, mrd, mdates)
    bottom.xaxis.set_major_locator(mdates.AutoDateLocator())
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(bottom.xaxis.get_major_locator()))
    return fig


def _legend_entries(spans: list[Span], aes: list[Event], events: list[Event]) -> list[tuple[Any, str]]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out: list[tuple[Any, str]] = []
    categories: dict[str, str] = {}
    for s in spans:
        colour = RADIOTHERAPY_COLOUR if s.kind == "radiotherapy" else CATEGORY_COLOURS.get(s.category or "", "#7f7f7f")
        categories.setdefault("radiotherapy" if s.kind == "radiotherapy" else (s.category or "other"), colour)
    names = {k: "regimen (category not stated)" if k in ("not-stated", "other") else k.replace("-", " ")
             for k in categories}
    out += [(Patch(color=c, label=names[k]), names[k]) for k, c in categories.items()]
    grades = sorted({e.value for e in aes if e.kind == "ae"}, key=lambda g: (g is None, g or 0))
    for g in grades:
        label = f"AE grade {g}" if g is not None else "AE ungraded"
        out.append((Line2D([], [], marker="D", color=GRADE_COLOURS.get(g, GRADE_COLOURS[None]), linestyle="none",
                           label=label), label))
    levels = sorted({e.value for e in aes if e.kind == "gvhd"}, key=lambda g: (g is None, g or 0))
    for g in levels:
        label = {None: "GVHD, not graded", 1: "GVHD grade I", 2: "GVHD grade II / mild",
                 3: "GVHD grade III / moderate", 4: "GVHD grade IV / severe"}[g]
        out.append((Patch(color=GVHD_COLOURS[g], label=label), label))
    if any(s.approximate for s in spans) or any(e.approximate for e in [*aes, *events]):
        label = "hatched: date known to the month / year, or bounded"
        out.append((Patch(facecolor="white", edgecolor="#555555", hatch="///", label=label), label))
    if any(e.open_start or e.open_end for e in [*aes, *events]):
        label = "arrow: start / end not known"
        out.append((Line2D([], [], marker=">", color="#555555", linestyle="none", label=label), label))
    return out


def _draw_event(ax: Any, e: Event, lay: _Layout, y: float, colour: str, marker: str, size: float) -> None:
    if e.is_range:
        width = max(lay.x1 - lay.x0, 0.5)
        bars = ax.barh([y], [width], left=[lay.x0], height=0.36 if e.kind != "gvhd" else 0.5, color=colour,
                       edgecolor=colour, alpha=0.5 if e.approximate else 0.85,
                       hatch="///" if e.approximate else None, linewidth=1)
        for patch in bars.patches:
            patch.set_gid(e.kind)
        if e.open_start:
            ax.plot([lay.x0], [y], marker="<", color=colour, markersize=7, linestyle="none", gid=f"{e.kind}-open")
        if e.open_end:
            ax.plot([lay.x1], [y], marker=">", color=colour, markersize=7, linestyle="none", gid=f"{e.kind}-open")
    else:
        ax.plot([lay.x0], [y], marker=marker, markersize=size, color=colour, gid=e.kind, linestyle="none",
                markeredgewidth=1.5)
    anchor = lay.x0 if lay.left or lay.inside else lay.x1
    ax.annotate(e.label, (anchor, y), xytext=(-6 if lay.left else 6, 0), textcoords="offset points", va="center",
                ha="right" if lay.left else "left", fontsize=FONT_SIZE, gid="label",
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
                if lay.inside else None)


def _plot_mrd(ax: Any, mrd: list[MrdPoint], mdates: Any) -> None:
    """Measured values as points (ranges for month / year dates), joined only where no negative
    lies between them; negatives as open triangles at their threshold ('<0.01%'), or in a
    'not detected' band below the values when no threshold was given."""
    import math

    from matplotlib.transforms import blended_transform_factory

    measured = [m.percent for m in mrd if m.percent]
    floor = min([*measured, 0.01]) / 10  # the 'not detected' band, below every value and threshold
    top = max([*measured, floor]) * 8
    colour = "#3182bd"
    xmin, xmax = ax.get_xlim()

    def x_of(m: MrdPoint) -> float:
        return mdates.date2num(m.date) if m.end is None else (mdates.date2num(m.date) + mdates.date2num(m.end)) / 2

    # trend: consecutive measured values, broken at every negative
    xs: list[float] = []
    ys: list[float] = []
    for m in mrd:
        xs.append(math.nan if m.negative else x_of(m))
        ys.append(math.nan if m.negative else (m.percent or floor))
    ax.plot(xs, ys, color=colour, linewidth=1, alpha=0.6, gid="mrd-trend")
    exact_pos = [m for m in mrd if not m.negative and m.end is None]
    exact_neg = [m for m in mrd if m.negative and m.end is None]
    if exact_pos:
        ax.plot([x_of(m) for m in exact_pos], [m.percent for m in exact_pos], "o", color=colour, gid="mrd",
                markersize=7)
    if exact_neg:
        ax.plot([x_of(m) for m in exact_neg], [m.percent or floor for m in exact_neg], "v", color=colour,
                markerfacecolor="white", gid="mrd-negative", markersize=8, markeredgewidth=1.5)
    for m in mrd:
        if m.end is not None:  # a month / year: the value over its span
            yv = m.percent or floor
            ax.plot([mdates.date2num(m.date), mdates.date2num(m.end) + 1], [yv, yv], color=colour, linewidth=2.5,
                    marker="|", markersize=8, gid="mrd-negative-range" if m.negative else "mrd-range")

    # value labels, in inches on the panel, so that none overlaps another (a repeated threshold
    # label that would is left out: the marker at the same height says it)
    fig = ax.get_figure()
    box = ax.get_position()
    width_in, height_in = box.width * fig.get_figwidth(), box.height * fig.get_figheight()
    low = floor / 4
    decades = math.log10(top) - math.log10(low)
    placed: list[tuple[float, float, float, float]] = []
    for m in mrd:
        if m.negative and not m.percent:
            continue  # the band is labelled once
        yv = m.percent or floor
        text = f"<{m.percent:g}%" if m.negative else f"{m.percent:g}%"
        x = min(max(x_of(m), xmin), xmax)  # a month that starts before the window: label inside it
        w = _text_width_in(text, 7)
        x_in = (x - xmin) / (xmax - xmin) * width_in
        ha = "left" if x_in < w / 2 else "right" if width_in - x_in < w / 2 else "center"
        left = x_in - {"left": 0, "right": w, "center": w / 2}[ha]
        y_in = (math.log10(yv) - math.log10(low)) / decades * height_in
        for dy in ((-11, 6) if m.negative else (6, -11)):
            bottom = y_in + dy / 72 - (0.1 if dy < 0 else 0)
            cand = (left, left + w, bottom, bottom + 0.11)
            if not any(c[0] < cand[1] and cand[0] < c[1] and c[2] < cand[3] and cand[2] < c[3] for c in placed):
                placed.append(cand)
                ax.annotate(text, (x, yv), xytext=(0, dy), textcoords="offset points", fontsize=7, ha=ha,
                            va="top" if dy < 0 else "bottom", gid="mrd-label")
                break
    ax.set_yscale("log")
    ax.set_ylim(low, top)
    if any(m.negative and not m.percent for m in mrd):
        ax.axhspan(low, floor * 2, color="#eeeeee", zorder=0, gid="mrd-not-detected-band")
        ax.text(1.005, floor, "not detected\n(no threshold)", transform=blended_transform_factory(ax.transAxes,
                ax.transData), fontsize=7, va="center", ha="left", gid="mrd-label")
    ax.set_ylabel("MRD, %", fontsize=9)
    if floor < 0.01 < top:
        ax.axhline(0.01, color="#999999", linestyle=":", linewidth=1)
    ax.grid(axis="x", linestyle=":", alpha=0.5)
    ax.tick_params(axis="y", labelsize=FONT_SIZE)


def render_timeline(t: PatientTimeline, path: Path, *, start: _dt.date | None = None,
                    end: _dt.date | None = None, dpi: int = 150, whole: bool = False) -> Any:
    """Draw and save as PNG or SVG (by suffix); returns the Figure for inspection. A transplant
    case is shown in its transplant window unless `whole` or a window is given."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError("the output must end in .png or .svg")
    window = None if whole or start or end else t.transplant_window()
    if window is not None:
        start, end = window
    fig = plot_timeline(t, start=start, end=end)
    path.parent.mkdir(parents=True, exist_ok=True)
    from matplotlib import rc_context

    # no creation date and fixed SVG element ids (a salt instead of random ones): same data, same bytes
    with open_private(path, "wb") as handle, rc_context({"svg.hashsalt": "fhir-onco-timeline"}):
        fig.savefig(handle, dpi=dpi, format=suffix[1:], metadata={"Date": None} if suffix == ".svg" else None)
    return fig


def parse_day(text: str) -> _dt.date:
    """--from / --to values: an ISO date or YYYY-MM (first of the month)."""
    pd = fhir_date(text)
    if pd is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM)")
    return PartialDate(pd.year, pd.month or 1, pd.day or 1).to_date()
