"""Draw a cohort: exact counts first, then a plausible dated history per patient.

1. Every counted attribute (sex, stage, category, exposure, prior lines, best response, HSCT
   donor/intensity/graft, engraftment, graft failure, relapse, HLA loss, GVHD grade, adverse event,
   death cause) is a multiset of values of exactly the published size, dealt to the patients of its
   scope (cohort or group; HSCT counts in layers, see :func:`_layered`) by a seeded shuffle. A value
   may be restricted to patients with earlier values (``among``); restricted values are dealt first,
   and a shuffle that leaves a value short is replaced by a matching (:func:`_matching`).
2. Ages and days after the HSCT are built to hit min, max, median and bins exactly; the days are
   placed so every event precedes the patient's death (:mod:`.timing`). A draw whose random choices
   cannot be completed is redrawn with the next RNG stream of the seed (:data:`ATTEMPTS`).
3. Each patient's history is rendered with its own RNG (seeded by the cohort seed and the patient
   number), so one patient's dates do not depend on the others'.
"""

from __future__ import annotations

import math
import random
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from . import spec as s
from .spec import CohortError, CohortSpec, Count, Timing
from .timing import Kind, Unlucky, draw_exact, magic_organs, nih_organs, place_days, timing_values

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


@dataclass(frozen=True, slots=True)
class Demand:
    """A later count restricted by `among` to values of several names: `count` patients of `scope`
    (None: everyone) must end up with all of them."""

    among: s.Among
    count: int
    scope: frozenset[int] | None = None


_DEMANDS: ContextVar[tuple[Demand, ...]] = ContextVar("cohort_demands", default=())


def _foresee(slots: list[Slot], free: list[Slot], name: str, counts: dict[str, Count], rng: random.Random,
             parse: Any) -> dict[int, str]:
    """Patients given a value first so that later restricted counts find enough patients: for a later
    count among {name: allowed, other: [...]} whose other names are dealt already, enough patients with
    those other values get an allowed value of `name` now (e.g. relapses on haploidentical patients
    before HLA-loss relapses among them are dealt)."""
    pre: dict[int, str] = {}
    left = {v: c.count for v, c in counts.items()}
    for d in _DEMANDS.get():
        if name not in d.among:
            continue
        others = {k: v for k, v in d.among.items() if k != name
                  and (not k.startswith("_") or any(k in x.values for x in slots))}  # internal marks: once set
        if not others or not all(any(k in x.values for x in slots) for k in others):
            continue
        allowed = d.among[name]
        scope = [x for x in slots if (d.scope is None or x.n in d.scope) and _matches(x, others)]
        have = sum(1 for x in scope if (x.values.get(name) in allowed if name in x.values
                                        else x.n in pre and parse(pre[x.n]) in allowed))
        open_ = [x for x in scope if x in free and x.n not in pre]
        rng.shuffle(open_)
        for x in open_:
            if have >= d.count:
                break
            for v, c in counts.items():
                if left[v] and parse(v) in allowed and _matches(x, c.among):
                    pre[x.n] = v
                    left[v] -= 1
                    have += 1
                    break
    return pre


def deal(slots: list[Slot], name: str, counts: dict[str, Count], rng: random.Random, where: str,
         fill: Any = ..., parse: Any = str, alias: str | None = None) -> None:
    """Give `name` to exactly `count` patients per value; the rest get `fill` (or it is an error).

    A seeded random pick per value (restricted values first), after the picks later restricted counts
    need (:func:`_foresee`; `alias`: the name those counts use); when that leaves a value short although
    a dealing exists (overlapping `among` restrictions), the dealing is found by augmenting paths."""
    free = [x for x in slots if name not in x.values]
    order = sorted(counts.items(), key=lambda kv: not kv[1].among)  # restricted values first, spec order kept
    chosen: dict[int, str] | None = _foresee(slots, free, alias or name, counts, rng, parse) if _DEMANDS.get() else {}
    assert chosen is not None
    pool = [x for x in free if x.n not in chosen]
    for value, c in order:
        need = c.count - sum(1 for v in chosen.values() if v == value)
        eligible = [x for x in pool if _matches(x, c.among)]
        if len(eligible) < need:
            chosen = None
            break
        for x in rng.sample(eligible, need):
            chosen[x.n] = value
        pool = [x for x in pool if x.n not in chosen]
    if chosen is None:
        chosen = _matching(free, order, rng, where)
    for x in free:
        if x.n in chosen:
            x.values[name] = parse(chosen[x.n])
    rest = [x for x in free if x.n not in chosen]
    if rest:
        if fill is ...:
            total = sum(c.count for c in counts.values())
            raise CohortError(f"{where}: counts add up to {total}, expected {len(slots)}")
        for x in rest:
            x.values[name] = fill


