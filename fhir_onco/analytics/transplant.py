"""Transplant tables as HSCT registries (EBMT, CIBMTR) publish them, from the read-back cases.

Per patient the transplant of interest is the first allogeneic HSCT (else the first HSCT) on or
after the patient's index date - one before it is prior therapy and stays in the baseline table;
times count in days from it (day 0). Definitions (also in docs/analytics.md):

* **Acute GVHD** - an adverse event with the GVHD term not written as chronic (``chronic GVHD``,
  ``cGVHD``, ``хроническая РТПХ``), after day 0; its grade is the overall MAGIC grade (``gvhd_grade``)
  when recorded, else the CTCAE grade (counted, and said in a note). **Chronic GVHD** - the term
  written as chronic.
* **Relapse after HSCT** - a relapse, or a progression / relapse / refractory response, dated after
  day 0. **HLA-loss relapse** - such a relapse whose note names HLA loss (the case model has no
  structured field for it yet).
* **Graft failure** - no neutrophil engraftment recorded for a patient alive at day +28 (only
  reported when the cohort records engraftment at all).
* **NRM** - death without relapse before it. Cumulative incidences (relapse with NRM competing,
  NRM with relapse competing, acute GVHD II-IV with death or relapse before it competing) are
  Aalen-Johansen estimates from lifelines (extra ``[stats]``); OS, EFS (relapse or death) and GRFS
  (acute GVHD III-IV, chronic GVHD, relapse or death) are Kaplan-Meier.
* **Time windows** - adverse events by onset: before day 0, day 0 to +100, after day +100.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass
class TransplantFacts:
    patient_id: str
    hsct: Json
    day0: date
    last_day: float | None = None
    death_day: float | None = None
    relapse_day: float | None = None
    hla_loss: bool = False
    agvhd_day: dict[int, float] | None = None  # grade threshold (2, 3) -> first day
    cgvhd_day: float | None = None
    ctcae_graded_gvhd: bool = False


def _first_hsct(rows: list[Json]) -> Json | None:
    dated = [h for h in rows if point(h["date"]) is not None]
    allo = [h for h in dated if h["type"] == "allogeneic"]
    pool = allo or dated
    return min(pool, key=lambda h: point(h["date"]) or date.max) if pool else None


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

        t = TransplantFacts(f.patient_id, h, day0, agvhd_day={})
        t.death_day = day(f.row["death_date"]) if f.death_date else None
        t.last_day = float((f.last_date - day0).days) if f.last_date else None
        relapses = [(day(r["date"]), r) for r in c.rows("relapses", f.patient_id)]
        relapses = [(d, r) for d, r in relapses if d is not None and d > 0]
        progress = [day(r["date"]) for r in c.rows("responses", f.patient_id) if r["response"] in PROGRESSION]
        days = [d for d, _ in relapses] + [d for d in progress if d is not None and d > 0]
        t.relapse_day = min(days, default=None)
        t.hla_loss = any(_names_hla_loss(r["note"]) for _, r in relapses)
        for ae in c.rows("adverse_events", f.patient_id):
            if ae["term"] != GVHD_TERM:
                continue
            onset = day(ae["onset_date"])
            if onset is None or onset < 0:
                continue
            if any(w in (ae["term_text"] or "").casefold() for w in CHRONIC_WORDS):
                t.cgvhd_day = min(onset, t.cgvhd_day if t.cgvhd_day is not None else onset)
                continue
            grade = ae["gvhd_grade"] if ae["gvhd_grade"] is not None else ae["grade"]
            t.ctcae_graded_gvhd |= ae["gvhd_grade"] is None and ae["grade"] is not None
            for threshold in (2, 3):
                if grade is not None and grade >= threshold:
                    t.agvhd_day[threshold] = min(onset, t.agvhd_day.get(threshold, onset))
        out.append(t)
    return out


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

    def median(section: str, values: dict[str, float]) -> None:
        if not values:
            return
        v = list(values.values())
        t.samples[f"{section}|median (range)"] = values
        t.add(section=section, item="median (range)", n=len(v), percent=pct(len(v)),
              value=f"{statistics.median(v):g} ({min(v):g}-{max(v):g})")

    def flag(section: str, item: str, who: Sequence[str], among: int = n) -> None:
        t.add(section=section, item=item, n=len(who), percent=pct(len(who), among))

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

    # engraftment
    engraft = {kind: {x.patient_id: float(e["day"]) for x in facts for e in c.rows("engraftment", x.patient_id)
                      if e["hsct_id"] == x.hsct["id"] and e["kind"] == kind and e["day"] is not None}
               for kind in ("neutrophil", "platelet")}
    median("Neutrophil engraftment, day", engraft["neutrophil"])
    median("Platelet engraftment, day", engraft["platelet"])
    if engraft["neutrophil"]:
        at_risk = [x for x in facts if x.death_day is None or x.death_day >= 28]
        failed = [x.patient_id for x in at_risk if x.patient_id not in engraft["neutrophil"]]
        flag("Engraftment", "graft failure (no neutrophil engraftment, alive at day +28)", failed)

    allo = [x for x in facts if x.hsct["type"] == "allogeneic"]
    if allo:
        flag("GVHD (allogeneic)", "acute GVHD grade II-IV", [x.patient_id for x in allo if 2 in (x.agvhd_day or {})])
        flag("GVHD (allogeneic)", "acute GVHD grade III-IV", [x.patient_id for x in allo if 3 in (x.agvhd_day or {})])
        flag("GVHD (allogeneic)", "chronic GVHD", [x.patient_id for x in allo if x.cgvhd_day is not None])
        ctcae = sum(1 for x in allo if x.ctcae_graded_gvhd)
        if ctcae:
            t.notes.append(f"acute GVHD graded by CTCAE (no overall MAGIC grade recorded) for {ctcae} patient(s)")
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

    # adverse events by time window around day 0
    windows: dict[tuple[str, str], set[str]] = {}
    labels: dict[str, str] = {}
    for x in facts:
        for ae in c.rows("adverse_events", x.patient_id):
            d = point(ae["onset_date"])
            if d is None or not ae["term"]:
                continue
            days = (d - x.day0).days
            window = WINDOWS[0] if days < 0 else WINDOWS[1] if days <= 100 else WINDOWS[2]
            term = "chronic GVHD" if ae["term"] == GVHD_TERM and any(
                w in (ae["term_text"] or "").casefold() for w in CHRONIC_WORDS) else ae["term"]
            labels[term] = "Chronic GVHD" if term == "chronic GVHD" else (
                "Acute GVHD" if term == GVHD_TERM else ae["term_display"] or term)
            windows.setdefault((term, window), set()).add(x.patient_id)
    for term in sorted(labels, key=lambda k: labels[k]):
        for window in WINDOWS:
            who = windows.get((term, window), set())
            if who:
                t.add(section=f"Adverse events: {labels[term]}", item=window, n=len(who), percent=pct(len(who)))
    t.notes.append("percent of transplanted patients; GVHD of allogeneic ones; definitions in docs/analytics.md")
    return t


def _names_hla_loss(note: str | None) -> bool:
    """'with loss of the mismatched HLA haplotype', 'HLA loss', 'потеря HLA'."""
    text = (note or "").casefold()
    return "hla" in text and ("loss" in text or "потер" in text)


def _nrm(x: TransplantFacts) -> bool:
    return x.death_day is not None and (x.relapse_day is None or x.relapse_day > x.death_day)


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
        follow = max((s.time for s in km.steps), default=0.0)
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
    km_row("GRFS (aGVHD III-IV, cGVHD, relapse, death)",
           lambda x: first((x.agvhd_day or {}).get(3), x.cgvhd_day, x.relapse_day, x.death_day))
    try:
        import lifelines  # noqa: F401
    except ImportError:
        t.notes.append("cumulative incidences (relapse, NRM, acute GVHD) need the [stats] extra (lifelines)")
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
        def gvhd(x: TransplantFacts) -> tuple[float, int]:
            g = (x.agvhd_day or {}).get(2)
            other = first(x.relapse_day, x.death_day)
            if g is not None and (other is None or g <= other):
                return g, 1
            return (other, 2) if other is not None else (x.last_day or 0.0, 0)

        data = {x.patient_id: gvhd(x) for x in allo}
        t.samples["acute GVHD II-IV (death or relapse competing)"] = data
        t.add(**_aalen_johansen("acute GVHD II-IV (death or relapse competing)", list(data.values())))
    t.notes.append("Kaplan-Meier: our estimator (log-log CI); cumulative incidence: lifelines AalenJohansenFitter "
                   "(tied times jittered with a fixed seed, as lifelines requires); Gray's test between groups is "
                   "not available (neither scipy nor lifelines implements it)")
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
    follow = max(d for d, _ in data)
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


def _label(days: int) -> str:
    return {100: "day100", 365: "1y", 730: "2y"}.get(days, f"day{days}")


def _r(x: float | None) -> float | None:
    import math

    return None if x is None or math.isnan(x) else round(100 * x, 1)
