"""What "unchanged" means: canonical resource content and its hash.

Two versions of a resource are the same when their canonical forms are equal. The canonical form

* drops ``meta`` except ``meta.profile`` (compared as a sorted set): ``versionId``,
  ``lastUpdated`` and ``source`` are set by the server, and tags added by a server are not ours;
* drops ``text`` (servers may generate narrative);
* drops empty strings, lists and objects (servers drop them, FHIR forbids them);
* turns absolute references to the server's own base URL into relative ``Type/id`` references (some
  servers answer with absolute references);
* compares numbers by value (``10`` equals ``10.0``).

Everything else, including list order, is significant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any


def _clean(value: Any, base: str | None) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == "reference" and isinstance(v, str) and base and v.startswith(base + "/"):
                v = v[len(base) + 1 :]
            c = _clean(v, base)
            if c is None or c == "" or c == [] or c == {}:
                continue
            out[k] = c
        return out
    if isinstance(value, list):
        items = [_clean(v, base) for v in value]
        return [i for i in items if i is not None and i != "" and i != [] and i != {}]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical(resource: Mapping[str, Any], base_url: str | None = None) -> dict[str, Any]:
    """The canonical form of a resource (see the module docstring)."""
    res = dict(resource)
    meta = res.pop("meta", None)
    res.pop("text", None)
    if isinstance(meta, dict) and meta.get("profile"):
        res["meta"] = {"profile": sorted(str(p) for p in meta["profile"])}
    base = base_url.rstrip("/") if base_url else None
    cleaned = _clean(res, base)
    return cleaned if isinstance(cleaned, dict) else {}


def _profiles(resource: Mapping[str, Any]) -> list[str]:
    meta = resource.get("meta")
    return sorted(str(p) for p in meta.get("profile") or []) if isinstance(meta, dict) else []


def same_content(ours: Mapping[str, Any], theirs: Mapping[str, Any], base_url: str | None) -> bool:
    """True when both have the same canonical form.

    Fast path first: servers usually return exactly what was sent plus ``meta`` (and maybe
    ``text``), and a plain dict comparison of the rest settles that at C speed. Only when that
    differs are both canonicalised (empty values, absolute references, 10 vs 10.0).
    """
    a = {k: v for k, v in ours.items() if k not in ("meta", "text")}
    b = {k: v for k, v in theirs.items() if k not in ("meta", "text")}
    if a == b and _profiles(ours) == _profiles(theirs):
        return True
    return canonical(ours, base_url) == canonical(theirs, base_url)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def resource_hash(resource: Mapping[str, Any]) -> str:
    """Hash of our own resource's content (``meta`` except ``profile``, and ``text``, left out).

    It only tells whether the *source* produced something different since the last sync, so it
    skips the canonicalisation :func:`same_content` needs for server copies and hashes the JSON
    with sorted keys (fast, C-accelerated). A different hash makes sync compare with the server,
    which sends nothing when the canonical forms still agree.
    """
    body = {k: v for k, v in resource.items() if k not in ("meta", "text")}
    profiles = _profiles(resource)
    if profiles:
        body["meta"] = {"profile": profiles}
    return hashlib.sha256(_dumps(body).encode()).hexdigest()


def bundle_hash(resources: Iterable[Mapping[str, Any]]) -> str:
    """Hash of a patient's whole content, independent of entry order."""
    h = hashlib.sha256()
    keyed = sorted((f"{r['resourceType']}/{r['id']}", resource_hash(r)) for r in resources)
    for key, digest in keyed:
        h.update(f"{key}={digest}\n".encode())
    return h.hexdigest()