def _among_text(among: s.Among) -> str:
    shown = {k: v for k, v in among.items() if not k.startswith("_")}
    text = f" among {shown}" if shown else ""
    if among.get("_can_die") == [True]:
        text += " whose engraftment, relapse and GVHD days can precede the latest death day (nrm_day / death_day max)"
    return text


def _matching(free: list[Slot], order: list[tuple[str, Count]], rng: random.Random, where: str) -> dict[int, str]:
    """A dealing of every value's count to eligible patients (Kuhn's augmenting paths), or the reason none exists."""
    owner: dict[int, int] = {}  # patient n -> slot
    slots: list[str] = []
    eligible: dict[str, list[int]] = {}
    for value, c in order:
        ids = [x.n for x in free if _matches(x, c.among)]
        rng.shuffle(ids)
        eligible[value] = ids
        slots += [value] * c.count

    def augment(slot: int, seen: set[int]) -> bool:
        for n in eligible[slots[slot]]:
            if n in seen:
                continue
            seen.add(n)
            if n not in owner or augment(owner[n], seen):
                owner[n] = slot
                return True
        return False

    for i, value in enumerate(slots):
        if not augment(i, set()):
            c = dict(order)[value]
            cond = _among_text(c.among)
            placed = sum(1 for sl in owner.values() if slots[sl] == value)
            msg = (f"{where}.{value}: {c.count} patients needed, {len(eligible[value])} available{cond}"
                   + (f" and only {placed} left by the other values" if len(eligible[value]) >= c.count else ""))
            if c.among or len(eligible[value]) >= c.count:
                raise Unlucky(msg)  # the earlier values were dealt at random: another draw may fit
            raise CohortError(msg)
    return {n: slots[sl] for n, sl in owner.items()}


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
    bins = [(*_bin_range(label, age.min, age.max), count)
            for label, count in (age.bins or {f"{age.min}-{age.max}": n}).items()]
    return draw_exact(age.min, age.max, age.median, bins, n, rng, where, "ages")


ATTEMPTS = 200
"""Draws tried (each with its own seeded RNG) before a spec is declared unrealisable."""


def draw(spec: CohortSpec, seed: int) -> list[Slot]:
    """Deal every counted attribute to the patients; raises CohortError when the spec cannot hold.

    A draw whose random choices leave no room for a later count or day (Unlucky) is redrawn with the
    next RNG stream of the same seed, so a feasible spec never fails for some seeds."""
    seen: dict[str, int] = {}
    for attempt in range(ATTEMPTS):
        tag = f"fhir-onco-cohort:{spec.cohort}:{seed}" + (f":redraw{attempt}" if attempt else "")
        try:
            return _draw(spec, random.Random(tag))
        except Unlucky as exc:
            seen[str(exc)] = seen.get(str(exc), 0) + 1
    reason = max(seen, key=lambda m: seen[m])  # the most frequent reason (first met on a tie)
    raise CohortError(f"{reason} (no draw of {ATTEMPTS} fitted)")


