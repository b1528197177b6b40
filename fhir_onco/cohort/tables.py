"""Count a cohort's tables back from its cases (not from the drawn values), as a check.

The definitions are the ones a reader of the paper would use:

- age: whole years at the start of the index regimen;
- paraprotein: the diagnosis's ``paraprotein`` field, as written (the spec's values);
- prior lines: the diagnosis's ``prior_lines`` when stated, else the regimens other than conditioning
  that started before the index regimen (the generator writes both; ``prior_line_mismatches`` checks
  that they agree);
- prior exposure to a drug: given before the index regimen (conditioning included);
- ASCT: an autologous HSCT before the index regimen;
- cytogenetic risk: high when a high-risk abnormality was detected, standard when tested and none
  detected, unknown when untested;
- best response: the response flagged best for the index regimen;
- adverse events: patients whose worst grade of the term reaches the threshold;
- HSCT outcomes (the first HSCT on or after the index regimen start, day 0): engraftment days as
  recorded; graft failure by its kind; acute GVHD by the highest overall grade, chronic GVHD by the
  worst NIH severity (``hsct[].gvhd``), onset = the first; relapse = the first relapse after day 0,
  HLA-loss when a relapse after day 0 says so (``hla_loss``); a death is non-relapse (NRM) when no
  relapse after day 0 precedes it; NRM by day +100 / 1 year = death on or before day 100 / 365.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

from fhir_onco.case import Case
from fhir_onco.terminology import default_terminology

from .generate import _bin_range

HIGH_RISK = ("del(17p)", "t(4;14)", "t(14;16)")
ALKYLATING = ("cyclophosphamide", "melphalan", "bendamustine")


def _key(table: str, term: str) -> str:
    concept = default_terminology()[table].lookup(term)
    return concept.key if concept else term


def _age(birth: str, at: date) -> int:
    b = date.fromisoformat(birth)
    return at.year - b.year - ((at.month, at.day) < (b.month, b.day))


def tabulate(cases: Iterable[Case], index_regimen: str, *, age_bins: Iterable[str] = (),
             adverse_events: Iterable[tuple[str, int]] = (), exposures: Iterable[str] = ()) -> dict[str, Any]:
    sex: Counter[str] = Counter()
    ages: list[int] = []
    stages: dict[str, Counter[str]] = {}
    risk: Counter[str] = Counter()
    paraprotein: Counter[str] = Counter()
    lines: Counter[int] = Counter()
    exposed: Counter[str] = Counter()
    best: Counter[str] = Counter()
    deaths: Counter[str] = Counter()
    ae_counts: Counter[str] = Counter()
    hsct: dict[str, Counter[str]] = {"donor": Counter(), "conditioning_intensity": Counter(),
                                     "graft_source": Counter(), "outcome": Counter()}
    transplanted = 0
    timed: dict[str, Any] = {"neutrophil": [], "platelet": [], "relapse": [], "death": [], "nrm": [],
                             "agvhd": [], "cgvhd": [], "graft_failure": Counter(), "acute_gvhd": Counter(),
                             "chronic_gvhd": Counter(), "hla_loss": 0}
    # each patient once per term and threshold, however often the spec lists the pair (cohort and groups)
    wanted_ae = list(dict.fromkeys((_key("ctcae_terms", t), g) for t, g in adverse_events))
    n = 0
    for case in cases:
        n += 1
        sex[case.patient.sex] += 1
        index = next(r for r in case.regimens if r.id == index_regimen)
        start = date.fromisoformat(index.start)
        if case.patient.birth_date:
            ages.append(_age(case.patient.birth_date, start))
        dx = case.diagnoses[0]
        for st in dx.stages:
            stages.setdefault(st.system, Counter())[st.value] += 1
        tested = [f for f in dx.findings if f.target in HIGH_RISK]
        risk["unknown" if not tested else "high" if any(f.result == "detected" for f in tested) else "standard"] += 1
        if dx.paraprotein:
            paraprotein[dx.paraprotein] += 1
        lines[dx.prior_lines if dx.prior_lines is not None else len(_prior_regimens(case, index_regimen))] += 1
        before = [r for r in case.regimens if r.id != index_regimen and date.fromisoformat(r.start) < start]
        drugs = {_key("drugs", d.drug) for r in before for d in r.drugs}  # high-dose melphalan counts too
        for tag in exposures:
            if tag == "alkylating":
                exposed[tag] += bool(drugs & set(ALKYLATING))
            elif tag == "asct":
                exposed[tag] += any(h.type == "autologous" and date.fromisoformat(h.date) < start for h in case.hsct)
            else:
                exposed[tag] += _key("drugs", tag) in drugs
        for r in case.responses:
            if r.best and r.regimen == index_regimen and r.response is not None:  # data-absent: no response
                best[_key("responses", r.response)] += 1
        worst: dict[str, int] = {}
        for ae in case.adverse_events:
            key = _key("ctcae_terms", ae.term)
            worst[key] = max(worst.get(key, 0), ae.grade or 0)
        for term, threshold in wanted_ae:
            ae_counts[f"{term} >= {threshold}"] += worst.get(term, 0) >= threshold
        after = [h for h in case.hsct if date.fromisoformat(h.date) >= start]
        if after:
            transplanted += 1
            h = after[0]
            hsct["donor"][h.donor.match if h.donor and h.donor.match else "none"] += 1
            hsct["conditioning_intensity"][h.conditioning_intensity or "unknown"] += 1
            hsct["graft_source"][h.graft_source or "unknown"] += 1
            day0 = date.fromisoformat(h.date)
            later = [r for r in dx.relapses if date.fromisoformat(r.date) > day0]
            hsct["outcome"]["relapse" if later else "no relapse"] += 1
            _transplant_outcomes(case, h, day0, later, timed)
        if case.patient.death is not None:
            deaths[_key("death_causes", case.patient.death.cause or "unknown")] += 1
    out: dict[str, Any] = {"patients": n, "sex": dict(sorted(sex.items()))}
    if ages:
        out["age"] = {"min": min(ages), "max": max(ages), "median": statistics.median(ages),
                      "bins": {b: sum(1 for a in ages if _in_bin(a, b)) for b in age_bins}}
    out["stages"] = {k: dict(sorted(v.items())) for k, v in sorted(stages.items())}
    out["cytogenetic_risk"] = dict(sorted(risk.items()))
    if paraprotein:
        out["paraprotein"] = dict(sorted(paraprotein.items()))
    if lines:
        counts = sorted(lines.elements())
        out["prior_lines"] = {"distribution": dict(sorted(lines.items())), "min": counts[0], "max": counts[-1],
                              "median": statistics.median(counts)}
    out["prior_exposure"] = {t: exposed[t] for t in exposures}
    out["best_response"] = dict(sorted(best.items()))
    out["adverse_events"] = dict(ae_counts)
    out["deaths"] = dict(sorted(deaths.items()))
    if transplanted:
        out["hsct"] = {"patients": transplanted, **{k: dict(sorted(v.items())) for k, v in hsct.items()},
                       **_outcome_tables(timed)}
    return out


def _days(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"patients": 0}
    return {"patients": len(values), "median": statistics.median(values), "min": min(values), "max": max(values)}


def _transplant_outcomes(case: Case, h: Any, day0: date, relapses: list[Any], timed: dict[str, Any]) -> None:
    """Engraftment, graft failure, GVHD, relapse and death after the HSCT, in days from it (day 0)."""
    for e in h.engraftment:
        if e.kind in ("neutrophil", "platelet"):
            timed[e.kind].append(e.day)
    if h.graft_failure is not None:
        timed["graft_failure"][h.graft_failure.kind] += 1
    acute = [g for g in h.gvhd if g.kind == "acute" and g.grade is not None]
    if acute:
        worst = max(acute, key=lambda g: g.grade or 0)
        timed["acute_gvhd"][worst.grade] += 1
        timed["agvhd"].append(min((date.fromisoformat(g.onset) - day0).days for g in acute))
    chronic = [g for g in h.gvhd if g.kind == "chronic"]
    if chronic:
        rank = {"mild": 1, "moderate": 2, "severe": 3}
        timed["chronic_gvhd"][max((g.severity or "mild" for g in chronic), key=lambda v: rank[v])] += 1
        timed["cgvhd"].append(min((date.fromisoformat(g.onset) - day0).days for g in chronic))
    first = min((date.fromisoformat(r.date) for r in relapses), default=None)
    if first is not None:
        timed["relapse"].append((first - day0).days)
        timed["hla_loss"] += any(r.hla_loss for r in relapses)
    death = case.patient.death
    if death is not None and death.date:
        day = (date.fromisoformat(death.date) - day0).days
        timed["nrm" if first is None or first > date.fromisoformat(death.date) else "death"].append(day)


def _outcome_tables(t: dict[str, Any]) -> dict[str, Any]:
    grades = t["acute_gvhd"]
    roman = {1: "I", 2: "II", 3: "III", 4: "IV"}
    nrm = t["nrm"]
    return {
        "neutrophil_engraftment": _days(t["neutrophil"]),
        "platelet_engraftment": _days(t["platelet"]),
        "graft_failure": dict(sorted(t["graft_failure"].items())),
        "acute_gvhd": {"grades": {roman[g]: grades[g] for g in sorted(grades)},
                       "II-IV": sum(grades[g] for g in (2, 3, 4)), "III-IV": sum(grades[g] for g in (3, 4)),
                       "onset_day": _days(t["agvhd"])},
        "chronic_gvhd": {"severity": dict(sorted(t["chronic_gvhd"].items())), "patients": len(t["cgvhd"]),
                         "onset_day": _days(t["cgvhd"])},
        "relapse_day": _days(t["relapse"]),
        "hla_loss_relapse": t["hla_loss"],
        "nrm": {"by_day_100": sum(1 for d in nrm if d <= 100), "by_1_year": sum(1 for d in nrm if d <= 365),
                "patients": len(nrm), "day": _days(nrm)},
        "death_after_relapse_day": _days(t["death"]),
        "death_day": _days(sorted(t["nrm"] + t["death"])),
    }


def _prior_regimens(case: Case, index_regimen: str) -> list[str]:
    """Ids of the regimens other than conditioning that started before the index regimen."""
    index = next(r for r in case.regimens if r.id == index_regimen)
    start = date.fromisoformat(index.start)
    return [r.id for r in case.regimens if r.id != index_regimen and r.category != "conditioning"
            and date.fromisoformat(r.start) < start]


def prior_line_mismatches(cases: Iterable[Case], index_regimen: str) -> list[str]:
    """Patients whose stated prior_lines differs from the prior regimens in their history."""
    out = []
    for case in cases:
        stated = case.diagnoses[0].prior_lines if case.diagnoses else None
        counted = len(_prior_regimens(case, index_regimen))
        if stated is not None and stated != counted:
            out.append(f"{case.patient.identifiers[0].value}: prior_lines {stated}, {counted} prior regimens")
    return out


def group_of(case: Case) -> str | None:
    """The group a generated case belongs to (written in its note)."""
    note = case.note or ""
    return note.split(", group ", 1)[1].strip() if ", group " in note else None


def _in_bin(age: int, label: str) -> bool:
    lo, hi = _bin_range(label, 0, 200)
    return lo <= age <= hi
