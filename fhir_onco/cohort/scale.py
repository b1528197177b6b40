"""A spec whose `size` differs from its `published_size`: every count scaled by size / published_size.

Rounding is by largest remainder, so sums are kept: the values of one table (sex, a stage system, best
response, donor, ...) together with the patients who have none of them are one partition of their
scope (the cohort, a group, the transplanted), and the scaled parts add up to the scaled scope. Each
part gets the floor of its exact share; the parts with the largest fractional remainders get one more
until the sum is reached (ties: in the spec's order, the implicit "none of them" part last). Group
sizes are scaled the same way (adding up to `size`), then each group's counts by its own ratio.
Dependent counts are scaled together (engraftment and graft failure as one partition of the
transplanted, HLA loss within the relapses, a cohort figure as its groups' sum plus its scaled
residual, a timing's `by` counts within the patients it covers). Medians, ranges and day windows are
not counts and stay as published. A scaled spec whose restricted
counts no longer fit (e.g. an `among` that now leaves too few patients, or a cohort count no longer
equal to its groups' sum) is refused at generate time with the field named, like any other spec.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

from .spec import CohortError


def largest_remainder(parts: list[int], old_total: int, new_total: int) -> list[int]:
    """Scale parts of old_total (their sum <= old_total; the rest is an implicit last part) to new_total."""
    rest = old_total - sum(parts)
    if rest < 0:
        raise ValueError(f"parts add up to {sum(parts)}, more than {old_total}")
    every = [*parts, rest]
    exact = [Fraction(p * new_total, old_total) for p in every]
    out = [int(q) for q in exact]  # floor (non-negative)
    short = new_total - sum(out)
    order = sorted(range(len(every)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[:short]:
        out[i] += 1
    return out[:-1]


def _count(v: Any) -> int:
    return v if isinstance(v, int) else int(v["count"])


def _with(v: Any, n: int) -> Any:
    return n if isinstance(v, int) else {**v, "count": n}


def _partition(d: dict[Any, Any] | None, old: int, new: int) -> None:
    if not d:
        return
    keys = list(d)
    for k, n in zip(keys, largest_remainder([_count(d[k]) for k in keys], old, new), strict=True):
        d[k] = _with(d[k], n)


def _one(v: Any, old: int, new: int) -> Any:
    return _with(v, largest_remainder([_count(v)], old, new)[0])


def _scale_group(g: dict[str, Any], old: int, new: int, top: bool) -> None:
    for key in ("sex", "best_response", "deaths"):
        _partition(g.get(key), old, new)
    for counts in (g.get("stages") or {}).values():
        _partition(counts, old, new)
    for cat in (g.get("categories") or {}).values():
        _partition(cat.get("counts"), old, new)
    for tag, v in list((g.get("exposures") or {}).items()):
        g["exposures"][tag] = _one(v, old, new)
    for ae in g.get("adverse_events") or []:
        ae["patients"] = _one(ae["patients"], old, new)
    h = g.get("hsct")
    if h:
        t_old = h.get("patients", old) if h.get("patients") is not None else old
        t_new = _one(t_old, old, new)
        if h.get("patients") is not None:
            h["patients"] = t_new
        for key in ("donor", "conditioning_intensity", "graft_source"):
            _partition(h.get(key), t_old, t_new)
        relapse = h.get("relapse") or {}
        r_old = _count(relapse["relapse"]) if "relapse" in relapse else None
        _partition(relapse, t_old, t_new)
        if h.get("hla_loss") is not None:  # within the relapses
            h["hla_loss"] = _one(h["hla_loss"], r_old, _count(relapse["relapse"])) if r_old else \
                _one(h["hla_loss"], t_old, t_new)
        _scale_engraftment(h, t_old, t_new)
        if h.get("acute_gvhd"):
            _partition(h["acute_gvhd"].get("grades"), t_old, t_new)
        if h.get("chronic_gvhd"):
            _partition(h["chronic_gvhd"].get("severity"), t_old, t_new)
    if top:
        age = g.get("age")
        if age and age.get("bins"):
            _partition(age["bins"], old, new)
        pt = g.get("prior_therapy")
        if pt:
            _partition(pt.get("lines"), old, new)
            for tag, v in list((pt.get("exposures") or {}).items()):
                pt["exposures"][tag] = _one(v, old, new)


def _scale_engraftment(h: dict[str, Any], t_old: int, t_new: int) -> None:
    """Primary graft failure, the others who do not engraft and the engrafted are one partition of the
    transplanted; secondary failure and platelet engraftment are scaled within the engrafted."""
    gf = h.get("graft_failure") or {}
    neut = h.get("neutrophil_engraftment") or {}
    primary = _count(gf["primary"]) if "primary" in gf else 0
    e_old = neut["patients"] if neut.get("patients") is not None else t_old - primary
    primary_new, other_new = largest_remainder([primary, t_old - primary - e_old], t_old, t_new)
    e_new = t_new - primary_new - other_new
    if "primary" in gf:
        gf["primary"] = _with(gf["primary"], primary_new)
    if neut.get("patients") is not None:
        neut["patients"] = e_new
    if "secondary" in gf:
        gf["secondary"] = _one(gf["secondary"], e_old, e_new) if e_old else _with(gf["secondary"], 0)
    plat = h.get("platelet_engraftment") or {}
    if plat.get("patients") is not None:
        plat["patients"] = _one(plat["patients"], e_old, e_new) if e_old else 0


def _hsct_counts(h: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The HSCT block's count tables by field (single counts as {'yes': n})."""
    if not h:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for key in ("donor", "conditioning_intensity", "graft_source", "relapse", "graft_failure"):
        if h.get(key):
            out[key] = h[key]
    for key, sub in (("acute_gvhd", "grades"), ("chronic_gvhd", "severity")):
        if h.get(key) and h[key].get(sub):
            out[f"{key}.{sub}"] = h[key][sub]
    for key in ("neutrophil_engraftment", "platelet_engraftment"):
        if h.get(key) and h[key].get("patients") is not None:
            out[key] = {"yes": h[key]["patients"]}
    if h.get("hla_loss") is not None:
        out["hla_loss"] = {"yes": h["hla_loss"]}
    return out


