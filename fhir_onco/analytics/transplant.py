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
  competing) are Aalen-Johansen estimates from lifelines (extra ``[stats]``); OS, EFS (relapse or
  death) and GRFS (acute GVHD III-IV, chronic GVHD of moderate or severe NIH severity - any chronic
  GVHD when the severity is not recorded -, relapse or death) are Kaplan-Meier.
* **Time windows** - adverse events, GVHD, relapses and deaths by onset: before day 0, day 0 to
  +100, after day +100.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from .km import kaplan_meier
from .values import Json, point

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


def transplant_table(c: _Cohort, facts: list[TransplantFacts], make: Callable[..., ReportTable]) -> ReportTable:
    t = make("transplant", "Transplant (first allogeneic HSCT, else first HSCT)",
             ["section", "item", "n", "percent", "value"])
    n = len(facts)
    lab = c.dec

    def pct(k: int, d: int = n) -> float | None:
        return round(100 * k / d, 1) if d else None

    def counts(section: str, values: dict[str, str | None], missing: bool = True) -> None:
        counter = Counter(v for v in values.values() if v)
        for item, k in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add(section=section, item=item, n=k, percent=pct(k))
        if missing and n - counter.total() and counter:
            t.add(section=section, item="not recorded", n=n - counter.total(), percent=pct(n - counter.total()))

    def median(section: str, values: dict[str, float], item: str = "median (range)") -> None:
        if not values:
            return
        v = list(values.values())
        t.samples[f"{section}|{item}"] = values
        t.add(section=section, item=item, n=len(v), percent=pct(len(v)),
              value=f"{statistics.median(v):g} ({min(v):g}-{max(v):g})")

    def flag(section: str, item: str, who: Iterable[str], among: int = n) -> None:
        k = len(set(who))
        t.add(section=section, item=item, n=k, percent=pct(k, among))

    t.add(section="Patients", item="transplanted", n=n, percent=pct(n))
    hs = {x.patient_id: x.hsct for x in facts}
    counts("HSCT type", {p: h["type"] for p, h in hs.items()})
    counts("Donor", {p: lab.label_of_key("hsct", h["donor_match"], "donor-") for p, h in hs.items()})
    counts("HLA match", {p: h["hla_match"] for p, h in hs.items() if h["type"] == "allogeneic"}, missing=False)
    counts("Graft source", {p: lab.label_of_key("hsct", h["graft_source"], "graft-") for p, h in hs.items()})
    counts("Graft manipulation", {p: "; ".join(lab.label_of_key("hsct", m, "manipulation-") or m
                                                for m in h["manipulations"].split("|")) if h["manipulations"]
                                  else "none recorded" for p, h in hs.items()}, missing=False)
    median("CD34+ dose, 10^6/kg", {p: h["cd34_dose"] for p, h in hs.items() if h["cd34_dose"] is not None})
    counts("Conditioning intensity", {p: lab.label_of_key("regimen_terms", h["conditioning_intensity"], "intensity-")
                                      for p, h in hs.items()})
    agents = Counter(a for h in hs.values() for a in set((h["conditioning_agents"] or "").split("|")) if a)
    for agent, k in sorted(agents.items(), key=lambda kv: (-kv[1], kv[0])):
        t.add(section="Conditioning agents", item=lab.label_of_key("drugs", agent), n=k, percent=pct(k))
    gvhd = Counter(a for h in hs.values() for a in set((h["gvhd_prophylaxis_agents"] or "").split("|")) if a)
    for agent, k in sorted(gvhd.items(), key=lambda kv: (-kv[1], kv[0])):
        t.add(section="GVHD prophylaxis", item=lab.label_of_key("drugs", agent), n=k, percent=pct(k))

    _engraftment_rows(c, facts, t, median, flag)
    allo = [x for x in facts if x.hsct["type"] == "allogeneic"]
    if allo:
        _gvhd_rows(c, allo, t, flag, median)
    relapsed = [x.patient_id for x in facts if x.relapse_day is not None]
    flag("Outcomes after HSCT", "relapse / progression", relapsed)
    flag("Outcomes after HSCT", "HLA-loss relapse", [x.patient_id for x in facts if x.hla_loss])
    for limit, label in ((100, "non-relapse death by day +100"), (365, "non-relapse death by 1 year")):
        flag("Outcomes after HSCT", label, [x.patient_id for x in facts if _nrm(x) and x.death_day <= limit])
    flag("Outcomes after HSCT", "non-relapse death, any time", [x.patient_id for x in facts if _nrm(x)])
    flag("Outcomes after HSCT", "death, any cause", [x.patient_id for x in facts if x.death_day is not None])
    causes = Counter(lab.label_of_key("death_causes", f.row["death_cause"]) or "cause not recorded"
                     for f in c.facts if f.patient_id in hs and f.death_date is not None)
    for cause, k in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])):
        t.add(section="Causes of death after HSCT", item=cause, n=k, percent=pct(k))

    # adverse events, GVHD, relapses and deaths by time window around day 0
    labels = sorted({label for x in facts for label in x.windows},
                    key=lambda s: (s not in (ACUTE, CHRONIC, "Relapse", "Death"), s))
    for label in labels:
        for window in WINDOWS:
            who = [x.patient_id for x in facts if window in x.windows.get(label, ())]
            if who:
                flag(f"By time window: {label}", window, who)
    t.notes.append("percent of transplanted patients; GVHD of allogeneic ones; definitions in docs/analytics.md")
    return t


