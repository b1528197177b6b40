"""Transplant tables as HSCT registries (EBMT, CIBMTR) publish them, from the read-back cases.

Per patient the transplant of interest is the first allogeneic HSCT (else the first HSCT) on or
after the patient's index date - one before it is prior therapy and stays in the baseline table;
times count in days from it (day 0). Definitions (also in docs/analytics.md):

* **Acute GVHD** - the graded episodes of that HSCT (``hsct[].gvhd``, kind acute: MAGIC / Glucksberg /
  IBMTR overall grade I-IV with organ stages); a patient counts at their highest grade. A patient
  without any graded episode falls back to adverse events with the GVHD term not written as chronic
  (``chronic GVHD``, ``cGVHD``, ``хроническая РТПХ``) after day 0, graded by their overall grade
  (``gvhd_grade``) or else their CTCAE grade (a note counts these patients).
  **Chronic GVHD** - the chronic episodes (NIH 2014 global severity mild / moderate / severe, organ
  scores); else adverse events written as chronic (severity not recorded).
* **Organ involvement** - an organ staged (acute) or scored (chronic) 1 or more in any episode.
* **Relapse after HSCT** - a relapse, or a progression / relapse / refractory response, dated after
  day 0. **HLA-loss relapse** - such a relapse marked ``hla_loss``; when the mark is absent, one
  whose note names HLA loss.
* **Graft failure** - as recorded (``graft_failure``: primary / secondary); for a patient without
  such a record, no neutrophil engraftment recorded while alive at day +28 (only when the cohort
  records engraftment at all).
* **NRM** - death without relapse before it. Cumulative incidences (relapse with NRM competing,
  NRM with relapse competing, acute GVHD II-IV and chronic GVHD with death or relapse before them
  competing) are Aalen-Johansen estimates (:func:`.km.aalen_johansen`, ties as R cmprsk); OS, EFS (relapse or
  death) and GRFS (acute GVHD III-IV, chronic GVHD of moderate or severe NIH severity - any chronic
  GVHD when the severity is not recorded -, relapse or death) are Kaplan-Meier.
* **Time windows** - adverse events, GVHD, relapses and deaths by onset: before day 0, day 0 to
  +100, after day +100.
"""

from __future__ import annotations

import math
import statistics
import sys
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from .km import aalen_johansen, incidence_at, kaplan_meier
from .values import Json, Labels, point

if TYPE_CHECKING:
    from .report import ReportTable, _Cohort

GVHD_TERM = "graft versus host disease"
CHRONIC_WORDS = ("chronic", "cgvhd", "хрон")
LANDMARK_DAYS = (100, 365, 730)
PROGRESSION = frozenset({"pd", "relapse", "refractory"})
WINDOWS = ("before day 0", "day 0 to +100", "after day +100")
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
SEVERITIES = ("mild", "moderate", "severe")  # NIH 2014 global severity, in order
ACUTE = "Acute GVHD"
CHRONIC = "Chronic GVHD"


def acute_label(grade: int | None) -> str:
    """'Acute GVHD grade II', as transplant physicians write it."""
    return f"{ACUTE} grade {ROMAN[grade]}" if grade in ROMAN else ACUTE


def chronic_label(severity: str | None) -> str:
    """'Chronic GVHD, moderate' (NIH global severity)."""
    return f"{CHRONIC}, {severity}" if severity else CHRONIC


def written_as_chronic(text: str | None) -> bool:
    return any(w in (text or "").casefold() for w in CHRONIC_WORDS)


