"""A patient swimmer plot from FHIR: regimens as bars, HSCT with a day +N axis, MRD on a log axis,
adverse events with grades, responses, relapses and death.

:func:`build_timeline` extracts what is drawn (plain data, testable without matplotlib);
:func:`plot_timeline` draws it on a matplotlib Figure (imported lazily, no pyplot, no GUI backend).
Every artist carries a gid ("regimen", "radiotherapy", "hsct", "mrd", "mrd-negative", "ae",
"response", "relapse", "death"), which SVG output keeps as element ids.

Dates known only to the month or year are drawn over their whole span (bars, hatched) or at its
middle (markers, hollow), so the plot never claims more precision than the data has.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_onco.dates import PartialDate
from fhir_onco.files import open_private

from .flatten import flatten_all
from .reader import ResourceStore
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
RESPONSE_COLOURS = {"good": "#1a9850", "stable": "#fee08b", "bad": "#d73027", "other": "#737373"}
_GOOD = {"scr", "cr", "cri", "remission", "vgpr", "pr", "mr"}
_BAD = {"pd", "refractory", "relapse"}
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
TRANSPLANT_WINDOW = (60, 365)  # days before / after day 0 shown by default for a transplant case
ENGRAFTMENT_LABEL = {"neutrophil": "ANC engraftment", "platelet": "PLT engraftment", "leukocyte": "WBC engraftment"}


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
    date: _dt.date
    label: str
    kind: str  # "ae", "response", "relapse", "death", "hsct"
    value: Any = None  # AE grade, response key
    approximate: bool = False


@dataclass
class MrdPoint:
    date: _dt.date
    percent: float | None  # measured value; None when negative without a threshold
    negative: bool
    approximate: bool = False


@dataclass
class PatientTimeline:
    title: str
    spans: list[Span] = field(default_factory=list)
    hsct: list[Event] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # responses, relapses, death
    adverse_events: list[Event] = field(default_factory=list)
    mrd: list[MrdPoint] = field(default_factory=list)
    day0: _dt.date | None = None  # the HSCT the day axis counts from

    def transplant_window(self) -> tuple[_dt.date, _dt.date] | None:
        """The default view of a transplant case: day -60 to day +365 (within the data)."""
        if self.day0 is None or not self.dates:
            return None
        lo = max(min(self.dates), self.day0 - _dt.timedelta(days=TRANSPLANT_WINDOW[0]))
        hi = min(max(self.dates), self.day0 + _dt.timedelta(days=TRANSPLANT_WINDOW[1]))
        return lo, max(hi, self.day0 + _dt.timedelta(days=30))

    @property
    def dates(self) -> list[_dt.date]:
        out = [d for s in self.spans for d in (s.start, s.end)]
        out += [e.date for e in (*self.hsct, *self.events, *self.adverse_events)]
        return out + [m.date for m in self.mrd]


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


def build_timeline(store: ResourceStore, patient_id: str, decoder: Labels | None = None,
                   title: str | None = None, hsct: int | None = None) -> PatientTimeline:
    """What to draw for one patient, read from its FHIR resources only. `hsct` picks the transplant
    the day axis counts from (1 = the first by date); default: the last allogeneic, else the last."""
    dec = decoder or Labels()
    store = store.only_patient(patient_id)
    tables = flatten_all(store, dec)

    def flatten(_store: ResourceStore, name: str, _dec: Labels) -> list[Json]:
        return tables[name]

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
    for r in flatten(store, "regimens", dec):
        dates = _span_dates(r["start_date"], r["end_date"])
        if dates is None:
            continue
        end = dates[1]
        if r["category"] == "conditioning" and t.day0 is not None and dates[0] < t.day0 < end:
            end = t.day0  # conditioning ends at day 0, whatever a derived end date says
        t.spans.append(Span(r["title"] or r["category"] or "regimen", dates[0], end, "regimen",
                            r["category"], dates[2]))
    for r in flatten(store, "radiotherapy", dec):
        dates = _span_dates(r["start_date"], r["end_date"])
        if dates is None:
            continue
        concept = dec.terminology["procedures"].find(r["kind"] or "")
        name = concept.display if concept else (r["kind"] or "radiotherapy")
        dose = f" {r['total_dose_gy']:g} Gy" if r["total_dose_gy"] else ""
        t.spans.append(Span(f"{name}{dose}", dates[0], dates[1], "radiotherapy", None, dates[2]))
    t.spans.sort(key=lambda s: (s.start, s.end))
    for h in flatten(store, "hsct", dec):
        when = point(h["date"])
        if when is not None:
            donor = f", {h['donor_match']}" if h["donor_match"] else ""
            t.hsct.append(Event(when, f"{h['type'] or ''} HSCT{donor}".strip(), "hsct", approximate=_approx(h["date"])))
    for e in flatten(store, "engraftment", dec):
        when = point(e["date"])
        if when is not None:
            label = f"{ENGRAFTMENT_LABEL.get(e['kind'], e['kind'])} D+{e['day']}"
            t.events.append(Event(when, label, "engraftment"))
    for c in flatten(store, "chimerism", dec):
        when = point(c["date"])
        if when is not None:
            value = f" {c['recipient_percent']:g}% recipient" if c["recipient_percent"] is not None else ""
            t.events.append(Event(when, f"chimerism {(c['result'] or '').replace('-', ' ')}{value}".strip(),
                                  "chimerism", approximate=_approx(c["date"])))
    for d in flatten(store, "diagnoses", dec):
        when = point(d["onset_date"])
        if when is not None:
            prefix = "second cancer: " if d["kind"] == "secondary" else "diagnosis: "
            t.events.append(Event(when, prefix + (d["condition_display"] or d["condition"] or "?"), "diagnosis",
                                  approximate=_approx(d["onset_date"])))
    for r in flatten(store, "responses", dec):
        when = point(r["date"])
        if when is not None:
            label = _short_response(dec, r["response"]) + (" (best)" if r["best"] else "")
            t.events.append(Event(when, label, "response", r["response"], _approx(r["date"])))
    for r in flatten(store, "relapses", dec):
        when = point(r["date"])
        if when is not None:
            sites = f" ({r['sites'].replace('|', ', ')})" if r["sites"] else ""
            t.events.append(Event(when, f"relapse {r['number'] or ''}{sites}".replace("  ", " "), "relapse",
                                  approximate=_approx(r["date"])))
    for p in flatten(store, "patients", dec):
        when = point(p["death_date"])
        if when is not None:
            cause = f" ({p['death_cause_display']})" if p["death_cause_display"] else ""
            t.events.append(Event(when, f"death{cause}", "death", approximate=_approx(p["death_date"])))
    for a in flatten(store, "adverse_events", dec):
        when = point(a["onset_date"])
        if when is not None:
            term = a["term_display"] or a["term_text"] or "AE"
            if a["gvhd_grade"]:  # the overall (MAGIC) grade, as clinicians write it: 'Acute GVHD grade II'
                label = f"{term} grade {_ROMAN[a['gvhd_grade']]}"
            else:
                label = f"G{a['grade']} {term}" if a["grade"] else term
            t.adverse_events.append(Event(when, label, "ae", a["grade"] or a["gvhd_grade"], _approx(a["onset_date"])))
    for m in flatten(store, "mrd", dec):
        when = point(m["date"])
        if when is not None:
            value = m["value_percent"]
            t.mrd.append(MrdPoint(when, value, m["negative"] or value == 0, _approx(m["date"])))
    t.events.sort(key=lambda e: e.date)
    t.adverse_events.sort(key=lambda e: e.date)
    t.mrd.sort(key=lambda m: m.date)
    return t


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


def plot_timeline(t: PatientTimeline, *, start: _dt.date | None = None, end: _dt.date | None = None) -> Any:
    """Draw the swimmer plot; returns the matplotlib Figure (not shown, nothing global touched)."""
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    all_dates = t.dates
    if not all_dates:
        raise ValueError("nothing dated to draw for this patient")
    lo, hi = start or min(all_dates), end or max(all_dates)
    if hi <= lo:
        hi = lo + _dt.timedelta(days=30)
    x0, x1 = mdates.date2num(lo), mdates.date2num(hi)
    pad = (x1 - x0) * 0.03
    span = (x1 - x0) + 2 * pad
    char = span / 105  # width of one 8 pt character, in days, on the ~7.5 inch wide axis

    def visible(d0: _dt.date, d1: _dt.date) -> bool:
        return d1 >= lo and d0 <= hi

    spans = [s for s in t.spans if visible(s.start, s.end)]
    aes = [e for e in t.adverse_events if lo <= e.date <= hi]
    events = sorted([e for e in [*t.events, *t.hsct] if lo <= e.date <= hi], key=lambda e: e.date)
    mrd = [m for m in t.mrd if lo <= m.date <= hi]
    flip_from = x1 - (x1 - x0) * 0.3  # labels of markers in the right part go to their left

    def extent(e: Event) -> tuple[float, float]:
        xn, width = mdates.date2num(e.date), char * (len(e.label) + 3)
        return (xn - width, xn + char) if xn > flip_from else (xn - char, xn + width)

    ae_rows = _pack([extent(e) for e in aes])
    ev_rows = _pack([extent(e) for e in events])
    n_ae, n_ev = (max(ae_rows) + 1 if ae_rows else 0), (max(ev_rows) + 1 if ev_rows else 0)
    lanes = len(spans) + n_ae + n_ev
    top_height = 0.8 + 0.32 * max(lanes, 3)
    heights = [top_height, 2.3] if mrd else [top_height]
    fig = Figure(figsize=(12, sum(heights) + 1.1), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights}, squeeze=False)
    ax = axes[0][0]
    fig.suptitle(t.title, fontsize=12, x=0.01, ha="left")

    # lanes from the top: events, adverse events, then one per regimen / radiotherapy course
    y = lanes
    labels: dict[float, str] = {}
    for e, row in zip(events, ev_rows, strict=True):
        yy = y - row - 0.5
        colour = {"death": "black", "relapse": RESPONSE_COLOURS["bad"], "hsct": HSCT_COLOUR,
                  "engraftment": "#2166ac", "chimerism": "#5e3c99", "diagnosis": "#444444"}.get(e.kind) or (
            RESPONSE_COLOURS["good" if e.value in _GOOD else "bad" if e.value in _BAD
                             else "stable" if e.value == "sd" else "other"])
        marker = {"death": "X", "relapse": "v", "hsct": "*", "engraftment": "^", "chimerism": "s",
                  "diagnosis": "P"}.get(e.kind, "o")
        xn = mdates.date2num(e.date)
        ax.plot([xn], [yy], marker=marker, markersize=12 if e.kind == "hsct" else 9, color=colour, gid=e.kind,
                linestyle="none", markerfacecolor="white" if e.approximate else colour, markeredgewidth=1.5)
        _label(ax, e.label, xn, yy, xn > flip_from)
    if n_ev:
        labels[y - n_ev / 2] = "responses, relapses"
    y -= n_ev
    for e, row in zip(aes, ae_rows, strict=True):
        yy = y - row - 0.5
        xn = mdates.date2num(e.date)
        colour = GRADE_COLOURS.get(e.value, GRADE_COLOURS[None])
        ax.plot([xn], [yy], marker="D", markersize=7, color=colour, linestyle="none", gid="ae",
                markerfacecolor="white" if e.approximate else colour, markeredgecolor=colour, markeredgewidth=1.5)
        _label(ax, e.label, xn, yy, xn > flip_from)
    if n_ae:
        labels[y - n_ae / 2] = "adverse events"
    y -= n_ae
    min_width = span * 0.004  # a 4-day course stays visible on a 5-year axis
    categories: dict[str, str] = {}
    for s in spans:
        yy = y - 0.5
        colour = RADIOTHERAPY_COLOUR if s.kind == "radiotherapy" else CATEGORY_COLOURS.get(s.category or "", "#7f7f7f")
        left = mdates.date2num(s.start)
        width = max(mdates.date2num(s.end) + 1 - left, min_width)
        bars = ax.barh([yy], [width], left=[left], height=0.62, color=colour, edgecolor=colour,
                       alpha=0.55 if s.approximate else 0.9, hatch="///" if s.approximate else None)
        for patch in bars.patches:
            patch.set_gid(s.kind)
        labels[yy] = s.label if len(s.label) <= 34 else s.label[:32] + "..."
        categories.setdefault("radiotherapy" if s.kind == "radiotherapy" else (s.category or "other"), colour)
        y -= 1
    ax.set_ylim(0, max(lanes, 1))
    ax.set_yticks(list(labels), list(labels.values()), fontsize=8)
    ax.grid(axis="x", linestyle=":", alpha=0.5)
    ax.set_xlim(x0 - pad, x1 + pad)

    for h in t.hsct:
        xn = mdates.date2num(h.date)
        for row in axes:
            row[0].axvline(xn, color=HSCT_COLOUR, linestyle="--", linewidth=1.2, gid="hsct-day0")
    if t.day0 is not None:
        day0 = mdates.date2num(t.day0)
        sec = ax.secondary_xaxis("top", functions=(lambda x, d=day0: x - d, lambda x, d=day0: x + d))
        sec.set_xlabel(f"days from HSCT ({t.day0.isoformat()} = day 0)", fontsize=9)
        sec.tick_params(labelsize=8)

    handles = [Patch(color=c, label=k.replace("-", " ")) for k, c in categories.items()]
    if aes:
        grades = sorted({e.value for e in aes}, key=lambda g: (g is None, g or 0))
        handles += [Line2D([], [], marker="D", color=GRADE_COLOURS[g], linestyle="none",
                           label=f"AE grade {g}" if g is not None else "AE ungraded") for g in grades]
    if any(s.approximate for s in spans) or any(e.approximate for e in [*aes, *events]):
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="///",
                             label="hatched / hollow: date known to the month"))
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)

    bottom = axes[-1][0]
    if mrd:
        _plot_mrd(bottom, mrd, mdates)
    bottom.xaxis.set_major_locator(mdates.AutoDateLocator())
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(bottom.xaxis.get_major_locator()))
    return fig


def _label(ax: Any, text: str, x: float, y: float, left: bool) -> None:
    ax.annotate(text, (x, y), xytext=(-7 if left else 7, 0), textcoords="offset points", va="center",
                ha="right" if left else "left", fontsize=8)


def _plot_mrd(ax: Any, mrd: list[MrdPoint], mdates: Any) -> None:
    measured = [m.percent for m in mrd if m.percent]
    floor = min([*measured, 0.01]) / 10  # where an undetected value without a threshold is drawn
    xs = [mdates.date2num(m.date) for m in mrd]
    ys = [m.percent if m.percent else floor for m in mrd]
    ax.plot(xs, ys, color="#3182bd", linewidth=1, alpha=0.6)
    pos = [(x, y, m) for x, y, m in zip(xs, ys, mrd, strict=True) if not m.negative]
    neg = [(x, y, m) for x, y, m in zip(xs, ys, mrd, strict=True) if m.negative]
    if pos:
        ax.plot([p[0] for p in pos], [p[1] for p in pos], "o", color="#3182bd", gid="mrd", markersize=7)
        for x, yv, _ in pos:
            ax.annotate(f"{yv:g}%", (x, yv), xytext=(4, 5), textcoords="offset points", fontsize=7)
    if neg:
        ax.plot([p[0] for p in neg], [p[1] for p in neg], "v", color="#3182bd", markerfacecolor="white",
                gid="mrd-negative", markersize=8, markeredgewidth=1.5)
    ax.set_yscale("log")
    ax.set_ylabel("MRD, %  (open: negative)", fontsize=9)
    ax.axhline(0.01, color="#999999", linestyle=":", linewidth=1)
    ax.grid(axis="x", linestyle=":", alpha=0.5)
    top = max(ys) * 5
    ax.set_ylim(floor / 3, top)


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
    with open_private(path, "wb") as handle:
        fig.savefig(handle, dpi=dpi, format=suffix[1:])
    return fig


def parse_day(text: str) -> _dt.date:
    """--from / --to values: an ISO date or YYYY-MM (first of the month)."""
    pd = fhir_date(text)
    if pd is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM)")
    return PartialDate(pd.year, pd.month or 1, pd.day or 1).to_date()