def _engraftment_rows(c: _Cohort, facts: list[TransplantFacts], t: ReportTable, median: Any, flag: Any) -> None:
    engraft = {kind: {x.patient_id: float(e["day"]) for x in facts for e in c.rows("engraftment", x.patient_id)
                      if e["hsct_id"] == x.hsct["id"] and e["kind"] == kind and e["day"] is not None}
               for kind in ("neutrophil", "platelet")}
    median("Neutrophil engraftment, day", engraft["neutrophil"])
    median("Platelet engraftment, day", engraft["platelet"])
    recorded = [x for x in facts if x.graft_failure]
    for kind in ("primary", "secondary"):
        who = [x.patient_id for x in recorded if x.graft_failure == kind]
        if recorded:
            flag("Engraftment", f"{kind.capitalize()} graft failure", who)
    if engraft["neutrophil"]:
        at_risk = [x for x in facts if not x.graft_failure and (x.death_day is None or x.death_day >= 28)]
        failed = [x.patient_id for x in at_risk if x.patient_id not in engraft["neutrophil"]]
        flag("Engraftment", "graft failure (no neutrophil engraftment, alive at day +28)", failed)


def _gvhd_rows(c: _Cohort, allo: list[TransplantFacts], t: ReportTable, flag: Any, median: Any) -> None:
    section = "GVHD (allogeneic)"
    among = len(allo)
    acute = [x for x in allo if x.agvhd_any_day is not None]
    flag(section, f"{ACUTE}, any grade", [x.patient_id for x in acute], among)
    for grade in (1, 2, 3, 4):
        flag(section, acute_label(grade), [x.patient_id for x in acute if x.agvhd_grade == grade], among)
    ungraded = [x.patient_id for x in acute if x.agvhd_grade is None]
    if ungraded:
        flag(section, f"{ACUTE}, grade not recorded", ungraded, among)
    flag(section, f"{ACUTE} grade II-IV", [x.patient_id for x in allo if 2 in x.agvhd_day], among)
    flag(section, f"{ACUTE} grade III-IV", [x.patient_id for x in allo if 3 in x.agvhd_day], among)
    median(section, {x.patient_id: x.agvhd_day[2] for x in allo if 2 in x.agvhd_day},
           f"{ACUTE} grade II-IV, day of onset, median (range)")
    chronic = [x for x in allo if x.cgvhd_day is not None]
    flag(section, CHRONIC, [x.patient_id for x in chronic], among)
    if any(x.cgvhd_severity for x in chronic):
        for severity in SEVERITIES:
            flag(section, chronic_label(severity), [x.patient_id for x in chronic if x.cgvhd_severity == severity],
                 among)
        flag(section, f"{CHRONIC}, moderate-severe",
             [x.patient_id for x in chronic if x.cgvhd_severity in ("moderate", "severe")], among)
        unknown = [x.patient_id for x in chronic if x.cgvhd_severity is None]
        if unknown:
            flag(section, f"{CHRONIC}, severity not recorded", unknown, among)
    for kind, who in ((ACUTE, acute), (CHRONIC, chronic)):
        organs = Counter(o for x in who for o in x.agvhd_organs if kind == ACUTE) + Counter(
            o for x in who for o in x.cgvhd_organs if kind == CHRONIC)
        for organ, k in sorted(organs.items(), key=lambda kv: (-kv[1], _organ_label(c, kv[0]))):
            t.add(section=f"{kind} organ involvement", item=_organ_label(c, organ), n=k,
                  percent=round(100 * k / among, 1))
    sources = Counter(x.gvhd_source for x in allo if x.gvhd_source and x.gvhd_source != "graded")
    if sources["ae-ctcae"]:
        t.notes.append(f"acute GVHD graded by CTCAE (no overall MAGIC grade recorded) for {sources['ae-ctcae']} "
                       "patient(s)")
    if sources.total():
        t.notes.append(f"GVHD read from adverse events (no graded GVHD episode recorded) for {sources.total()} "
                       "patient(s)")


