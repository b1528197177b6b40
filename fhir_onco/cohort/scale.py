"""A spec whose `size` differs from its `published_size`: every count scaled by size / published_size.

Rounding is by largest remainder, so sums are kept: the values of one table (sex, a stage system, best
response, donor, ...) together with the patients who have none of them are one partition of their
scope (the cohort, a group, the transplanted), and the scaled parts add up to the scaled scope. Each
part gets the floor of its exact share; the parts with the largest fractional remainders get one more
until the sum is reached (ties: in the spec's order, the implicit "none of them" part last). Group
sizes are scaled the same way (adding up to `size`), then each group's counts by its own ratio.
Medians, ranges and day windows are not counts and stay as published. A scaled spec whose restricted
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
        for key in ("donor", "conditioning_intensity", "graft_source", "relapse", "graft_failure"):
            _partition(h.get(key), t_old, t_new)
        for key in ("neutrophil_engraftment", "platelet_engraftment"):
            if h.get(key) and h[key].get("patients") is not None:
                h[key]["patients"] = _one(h[key]["patients"], t_old, t_new)
        if h.get("hla_loss") is not None:
            h["hla_loss"] = _one(h["hla_loss"], t_old, t_new)
        if h.get("acute_gvhd"):
            _partition(h["acute_gvhd"].get("grades"), t_old, t_new)
        if h.get("chronic_gvhd"):
            _partition(h["chronic_gvhd"].get("severity"), t_old, t_new)
        for key in ("relapse_day", "death_day", "nrm_day"):
            _scale_by(h.get(key), old, new)
        for key in ("neutrophil_engraftment", "platelet_engraftment", "acute_gvhd", "chronic_gvhd"):
            if h.get(key):
                _scale_by(h[key].get("day"), old, new)
    if top:
        age = g.get("age")
        if age and age.get("bins"):
            _partition(age["bins"], old, new)
        pt = g.get("prior_therapy")
        if pt:
            _partition(pt.get("lines"), old, new)
            for tag, v in list((pt.get("exposures") or {}).items()):
                pt["exposures"][tag] = _one(v, old, new)


def _scale_by(t: dict[str, Any] | None, old: int, new: int) -> None:
    if t and t.get("by"):
        t["by"] = {d: _one(k, old, new) for d, k in t["by"].items()}


def scale_data(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The spec data with its counts scaled from `published_size` to `size` (validated as written first)."""
    from .spec import CohortSpec

    published = CohortSpec.model_validate({**data, "size": data["published_size"]})
    d = published.model_dump(mode="json", exclude_unset=True)
    old, new = int(data["published_size"]), int(data["size"])
    if new < 1:
        raise CohortError(f"{source}: size: expected at least 1")
    d = copy.deepcopy(d)
    groups = d.get("groups") or []
    sizes = largest_remainder([g["size"] for g in groups], old, new) if groups else []
    if groups and 0 in sizes:
        empty = [g["name"] for g, n in zip(groups, sizes, strict=True) if n == 0]
        raise CohortError(f"{source}: size: {new} patients leave the groups {empty} empty; "
                          f"published_size is {old}")
    _scale_group(d, old, new, top=True)
    for g, n in zip(groups, sizes, strict=True):
        _scale_group(g, g["size"], n, top=False)
        g["size"] = n
    d["size"] = new
    d.pop("published_size", None)
    return d