def _draw(spec: CohortSpec, rng: random.Random) -> list[Slot]:
    slots = [Slot(n, spec.name) for n in range(1, spec.size + 1)]
    token = _DEMANDS.set(())
    try:
        return _draw_with_demands(spec, slots, rng)
    finally:
        _DEMANDS.reset(token)


def _demands(spec: CohortSpec, scopes: list[tuple[str, s.Group, list[Slot]]]) -> tuple[Demand, ...]:
    out = []
    for where, grp, members in scopes:
        scope = frozenset(x.n for x in members) if where else None
        for c in _death_counts(spec, grp, f"{where}deaths").values():
            out.append(Demand({**c.among, "_can_die": [True]}, c.count, scope))
        for ae in grp.adverse_events:
            if ae.among:
                out.append(Demand(ae.among, ae.patients, scope))
        h = grp.hsct
        if h is not None and h.hla_loss is not None:
            out.append(Demand({"hsct_relapse": ["relapse"], **h.hla_loss.among}, h.hla_loss.count, scope))
    return tuple(out)


def _draw_with_demands(spec: CohortSpec, slots: list[Slot], rng: random.Random) -> list[Slot]:
    scopes: list[tuple[str, s.Group, list[Slot]]] = [("", spec, slots)]
    if spec.groups:
        order = [g.name for g in spec.groups for _ in range(g.size)]
        rng.shuffle(order)
        for x, g in zip(slots, order, strict=True):
            x.group = g
            x.values["group"] = g
        scopes += [(f"groups[{g.name}].", g, [x for x in slots if x.group == g.name]) for g in spec.groups]
    _once(spec, ("sex", "best_response", "deaths"))
    _DEMANDS.set(_demands(spec, scopes))
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
    _deal_hsct(spec, slots, rng)
    _mark_death_windows(spec, slots)
    ae_index = 0
    for where, grp, members in scopes:
        for j, ae in enumerate(grp.adverse_events):
            taken = f"ae-term:{ae.term}"
            eligible = [x for x in members if not x.values.get(taken)]
            deal(eligible, f"ae{ae_index}", {"yes": Count(count=ae.patients, among=ae.among)}, rng,
                 f"{where}adverse_events[{j}] ({ae.term})", fill=None, parse=lambda _: True, alias=taken)
            for x in eligible:
                if x.values.get(f"ae{ae_index}"):
                    x.values[taken] = True
                    x.values[f"ae{ae_index}"] = (ae, rng.choices(list(ae.grades), list(ae.grades.values()))[0])
            ae_index += 1
    for where, grp, members in scopes:
        if grp.deaths:
            counts = {c: Count(count=v.count, among={**v.among, "_can_die": [True]})
                      for c, v in _death_counts(spec, grp, f"{where}deaths").items()}
            deal(members, "death", counts, rng, f"{where}deaths", fill=None)
    for x in slots:
        linked = _linked_ae(spec, x)
        if linked is not None:
            x.values["death_ae"] = linked
    _place_hsct_days(spec, slots, rng)
    return slots


def _ae_key(term: str) -> str:
    from fhir_onco.terminology import default_terminology

    concept = default_terminology()["ctcae_terms"].lookup(term)
    return concept.key if concept else term.strip().casefold()


def _death_counts(spec: CohortSpec, grp: s.Group, where: str) -> dict[str, Count]:
    """The deaths' counts; one linked to an adverse event is dealt among the patients who have that event."""
    out: dict[str, Count] = {}
    terms = [a.term for g in (spec, *spec.groups) for a in g.adverse_events]
    for cause, c in grp.deaths.items():
        among = dict(c.among)
        if c.adverse_event is not None:
            match = [t for t in terms if _ae_key(t) == _ae_key(c.adverse_event)]
            if not match:
                raise CohortError(f"{where}.{cause}.adverse_event: {c.adverse_event!r} is not a term of the "
                                  f"spec's adverse_events")
            among[f"ae-term:{match[0]}"] = [True]
        out[cause] = Count(count=c.count, among=among)
    return out