@dataclass
class TransplantFacts:
    patient_id: str
    hsct: Json
    day0: date
    last_day: float | None = None
    death_day: float | None = None
    relapse_day: float | None = None
    hla_loss: bool = False
    agvhd_day: dict[int, float] = field(default_factory=dict)  # grade threshold (1-4) -> first day at/above it
    agvhd_any_day: float | None = None  # first acute GVHD, graded or not
    agvhd_grade: int | None = None  # highest overall grade
    agvhd_organs: set[str] = field(default_factory=set)
    cgvhd_day: float | None = None
    cgvhd_severity: str | None = None  # highest NIH severity
    cgvhd_severe_day: float | None = None  # first chronic GVHD counting for GRFS (moderate/severe, or unknown)
    cgvhd_organs: set[str] = field(default_factory=set)
    gvhd_source: str | None = None  # "graded" (hsct[].gvhd); "ae", or "ae-ctcae" when CTCAE-graded (adverse events)
    graft_failure: str | None = None  # primary / secondary, as recorded
    windows: dict[str, set[str]] = field(default_factory=dict)  # item label -> windows it occurred in


def _first_hsct(rows: list[Json]) -> Json | None:
    dated = [h for h in rows if point(h["date"]) is not None]
    allo = [h for h in dated if h["type"] == "allogeneic"]
    pool = allo or dated
    return min(pool, key=lambda h: point(h["date"]) or date.max) if pool else None


def _min(*days: float | None) -> float | None:
    return min((d for d in days if d is not None), default=None)


def _window(day: float) -> str:
    return WINDOWS[0] if day < 0 else WINDOWS[1] if day <= 100 else WINDOWS[2]


def transplant_facts(c: _Cohort) -> list[TransplantFacts]:
    out = []
    for f in c.facts:
        h = _first_hsct(c.rows("hsct", f.patient_id))
        if h is None:
            continue
        day0 = point(h["date"])
        assert day0 is not None
        if f.index_date is not None and day0 < f.index_date:
            continue  # a transplant before cohort entry is prior therapy (baseline table), not an outcome

        def day(value: Any, day0: date = day0) -> float | None:
            d = point(value)
            return None if d is None else float((d - day0).days)

        t = TransplantFacts(f.patient_id, h, day0)
        t.death_day = day(f.row["death_date"]) if f.death_date else None
        t.last_day = float((f.last_date - day0).days) if f.last_date else None
        t.graft_failure = h.get("graft_failure")
        relapses = [(day(r["date"]), r) for r in c.rows("relapses", f.patient_id)]
        relapses = [(d, r) for d, r in relapses if d is not None and d > 0]
        progress = [day(r["date"]) for r in c.rows("responses", f.patient_id) if r["response"] in PROGRESSION]
        days = [d for d, _ in relapses] + [d for d in progress if d is not None and d > 0]
        t.relapse_day = min(days, default=None)
        t.hla_loss = any(r.get("hla_loss") if r.get("hla_loss") is not None else _names_hla_loss(r["note"])
                         for _, r in relapses)
        _gvhd_facts(c, t, day)
        _windows(c, t, day)
        out.append(t)
    return out


