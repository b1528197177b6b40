"""StructureDefinition snapshots compiled into element trees the validator walks.

Everything here is computed once per definition (and lazily, per type used) and then shared:
validation never re-reads a definition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .primitives import PRIMITIVES

CORE = "http://hl7.org/fhir/StructureDefinition/"
_UNSEEN = object()
RESOURCE_TYPES = ("Resource", "DomainResource")


@dataclass(slots=True, frozen=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(slots=True)
class Constraint:
    key: str
    severity: str
    human: str
    expression: str
    source: str  # canonical URL of the definition that declares it


@dataclass(slots=True)
class Discriminator:
    type: str
    path: str


@dataclass(slots=True)
class Slicing:
    discriminators: list[Discriminator]
    rules: str
    ordered: bool


@dataclass(slots=True, eq=False)
class Node:
    """One ElementDefinition of a snapshot (or one slice of it)."""

    sd: StructureDef
    id: str
    path: str
    name: str  # last path segment, e.g. "value[x]"
    min: int
    max: int | None  # None = *
    is_array: bool  # JSON shape, from the base definition's max
    types: tuple[TypeRef, ...]
    fixed: Any = None
    fixed_key: str | None = None
    pattern: Any = None
    pattern_key: str | None = None
    binding: tuple[str, str] | None = None  # (strength, value set url)
    constraints: list[Constraint] = field(default_factory=list)
    slicing: Slicing | None = None
    slice_name: str | None = None
    slices: list[Node] = field(default_factory=list)
    children: dict[str, Node] = field(default_factory=dict)
    content_ref: str | None = None
    max_length: int | None = None
    # per-type caches filled by the validator
    tables: dict[str, Any] = field(default_factory=dict)
    matchers: list[Any] | None = None
    is_choice: bool = False

    def __post_init__(self) -> None:
        self.is_choice = self.name.endswith("[x]")

    @property
    def choice(self) -> bool:
        return self.is_choice

    def type_for(self, code: str) -> TypeRef | None:
        for t in self.types:
            if t.code == code:
                return t
        return None


@dataclass(slots=True, eq=False)
class StructureDef:
    url: str
    name: str
    id: str
    type: str
    kind: str
    derivation: str
    base: str | None
    root: Node | None = None
    by_id: dict[str, Node] = field(default_factory=dict)
    raw: dict[str, Any] | None = None


_SYSTEM = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}


def _type_code(t: dict[str, Any], path: str, kind: str) -> str:
    code: str = t["code"]
    for ext in t.get("extension", ()):
        if ext.get("url", "").endswith("/structuredefinition-fhir-type"):
            code = ext.get("valueUrl") or ext.get("valueUri") or code
    code = _SYSTEM.get(code, code)
    if kind == "resource" and path.count(".") == 1 and path.endswith(".id"):
        return "id"  # R4 snapshots type Resource.id as System.String; the spec says id
    return code


def _int_max(v: str | None) -> int | None:
    if v is None or v == "*":
        return None
    return int(v)


def _value_key(el: dict[str, Any], prefix: str) -> tuple[str | None, Any]:
    for k, v in el.items():
        if k.startswith(prefix) and len(k) > len(prefix) and k[len(prefix)].isupper():
            return k, v
    return None, None


def compile_sd(raw: dict[str, Any]) -> StructureDef:
    sd = StructureDef(
        url=raw["url"], name=raw.get("name", raw["id"]), id=raw["id"], type=raw["type"],
        kind=raw.get("kind", ""), derivation=raw.get("derivation", "specialization"),
        base=raw.get("baseDefinition"), raw=raw,
    )
    elements = raw.get("snapshot", {}).get("element", [])
    if not elements:
        raise ValueError(f"{sd.url}: no snapshot")
    for el in elements:
        path = el["path"]
        base = el.get("base", {})
        base_max = base.get("max", el.get("max", "1"))
        types = tuple(
            TypeRef(
                _type_code(t, path, sd.kind),
                tuple(t.get("profile", ())),
                tuple(t.get("targetProfile", ())),
            )
            for t in el.get("type", [])
        )
        fk, fv = _value_key(el, "fixed")
        pk, pv = _value_key(el, "pattern")
        binding = None
        b = el.get("binding")
        if b and b.get("valueSet") and b.get("strength") in ("required", "extensible"):
            binding = (b["strength"], b["valueSet"].split("|", 1)[0])
        constraints = [
            Constraint(c["key"], c.get("severity", "error"), c.get("human", ""),
                       c.get("expression", ""), c.get("source", sd.url))
            for c in el.get("constraint", [])
            if c.get("expression")
        ]
        slicing = None
        if "slicing" in el:
            s = el["slicing"]
            slicing = Slicing(
                [Discriminator(d["type"], d["path"]) for d in s.get("discriminator", [])],
                s.get("rules", "open"), bool(s.get("ordered", False)),
            )
        cref = el.get("contentReference")
        node = Node(
            sd=sd, id=el["id"], path=path, name=path.rsplit(".", 1)[-1],
            min=int(el.get("min", 0)), max=_int_max(el.get("max")),
            is_array=base_max not in ("0", "1") and "." in path,
            types=types, fixed=fv, fixed_key=fk, pattern=pv, pattern_key=pk,
            binding=binding, constraints=constraints, slicing=slicing,
            slice_name=el.get("sliceName"), content_ref=cref.split("#", 1)[1] if cref else None,
            max_length=el.get("maxLength"),
        )
        sd.by_id[node.id] = node
        if sd.root is None:
            sd.root = node
            continue
        sn = node.slice_name
        if sn and node.id.endswith(":" + sn):
            owner = sd.by_id.get(node.id[: -len(sn) - 1])
            if owner is not None:
                owner.slices.append(node)
                continue
        parent_id = _parent_id(node.id)
        parent = sd.by_id.get(parent_id)
        if parent is None:
            raise ValueError(f"{sd.url}: element {node.id} has no parent {parent_id}")
        parent.children[node.name] = node
    return sd


def _parent_id(eid: str) -> str:
    # ids look like Observation.component:foo.value[x]:valueQuantity.code; split at the last '.'
    # that is not inside a slice name
    depth = 0
    for i in range(len(eid) - 1, -1, -1):
        ch = eid[i]
        if ch == "]":
            depth += 1
        elif ch == "[":
            depth -= 1
        elif ch == "." and depth == 0:
            return eid[:i]
    return eid


class Definitions:
    """All StructureDefinitions, ValueSets and CodeSystems the validator knows, loaded lazily."""

    def __init__(self, dirs: list[Path]) -> None:
        self._files: dict[str, Path] = {}
        self._raw: dict[str, dict[str, Any]] = {}
        self._compiled: dict[str, StructureDef | None] = {}
        self.valuesets: dict[str, dict[str, Any]] = {}
        self.codesystems: dict[str, dict[str, Any]] = {}
        self.core_expansions: dict[str, list[list[str]]] = {}
        for d in dirs:
            self._scan(d)

    def _scan(self, d: Path) -> None:
        for f in sorted(d.glob("*.json")):
            name = f.name
            if name == "valuesets.json":
                self.core_expansions.update(json.loads(f.read_text("utf-8"))["valueSets"])
            elif name.startswith(("StructureDefinition-", "ValueSet-", "CodeSystem-")):
                res = json.loads(f.read_text("utf-8"))
                self.add(res)
            else:  # stripped core definitions: <id>.json
                self._files[CORE + f.stem] = f

    def add(self, res: dict[str, Any]) -> None:
        rt = res.get("resourceType")
        if rt == "StructureDefinition":
            self._raw[res["url"]] = res
            self._compiled.pop(res["url"], None)
        elif rt == "ValueSet":
            self.valuesets[res["url"]] = res
        elif rt == "CodeSystem":
            self.codesystems[res["url"]] = res

    def raw(self, url: str) -> dict[str, Any] | None:
        url = url.split("|", 1)[0]
        if url in self._raw:
            return self._raw[url]
        f = self._files.get(url)
        if f is None:
            return None
        res = json.loads(f.read_text("utf-8"))
        self._raw[url] = res
        return res

    def get(self, url: str) -> StructureDef | None:
        # the keys of _compiled carry no version: a hit means url has none to split off
        sd = self._compiled.get(url, _UNSEEN)
        if sd is not _UNSEEN:
            return sd  # type: ignore[return-value]
        url = url.split("|", 1)[0]
        if url in self._compiled:
            return self._compiled[url]
        raw = self.raw(url)
        sd = compile_sd(raw) if raw is not None else None
        self._compiled[url] = sd
        return sd

    def base(self, type_code: str) -> StructureDef | None:
        return self.get(CORE + type_code)

    def profile_urls(self) -> list[str]:
        return sorted(u for u in self._raw if not u.startswith(CORE))

    def all_urls(self) -> list[str]:
        return sorted(set(self._files) | set(self._raw))

    def is_primitive(self, code: str) -> bool:
        return code in PRIMITIVES