def _linked_ae(spec: CohortSpec, x: Slot) -> str | None:
    cause = x.values.get("death")
    if not cause:
        return None
    for grp in (spec, *(g for g in spec.groups if g.name == x.group)):
        c = grp.deaths.get(cause)
        if c is not None and c.adverse_event is not None:
            return _ae_key(c.adverse_event)
    return None


# ---- HSCT: cohort and group blocks -------------------------------------------------------------

_TEMPLATE_DICTS = ("relation", "conditioning", "manipulations")


def merged_hsct(top: s.HsctSpec | None, own: s.HsctSpec | None) -> s.HsctSpec | None:
    """A group's HSCT block over the cohort's: the group's fields win; template dicts merge per key."""
    if top is None or own is None:
        return own or top
    update: dict[str, Any] = {f: getattr(own, f) for f in own.model_fields_set}
    for f in _TEMPLATE_DICTS:
        if f in update:
            update[f] = {**getattr(top, f), **update[f]}
    return top.model_copy(update=update)


def _parts(spec: CohortSpec, slots: list[Slot]) -> list[tuple[str, s.HsctSpec | None, list[Slot]]]:
    if not spec.groups:
        return [("hsct", None, slots)]
    return [(f"groups[{g.name}].hsct", g.hsct, [x for x in slots if x.group == g.name]) for g in spec.groups]


def _layered(name: str, top: dict[str, Count] | None, parts: list[tuple[str, dict[str, Count] | None, list[Slot]]],
             rng: random.Random, where_top: str, fill: Any = ..., parse: Any = str) -> None:
    """Deal a count given per group and/or for the cohort: a group's own counts within it; the cohort's
    counts minus the groups' over the members of the groups that give none (the groups' sums may not
    exceed the cohort's; with every group giving its own, the cohort's are their check)."""
    rest: list[Slot] = []
    given: dict[str, int] = {}
    for where, own, members in parts:
        if own:
            deal(members, name, own, rng, where, fill=fill, parse=parse)
            for v, c in own.items():
                given[v] = given.get(v, 0) + c.count
        else:
            rest += members
    if top:
        extra = [v for v in given if v not in top]
        if extra:
            raise CohortError(f"{where_top}: the groups give {extra}, the cohort's counts do not")
        residual: dict[str, Count] = {}
        for v, c in top.items():
            r = c.count - given.get(v, 0)
            if r < 0:
                raise CohortError(f"{where_top}.{v}: {c.count} in the cohort, but its groups give {given[v]}")
            if r:
                residual[v] = Count(count=r, among=c.among)
        if rest:
            deal(rest, name, residual, rng, where_top, fill=fill, parse=parse)
        elif residual:
            raise CohortError(f"{where_top}: the cohort's counts exceed the groups' sums by "
                              f"{ {v: c.count for v, c in residual.items()} }")
    elif rest and fill is not ... and given:
        for x in rest:
            x.values.setdefault(name, fill)


def _with_among(c: Count | None, default: s.Among) -> Count | None:
    return None if c is None else Count(count=c.count, among={**default, **c.among})


