"""Draw a cohort: exact counts first, then a plausible dated history per patient.

1. Every counted attribute (sex, stage, category, exposure, prior lines, best response, HSCT
   donor/intensity/graft, adverse event, death cause) is a multiset of values of exactly the published
   size, dealt to the patients of its scope (cohort or group) by a seeded shuffle. A value may be
   restricted to patients with earlier values (``among``); restricted values are dealt first.
2. Ages are built to hit min, max, median and bins exactly, then dealt the same way.
3. Each patient's history is rendered with its own RNG (seeded by the cohort seed and the patient
   number), so one patient's dates do not depend on the others'.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from . import spec as s
from .spec import CohortError, CohortSpec, Count

MONTH = 30.4375
_BEST_CYCLES = {"cr": (4, 8), "scr": (4, 8), "vgpr": (3, 6), "pr": (2, 3), "mr": (2, 3), "sd": (2, 3), "pd": (2, 2)}


@dataclass(slots=True)
class Slot:
    """One synthetic patient's drawn values (before the history is rendered)."""

    n: int
    group: str
    values: dict[str, Any] = field(default_factory=dict)


def _matches(slot: Slot, among: s.Among) -> bool:
    return all(slot.values.get(key) in allowed for key, allowed in among.items())


def deal(slots: list[Slot], name: str, counts: dict[str, Count], rng: random.Random, where: str,
         fill: Any = ..., parse: Any = str) -> None:
    """Give `name` to exactly `count` patients per value; the rest get `fill` (or it is an error)."""
    free = [x for x in slots if name not in x.values]
    order = sorted(counts.items(), key=lambda kv: not kv[1].among)  # restricted values first, spec order kept
    for value, c in order:
        eligible = [x for x in free if _matches(x, c.among)]
        if len(eligible) < c.count:
            cond = f" among {c.among}" if c.among else ""
            raise CohortError(f"{where}.{value}: {c.count} patients needed, {len(eligible)} available{cond}")
        for x in rng.sample(eligible, c.count):
            x.values[name] = parse(value)
        free = [x for x in free if name not in x.values]
    if free:
        if fill is ...:
            total = sum(c.count for c in counts.values())
            raise CohortError(f"{where}: counts add up to {total}, expected {len(slots)}")
        for x in free:
            x.values[name] = fill


def _bin_range(label: str, lo: int, hi: int) -> tuple[int, int]:
    t = label.replace(" ", "").replace("–", "-")
    if t.startswith("<="):
        return lo, int(t[2:])
    if t.startswith("<"):
        return lo, int(t[1:]) - 1
    if t.startswith(">="):
        return int(t[2:]), hi
    if t.startswith(">"):
        return int(t[1:]) + 1, hi
    a, _, b = t.partition("-")
    return int(a), int(b)