def _put(h: dict[str, Any], field: str, value: str, n: int) -> None:
    if field in ("neutrophil_engraftment", "platelet_engraftment"):
        h[field]["patients"] = n
    elif field == "hla_loss":
        h["hla_loss"] = _with(h["hla_loss"], n)
    elif "." in field:
        a, b = field.split(".")
        h[a][b][value] = _with(h[a][b][value], n)
    else:
        h[field][value] = _with(h[field][value], n)


def _reconcile(top_old: dict[str, Any], top: dict[str, Any], groups_old: list[dict[str, Any]],
               groups: list[dict[str, Any]]) -> None:
    """A cohort count the groups also give: the groups' scaled counts plus the cohort's residual (its
    count minus the groups') scaled over the groups that give none, so the cohort figure stays the sum
    it is checked against."""
    for field, values in _hsct_counts(top_old).items():
        giving = [i for i, g in enumerate(groups_old) if field in _hsct_counts(g.get("hsct"))]
        if not giving:
            continue
        rest_old = sum(g["size"] for i, g in enumerate(groups_old) if i not in giving)
        rest_new = sum(g["size"] for i, g in enumerate(groups) if i not in giving)
        for value, c in values.items():
            own_old = sum(_count(_hsct_counts(groups_old[i].get("hsct"))[field].get(value, 0)) for i in giving)
            own_new = sum(_count(_hsct_counts(groups[i].get("hsct"))[field].get(value, 0)) for i in giving)
            residual = _count(c) - own_old
            if residual <= 0 or rest_old == 0:
                _put(top, field, value, own_new + max(residual, 0))  # a wrong sum stays wrong: refused later
            else:
                _put(top, field, value, own_new + largest_remainder([residual], rest_old, rest_new)[0])