def _deal_hsct(spec: CohortSpec, slots: list[Slot], rng: random.Random) -> None:
    top = spec.hsct
    parts = _parts(spec, slots)
    if top is None and all(own is None for _, own, _ in parts):
        return
    # who is transplanted
    pooled: list[Slot] = []
    for where, own, members in parts:
        h = merged_hsct(top, own)
        if own is not None and (top is None or "patients" in own.model_fields_set
                                or "among" in own.model_fields_set):
            n = own.patients if own.patients is not None else len(members)
            deal(members, "hsct", {"yes": Count(count=n, among=own.among)}, rng, f"{where}.patients",
                 fill=False, parse=lambda _: True)
        elif h is None:
            for x in members:
                x.values["hsct"] = False
        else:
            pooled += members
    if pooled and top is not None:
        n = top.patients if top.patients is not None else len(pooled)
        deal(pooled, "hsct", {"yes": Count(count=n, among=top.among)}, rng, "hsct.patients", fill=False,
             parse=lambda _: True)
    tx = [(w, own, [x for x in m if x.values.get("hsct")]) for w, own, m in parts]

    def layer(key: str, get: Any, fill: Any = ..., parse: Any = str, default: s.Among | None = None) -> None:
        def counts(h: s.HsctSpec | None) -> dict[str, Count] | None:
            raw = get(h) if h is not None else None
            if not raw:
                return None
            return {v: c if default is None else _with_among(c, default) for v, c in raw.items()}  # type: ignore[misc]
        _layered(key, counts(top), [(f"{w}.{key.removeprefix('hsct_')}", counts(own), m) for w, own, m in tx],
                 rng, f"hsct.{key.removeprefix('hsct_')}", fill=fill, parse=parse)

    layer("hsct_donor", lambda h: h.donor)
    layer("hsct_intensity", lambda h: h.conditioning_intensity)
    layer("hsct_graft", lambda h: h.graft_source)
    layer("hsct_relapse", lambda h: h.relapse)
    layer("hsct_hla_loss", lambda h: {"yes": h.hla_loss} if h.hla_loss else None, fill=False,
          parse=lambda _: True, default={"hsct_relapse": ["relapse"]})
    layer("hsct_gf", lambda h: {k: v for k, v in h.graft_failure.items() if k == "primary"}, fill=None)
    for lineage, among in (("neutrophil", {"hsct_gf": [None]}), ("platelet", {"hsct_neutrophil": [True]})):
        key = f"hsct_{lineage}"
        block = f"{lineage}_engraftment"
        layer(key, lambda h, b=block: ({"yes": Count(count=getattr(h, b).patients)}
                                       if getattr(h, b) and getattr(h, b).patients is not None else None),
              fill=False, parse=lambda _: True, default=among)
        for _, own, members in tx:  # a block without `patients` (here or for the cohort): everyone eligible
            h = merged_hsct(top, own)
            counted = [b_ for b_ in (getattr(own, block, None), getattr(top, block, None))
                       if b_ is not None and b_.patients is not None]
            if h is not None and getattr(h, block) is not None and not counted:
                for x in members:
                    x.values[key] = _matches(x, among)
    layer("hsct_gf2", lambda h: {k: v for k, v in h.graft_failure.items() if k == "secondary"}, fill=None,
          default={"hsct_neutrophil": [True]})
    engrafted = {"hsct_neutrophil": [True, None], "hsct_gf2": [None]}
    layer("hsct_agvhd", lambda h: h.acute_gvhd.grades if h.acute_gvhd else None, fill=None, parse=int,
          default=engrafted)
    _keep_free_of_late_events(spec, slots, rng)
    layer("hsct_cgvhd", lambda h: h.chronic_gvhd.severity if h.chronic_gvhd else None, fill=None, default=engrafted)


def _keep_free_of_late_events(spec: CohortSpec, slots: list[Slot], rng: random.Random) -> None:
    """Before chronic GVHD is dealt: when its earliest day is past the latest non-relapse death day, keep
    enough patients without it for the non-relapse deaths restricted to dealt values (a GVHD death among
    grade III-IV acute GVHD without relapse): they are marked as having none."""
    top = spec.hsct
    for d in _DEMANDS.get():
        if d.among.get("hsct_relapse") != ["no relapse"]:
            continue
        others = {k: v for k, v in d.among.items() if k != "_can_die"}
        if not all(any(k in x.values for x in slots) for k in others):
            continue
        members = [x for x in slots if (d.scope is None or x.n in d.scope) and x.values.get("hsct")]
        group = members[0].group if members and d.scope is not None else None
        own = next((g.hsct for g in spec.groups if g.name == group), None)
        nrm = (own.nrm_day if own is not None and own.nrm_day else top.nrm_day if top is not None else None)
        chronic = [h.chronic_gvhd.day for h in (own, top) if h is not None and h.chronic_gvhd and h.chronic_gvhd.day]
        if nrm is None or not chronic or chronic[0].min < nrm.max:
            continue
        fit = [x for x in members if _matches(x, others) and "hsct_cgvhd" not in x.values]
        kept = sum(1 for x in members if _matches(x, others) and x.values.get("hsct_cgvhd", ...) is None)
        for x in rng.sample(fit, max(0, min(len(fit), d.count - kept))):
            x.values["hsct_cgvhd"] = None