def draw_ages(age: s.Age, n: int, rng: random.Random, where: str = "age") -> list[int]:
    """n whole-year ages with exactly this min, max, median and bin counts (sorted)."""
    if age.bins and sum(age.bins.values()) != n:
        raise CohortError(f"{where}.bins: add up to {sum(age.bins.values())}, expected {n}")
    bounds: list[tuple[int, int]] = []
    for label, count in (age.bins or {f"{age.min}-{age.max}": n}).items():
        lo, hi = _bin_range(label, age.min, age.max)
        bounds += [(max(lo, age.min), min(hi, age.max))] * count
    bounds.sort()
    for i in range(1, n):  # sorted order: each position at least the previous lower bound
        bounds[i] = (max(bounds[i][0], bounds[i - 1][0]), bounds[i][1])
    ages: list[int | None] = [None] * n

    def fix(i: int, v: int) -> None:
        lo, hi = bounds[i]
        if not lo <= v <= hi:
            raise CohortError(f"{where}: cannot reach min {age.min} / max {age.max} / median {age.median:g} "
                              f"with these bins (position {i + 1} of {n} must lie in {lo}..{hi})")
        ages[i] = v

    fix(0, age.min)
    fix(n - 1, age.max)
    twice = round(age.median * 2)
    if n % 2:
        fix(n // 2, twice // 2)
    else:
        a_lo, a_hi = bounds[n // 2 - 1]
        b_lo, b_hi = bounds[n // 2]
        a = min(a_hi, twice // 2, twice - b_lo)
        if a < a_lo or not b_lo <= twice - a <= b_hi or twice - a < a:
            raise CohortError(f"{where}: median {age.median:g} is impossible with bins {age.bins} "
                              f"(positions {n // 2} and {n // 2 + 1} of {n} lie in {a_lo}..{a_hi} and {b_lo}..{b_hi})")
        fix(n // 2 - 1, a)
        fix(n // 2, twice - a)
    for i in range(n):
        if ages[i] is None:
            lo, hi = bounds[i]
            below = [v for v in ages[:i] if v is not None]
            above = [v for v in ages[i + 1:] if v is not None]
            lo = max([lo, *below])
            hi = min([hi, *above])
            ages[i] = rng.randint(lo, hi)
    return sorted(v for v in ages if v is not None)


def draw(spec: CohortSpec, seed: int) -> list[Slot]:
    """Deal every counted attribute to the patients; raises CohortError when the spec cannot hold."""
    rng = random.Random(f"fhir-onco-cohort:{spec.cohort}:{seed}")
    slots = [Slot(n, spec.name) for n in range(1, spec.size + 1)]
    scopes: list[tuple[str, s.Group, list[Slot]]] = [("", spec, slots)]
    if spec.groups:
        order = [g.name for g in spec.groups for _ in range(g.size)]
        rng.shuffle(order)
        for x, g in zip(slots, order, strict=True):
            x.group = g
            x.values["group"] = g
        scopes += [(f"groups[{g.name}].", g, [x for x in slots if x.group == g.name]) for g in spec.groups]
    _once(spec, ("sex", "best_response", "deaths", "hsct"))
    for where, grp, members in scopes:
        if grp.sex:
            deal(members, "sex", grp.sex, rng, f"{where}sex")
    if spec.age is not None:
        for x, a in zip(rng.sample(slots, len(slots)), draw_ages(spec.age, len(slots), rng), strict=True):
            x.values["age"] = a
    for where, grp, members in scopes:
        for system, counts in grp.stages.items():
            deal(members, system, counts, rng, f"{where}stages.{system}")
        for name, cat in grp.categories.items():
            deal(members, name, cat.counts, rng, f"{where}categories.{name}")
    exposures = dict(spec.prior_therapy.exposures) if spec.prior_therapy else {}
    for where, grp, members in scopes:
        for tag, c in (exposures.items() if not where else grp.exposures.items()):
            deal(members, tag, {"yes": c}, rng, f"{where}exposures.{tag}", fill=False, parse=lambda _: True)
    if spec.prior_therapy:
        deal(slots, "lines", {str(k): Count(count=v) for k, v in spec.prior_therapy.lines.items()}, rng,
             "prior_therapy.lines", parse=int)
    for where, grp, members in scopes:
        if grp.best_response:
            deal(members, "best_response", grp.best_response, rng, f"{where}best_response")  # type: ignore[arg-type]
    for where, grp, members in scopes:
        if grp.hsct is not None:
            h = grp.hsct
            count = Count(count=h.patients if h.patients is not None else len(members), among=h.among)
            deal(members, "hsct", {"yes": count}, rng, f"{where}hsct.patients", fill=False, parse=lambda _: True)
            with_hsct = [x for x in members if x.values["hsct"]]
            for key, counts in (("hsct_donor", h.donor), ("hsct_intensity", h.conditioning_intensity),
                                ("hsct_graft", h.graft_source), ("hsct_relapse", h.relapse)):
                if counts:
                    deal(with_hsct, key, counts, rng, f"{where}hsct.{key.removeprefix('hsct_')}")
    ae_index = 0
    for where, grp, members in scopes:
        for j, ae in enumerate(grp.adverse_events):
            taken = f"ae-term:{ae.term}"
            eligible = [x for x in members if not x.values.get(taken)]
            deal(eligible, f"ae{ae_index}", {"yes": Count(count=ae.patients, among=ae.among)}, rng,
                 f"{where}adverse_events[{j}] ({ae.term})", fill=None, parse=lambda _: True)
            for x in eligible:
                if x.values.get(f"ae{ae_index}"):
                    x.values[taken] = True
                    x.values[f"ae{ae_index}"] = (ae, rng.choices(list(ae.grades), list(ae.grades.values()))[0])
            ae_index += 1
    for where, grp, members in scopes:
        if grp.deaths:
            deal(members, "death", grp.deaths, rng, f"{where}deaths", fill=None)
    return slots


def _once(spec: CohortSpec, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(spec, name) and any(getattr(g, name) for g in spec.groups):
            raise CohortError(f"{name}: give it either for the cohort or per group, not both")


# ---- history ------------------------------------------------------------------------------------

def _days(d1: date, d0: date) -> int:
    return (d1 - d0).days


def _birth_date(start: date, age: int, rng: random.Random) -> date:
    try:
        anniversary = start.replace(year=start.year - age)
    except ValueError:  # 29 February
        anniversary = start.replace(year=start.year - age, day=28)
    return anniversary - timedelta(days=rng.randint(0, 364))


def _first_cycle(cycles: str | None) -> int:
    if not cycles:
        return 1
    return int(cycles.split("-")[0] or 1)


def _drug(t: s.DrugTemplate, values: dict[str, Any], n_cycles: int | None) -> dict[str, Any] | None:
    w = t.when
    age = values.get("age")
    if w is not None:
        if w.age_below is not None and (age is None or age >= w.age_below):
            return None
        if w.age_from is not None and (age is None or age < w.age_from):
            return None
        if not all(values.get(k) in v for k, v in w.values.items()):
            return None
    if n_cycles is not None and _first_cycle(t.cycles) > n_cycles:
        return None
    return t.model_dump(exclude_none=True, exclude={"when"})


def _plan_lines(needed: set[str], n: int, catalogue: list[s.CatalogueEntry], rng: random.Random,
                where: str) -> list[s.CatalogueEntry]:
    def options(i: int) -> list[s.CatalogueEntry]:
        ok = [e for e in catalogue if set(e.tags) <= needed and e.line in (("first", "any") if i == 0
                                                                           else ("later", "any"))]
        rng.shuffle(ok)
        return ok

    def search(i: int, covered: set[str], chosen: list[s.CatalogueEntry]) -> list[s.CatalogueEntry] | None:
        if i == n:
            return chosen if covered == needed else None
        for e in options(i):
            if i > 0 and e.hsct:
                continue
            found = search(i + 1, covered | set(e.tags), [*chosen, e])
            if found is not None:
                return found
        return None

    found = search(0, set(), [])
    if found is None:
        raise CohortError(f"{where}: no {n} lines of the catalogue cover exactly the exposures {sorted(needed)}")
    return found


class _Renderer:
    def __init__(self, spec: CohortSpec, seed: int):
        self.spec, self.seed = spec, seed
        self.hsct_of = {g.name: g.hsct for g in spec.groups if g.hsct is not None}
        if spec.hsct is not None:
            self.hsct_of = {g: spec.hsct for g in {spec.name, *(g.name for g in spec.groups)}}

    def case(self, x: Slot) -> dict[str, Any]:
        sp = self.spec
        rng = random.Random(f"fhir-onco-cohort:{sp.cohort}:{self.seed}:{x.n}")
        v = x.values
        enrol = sp.enrolment
        start = enrol["from"] + timedelta(days=rng.randint(0, _days(enrol["to"], enrol["from"])))
        cutoff = sp.data_cutoff
        patient: dict[str, Any] = {"identifiers": [{"system": sp.id_system, "value": f"{sp.cohort}-{x.n:03d}"}],
                                   "sex": v.get("sex", "unknown")}
        if "age" in v:
            patient["birth_date"] = _birth_date(start, v["age"], rng).isoformat()
            patient["age"] = {"years": v["age"], "at": start.isoformat()}
        case: dict[str, Any] = {"patient": patient}
        note = f"synthetic patient of cohort {sp.cohort}" + (f", group {x.group}" if sp.groups else "")
        case["note"] = note
        years = rng.uniform(*sp.diagnosis.years_before_index)
        if "lines" in v:
            lo, hi = sp.diagnosis.years_before_index
            years = min(hi, max(lo, years * (0.8 + 0.1 * v["lines"])))
        onset = start - timedelta(days=round(years * 365.25))
        dx: dict[str, Any] = {"id": "dx", "condition": sp.diagnosis.condition, "onset": onset.isoformat()}
        if sp.diagnosis.morphology:
            dx["morphology"] = sp.diagnosis.morphology
        self._diagnosis_details(dx, x, onset, rng)
        case["diagnoses"] = [dx]
        regimens: list[dict[str, Any]] = []
        hscts: list[dict[str, Any]] = []
        if sp.prior_therapy and "lines" in v:
            self._prior_lines(x, onset, start, regimens, hscts, rng)
            dx["prior_lines"] = v["lines"]  # the same lines are in the case as regimens line1..lineN
        index, timeline = self._index(x, start, cutoff, rng)
        regimens.append(index)
        case["regimens"] = regimens
        responses = timeline.pop("responses")
        self._hsct_after(x, timeline, regimens, hscts, dx, responses, rng)
        if hscts:
            case["hsct"] = hscts
        case["responses"] = responses
        if v.get("death"):
            patient["death"] = {"date": timeline["death"].isoformat(), "cause": v["death"]}
        dx["status"] = "relapse" if timeline.get("progression") else "active"
        aes = self._adverse_events(x, index, timeline, hscts, rng)
        if aes:
            case["adverse_events"] = aes
        return case

    # -- diagnosis ---------------------------------------------------------------------------
    def _diagnosis_details(self, dx: dict[str, Any], x: Slot, onset: date, rng: random.Random) -> None:
        sp = self.spec
        groups = [sp, *(g for g in sp.groups if g.name == x.group)]
        stages = []
        for grp in groups:
            for system in grp.stages:
                value = x.values.get(system)
                if value and value.lower() != "unknown":
                    stages.append({"system": system, "value": value, "date": onset.isoformat()})
        notes = []
        findings = []
        for grp in groups:
            for name, cat in grp.categories.items():
                value = x.values.get(name)
                if cat.field and value is not None:
                    dx[cat.field] = str(value)
                if cat.note and value is not None:
                    notes.append(cat.note.replace("{value}", str(value)))
                choice = cat.findings.get(str(value))
                if choice:
                    when = (onset + timedelta(days=rng.randint(3, 20))).isoformat()
                    for f in rng.choice(choice["one_of"]):
                        item = {"target": f.target, "result": f.result, "date": when}
                        if cat.method:
                            item["method"] = cat.method
                        findings.append(item)
        if stages:
            dx["stages"] = stages
        if findings:
            dx["findings"] = findings
        if notes:
            dx["note"] = "; ".join(notes)

    # -- prior therapy -----------------------------------------------------------------------
    def _prior_lines(self, x: Slot, onset: date, start: date, regimens: list[dict[str, Any]],
                     hscts: list[dict[str, Any]], rng: random.Random) -> None:
        pt = self.spec.prior_therapy
        assert pt is not None
        needed = {tag for tag in pt.exposures if x.values.get(tag)}
        lines = _plan_lines(needed, x.values["lines"], pt.catalogue, rng, f"patient {x.n} prior lines")
        first, last = onset + timedelta(days=14), start - timedelta(days=30)
        weights = [rng.uniform(0.6, 1.4) for _ in lines]
        span = _days(last, first)
        cursor = first
        for i, (entry, w) in enumerate(zip(lines, weights, strict=True), start=1):
            seg = max(30, round(span * w / sum(weights)))
            reserve = 75 if entry.hsct else 7
            length = min(round(rng.uniform(*entry.months) * MONTH), max(14, seg - reserve))
            end = cursor + timedelta(days=length)
            regimens.append({
                "id": f"line{i}", "name": entry.name, "category": "induction" if i == 1 else "salvage",
                "start": cursor.isoformat(), "end": end.isoformat(),
                "drugs": [{"drug": d} for d in entry.drugs], "note": f"prior line {i}",
            })
            if entry.hsct and pt.hsct is not None:
                day0 = end + timedelta(days=rng.randint(30, 60))
                cond = pt.hsct.conditioning
                regimens.append({
                    "id": f"cond{i}", "name": cond.name, "category": "conditioning",
                    "start": (day0 - timedelta(days=2)).isoformat(), "end": (day0 - timedelta(days=1)).isoformat(),
                    "drugs": [t.model_dump(exclude_none=True, exclude={"when"}) for t in cond.drugs],
                    **({"intensity": cond.intensity} if cond.intensity else {}),
                })
                h: dict[str, Any] = {"id": f"asct{i}", "type": entry.hsct, "date": day0.isoformat(),
                                     "conditioning": [f"cond{i}"]}
                if pt.hsct.graft_source:
                    h["graft_source"] = pt.hsct.graft_source
                hscts.append(h)
            cursor = cursor + timedelta(days=seg)

    # -- index regimen and outcome -----------------------------------------------------------
    def _index(self, x: Slot, start: date, cutoff: date, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
        sp = self.spec
        ix = next((g.index_regimen for g in sp.groups if g.name == x.group and g.index_regimen), sp.index_regimen)
        L = ix.cycle_length_days
        v = x.values
        resp = v.get("best_response")
        rv = self._response_value(x)
        max_cycles = max(1, (_days(cutoff, start) + 1) // L)
        t: dict[str, Any] = {"start": start, "responses": []}
        rg: dict[str, Any] = {"id": ix.id, "name": ix.name, "category": ix.category, "start": start.isoformat(),
                              "cycle_length_days": L}
        for key in ("intent", "protocol"):
            if getattr(ix, key):
                rg[key] = getattr(ix, key)
        death_cause = v.get("death")
        if rv is not None and rv.stop_in_cycle is not None:
            cycles = rv.stop_in_cycle
            stop_day = (cycles - 1) * L + 1
            end = start + timedelta(days=stop_day - 1)
            rg.update(cycles=cycles, end=end.isoformat(), status="stopped", stop_reason=rv.stop_reason or "toxicity")
            best = start + timedelta(days=rng.randint(7, 20))
            prog = None
            death = None
            if death_cause:
                death = start + timedelta(days=rng.randint(60, max(61, min(365, _days(cutoff, start) - 1))))
            drugs = [d for t_ in ix.drugs if (d := _drug(t_, v, cycles))]
            for d in drugs:
                d["status"], d["stop_day"] = "stopped", 1
        else:
            fixed = ix.cycles
            kb_lo, kb_hi = _BEST_CYCLES.get(str(resp).lower(), (2, 3))
            if fixed:
                n_fixed = rng.randint(*fixed)
                kb = n_fixed
            else:
                kb = min(rng.randint(kb_lo, kb_hi), max_cycles - 1)
            best = start + timedelta(days=kb * L - 1)
            # progression at the end of a cycle (when it was assessed)
            prog_cycle: int | None
            if str(resp).lower() == "pd":
                prog_cycle = kb
            elif fixed:
                prog_cycle = None
            else:
                median = sp.progression.get(str(resp).lower(), 12.0)
                ttp = -math.log(1 - rng.random()) * median * MONTH / math.log(2)
                prog_cycle = max(kb + 1, math.ceil(ttp / L))
            death = None
            if death_cause:
                if death_cause == "progression" and not fixed:
                    if prog_cycle is None or prog_cycle >= max_cycles - 1:
                        prog_cycle = rng.randint(min(kb + 1, max_cycles - 2) if resp != "pd" else kb,
                                                 max(kb + 1, max_cycles - 2))
                    prog_date = start + timedelta(days=prog_cycle * L - 1)
                    death = prog_date + timedelta(days=rng.randint(20, 180))
                else:
                    days = (rng.randint(60, 365) if rng.random() < 0.8
                            else rng.randint(365, max(366, _days(cutoff, start) - 1)))
                    death = start + timedelta(days=days)
                death = max(death, best + timedelta(days=7))
                death = min(death, cutoff - timedelta(days=1))
            prog = None
            if prog_cycle is not None:
                prog_date = start + timedelta(days=prog_cycle * L - 1)
                limit = death if death is not None else cutoff
                if prog_date < limit and prog_cycle <= max_cycles:
                    prog = prog_date
            if fixed:
                cycles = kb
                rg.update(cycles=cycles, end=(start + timedelta(days=cycles * L - 1)).isoformat())
            elif prog is not None:
                cycles = prog_cycle
                rg.update(cycles=cycles, end=prog.isoformat(), status="stopped", stop_reason="progression")
            elif death is not None:
                cycles = max(1, min(max_cycles, _days(death, start) // L))
                rg.update(cycles=cycles, end=(start + timedelta(days=cycles * L - 1)).isoformat(),
                          status="stopped", stop_reason="death")
            else:
                cycles = max_cycles
                rg.update(cycles=cycles, status="active")
            drugs = [d for t_ in ix.drugs if (d := _drug(t_, v, cycles))]
        rg["drugs"] = drugs
        if resp is not None:
            item = {"id": "best", "date": best.isoformat(), "response": str(resp), "best": True, "regimen": ix.id}
            if ix.response_criteria:
                item["criteria"] = ix.response_criteria
            t["responses"].append(item)
        if prog is not None and prog != best:
            item = {"id": "progression", "date": prog.isoformat(), "response": "pd", "regimen": ix.id}
            if ix.response_criteria:
                item["criteria"] = ix.response_criteria
            t["responses"].append(item)
        end_text = rg.get("end")
        t.update(best=best, progression=prog, death=death, cycles=cycles, cutoff=cutoff, cycle_length=L,
                 end=date.fromisoformat(end_text) if end_text else start + timedelta(days=cycles * L - 1))
        return rg, t

    def _response_value(self, x: Slot) -> s.ResponseValue | None:
        value = x.values.get("best_response")
        for grp in (self.spec, *(g for g in self.spec.groups if g.name == x.group)):
            if value in grp.best_response:
                return grp.best_response[value]  # type: ignore[return-value]
        return None

    # -- HSCT after the index regimen --------------------------------------------------------
    def _hsct_after(self, x: Slot, t: dict[str, Any], regimens: list[dict[str, Any]], hscts: list[dict[str, Any]],
                    dx: dict[str, Any], responses: list[dict[str, Any]], rng: random.Random) -> None:
        h = self.hsct_of.get(x.group)
        if h is None or not x.values.get("hsct"):
            return
        v = x.values
        day0 = t["end"] + timedelta(days=rng.randint(*h.days_after_index_end))
        day0 = min(day0, t["cutoff"] - timedelta(days=120))
        if t["death"] is not None and t["death"] < day0 + timedelta(days=100):
            # a transplanted patient's death follows the HSCT
            t["death"] = min(day0 + timedelta(days=rng.randint(100, 400)), t["cutoff"] - timedelta(days=1))
        item: dict[str, Any] = {"id": "hsct", "type": h.type, "date": day0.isoformat()}
        match = v.get("hsct_donor")
        if match and h.type == "allogeneic":
            donor: dict[str, Any] = {"match": match}
            if h.relation.get(match):
                donor["relation"] = rng.choice(h.relation[match])
            item["donor"] = donor
            if h.manipulations.get(match):
                item["manipulations"] = list(h.manipulations[match])
        if v.get("hsct_graft"):
            item["graft_source"] = v["hsct_graft"]
        intensity = v.get("hsct_intensity")
        if intensity:
            item["conditioning_intensity"] = intensity
            cond = h.conditioning.get(intensity)
            if cond is not None:
                regimens.append({
                    "id": "conditioning", "name": cond.name, "category": "conditioning", "intensity": intensity,
                    "start": (day0 - timedelta(days=7)).isoformat(), "end": (day0 - timedelta(days=1)).isoformat(),
                    "drugs": [d.model_dump(exclude_none=True, exclude={"when"}) for d in cond.drugs],
                })
                item["conditioning"] = ["conditioning"]
        engraftment = []
        for kind, rnge in (("neutrophil", h.neutrophil_engraftment_day), ("platelet", h.platelet_engraftment_day)):
            if rnge and day0 + timedelta(days=rnge[1]) < (t["death"] or t["cutoff"]):
                engraftment.append({"kind": kind, "day": rng.randint(*rnge)})
        if engraftment:
            item["engraftment"] = engraftment
        hscts.append(item)
        t["hsct"] = day0
        if v.get("hsct_relapse") == "relapse":
            end = (t["death"] or t["cutoff"]) - timedelta(days=7)
            lo = day0 + timedelta(days=60)
            when = lo + timedelta(days=rng.randint(0, max(0, _days(end, lo))))
            dx["relapses"] = [{"number": 1, "date": min(when, end).isoformat(), "sites": ["bone marrow"]}]
            responses.append({"id": "relapse", "date": min(when, end).isoformat(), "response": "relapse"})
            t["progression"] = min(when, end)

    # -- adverse events ----------------------------------------------------------------------
    def _adverse_events(self, x: Slot, index: dict[str, Any], t: dict[str, Any], hscts: list[dict[str, Any]],
                        rng: random.Random) -> list[dict[str, Any]]:
        L = t["cycle_length"]
        out = []
        keys = sorted((k for k in x.values if k.startswith("ae") and k[2:].isdigit()), key=lambda k: int(k[2:]))
        stop = t["death"] - timedelta(days=1) if t["death"] else t["cutoff"]
        for key in keys:
            drawn = x.values[key]
            if not drawn:
                continue
            ae, grade = drawn
            cause: dict[str, Any] = {"regimen": index["id"]}
            if ae.onset_after_hsct and t.get("hsct"):
                onset = t["hsct"] + timedelta(days=rng.randint(*ae.onset_after_hsct))
                cause = {"hsct": "hsct"}
            elif ae.onset_day is not None:
                onset = t["start"] + timedelta(days=ae.onset_day - 1)
            else:
                c_lo, c_hi = ae.onset_cycles or (1, t["cycles"])
                c = rng.randint(min(c_lo, t["cycles"]), min(c_hi, t["cycles"]))
                onset = t["start"] + timedelta(days=(c - 1) * L + rng.randint(0, L - 1))
                onset = min(onset, t["end"])
            onset = min(onset, stop)
            if ae.drug and "regimen" in cause:
                cause["drug"] = ae.drug
            item: dict[str, Any] = {"term": ae.term, "ctcae_version": self.spec.ctcae_version, "grade": grade,
                                    "onset": onset.isoformat()}
            resolved = onset + timedelta(days=rng.randint(5, 21))
            if resolved <= stop:
                item["resolved"] = resolved.isoformat()
                item["outcome"] = "resolved"
            else:
                item["outcome"] = "ongoing"
            if ae.serious is not None:
                item["serious"] = ae.serious
            item["suspected_causes"] = [cause]
            if ae.note:
                item["note"] = ae.note
            out.append(item)
        out.sort(key=lambda a: (a["onset"], a["term"]))
        for i, a in enumerate(out, start=1):
            a["id"] = f"ae{i}"
        return out


def render(spec: CohortSpec, slots: list[Slot], seed: int) -> list[dict[str, Any]]:
    r = _Renderer(spec, seed)
    return [r.case(x) for x in slots]