def _gvhd_facts(c: _Cohort, t: TransplantFacts, day: Callable[[Any], float | None]) -> None:
    """Acute and chronic GVHD of the transplant: graded episodes, else GVHD adverse events."""
    graded = [g for g in c.rows("gvhd", t.patient_id) if g["hsct_id"] == t.hsct["id"]]
    acute = [(day(g["onset_date"]), g["grade"], _organs(g["organs"])) for g in graded if g["kind"] == "acute"]
    chronic = [(day(g["onset_date"]), g["severity"], _organs(g["organs"])) for g in graded if g["kind"] == "chronic"]
    acute = [a for a in acute if a[0] is not None and a[0] >= 0]
    chronic = [x for x in chronic if x[0] is not None and x[0] >= 0]
    ae_acute, ae_chronic, ctcae_graded = [], [], False
    for ae in c.rows("adverse_events", t.patient_id):
        onset = day(ae["onset_date"])
        if ae["term"] != GVHD_TERM or onset is None or onset < 0:
            continue
        organs = {o for o in (ae["gvhd_organs"] or "").split("|") if o}
        if written_as_chronic(ae["term_text"]):
            ae_chronic.append((onset, None, organs))
        else:
            ae_acute.append((onset, ae["gvhd_grade"] if ae["gvhd_grade"] is not None else ae["grade"], organs))
            ctcae_graded |= ae["gvhd_grade"] is None and ae["grade"] is not None
    if graded:
        t.gvhd_source = "graded"
    elif ae_acute or ae_chronic:
        t.gvhd_source = "ae-ctcae" if ctcae_graded else "ae"
    if not graded:
        acute, chronic = ae_acute, ae_chronic
    for onset, grade, organs in acute:
        assert onset is not None
        t.agvhd_any_day = _min(t.agvhd_any_day, onset)
        if grade is not None:
            top = min(int(grade), 4)
            t.agvhd_grade = max(t.agvhd_grade or 0, top)
            for threshold in range(1, top + 1):
                t.agvhd_day[threshold] = min(onset, t.agvhd_day.get(threshold, onset))
        t.agvhd_organs |= organs
    for onset, severity, organs in chronic:
        assert onset is not None
        t.cgvhd_day = _min(t.cgvhd_day, onset)
        if severity in SEVERITIES and (t.cgvhd_severity is None
                                       or SEVERITIES.index(severity) > SEVERITIES.index(t.cgvhd_severity)):
            t.cgvhd_severity = severity
        if severity != "mild":  # moderate / severe, or not recorded: counts for GRFS
            t.cgvhd_severe_day = _min(t.cgvhd_severe_day, onset)
        t.cgvhd_organs |= organs


def _organs(cell: str | None) -> set[str]:
    """'skin:3|upper-gi:1|liver:0' -> the organs staged 1 or more."""
    out = set()
    for item in (cell or "").split("|"):
        organ, _, stage = item.partition(":")
        if organ and (not stage.isdigit() or int(stage) > 0):
            out.add(organ)
    return out


def _windows(c: _Cohort, t: TransplantFacts, day: Callable[[Any], float | None]) -> None:
    """Which time windows around day 0 each adverse event, GVHD, relapse and death fell in."""
    def put(label: str, d: float | None) -> None:
        if d is not None:
            t.windows.setdefault(label, set()).add(_window(d))

    for ae in c.rows("adverse_events", t.patient_id):
        if not ae["term"]:
            continue
        label = ae["term_display"] or ae["term"]
        if ae["term"] == GVHD_TERM:
            label = CHRONIC if written_as_chronic(ae["term_text"]) else ACUTE
        put(label, day(ae["onset_date"]))
    for g in c.rows("gvhd", t.patient_id):
        if g["hsct_id"] == t.hsct["id"]:
            put(ACUTE if g["kind"] == "acute" else CHRONIC, day(g["onset_date"]))
    for r in c.rows("relapses", t.patient_id):
        put("Relapse", day(r["date"]))
    put("Death", t.death_day)


GRFS = "GRFS (aGVHD III-IV, moderate-severe cGVHD, relapse, death)"


# Per transplanted patient, the days the outcome table needs (NaN = none), in this order.
_DAYS = ("last", "death", "relapse", "agvhd2", "agvhd3", "cgvhd", "cgvhd_severe")
_COUNTED = ("HSCT type", "Donor", "HLA match", "Graft source", "Graft manipulation", "Conditioning intensity")