_DEFAULT_DAYS = {"neutrophil": (12, 28), "platelet": (14, 45), "relapse": (60, 720), "agvhd": (14, 90),
                 "cgvhd": (100, 400)}


def _place_hsct_days(spec: CohortSpec, slots: list[Slot], rng: random.Random) -> None:
    """Days after the HSCT of engraftment, relapse, GVHD onset and death: exact distributions, every
    event before the patient's death."""
    top = spec.hsct
    parts = _parts(spec, slots)
    if top is None and all(own is None for _, own, _ in parts):
        return
    tx = [(w, own, [x for x in m if x.values.get("hsct")]) for w, own, m in parts]
    holds = {
        "neutrophil": (lambda x: x.values.get("hsct_neutrophil") is True,
                       lambda h: h.neutrophil_engraftment.day if h.neutrophil_engraftment else None),
        "platelet": (lambda x: x.values.get("hsct_platelet") is True,
                     lambda h: h.platelet_engraftment.day if h.platelet_engraftment else None),
        "relapse": (lambda x: x.values.get("hsct_relapse") == "relapse", lambda h: h.relapse_day),
        "agvhd": (lambda x: x.values.get("hsct_agvhd") is not None,
                  lambda h: h.acute_gvhd.day if h.acute_gvhd else None),
        "cgvhd": (lambda x: x.values.get("hsct_cgvhd") is not None,
                  lambda h: h.chronic_gvhd.day if h.chronic_gvhd else None),
        "nrm": (lambda x: bool(x.values.get("death")) and x.values.get("hsct_relapse") != "relapse",
                lambda h: h.nrm_day),
        "death": (lambda x: bool(x.values.get("death")), lambda h: h.death_day),
    }
    field_name = {"neutrophil": "neutrophil_engraftment.day", "platelet": "platelet_engraftment.day",
                  "relapse": "relapse_day", "agvhd": "acute_gvhd.day", "cgvhd": "chronic_gvhd.day",
                  "death": "death_day", "nrm": "nrm_day"}
    events: list[Kind] = []
    deaths: list[Kind] = []
    untimed_deaths: list[Slot] = []
    nrm_timed: set[int] = set()
    def timed(kind: str, t: Timing, who: list[Slot], where: str) -> None:
        """Days drawn from a timing for the patients of one HSCT block (a group's, or the cohort's: `hsct`)."""
        vals = timing_values(t, len(who), rng, f"{where}.{field_name[kind]}")
        dies = kind in ("death", "nrm")
        (deaths if dies else events).append(Kind(f"death@{kind}@{where}" if dies else f"{kind}@{where}", vals,
                                                 [x.n for x in who]))
        if kind == "nrm":
            nrm_timed.update(x.n for x in who)

    for kind, (has, timing) in holds.items():
        rest: list[Slot] = []
        for w, own, members in tx:
            t = timing(own) if own is not None else None
            who = [x for x in members if has(x) and x.n not in nrm_timed]
            if t is not None:
                timed(kind, t, who, w)
            else:
                rest += who
        t = timing(top) if top is not None else None
        if t is not None:
            timed(kind, t, rest, "hsct")
        elif kind == "nrm":
            continue
        elif kind == "death":
            untimed_deaths += rest
        elif rest:
            lo, hi = _DEFAULT_DAYS[kind]
            events.append(Kind(f"{kind}@default", [rng.randint(lo, hi) for _ in rest], [x.n for x in rest]))
    by_n = {x.n: x for x in slots}
    lower: dict[Any, int] = {}
    for x in slots:
        lo = _linked_ae_window(spec, x)
        if lo is not None:
            lower[x.n] = lo
    placed = place_days(events, deaths, rng, "hsct", lower=lower)
    for n, days in placed.days.items():
        by_n[n].values["hsct_days"] = dict(days)
    for x in untimed_deaths:  # no death timing: some time after the patient's last event
        days = x.values.setdefault("hsct_days", {})
        last = max([*days.values(), lower.get(x.n, 0)], default=0)
        days["death"] = last + rng.randint(14, 300) if days or x.n in lower else rng.randint(100, 400)