def _holders(h: dict[str, Any], deaths: dict[str, Any]) -> dict[str, int]:
    """How many patients each timing of an HSCT block covers (its `by` counts are shares of these)."""
    def total(d: dict[str, Any] | None) -> int:
        return sum(_count(v) for v in (d or {}).values())

    nrm = sum(_count(c) for c in deaths.values()
              if isinstance(c, dict) and c.get("among", {}).get("hsct_relapse") == ["no relapse"])
    out = {"relapse_day": _count((h.get("relapse") or {}).get("relapse", 0)),
           "nrm_day": nrm, "death_day": total(deaths) - (nrm if h.get("nrm_day") else 0)}
    for key, sub in (("neutrophil_engraftment", None), ("platelet_engraftment", None),
                     ("acute_gvhd", "grades"), ("chronic_gvhd", "severity")):
        block = h.get(key) or {}
        out[key] = total(block.get(sub)) if sub else (block.get("patients") or 0)
    return out


def _timings(h: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {k: h[k] for k in ("relapse_day", "nrm_day", "death_day") if h.get(k)}
    for k in ("neutrophil_engraftment", "platelet_engraftment", "acute_gvhd", "chronic_gvhd"):
        if h.get(k) and h[k].get("day"):
            out[k] = h[k]["day"]
    return out


def _scale_by(old_block: dict[str, Any], new_block: dict[str, Any], old_deaths: dict[str, Any],
              new_deaths: dict[str, Any], ratio: tuple[int, int]) -> None:
    """`by: {day: n}` of each timing scaled as a share of the patients the timing covers (their count
    before and after scaling, from the block and the deaths of its scope), else by the scope's ratio."""
    h_old, h_new = _holders(old_block, old_deaths), _holders(new_block, new_deaths)
    for key, t in _timings(new_block).items():
        if not t.get("by"):
            continue
        n_old, n_new = (h_old[key], h_new[key]) if h_old.get(key) else ratio
        t["by"] = {day: largest_remainder([k], n_old, n_new)[0] if k <= n_old else k for day, k in t["by"].items()}


def scale_data(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The spec data with its counts scaled from `published_size` to `size` (validated as written first)."""
    from .spec import CohortSpec

    published = CohortSpec.model_validate({**data, "size": data["published_size"]})
    d = published.model_dump(mode="json", exclude_unset=True)
    old, new = int(data["published_size"]), int(data["size"])
    if new < 1:
        raise CohortError(f"{source}: size: expected at least 1")
    d = copy.deepcopy(d)
    data_old = copy.deepcopy(d)
    groups = d.get("groups") or []
    sizes = largest_remainder([g["size"] for g in groups], old, new) if groups else []
    if groups and 0 in sizes:
        empty = [g["name"] for g, n in zip(groups, sizes, strict=True) if n == 0]
        raise CohortError(f"{source}: size: {new} patients leave the groups {empty} empty; "
                          f"published_size is {old}")
    top = copy.deepcopy(d.get("hsct"))
    groups_old = copy.deepcopy(groups)
    _scale_group(d, old, new, top=True)
    for g, n in zip(groups, sizes, strict=True):
        _scale_group(g, g["size"], n, top=False)
        g["size"] = n
    if top and groups:
        _reconcile(top, d["hsct"], groups_old, groups)
    for g_old, g_new in zip(groups_old, groups, strict=True):
        if g_new.get("hsct"):
            _scale_by(g_old["hsct"], g_new["hsct"], g_old.get("deaths") or {}, g_new.get("deaths") or {},
                      (g_old["size"], g_new["size"]))
    if top:
        def all_deaths(dd: dict[str, Any], gs: list[dict[str, Any]]) -> dict[str, Any]:
            merged = dict(dd.get("deaths") or {})
            for i, g in enumerate(gs):
                merged.update({f"{i}:{k}": v for k, v in (g.get("deaths") or {}).items()})
            return merged
        _scale_by(top, d["hsct"], all_deaths(data_old, groups_old), all_deaths(d, groups), (old, new))
    d["size"] = new
    d.pop("published_size", None)
    return d