class TransplantAggregate:
    """The transplant tables' figures, accumulated patient by patient: counters per table cell,
    the numbers behind the medians, and seven days per transplanted patient (arrays of floats) for
    the outcome table. Nothing else of a patient is kept; with ``keep_samples`` the tables carry
    those numbers as the per-patient samples that group comparisons test on."""

    def __init__(self, dec: Labels, keep_samples: bool = True):
        self.dec, self.keep_samples = dec, keep_samples
        self.n = self.allo = 0
        self.counted: dict[str, Counter[str]] = {s: Counter() for s in _COUNTED}
        self.conditioning: Counter[str] = Counter()
        self.prophylaxis: Counter[str] = Counter()
        self.numbers = {k: array("d") for k in ("cd34", "neutrophil", "platelet", "agvhd2")}
        self.flags: Counter[str] = Counter()  # patients per yes/no item (keys below)
        self.graft_failure: Counter[str] = Counter()  # as recorded: primary / secondary
        self.acute_grade: Counter[int | None] = Counter()
        self.chronic_severity: Counter[str | None] = Counter()
        self.organs = {ACUTE: Counter[str](), CHRONIC: Counter[str]()}
        self.sources: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()
        self.windows: Counter[tuple[str, str]] = Counter()
        self.days = {k: array("d") for k in _DAYS}
        self.allogeneic = bytearray()

    def add(self, c: _Cohort, facts: list[TransplantFacts]) -> None:
        """The transplanted patients of a cohort (usually one patient) and their rows in it."""
        lab = c.dec
        patients = {f.patient_id: f for f in c.facts}
        for x in facts:
            pid, h = x.patient_id, x.hsct
            allo = h["type"] == "allogeneic"
            self.n += 1
            values = {"HSCT type": h["type"], "Donor": lab.label_of_key("hsct", h["donor_match"], "donor-"),
                      "HLA match": h["hla_match"] if allo else None,
                      "Graft source": lab.label_of_key("hsct", h["graft_source"], "graft-"),
                      "Graft manipulation": "; ".join(lab.label_of_key("hsct", m, "manipulation-") or m
                                                      for m in h["manipulations"].split("|"))
                      if h["manipulations"] else "none recorded",
                      "Conditioning intensity": lab.label_of_key("regimen_terms", h["conditioning_intensity"],
                                                                 "intensity-")}
            for section, value in values.items():
                if value:
                    self.counted[section][sys.intern(value)] += 1
            if h["cd34_dose"] is not None:
                self.numbers["cd34"].append(float(h["cd34_dose"]))
            self.conditioning.update(a for a in set((h["conditioning_agents"] or "").split("|")) if a)
            self.prophylaxis.update(a for a in set((h["gvhd_prophylaxis_agents"] or "").split("|")) if a)
            engrafted: dict[str, float] = {}
            for e in c.rows("engraftment", pid):
                if e["hsct_id"] == h["id"] and e["kind"] in ("neutrophil", "platelet") and e["day"] is not None:
                    engrafted[e["kind"]] = float(e["day"])  # the last one, as the rows are sorted
            for kind, day in sorted(engrafted.items()):
                self.numbers[kind].append(day)
            if x.graft_failure:
                self.graft_failure[x.graft_failure] += 1
            elif (x.death_day is None or x.death_day >= 28) and "neutrophil" not in engrafted:
                self.flags["no neutrophil engraftment"] += 1
            if allo:
                self._add_gvhd(x)
            self.flags["relapse"] += x.relapse_day is not None
            self.flags["hla loss"] += x.hla_loss
            if _nrm(x):
                assert x.death_day is not None
                self.flags["nrm"] += 1
                self.flags["nrm 100"] += x.death_day <= 100
                self.flags["nrm 365"] += x.death_day <= 365
            self.flags["death"] += x.death_day is not None
            f = patients.get(pid)
            if f is not None and f.death_date is not None:
                self.causes[lab.label_of_key("death_causes", f.row["death_cause"]) or "cause not recorded"] += 1
            self.windows.update((sys.intern(label), w) for label, ws in x.windows.items() for w in ws)
            days = (x.last_day, x.death_day, x.relapse_day, x.agvhd_day.get(2), x.agvhd_day.get(3), x.cgvhd_day,
                    x.cgvhd_severe_day)
            for key, day in zip(_DAYS, days, strict=True):
                self.days[key].append(math.nan if day is None else day)
            self.allogeneic.append(allo)

    def _add_gvhd(self, x: TransplantFacts) -> None:
        self.allo += 1
        if x.agvhd_any_day is not None:
            self.flags["acute"] += 1
            self.acute_grade[x.agvhd_grade] += 1
            self.organs[ACUTE].update(x.agvhd_organs)
        if 2 in x.agvhd_day:
            self.flags["acute II-IV"] += 1
            self.numbers["agvhd2"].append(x.agvhd_day[2])
        self.flags["acute III-IV"] += 3 in x.agvhd_day
        if x.cgvhd_day is not None:
            self.flags["chronic"] += 1
            self.chronic_severity[x.cgvhd_severity] += 1
            self.organs[CHRONIC].update(x.cgvhd_organs)
        if x.gvhd_source and x.gvhd_source != "graded":
            self.sources[x.gvhd_source] += 1

    # ---- tables ----
    def tables(self, make: Callable[..., ReportTable]) -> list[ReportTable]:
        return [self.transplant_table(make), self.outcome_table(make)] if self.n else []

    def transplant_table(self, make: Callable[..., ReportTable]) -> ReportTable:
        t = make("transplant", "Transplant (first allogeneic HSCT, else first HSCT)",
                 ["section", "item", "n", "percent", "value"])
        n, lab = self.n, self.dec

        def pct(k: int, d: int = n) -> float | None:
            return round(100 * k / d, 1) if d else None

        def counts(section: str, missing: bool = True) -> None:
            counter = self.counted[section]
            for item, k in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
                t.add(section=section, item=item, n=k, percent=pct(k))
            if missing and n - counter.total() and counter:
                t.add(section=section, item="not recorded", n=n - counter.total(), percent=pct(n - counter.total()))

        def median(section: str, key: str, item: str = "median (range)") -> None:
            v = self.numbers[key]
            if not v:
                return
            if self.keep_samples:
                t.samples[f"{section}|{item}"] = v
            t.add(section=section, item=item, n=len(v), percent=pct(len(v)),
                  value=f"{statistics.median(v):g} ({min(v):g}-{max(v):g})")

        def flag(section: str, item: str, k: int, among: int = n) -> None:
            t.add(section=section, item=item, n=k, percent=pct(k, among))

        t.add(section="Patients", item="transplanted", n=n, percent=pct(n))
        counts("HSCT type")
        counts("Donor")
        counts("HLA match", missing=False)
        counts("Graft source")
        counts("Graft manipulation", missing=False)
        median("CD34+ dose, 10^6/kg", "cd34")
        counts("Conditioning intensity")
        for section, agents in (("Conditioning agents", self.conditioning), ("GVHD prophylaxis", self.prophylaxis)):
            for agent, k in sorted(agents.items(), key=lambda kv: (-kv[1], kv[0])):
                t.add(section=section, item=lab.label_of_key("drugs", agent), n=k, percent=pct(k))

        median("Neutrophil engraftment, day", "neutrophil")
        median("Platelet engraftment, day", "platelet")
        if self.graft_failure:
            for kind in ("primary", "secondary"):
                flag("Engraftment", f"{kind.capitalize()} graft failure", self.graft_failure[kind])
        if self.numbers["neutrophil"]:
            flag("Engraftment", "graft failure (no neutrophil engraftment, alive at day +28)",
                 self.flags["no neutrophil engraftment"])
        if self.allo:
            self._gvhd_rows(t, median)
        section = "Outcomes after HSCT"
        flag(section, "relapse / progression", self.flags["relapse"])
        flag(section, "HLA-loss relapse", self.flags["hla loss"])
        flag(section, "non-relapse death by day +100", self.flags["nrm 100"])
        flag(section, "non-relapse death by 1 year", self.flags["nrm 365"])
        flag(section, "non-relapse death, any time", self.flags["nrm"])
        flag(section, "death, any cause", self.flags["death"])
        for cause, k in sorted(self.causes.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add(section="Causes of death after HSCT", item=cause, n=k, percent=pct(k))

        # adverse events, GVHD, relapses and deaths by time window around day 0
        labels = sorted({label for label, _ in self.windows},
                        key=lambda s: (s not in (ACUTE, CHRONIC, "Relapse", "Death"), s))
        for label in labels:
            for window in WINDOWS:
                if self.windows[(label, window)]:
                    flag(f"By time window: {label}", window, self.windows[(label, window)])
        t.notes.append("percent of transplanted patients; GVHD of allogeneic ones; definitions in docs/analytics.md")
        return t

    def _gvhd_rows(self, t: ReportTable, median: Callable[..., None]) -> None:
        section, among = "GVHD (allogeneic)", self.allo

        def flag(item: str, k: int) -> None:
            t.add(section=section, item=item, n=k, percent=round(100 * k / among, 1))

        flag(f"{ACUTE}, any grade", self.flags["acute"])
        for grade in (1, 2, 3, 4):
            flag(acute_label(grade), self.acute_grade[grade])
        if self.acute_grade[None]:
            flag(f"{ACUTE}, grade not recorded", self.acute_grade[None])
        flag(f"{ACUTE} grade II-IV", self.flags["acute II-IV"])
        flag(f"{ACUTE} grade III-IV", self.flags["acute III-IV"])
        median(section, "agvhd2", f"{ACUTE} grade II-IV, day of onset, median (range)")
        flag(CHRONIC, self.flags["chronic"])
        severity = self.chronic_severity
        if any(severity[s] for s in SEVERITIES):
            for s in SEVERITIES:
                flag(chronic_label(s), severity[s])
            flag(f"{CHRONIC}, moderate-severe", severity["moderate"] + severity["severe"])
            if severity[None]:
                flag(f"{CHRONIC}, severity not recorded", severity[None])
        for kind in (ACUTE, CHRONIC):
            labelled = {organ: _organ_label(self.dec, organ) for organ in self.organs[kind]}
            for organ, k in sorted(self.organs[kind].items(), key=lambda kv: (-kv[1], labelled[kv[0]])):
                t.add(section=f"{kind} organ involvement", item=labelled[organ], n=k,
                      percent=round(100 * k / among, 1))
        if self.sources["ae-ctcae"]:
            t.notes.append(f"acute GVHD graded by CTCAE (no overall MAGIC grade recorded) for "
                           f"{self.sources['ae-ctcae']} patient(s)")
        if self.sources.total():
            t.notes.append(f"GVHD read from adverse events (no graded GVHD episode recorded) for "
                           f"{self.sources.total()} patient(s)")

    def outcome_table(self, make: Callable[..., ReportTable]) -> ReportTable:
        cols = ["endpoint", "method", "n", "events"]
        for d in LANDMARK_DAYS:
            cols += [f"at_{_label(d)}_percent", f"at_{_label(d)}_ci_lower", f"at_{_label(d)}_ci_upper"]
        t = make("transplant_outcomes", "Outcomes from day 0 of the HSCT (percent at day +100, 1 and 2 years)", cols)
        days = {k: [None if math.isnan(v) else v for v in a] for k, a in self.days.items()}
        last = days["last"]
        usable = [i for i, d in enumerate(last) if d is not None and d >= 0]

        def first(*values: float | None) -> float | None:
            return min((d for d in values if d is not None), default=None)

        def km_row(name: str, event_day: Callable[[int], float | None]) -> None:
            data: list[tuple[float, Any]] = []
            for i in usable:
                e = event_day(i)
                data.append((e, True) if e is not None else (last[i], False))  # type: ignore[arg-type]
            if self.keep_samples:
                t.samples[name] = data
            km = kaplan_meier([d for d, _ in data], [e for _, e in data])
            row: Json = {"endpoint": name, "method": "Kaplan-Meier", "n": km.n, "events": km.events}
            follow = _known_until([(d, 1 if e else 0) for d, e in data])
            for d in LANDMARK_DAYS:
                if follow >= d:
                    s, lo, hi = km.survival_at(d)
                    row |= {f"at_{_label(d)}_percent": _r(s), f"at_{_label(d)}_ci_lower": _r(lo),
                            f"at_{_label(d)}_ci_upper": _r(hi)}
            t.add(**row)

        death, relapse = days["death"], days["relapse"]
        km_row("OS", lambda i: death[i])
        km_row("EFS (relapse or death)", lambda i: first(relapse[i], death[i]))
        km_row(GRFS, lambda i: first(days["agvhd3"][i], days["cgvhd_severe"][i], relapse[i], death[i]))

        def cif_row(name: str, among: list[int], outcome: Callable[[int], tuple[float, int]]) -> None:
            data = [outcome(i) for i in among]
            if self.keep_samples:
                t.samples[name] = data
            t.add(**_aalen_johansen(name, data))

        def relapse_vs_nrm(i: int) -> tuple[float, int]:
            r, d = relapse[i], death[i]
            if r is not None and (d is None or r <= d):
                return r, 1
            if d is not None:
                return d, 2
            return last[i] or 0.0, 0

        cif_row("relapse (NRM competing)", usable, relapse_vs_nrm)
        cif_row("NRM (relapse competing)", usable, lambda i: (relapse_vs_nrm(i)[0], (0, 2, 1)[relapse_vs_nrm(i)[1]]))
        allo = [i for i in usable if self.allogeneic[i]]
        if allo:
            def competing(event: float | None, i: int) -> tuple[float, int]:
                other = first(relapse[i], death[i])
                if event is not None and (other is None or event <= other):
                    return event, 1
                return (other, 2) if other is not None else (last[i] or 0.0, 0)

            cif_row(f"{ACUTE} II-IV (death or relapse competing)", allo, lambda i: competing(days["agvhd2"][i], i))
            cif_row(f"{CHRONIC} (death or relapse competing)", allo, lambda i: competing(days["cgvhd"][i], i))
        t.notes.append("Kaplan-Meier: our estimator (log-log CI); cumulative incidence: our Aalen-Johansen "
                       "estimator (tied times taken as they are; variance as lifelines, log-log CI); between "
                       "groups: log-rank (Kaplan-Meier rows), Gray's test (cumulative incidence rows)")
        return t


def _aalen_johansen(name: str, data: list[tuple[float, int]]) -> Json:
    row: Json = {"endpoint": name, "method": "Aalen-Johansen", "n": len(data),
                 "events": sum(1 for _, e in data if e == 1)}
    if not data or not any(e == 1 for _, e in data):
        return row
    steps = aalen_johansen([max(d, 0.0) for d, _ in data], [e for _, e in data])
    follow = _known_until(data)
    for day in LANDMARK_DAYS:
        at = incidence_at(steps, day) if follow >= day else None
        if at is None:
            continue
        row[f"at_{_label(day)}_percent"] = _r(at.incidence)
        row[f"at_{_label(day)}_ci_lower"] = _r(at.lower)
        row[f"at_{_label(day)}_ci_upper"] = _r(at.upper)
    return row


def _organ_label(dec: Labels, organ: str) -> str:
    """'lower-gi' -> 'Lower gastrointestinal tract' (gvhd table), else a body site's display."""
    concept = dec.terminology["gvhd"].find(f"organ-{organ}")
    if concept is not None:
        return concept.display
    return dec.label_of_key("body_sites", organ) or organ


def _names_hla_loss(note: str | None) -> bool:
    """'with loss of the mismatched HLA haplotype', 'HLA loss', 'потеря HLA'."""
    text = (note or "").casefold()
    return "hla" in text and ("loss" in text or "потер" in text)


def _nrm(x: TransplantFacts) -> bool:
    return x.death_day is not None and (x.relapse_day is None or x.relapse_day > x.death_day)


def _known_until(data: list[tuple[float, int]]) -> float:
    """Up to which day an estimate is known: the last follow-up, or for ever when the last
    observation is an event (nobody is left at risk, so the curve can no longer move)."""
    if not data:
        return 0.0
    last = max(d for d, _ in data)
    return math.inf if all(e for d, e in data if d == last) else last


def _label(days: int) -> str:
    return {100: "day100", 365: "1y", 730: "2y"}.get(days, f"day{days}")


def _r(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(100 * x, 1)