def _mark_death_windows(spec: CohortSpec, slots: list[Slot]) -> None:
    """`_can_die`: False for a transplanted patient whose events cannot all come before the latest day
    its death timing allows (a chronic GVHD from day +105 and non-relapse deaths by day +60), so the
    deaths are dealt to patients that can take them (a necessary condition; the placement checks it all)."""
    top = spec.hsct
    for x in slots:
        x.values["_can_die"] = True
    if top is None and not any(g.hsct for g in spec.groups):
        return
    def timing(own: s.HsctSpec | None, get: Any) -> s.Timing | None:
        mine = get(own) if own is not None else None  # as in _place_hsct_days: the group's, else the cohort's
        return mine if mine is not None else (get(top) if top is not None else None)

    for _, own, members in _parts(spec, slots):
        if merged_hsct(top, own) is None:
            continue
        firsts = {
            "hsct_neutrophil": timing(own, lambda h: h.neutrophil_engraftment.day if h.neutrophil_engraftment
                                      else None),
            "hsct_platelet": timing(own, lambda h: h.platelet_engraftment.day if h.platelet_engraftment
                                    else None),
            "hsct_agvhd": timing(own, lambda h: h.acute_gvhd.day if h.acute_gvhd else None),
            "hsct_cgvhd": timing(own, lambda h: h.chronic_gvhd.day if h.chronic_gvhd else None),
            "hsct_relapse": timing(own, lambda h: h.relapse_day),
        }
        nrm, other = timing(own, lambda h: h.nrm_day), timing(own, lambda h: h.death_day)
        for x in members:
            if not x.values.get("hsct"):
                continue
            relapsed = x.values.get("hsct_relapse") == "relapse"
            last = other if relapsed or nrm is None else nrm
            if last is None:
                continue
            held = [t.min for key, t in firsts.items() if t is not None and x.values.get(key) not in (None, False)
                    and (key != "hsct_relapse" or relapsed)]
            if held and max(held) >= last.max:
                x.values["_can_die"] = False