def _organ_label(c: _Cohort, organ: str) -> str:
    """'lower-gi' -> 'Lower gastrointestinal tract' (gvhd table), else a body site's display."""
    concept = c.dec.terminology["gvhd"].find(f"organ-{organ}")
    if concept is not None:
        return concept.display
    return c.dec.label_of_key("body_sites", organ) or organ


def _names_hla_loss(note: str | None) -> bool:
    """'with loss of the mismatched HLA haplotype', 'HLA loss', 'потеря HLA'."""
    text = (note or "").casefold()
    return "hla" in text and ("loss" in text or "потер" in text)


def _nrm(x: TransplantFacts) -> bool:
    return x.death_day is not None and (x.relapse_day is None or x.relapse_day > x.death_day)


GRFS = "GRFS (aGVHD III-IV, moderate-severe cGVHD, relapse, death)"


def outcome_table(facts: list[TransplantFacts], make: Callable[..., ReportTable]) -> ReportTable:
    cols = ["endpoint", "method", "n", "events"]
    for d in LANDMARK_DAYS:
        cols += [f"at_{_label(d)}_percent", f"at_{_label(d)}_ci_lower", f"at_{_label(d)}_ci_upper"]
    t = make("transplant_outcomes", "Outcomes from day 0 of the HSCT (percent at day +100, 1 and 2 years)", cols)
    usable = [x for x in facts if x.last_day is not None and x.last_day >= 0]

    def km_row(name: str, event_day: Callable[[TransplantFacts], float | None]) -> None:
        data = {}
        for x in usable:
            e = event_day(x)
            data[x.patient_id] = (e, True) if e is not None else (x.last_day, False)
        t.samples[name] = data
        km = kaplan_meier([d for d, _ in data.values()], [e for _, e in data.values()])
        row: Json = {"endpoint": name, "method": "Kaplan-Meier", "n": km.n, "events": km.events}
        follow = _known_until([(d, 1 if e else 0) for d, e in data.values()])
        for d in LANDMARK_DAYS:
            if follow >= d:
                s, lo, hi = km.survival_at(d)
                row |= {f"at_{_label(d)}_percent": _r(s), f"at_{_label(d)}_ci_lower": _r(lo),
                        f"at_{_label(d)}_ci_upper": _r(hi)}
        t.add(**row)

    def first(*days: float | None) -> float | None:
        return min((d for d in days if d is not None), default=None)

    km_row("OS", lambda x: x.death_day)
    km_row("EFS (relapse or death)", lambda x: first(x.relapse_day, x.death_day))
    km_row(GRFS, lambda x: first(x.agvhd_day.get(3), x.cgvhd_severe_day, x.relapse_day, x.death_day))
    try:
        import lifelines  # noqa: F401
    except ImportError:
        t.notes.append("cumulative incidences (relapse, NRM, acute and chronic GVHD) need the [stats] extra "
                       "(lifelines)")
        return t

    def cif_row(name: str, outcome: Callable[[TransplantFacts], tuple[float, int]]) -> None:
        data = {x.patient_id: outcome(x) for x in usable}
        t.samples[name] = data
        t.add(**_aalen_johansen(name, list(data.values())))

    def relapse_vs_nrm(x: TransplantFacts) -> tuple[float, int]:
        if x.relapse_day is not None and (x.death_day is None or x.relapse_day <= x.death_day):
            return x.relapse_day, 1
        if x.death_day is not None:
            return x.death_day, 2
        return x.last_day or 0.0, 0

    cif_row("relapse (NRM competing)", relapse_vs_nrm)
    cif_row("NRM (relapse competing)", lambda x: {1: (relapse_vs_nrm(x)[0], 2), 2: (relapse_vs_nrm(x)[0], 1)}.get(
        relapse_vs_nrm(x)[1], (relapse_vs_nrm(x)[0], 0)))
    allo = [x for x in usable if x.hsct["type"] == "allogeneic"]
    if allo:
        def competing(event: float | None, x: TransplantFacts) -> tuple[float, int]:
            other = first(x.relapse_day, x.death_day)
            if event is not None and (other is None or event <= other):
                return event, 1
            return (other, 2) if other is not None else (x.last_day or 0.0, 0)

        for name, event in ((f"{ACUTE} II-IV (death or relapse competing)", lambda x: x.agvhd_day.get(2)),
                            (f"{CHRONIC} (death or relapse competing)", lambda x: x.cgvhd_day)):
            data = {x.patient_id: competing(event(x), x) for x in allo}
            t.samples[name] = data
            t.add(**_aalen_johansen(name, list(data.values())))
    t.notes.append("Kaplan-Meier: our estimator (log-log CI); cumulative incidence: lifelines AalenJohansenFitter "
                   "(tied times jittered with a fixed seed, as lifelines requires); between groups: log-rank "
                   "(Kaplan-Meier rows), Gray's test (cumulative incidence rows)")
    return t


def _aalen_johansen(name: str, data: list[tuple[float, int]]) -> Json:
    import warnings

    from lifelines import AalenJohansenFitter

    row: Json = {"endpoint": name, "method": "Aalen-Johansen", "n": len(data),
                 "events": sum(1 for _, e in data if e == 1)}
    if not data or not any(e == 1 for _, e in data):
        return row
    ajf = AalenJohansenFitter(calculate_variance=True, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tie-jitter notice
        ajf.fit([max(d, 0.0) for d, _ in data], [e for _, e in data], event_of_interest=1)
    cif = ajf.cumulative_density_.iloc[:, 0]
    ci = ajf.confidence_interval_cumulative_density_
    follow = _known_until(data)
    for day in LANDMARK_DAYS:
        if follow < day:
            continue
        upto = cif.index[cif.index <= day]
        if len(upto) == 0:
            continue
        at = upto[-1]
        row[f"at_{_label(day)}_percent"] = _r(float(cif.loc[at]))
        row[f"at_{_label(day)}_ci_lower"] = _r(float(ci.loc[at].iloc[0]))
        row[f"at_{_label(day)}_ci_upper"] = _r(float(ci.loc[at].iloc[1]))
    return row


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
