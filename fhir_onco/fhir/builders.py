"""Small builders for FHIR R4 JSON.

Resources are built as plain dicts in a fixed key order, so the same input serialises to the same
bytes. We do not construct fhir.resources models here: they validate on construction, which would
validate everything twice (see README, "Performance"). The output is validated once, afterwards.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache, partial
from hashlib import sha1
from typing import Any

from fhir_onco.fhir import urls

try:  # a declared dependency; the stdlib encoder gives the same bytes, only slower
    import orjson
except ImportError:  # pragma: no cover
    orjson = None
from fhir_onco.terminology import Concept

Json = dict[str, Any]

# Fixed namespace for all resource ids: uuid5(NAMESPACE, "<patient key>|<resource kind>|<item key>").
NAMESPACE = uuid.UUID("5f1b3c1e-7c1a-4d55-9a55-0f6e6c6f6e63")


_NAMESPACE_BYTES = NAMESPACE.bytes


@lru_cache(maxsize=4096)  # a patient's own id is asked for by every resource that refers to it
def resource_id(*parts: str) -> str:
    """Deterministic id from stable business keys (a UUIDv5, never purely numeric).

    Exactly ``str(uuid.uuid5(NAMESPACE, "|".join(parts)))`` (tests compare both), without building a
    UUID object: SHA-1 of namespace + name, version 5 in byte 6, RFC 4122 variant in byte 8.
    """
    return _uuid5_text(sha1(_NAMESPACE_BYTES + "|".join(parts).encode("utf-8")).hexdigest())


def _uuid5_text(x: str) -> str:
    """The UUID text of a SHA-1 hex digest's first 16 bytes, with version 5 (byte 6's high nibble)
    and the RFC 4122 variant (byte 8's top bits 10)."""
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class IdFactory:
    """``resource_id(first, *parts)`` for many ids that share their first part (one patient's key):
    the SHA-1 of the namespace and that part is computed once and copied for each id."""

    __slots__ = ("_base",)

    def __init__(self, first: str):
        self._base = sha1(_NAMESPACE_BYTES + first.encode("utf-8") + b"|")

    def __call__(self, rest: str) -> str:
        """The id of ``first|rest`` (``rest``: the other parts joined with "|")."""
        h = self._base.copy()
        h.update(rest.encode("utf-8"))
        return _uuid5_text(h.hexdigest())


def reference(resource_type: str, rid: str, display: str | None = None) -> Json:
    ref: Json = {"reference": f"{resource_type}/{rid}"}
    if display:
        ref["display"] = display
    return ref


def codeable(concept: Concept | None, text: str | None = None) -> Json:
    """CodeableConcept from a resolved concept; `text` keeps the term as the source wrote it."""
    cc: Json = {}
    if concept is not None:
        cc["coding"] = [c.to_fhir() for c in concept.codings]
    if text:
        cc["text"] = text
    return cc


def coding_concept(concept: Concept, system: str | None = None) -> Json:
    """A CodeableConcept with one coding (the one in `system`, else the primary)."""
    coding = (concept.coding_in(system) if system else None) or concept.primary
    return {"coding": [coding.to_fhir()]}


def quantity(value: float, unit: Concept | None, unit_text: str | None = None) -> Json:
    q: Json = {"value": number(value)}
    if unit is not None and unit.primary.system == urls.UCUM:
        q["unit"] = unit_text or unit.display
        q["system"] = urls.UCUM
        q["code"] = unit.primary.code
    elif unit_text:
        q["unit"] = unit_text
    return q


def number(value: float) -> int | float:
    """JSON number without a spurious '.0' (FHIR decimals keep their written precision)."""
    return int(value) if float(value).is_integer() else value


def extension(url: str, **value: Any) -> Json:
    (kind, v), = value.items()
    return {"url": url, kind: v}


def identifier_for(local_id: str | None) -> list[Json]:
    return [{"system": urls.LOCAL_ID_SYSTEM, "value": local_id}] if local_id else []


def meta(profile_name: str) -> Json:
    return {"profile": [urls.profile(profile_name)]}


def copy_json(obj: Any) -> Any:
    """A fresh copy of a JSON tree: its dicts and lists new, its scalars (immutable) kept.

    Cheaper than `copy.deepcopy` (no memo, exact type tests); for parts built once and put into many
    resources, so that no two places of a bundle are the same object."""
    kind = type(obj)
    if kind is dict:
        return {k: copy_json(v) if type(v) is dict or type(v) is list else v for k, v in obj.items()}
    if kind is list:
        return [copy_json(v) if type(v) is dict or type(v) is list else v for v in obj]
    return obj


def copier(obj: Any) -> Callable[[], Any]:
    """A function that returns a fresh copy of `obj` at each call, for parts built once and put into
    many resources. orjson parses its own text back in C, ~10x cheaper than `copy_json`; that is taken
    only when the round trip gives back an equal tree (no NaN, tuple, int beyond 64 bits, ...)."""
    if orjson is not None:
        try:
            text = orjson.dumps(obj)
        except TypeError:
            text = None
        if text is not None and orjson.loads(text) == obj:
            return partial(orjson.loads, text)
    return partial(copy_json, obj)


def prune(obj: Any) -> Any:
    """Drop None, "", empty lists and empty dicts (FHIR forbids empty elements).

    Hot path (runs over every element we emit): exact type checks, one pass, no call per leaf.
    """
    kind = type(obj)
    if kind is dict:
        out = {}
        for k, v in obj.items():
            t = type(v)
            if t is dict or t is list:
                v = prune(v)
                if v:
                    out[k] = v
            elif v is not None and v != "":
                out[k] = v
        return out
    if kind is list:
        items = []
        for v in obj:
            t = type(v)
            if t is dict or t is list:
                v = prune(v)
                if v:
                    items.append(v)
            elif v is not None and v != "":
                items.append(v)
        return items
    return obj


def transaction_bundle(resources: Iterable[Json], bundle_id: str) -> Json:
    """A transaction Bundle that PUTs every resource at its deterministic id."""
    entries = [
        {
            # urn:uuid fullUrl = the resource id; references inside use Type/id, which the
            # PUT of the same entry makes resolvable on any server.
            "fullUrl": f"urn:uuid:{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for r in resources
    ]
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": meta("onco-transaction-bundle"),
        "type": "transaction",
        "entry": entries,
    }


# orjson writes floats in [1e-6, 1e-4) positionally (0.00001) where the stdlib writes 1e-05, and
# single-digit negative exponents unpadded (1e-7 vs 1e-07); every other JSON value is byte-identical
# (tested on a million floats). Output that may hold such a number - "0.0000", or e-<digit> before a
# delimiter - goes through the stdlib, so the bytes never depend on which encoder ran.
_SHORT_NEGATIVE_EXPONENT = re.compile(rb"e-\d[,\]}\n]")


def _orjson(resource: Any, pretty: bool) -> bytes | None:
    if orjson is None:
        return None
    try:
        out: bytes = orjson.dumps(resource, option=orjson.OPT_INDENT_2 if pretty else 0)
    except TypeError:  # integers beyond 64 bits, non-string keys: the stdlib handles them
        return None
    if b"0.0000" in out or _SHORT_NEGATIVE_EXPONENT.search(out):
        return None
    return out


def dumps(resource: Json, *, pretty: bool = True) -> str:
    """Canonical serialisation: UTF-8 text, stable key order as built, trailing newline."""
    fast = _orjson(resource, pretty)
    if fast is not None:
        return fast.decode("utf-8") + ("\n" if pretty else "")
    if pretty:
        return json.dumps(resource, ensure_ascii=False, indent=2) + "\n"
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def dumps_line(resource: Json) -> bytes:
    """One NDJSON line (compact UTF-8 JSON and a newline), the bytes ``dumps(pretty=False)`` gives."""
    fast = _orjson(resource, False)
    if fast is not None:
        return fast + b"\n"
    return (json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