def _linked_ae_window(spec: CohortSpec, x: Slot) -> int | None:
    """The earliest onset day after the HSCT of the adverse event the patient dies of, if it is timed so."""
    key = x.values.get("death_ae")
    if key is None or not x.values.get("hsct"):
        return None
    for grp in (spec, *(g for g in spec.groups if g.name == x.group)):
        for ae in grp.adverse_events:
            if _ae_key(ae.term) == key and ae.onset_after_hsct:
                return ae.onset_after_hsct[0]
    return None


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
        self.hsct_of: dict[str, s.HsctSpec] = {}
        for g in spec.groups:
            if (h := merged_hsct(spec.hsct, g.hsct)) is not None:
                self.hsct_of[g.name] = h
        if spec.hsct is not None:
            self.hsct_of[spec.name] = spec.hsct

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
        fatal = [a for a in aes if a.get("outcome") == "fatal"]
        if fatal and "death" in patient:  # the link the spec states (deaths.<cause>.adverse_event), in words
            patient["death"]["note"] = f"died of adverse event {fatal[0]['id']} ({fatal[0]['term']}, grade 5)"
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
        death_cause = None if "hsct_days" in v else v.get("death")  # a transplanted patient dies after the HSCT
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
        days: dict[str, int] = v.get("hsct_days", {})
        day0 = t["end"] + timedelta(days=rng.randint(*h.days_after_index_end))
        latest = max([120, *(d + 1 for d in days.values())])
        day0 = min(day0, t["cutoff"] - timedelta(days=latest))
        if day0 <= t["end"]:
            raise CohortError(f"patient {x.n}: day +{latest - 1} after the HSCT would pass the data cutoff; "
                              "move enrolment earlier or data_cutoff later")
        if "death" in days:
            t["death"] = day0 + timedelta(days=days["death"])
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
        death_day = days.get("death")
        engraftment = [{"kind": kind, "day": days[kind]} for kind in ("neutrophil", "platelet") if kind in days]
        if engraftment:
            item["engraftment"] = engraftment
        gf = v.get("hsct_gf") or v.get("hsct_gf2")
        if gf == "primary":
            when = min(28, death_day) if death_day is not None else 28
            item["graft_failure"] = {"kind": "primary", "date": (day0 + timedelta(days=when)).isoformat()}
        elif gf == "secondary":
            lost = days["neutrophil"] + rng.randint(14, 60)
            if death_day is not None:
                lost = min(lost, death_day)
            item["graft_failure"] = {"kind": "secondary", "date": (day0 + timedelta(days=lost)).isoformat()}
        gvhd = []
        if v.get("hsct_agvhd") is not None:
            grade = int(v["hsct_agvhd"])
            organs = magic_organs(grade, rng)
            gvhd.append({"kind": "acute", "onset": (day0 + timedelta(days=days["agvhd"])).isoformat(),
                         "criteria": h.acute_gvhd.criteria if h.acute_gvhd else "MAGIC", "grade": grade,
                         "organs": [{"organ": o, "stage": st} for o, st in organs.items()]})
        if v.get("hsct_cgvhd") is not None:
            organs = nih_organs(v["hsct_cgvhd"], rng)
            gvhd.append({"kind": "chronic", "onset": (day0 + timedelta(days=days["cgvhd"])).isoformat(),
                         "criteria": "NIH 2014", "severity": v["hsct_cgvhd"],
                         "organs": [{"organ": o, "stage": st} for o, st in organs.items()]})
        if gvhd:
            item["gvhd"] = gvhd
        hscts.append(item)
        t["hsct"] = day0
        if v.get("hsct_relapse") == "relapse":
            if "relapse" in days:
                when = day0 + timedelta(days=days["relapse"])
            else:  # no relapse timing at all (older specs): between day +60 and a week before the end
                end = (t["death"] or t["cutoff"]) - timedelta(days=7)
                lo = day0 + timedelta(days=60)
                when = min(lo + timedelta(days=rng.randint(0, max(0, _days(end, lo)))), end)
            relapse: dict[str, Any] = {"number": 1, "date": when.isoformat(), "sites": ["bone marrow"]}
            if v.get("hsct_hla_loss"):
                relapse.update(hla_loss=True, note="with loss of the mismatched HLA haplotype")
            dx["relapses"] = [relapse]
            responses.append({"id": "relapse", "date": when.isoformat(), "response": "relapse"})
            t["progression"] = when

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
            fatal = x.values.get("death_ae") == _ae_key(ae.term) and t["death"] is not None
            item: dict[str, Any] = {"term": ae.term, "ctcae_version": self.spec.ctcae_version,
                                    "grade": 5 if fatal else grade, "onset": onset.isoformat()}
            resolved = onset + timedelta(days=rng.randint(5, 21))
            if fatal:  # the death the spec links to this event (deaths.<cause>.adverse_event)
                item["outcome"] = "fatal"
                item["serious"] = True
                x.values["death_ae"] = None  # one event of the term is the fatal one
            elif resolved <= stop:
                item["resolved"] = resolved.isoformat()
                item["outcome"] = "resolved"
            else:
                item["outcome"] = "ongoing"
            if ae.serious is not None and not fatal:
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
