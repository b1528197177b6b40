"""The conformance validator: walks FHIR JSON against compiled StructureDefinition snapshots."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources as _res
from pathlib import Path
from typing import Any

from ..report import Issue, Report, Severity
from . import invariants as inv
from . import ucum
from .model import CORE, RESOURCE_TYPES, Constraint, Definitions, Node, StructureDef
from .primitives import CHECKERS, PRIMITIVES, jtype
from .terminology import Terminology

OUR_CANONICAL = "https://fhir-onco.org/fhir"
_REF = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)
_CODED = frozenset({"code", "Coding", "CodeableConcept", "Quantity", "string", "uri"})
_NO_TYPE_CONSTRAINTS = frozenset({"BackboneElement", "Element"})
_UPPER_TYPES: dict[str, str] = {}
_MEMO_MAX = 20_000
# Besides value[x]: what else carries the result of an Observation of our profiles. Chimerism is
# often reported as a category only (full donor, mixed) in Observation.interpretation.
_RESULT_ELEMENTS: dict[str, tuple[str, ...]] = {
    "onco-chimerism": ("dataAbsentReason", "interpretation"),
}
_QUANTITY_TYPES = frozenset({"Quantity", "SimpleQuantity", "Age", "Count", "Distance", "Duration",
                             "MoneyQuantity"})
_PURE, _BUNDLE, _RESOURCE = 0, 1, 2
_CONTEXT_VARIABLE = re.compile(r"%(?:resource|rootResource|context)\b")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXTENSION_CALL = re.compile(r"(?<![A-Za-z0-9_])extension\('([^'\\]*)'\)")
_EXTENSION_WORD = re.compile(r"(?<![A-Za-z0-9_])extension(?![A-Za-z0-9_])")
# FHIRPath functions that reach elements without naming them
_GENERIC_NAVIGATION = frozenset({"children", "descendants", "repeat", "trace", "now", "today", "timeOfDay"})


def _upper(code: str) -> str:
    u = _UPPER_TYPES.get(code)
    if u is None:
        u = _UPPER_TYPES[code] = code[0].upper() + code[1:]
    return u


# ------------------------------------------------------------------------------------------
# per-(element, type) compiled tables


@dataclass(slots=True, eq=False)
class Table:
    node: Node
    keys: dict[str, tuple[Node, str | None, bool]] = field(default_factory=dict)
    choices: list[tuple[str, Node]] = field(default_factory=list)
    card: list[tuple[Node, tuple[str, ...]]] = field(default_factory=list)
    required_slices: list[tuple[Node, str]] = field(default_factory=list)
    # (constraint, native fn, simple compiled fn, lazily compiled FHIRPath, base path)
    constraints: list[tuple[Constraint, Any, Any, Any, str]] = field(default_factory=list)
    is_resource: bool = False


@dataclass(slots=True)
class _Ctx:
    issues: list[Issue]
    profile: str | None
    resource: dict[str, Any]
    root: dict[str, Any]
    bundle: _BundleIndex | None
    depth: int = 0
    # how far a check looked beyond the value being checked: _PURE (the value alone), _BUNDLE
    # (resolved references inside this bundle), _RESOURCE (the enclosing resource). It decides
    # whether the verdict is reused for equal values everywhere, in this bundle, or not at all.
    tainted: int = 0
    # validating a Bundle's own elements only: its entry resources are validated one by one
    shell: bool = False


class _BundleIndex:
    def __init__(self, bundle: dict[str, Any]) -> None:
        # (id of a resource of this bundle, profile) -> conforms; lives as long as one validation
        self.conforms: dict[tuple[int, str], bool] = {}
        # verdicts of values whose checks resolved references: reusable inside this bundle only
        self.memo: dict[tuple[Any, ...], tuple[str, tuple[Issue, ...]]] = {}
        # the same for the compiled checks (compiled.py): (closure slot, marshal key) of accepted values
        self.valid: set[tuple[int, bytes]] = set()
        self.by_url: dict[str, dict[str, Any]] = {}
        self.by_rel: dict[str, dict[str, Any]] = {}
        for e in bundle.get("entry", []) or []:
            if not isinstance(e, dict):
                continue
            r = e.get("resource")
            if not isinstance(r, dict):
                continue
            fu = e.get("fullUrl")
            if isinstance(fu, str):
                self.by_url.setdefault(fu, r)
                m = None if fu.startswith("urn:") else _REF.search(fu)
                if m:
                    self.by_rel.setdefault(f"{m['type']}/{m['id']}", r)
            rt, rid = r.get("resourceType"), r.get("id")
            own = f"{rt}/{rid}" if isinstance(rt, str) and isinstance(rid, str) else None
            if own is not None:
                self.by_rel.setdefault(own, r)
            req = e.get("request")
            if isinstance(req, dict) and isinstance(req.get("url"), str):
                url = req["url"].split("?")[0]
                m = None if url == own else _REF.search(url)  # own is already indexed
                if m and req.get("method") in ("PUT", "PATCH"):
                    self.by_rel.setdefault(f"{m['type']}/{m['id']}", r)
        self._resolved: dict[str, dict[str, Any] | None] = {}

    def resolve(self, ref: str) -> dict[str, Any] | None:
        try:
            return self._resolved[ref]
        except KeyError:
            pass
        r = self.by_url.get(ref)
        if r is None:
            m = _REF.search(ref)
            if m:
                r = self.by_rel.get(f"{m['type']}/{m['id']}")
        self._resolved[ref] = r
        return r


BundleIndex = _BundleIndex


def _declares(res: dict[str, Any], url: str) -> bool:
    meta = res.get("meta")
    return isinstance(meta, dict) and url in (meta.get("profile") or ())


class ConformanceValidator:
    """Validates FHIR R4 JSON resources and bundles against compiled snapshots.

    ``validate_resource(res)`` checks a resource against the profiles it declares in
    ``meta.profile`` (or the base R4 definition when it declares none we know), and
    ``validate_resource(res, profile)`` against one given profile or base definition URL.
    """

    _default: ConformanceValidator | None = None
    _lock = threading.Lock()

    def __init__(self, definitions: Definitions, *, shortcuts: bool = True,
                 compiled: bool | None = None) -> None:
        self.defs = definitions
        # memo of verdicts, compiled existence invariants, url lookup for extension slices; off,
        # every check is interpreted afresh (tests compare both on the corpus: same issues)
        self.shortcuts = shortcuts
        self.terminology = Terminology(
            valuesets=definitions.valuesets, core_expansions=definitions.core_expansions
        )
        for cs in definitions.codesystems.values():
            self.terminology.add_codesystem(cs)
        self._binding_cache: dict[str, Any] = {}
        self._env = inv.EvalEnv(self._fp_resolve, self.terminology, self._conforms)
        self._fp_bundle: _BundleIndex | None = None
        # (node, type, in array, profile, repr(value)) -> (location, issues): equal values at the
        # same element give equal verdicts unless a check was context-dependent (ctx.tainted)
        self._memo: dict[tuple[Any, ...], tuple[str, tuple[Issue, ...]]] = {}
        self._fp_memo: dict[tuple[str, str, str], tuple[bool, ...]] = {}
        # Reference target profiles -> {target type: its profiles (not core)}
        self._allowed_targets: dict[Any, dict[str, list[str]]] = {}
        # profiles compiled into "no issue?" closures (compiled.py), tried before the interpreter
        # on every resource; on by default with the other shortcuts
        from .compiled import Compiler

        self._compiler = Compiler(self) if (shortcuts if compiled is None else compiled) else None

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_dirs(cls, *dirs: Path, shortcuts: bool = True,
                  compiled: bool | None = None) -> ConformanceValidator:
        return cls(Definitions([Path(d) for d in dirs]), shortcuts=shortcuts, compiled=compiled)

    @classmethod
    def load_default(cls) -> ConformanceValidator:
        """The validator over profiles/core (R4) and profiles/package (ours), built once."""
        with cls._lock:
            if cls._default is None:
                base = profiles_dir()
                cls._default = cls.from_dirs(base / "core", base / "package")
            return cls._default

    def add_definitions(self, resources: Iterable[dict[str, Any]]) -> None:
        """Register extra StructureDefinitions/ValueSets/CodeSystems (e.g. test profiles)."""
        for r in resources:
            self.defs.add(r)
            if r.get("resourceType") == "CodeSystem":
                self.terminology.add_codesystem(r)
        self.terminology._cache.clear()
        self._binding_cache.clear()
        self._memo.clear()
        self._fp_memo.clear()
        self._allowed_targets.clear()
        if self._compiler is not None:
            self._compiler.clear()

    def warm(self) -> None:
        """Load and compile every profile of ours (and the base Bundle) now: called before forking
        workers, so each inherits the compiled checks instead of building its own copy."""
        if self._compiler is None:
            return
        for url in [*self.defs.profile_urls(), CORE + "Bundle"]:
            sd = self.defs.get(url)
            if sd is not None and sd.root is not None:
                self._compiler.force(self._compiler.table(sd.root, None))
        ucum.check("mg")  # loads the unit table's codes

    def profiles(self) -> list[StructureDef]:
        out = []
        for url in self.defs.profile_urls():
            sd = self.defs.get(url)
            if sd is not None:
                out.append(sd)
        return out

    # ---------------------------------------------------------------- public API

    def validate_resource(
        self, resource: Any, profile: str | None = None, *, location: str | None = None,
        bundle: dict[str, Any] | None = None, bundle_index: BundleIndex | None = None,
    ) -> list[Issue]:
        """Issues of one resource; references resolve inside ``bundle``.

        When validating every entry of one bundle, pass ``bundle_index=self.bundle_index(bundle)``
        built once: rebuilding it per entry made a bundle's validation quadratic in its size.
        """
        issues: list[Issue] = []
        idx = bundle_index if bundle_index is not None else (
            _BundleIndex(bundle) if bundle is not None else None)
        self._resource(resource, location, issues, idx, profile, 0)
        return _dedupe(issues)

    @staticmethod
    def bundle_index(bundle: dict[str, Any]) -> BundleIndex:
        """Reference resolution (and conformance results) for one bundle; valid while it is unchanged."""
        return _BundleIndex(bundle)

    def validate_bundle_shell(self, bundle: dict[str, Any], location: str | None = None,
                              bundle_index: BundleIndex | None = None, *,
                              profile: str | None = None) -> list[Issue]:
        """The Bundle's own elements (type, entry.fullUrl, entry.request ...) against its declared
        profiles or base R4, without descending into entry resources (validate those separately)."""
        issues: list[Issue] = []
        idx = bundle_index if bundle_index is not None else _BundleIndex(bundle)
        self._resource(bundle, location, issues, idx, profile, 0, shell=True)
        return _dedupe(issues)

    def validate_bundle(self, bundle: Any, profile: str | None = None) -> Report:
        """Bundle integrity rules, then every entry resource against its declared profiles."""
        report = Report()
        issues: list[Issue] = []
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            report.error("Bundle", "not a Bundle resource", code="structure", rule="resourceType")
            return report
        idx = _BundleIndex(bundle)
        self._bundle_rules(bundle, idx, issues)
        self._resource(bundle, None, issues, idx, profile, 0)
        report.extend(_dedupe(issues))
        return report

    # ---------------------------------------------------------------- resources

    def _resource(
        self, res: Any, location: str | None, issues: list[Issue], idx: _BundleIndex | None,
        profile: str | None, depth: int, root: dict[str, Any] | None = None, *, shell: bool = False,
    ) -> None:
        loc = location
        if not isinstance(res, dict):
            issues.append(Issue(Severity.ERROR, loc or "(root)",
                                f"a resource must be a JSON object, got {jtype(res)}",
                                "structure", "structure.type"))
            return
        rt = res.get("resourceType")
        if loc is None:
            loc = rt if isinstance(rt, str) else "(root)"
        base = self.defs.base(rt) if isinstance(rt, str) else None
        if base is None or base.kind != "resource":
            issues.append(Issue(Severity.ERROR, loc, f"unknown or missing resourceType {rt!r}",
                                "structure", "resourceType"))
            return
        targets: list[str] = []
        if profile is not None:
            targets = [profile]
        else:
            meta = res.get("meta")
            declared = meta.get("profile") if isinstance(meta, dict) else None
            if isinstance(declared, list):
                for p in declared:
                    if not isinstance(p, str):
                        continue
                    if self.defs.get(p) is None:
                        sev = Severity.ERROR if p.startswith(OUR_CANONICAL) else Severity.WARNING
                        issues.append(Issue(sev, f"{loc}.meta.profile",
                                            f"profile {p} is not known; checked against the "
                                            "base definition instead", "not-supported",
                                            "profile.unknown", p))
                    else:
                        targets.append(p)
            if not targets:
                targets = [CORE + rt]
        for url in targets:
            sd = self.defs.get(url)
            if sd is None or sd.root is None:
                issues.append(Issue(Severity.ERROR, loc, f"unknown profile {url}", "not-supported",
                                    "profile.unknown", url))
                continue
            if sd.type != rt:
                issues.append(Issue(Severity.ERROR, loc,
                                    f"profile {url} is for {sd.type}, not {rt}", "structure",
                                    "profile.type", url))
                continue
            ctx = _Ctx(issues, url if url != CORE + rt else None, res, root or res, idx, depth,
                       shell=shell)
            if self._compiler is not None:
                if self._compiler.accepts(res, sd.root, url, ctx):
                    continue  # the interpreter would find nothing
                ctx.tainted = _PURE
            self._complex(res, sd.root, None, loc, ctx)
            if rt == "Observation" and url.startswith(OUR_CANONICAL):
                self._observation_result(res, url, loc, ctx)

    # ---------------------------------------------------------------- tables

    def _type_root(self, node: Node, tcode: str | None) -> Node | None:
        if tcode is None or tcode in PRIMITIVES or tcode in RESOURCE_TYPES:
            return None
        t = node.type_for(tcode)
        if t is not None and t.profiles:
            for p in t.profiles:
                sd = self.defs.get(p)
                if sd is not None and sd.root is not None:
                    return sd.root
        sd = self.defs.base(tcode)
        return sd.root if sd is not None else None

    def _table(self, node: Node, tcode: str | None) -> Table:
        key = tcode or ""
        tbl = node.tables.get(key)
        if tbl is not None:
            return tbl
        tbl = Table(node)
        node.tables[key] = tbl
        kids = node.children
        if not kids and node.content_ref is not None:
            target = node.sd.by_id.get(node.content_ref)
            if target is not None:
                kids = target.children
        type_root = self._type_root(node, tcode)
        if not kids and type_root is not None and type_root is not node:
            kids = self._table(type_root, None).node.children or type_root.children
        tbl.is_resource = "." not in node.path and node.sd.kind == "resource"
        for child in kids.values():
            self._add_child(tbl, child)
        # constraints: the element's own, then its type's root (e.g. Quantity qty-3)
        seen: set[str] = set()
        cons: list[Constraint] = list(node.constraints)
        if type_root is not None and type_root is not node and tcode not in _NO_TYPE_CONSTRAINTS:
            cons += type_root.constraints
        base_path = node.path if node.children or tbl.is_resource else (tcode or node.path)
        if node.choice and tcode:
            base_path = tcode
        for c in cons:
            if c.key in seen:
                continue
            seen.add(c.key)
            native = inv.native_for(c.key, c.expression)
            if native is inv._true:
                continue
            simple = (inv.simple_for(c.expression, base_path)
                      if native is None and self.shortcuts else None)
            compiled = None if native is not None else _Lazy(c.expression)
            tbl.constraints.append((c, native, simple, compiled, base_path))
        return tbl

    def _add_child(self, tbl: Table, child: Node) -> None:
        name = child.name
        keys: list[str] = []
        if child.choice:
            prefix = name[:-3]
            by_slice = {s.slice_name: s for s in child.slices}
            for t in child.types:
                k = prefix + _upper(t.code)
                target = by_slice.get(k, child)
                tbl.keys[k] = (target, t.code, False)
                keys.append(k)
                if t.code in PRIMITIVES:
                    tbl.keys["_" + k] = (target, t.code, True)
                    keys.append("_" + k)
            tbl.choices.append((prefix, child))
        else:
            tcode = child.types[0].code if child.types else None
            tbl.keys[name] = (child, tcode, False)
            keys.append(name)
            if tcode in PRIMITIVES:
                tbl.keys["_" + name] = (child, tcode, True)
                keys.append("_" + name)
        # a non-repeating element's max of 1 is enforced by its JSON shape (no arrays)
        if child.min > 0 or (child.max is not None and (child.is_array or child.choice
                                                        or child.max == 0)):
            tbl.card.append((child, tuple(keys)))
        if child.slicing is not None and not child.choice:
            for s in child.slices:
                if s.min > 0:
                    tbl.required_slices.append((child, name))
                    break

    # ---------------------------------------------------------------- walking

    def _complex(self, obj: dict[str, Any], node: Node, tcode: str | None, loc: str,
                 ctx: _Ctx) -> None:
        tbl = self._table(node, tcode)
        keys = tbl.keys
        if not obj:
            self._err(ctx, loc, "empty object (ele-1: a value or children are required)",
                      "structure.empty", node, "structure")
            return
        for k, v in obj.items():
            ent = keys.get(k)
            if ent is None:
                if k == "resourceType" and tbl.is_resource:
                    continue
                self._unknown(k, v, tbl, loc, ctx)
                continue
            child, ct, prim_ext = ent
            cloc = f"{loc}.{k}"
            if child.max == 0:
                self._err(ctx, cloc, f"element {child.name} is not allowed here (max 0)",
                          "cardinality", child)
                continue
            if child.is_array:
                if type(v) is not list:
                    self._err(ctx, cloc, f"{k} must be a JSON array (it repeats)",
                              "structure.array", child, "structure")
                    v = [v]
                elif not v:
                    self._err(ctx, cloc, "empty array (ele-1)", "structure.empty", child,
                              "structure")
                    continue
                if child.slicing is not None and not child.choice and not prim_ext:
                    self._sliced(v, child, ct, cloc, ctx)
                    continue
                for i, item in enumerate(v):
                    self._value(item, child, ct, f"{cloc}[{i}]", ctx, prim_ext, True)
            else:
                if type(v) is list:
                    self._err(ctx, cloc, f"{k} must be a single value, not an array",
                              "structure.array", child, "structure")
                    for i, item in enumerate(v):
                        self._value(item, child, ct, f"{cloc}[{i}]", ctx, prim_ext, True)
                    continue
                self._value(v, child, ct, cloc, ctx, prim_ext, False)
        for child, ks in tbl.card:
            n = 0
            present: list[str] = []
            for k in ks:
                v = obj.get(k)
                if v is None:
                    continue
                present.append(k)
                c = len(v) if type(v) is list else 1
                if k[0] == "_":
                    base_v = obj.get(k[1:])
                    if base_v is not None:
                        continue  # same element as its value, counted there
                n += c
            if n < child.min:
                self._err(ctx, f"{loc}.{child.name.replace('[x]', '')}",
                          f"{child.name} is required: minimum cardinality {child.min}, found {n}",
                          "cardinality", child, "required")
            elif child.max is not None and n > child.max and not (child.is_choice and n > 1):
                self._err(ctx, f"{loc}.{present[0] if present else child.name}",
                          f"{child.name} allows at most {child.max}, found {n}",
                          "cardinality", child)
            if child.is_choice and len(present) > 1 and len(
                    [k for k in present if k[0] != "_"]) > 1:
                self._err(ctx, f"{loc}.{child.name}",
                          f"only one of {', '.join(present)} is allowed ({child.name})",
                          "choice-type", child)
        for child, name in tbl.required_slices:
            if name not in obj:
                self._sliced([], child, None, f"{loc}.{name}", ctx)
        if tbl.constraints:
            self._constraints(obj, tbl, loc, ctx)

    def _observation_result(self, res: dict[str, Any], url: str, loc: str, ctx: _Ctx) -> None:
        """Our Observations carry their result: value[x], or dataAbsentReason saying why not
        (R4 obs-6 only forbids both; an MRD with neither is a record of nothing)."""
        carriers = _RESULT_ELEMENTS.get(url.rsplit("/", 1)[-1], ("dataAbsentReason",))
        if inv._choice_present(res, "value") or any(res.get(k) not in (None, [], {}) for k in carriers):
            return
        what = ", ".join(("value[x]", *carriers))
        self._err(ctx, loc, f"an Observation of {url.rsplit('/', 1)[-1]} needs its result: one of {what}",
                  "observation.value-or-absent-reason", None, "required")

    def _unknown(self, k: str, v: Any, tbl: Table, loc: str, ctx: _Ctx) -> None:
        key = k[1:] if k.startswith("_") else k
        for prefix, child in tbl.choices:
            if key.startswith(prefix) and len(key) > len(prefix) and key[len(prefix)].isupper():
                tname = key[len(prefix):]
                tname = tname if self.defs.base(tname) else tname[0].lower() + tname[1:]
                if self.defs.base(tname) is not None:
                    allowed = ", ".join(t.code for t in child.types) or "none"
                    msg = (f"type {tname} is not allowed for {child.name} (allowed: {allowed})"
                           if child.max != 0 else f"{child.name} is not allowed here (max 0)")
                    rule = "choice-type" if child.max != 0 else "cardinality"
                    self._err(ctx, f"{loc}.{k}", msg, rule, child)
                    return
        self._err(ctx, f"{loc}.{k}", f"unknown element {k!r}", "structure.unknown-element",
                  tbl.node, "structure")

    def _value(self, item: Any, node: Node, tcode: str | None, loc: str, ctx: _Ctx,
               prim_ext: bool, in_array: bool) -> None:
        if (type(item) is not dict or prim_ext or tcode in RESOURCE_TYPES or not self.shortcuts
                or ctx.shell):
            self._value_checked(item, node, tcode, loc, ctx, prim_ext, in_array)
            return
        # Mapped bundles repeat the same codings, quantities, extensions and dosages hundreds of
        # times; validate each distinct value at an element once and reuse its issues.
        key = (node, tcode, in_array, ctx.profile, repr(item))
        hit = self._memo.get(key)
        if hit is None and ctx.bundle is not None:
            hit = ctx.bundle.memo.get(key)
            if hit is not None:  # a verdict that holds in this bundle only: so does the enclosing one
                ctx.tainted = max(ctx.tainted, _BUNDLE)
        if hit is not None:
            base, found = hit
            if found:
                n = len(base)
                ctx.issues.extend(dataclasses.replace(i, location=loc + i.location[n:]) for i in found)
            return
        start = len(ctx.issues)
        outer_taint = ctx.tainted
        ctx.tainted = _PURE
        self._value_checked(item, node, tcode, loc, ctx, prim_ext, in_array)
        taint = ctx.tainted
        memo = (self._memo if taint == _PURE else
                ctx.bundle.memo if taint == _BUNDLE and ctx.bundle is not None else None)
        if memo is not None:
            found = tuple(ctx.issues[start:])
            if all(i.location.startswith(loc) for i in found):
                if len(memo) >= _MEMO_MAX:
                    memo.clear()  # bounded: memory stays flat over any number of patients
                memo[key] = (loc, found)
        ctx.tainted = max(taint, outer_taint)

    def _value_checked(self, item: Any, node: Node, tcode: str | None, loc: str, ctx: _Ctx,
                       prim_ext: bool, in_array: bool) -> None:
        if prim_ext:
            if item is None and in_array:
                return
            if type(item) is not dict:
                self._err(ctx, loc, f"expected an object (id/extension of a primitive), got "
                          f"{jtype(item)}", "structure.type", node, "structure")
                return
            elem = self.defs.base("Element")
            if elem is not None and elem.root is not None:
                self._complex(item, elem.root, None, loc, ctx)
            return
        if tcode in PRIMITIVES:
            if item is None:
                if not in_array:
                    self._err(ctx, loc, "null is not a valid value", "structure.empty", node,
                              "structure")
                return
            msg = CHECKERS[tcode](item)
            if msg is not None:
                rule = "structure.empty" if "empty" in msg else "structure.type"
                self._err(ctx, loc, msg, rule, node, "value")
                return
            if node.max_length is not None and isinstance(item, str) and len(item) > node.max_length:
                self._err(ctx, loc, f"longer than maxLength {node.max_length}", "max-length",
                          node, "value")
        else:
            if type(item) is not dict:
                self._err(ctx, loc, f"expected an object ({tcode or node.name}), got "
                          f"{jtype(item)}", "structure.type", node, "structure")
                return
            if tcode in RESOURCE_TYPES:
                ctx.tainted = _RESOURCE
                if ctx.shell and ctx.depth == 0 and node.path == "Bundle.entry.resource":
                    return
                self._resource(item, loc, ctx.issues, ctx.bundle, None, ctx.depth + 1,
                               ctx.root if node.name == "contained" else None)
                return
            if tcode == "Extension" and not node.slice_name:
                self._extension(item, node, loc, ctx)
            else:
                self._complex(item, node, tcode, loc, ctx)
            if tcode == "Reference" and node.types:
                ctx.tainted = max(ctx.tainted, _BUNDLE)
                self._reference(item, node, loc, ctx)
            elif tcode == "Coding" and self.terminology.unknown_code(item.get("system"), item.get("code")):
                self._err(ctx, f"{loc}.code", f"code {item.get('code')!r} is not defined in "
                          f"code system {item.get('system')}", "terminology.unknown-code",
                          node, "code-invalid")
            elif tcode in _QUANTITY_TYPES and item.get("system") == ucum.UCUM:
                code = item.get("code")
                problem = ucum.check(code) if type(code) is str else None
                if problem is not None:
                    self._err(ctx, f"{loc}.code", problem, "ucum.syntax", node, "code-invalid")
        if node.fixed is not None and not _equal(item, node.fixed):
            self._err(ctx, loc, f"value must be exactly {_short(node.fixed)} ({node.fixed_key})",
                      "fixed", node, "value")
        elif node.pattern is not None and not _matches(item, node.pattern):
            self._err(ctx, loc, f"value must match pattern {_short(node.pattern)} "
                      f"({node.pattern_key})", "pattern", node, "value")
        if node.binding is not None and tcode in _CODED:
            self._binding(item, node, tcode, loc, ctx)

    def _extension(self, item: dict[str, Any], node: Node, loc: str, ctx: _Ctx) -> None:
        url = item.get("url")
        sd = self.defs.get(url) if isinstance(url, str) else None
        if sd is not None and sd.type == "Extension" and sd.root is not None:
            self._complex(item, sd.root, "Extension", loc, ctx)
            return
        if isinstance(url, str) and url.startswith(OUR_CANONICAL):
            self._err(ctx, f"{loc}.url", f"unknown extension {url}", "extension", node)
        elif node.name == "modifierExtension" and isinstance(url, str):
            self._err(ctx, f"{loc}.url", f"unknown modifier extension {url} cannot be ignored",
                      "extension", node)
        self._complex(item, node, "Extension", loc, ctx)

    # ---------------------------------------------------------------- slicing

    def _sliced(self, items: list[Any], node: Node, tcode: str | None, loc: str,
                ctx: _Ctx) -> None:
        slicing = node.slicing
        assert slicing is not None
        prepared = node.matchers
        if prepared is None:
            prepared = node.matchers = [[self._matcher(node, s) for s in node.slices],
                                        self._url_index(node) if self.shortcuts else None]
        matchers, by_url = prepared
        counts = [0] * len(node.slices)
        is_ext = node.name in ("extension", "modifierExtension")
        for i, item in enumerate(items):
            iloc = f"{loc}[{i}]"
            hit = -1
            if type(item) is dict:
                url = item.get("url")
                if by_url is not None and type(url) is str:
                    hit = by_url.get(url, -1)
                else:
                    for j, m in enumerate(matchers):
                        if m(item, ctx):
                            hit = j
                            break
            if hit < 0:
                if slicing.rules == "closed":
                    self._err(ctx, iloc, f"does not match any slice of {node.name} and the "
                              "slicing is closed", "slicing.closed", node)
                self._value(item, node, tcode, iloc, ctx, False, True)
            else:
                counts[hit] += 1
                s = node.slices[hit]
                self._value(item, s, s.types[0].code if s.types else tcode, iloc, ctx, False,
                            True)
        rule = "extension" if is_ext else "slicing"
        for j, s in enumerate(node.slices):
            n = counts[j]
            what = f"extension {s.slice_name!r}" if is_ext else f"slice {s.slice_name!r}"
            if n < s.min:
                self._err(ctx, loc, f"{what} is required (min {s.min}, found {n})", rule, s,
                          "required")
            elif s.max is not None and n > s.max:
                msg = f"{what} is not allowed (max 0)" if s.max == 0 else f"{what} allows at most {s.max}, found {n}"
                self._err(ctx, loc, msg, rule, s)

    def _url_index(self, node: Node) -> dict[str, int] | None:
        """url -> slice for slicing by url alone (extensions): one lookup instead of a matcher per
        slice; the first slice wins, as in the sequential match. None when a slice is not by url."""
        assert node.slicing is not None
        ds = node.slicing.discriminators
        if len(ds) != 1 or ds[0].type not in ("value", "pattern") or ds[0].path != "url":
            return None
        out: dict[str, int] = {}
        for j, s in enumerate(node.slices):
            target = self._node_at(s, "url")
            if target is None:
                return None
            if target.fixed is not None:
                url = target.fixed
            elif target.pattern is not None:
                url = target.pattern
            elif target.types == () and s.types and s.types[0].profiles:
                url = s.types[0].profiles[0]
            else:
                return None
            if type(url) is not str:
                return None
            out.setdefault(url, j)
        return out

    def _matcher(self, node: Node, s: Node) -> Callable[[dict[str, Any], _Ctx], bool]:
        checks: list[Callable[[dict[str, Any], _Ctx], bool]] = []
        assert node.slicing is not None
        for d in node.slicing.discriminators:
            checks.append(self._discriminator(d.type, d.path, s))
        if not checks:
            return lambda item, ctx: False
        if len(checks) == 1:
            return checks[0]
        return lambda item, ctx: all(c(item, ctx) for c in checks)

    def _node_at(self, s: Node, path: str) -> Node | None:
        cur: Node | None = s
        if path in ("$this", ""):
            return s
        for seg in path.split("."):
            if cur is None:
                return None
            nxt = cur.children.get(seg)
            if nxt is None and cur.types:
                root = self._type_root(cur, cur.types[0].code)
                if root is not None:
                    nxt = root.children.get(seg)
            cur = nxt
        return cur

    def _discriminator(self, dtype: str, path: str, s: Node
                       ) -> Callable[[dict[str, Any], _Ctx], bool]:
        getter = self._path_getter(path)
        if dtype in ("value", "pattern"):
            target = self._node_at(s, path)
            if target is None:
                return lambda item, ctx: False
            if target.fixed is not None:
                fixed = target.fixed
                return lambda item, ctx: any(_equal(v, fixed) for v in getter(item, ctx))
            if target.pattern is not None:
                pat = target.pattern
                return lambda item, ctx: any(_matches(v, pat) for v in getter(item, ctx))
            if path == "url" and target.types == () and s.types and s.types[0].profiles:
                url = s.types[0].profiles[0]
                return lambda item, ctx: item.get("url") == url
            if target.binding is not None:
                exp = self.terminology.expansion(target.binding[1])
                if exp is not None:
                    return lambda item, ctx: any(_in_vs(v, exp) for v in getter(item, ctx))
            return lambda item, ctx: False
        if dtype == "exists":
            target = self._node_at(s, path)
            must = target is not None and target.min > 0
            return lambda item, ctx: bool(getter(item, ctx)) == must
        if dtype == "type":
            codes = {t.code for t in s.types}
            return lambda item, ctx: any(
                isinstance(v, dict) and v.get("resourceType") in codes for v in getter(item, ctx)
            )
        if dtype == "profile":
            profiles = [p for t in s.types for p in (t.profiles or t.targets)]
            def conforms(item: dict[str, Any], ctx: _Ctx) -> bool:
                ctx.tainted = max(ctx.tainted, _BUNDLE)
                return any(isinstance(v, dict) and any(self._conforms(v, p, ctx.bundle)
                                                       for p in profiles)
                           for v in getter(item, ctx))
            return conforms
        return lambda item, ctx: False

    def _path_getter(self, path: str) -> Callable[[Any, _Ctx], list[Any]]:
        segs = [] if path in ("$this", "") else _split_path(path)

        def get(item: Any, ctx: _Ctx) -> list[Any]:
            cur = [item]
            for seg in segs:
                nxt: list[Any] = []
                if seg == "resolve()":
                    for c in cur:
                        r = self._resolve_ref(c, ctx)
                        if r is not None:
                            nxt.append(r)
                elif seg.startswith("extension("):
                    url = seg[len("extension("):-1].strip("'\"")
                    for c in cur:
                        if isinstance(c, dict):
                            nxt += [e for e in c.get("extension", []) or []
                                    if isinstance(e, dict) and e.get("url") == url]
                elif seg.startswith("ofType("):
                    t = seg[len("ofType("):-1]
                    nxt = [c for c in cur if isinstance(c, dict) and c.get("resourceType") == t]
                else:
                    for c in cur:
                        if isinstance(c, dict):
                            v = c.get(seg)
                            if v is None and seg.endswith("[x]"):
                                p = seg[:-3]
                                v = next((x for k, x in c.items() if k.startswith(p)
                                          and len(k) > len(p) and k[len(p)].isupper()), None)
                            if type(v) is list:
                                nxt.extend(v)
                            elif v is not None:
                                nxt.append(v)
                cur = nxt
            return cur

        return get

    # ---------------------------------------------------------------- references

    def _resolve_ref(self, ref: Any, ctx: _Ctx) -> dict[str, Any] | None:
        ctx.tainted = max(ctx.tainted, _BUNDLE)
        if isinstance(ref, dict):
            ref = ref.get("reference")
        if not isinstance(ref, str):
            return None
        if ref.startswith("#"):
            ctx.tainted = _RESOURCE
            for c in ctx.root.get("contained", []) or []:
                if isinstance(c, dict) and c.get("id") == ref[1:]:
                    return c
            return None
        if ctx.bundle is not None:
            return ctx.bundle.resolve(ref)
        return None

    def _reference(self, item: dict[str, Any], node: Node, loc: str, ctx: _Ctx) -> None:
        ref = item.get("reference")
        if not isinstance(ref, str):
            return
        target = self._resolve_ref(ref, ctx)
        rtype: str | None = None
        if target is not None:
            # a target without a valid resourceType is reported at the target itself; here it
            # only has no type to compare (a list there used to crash the lookup below)
            found_type = target.get("resourceType")
            rtype = found_type if isinstance(found_type, str) else None
        elif ref.startswith("#"):
            return  # ref-1 reports it
        else:
            m = _REF.search(ref)
            if m:
                rtype = m["type"]
            if ctx.bundle is not None:
                if not ref.startswith(("http://", "https://")):
                    self._err(ctx, f"{loc}.reference", f"reference {ref!r} does not resolve to "
                              "an entry of the bundle", "bundle.reference-unresolved", node,
                              "not-found")
                    return
                self._warn(ctx, f"{loc}.reference", f"reference {ref!r} points outside the "
                           "bundle", "bundle.reference-external", node, "not-found")
            if m is None and not ref.startswith("urn:"):
                self._err(ctx, f"{loc}.reference", f"{ref!r} is not a valid reference "
                          "(Type/id, absolute URL, urn:uuid: or #contained)", "reference-format",
                          node)
                return
        declared = item.get("type")
        if isinstance(declared, str) and rtype is not None and declared != rtype:
            self._err(ctx, f"{loc}.type", f"Reference.type {declared} does not match the target "
                      f"{rtype}", "reference-target", node)
        tref = node.type_for("Reference")
        if tref is None or not tref.targets or rtype is None:
            return
        allowed = self.allowed_targets(tref.targets)
        if "Resource" in allowed:
            return
        if rtype not in allowed:
            self._err(ctx, f"{loc}.reference", f"reference to {rtype} is not allowed here "
                      f"(allowed: {', '.join(sorted(allowed))})", "reference-target", node)
            return
        profs = allowed[rtype]
        # The target must claim one of the profiles; whether it meets it is reported at the
        # target itself (every entry is validated), so one bad resource does not cascade into an
        # error at every resource that points at it.
        if (profs and target is not None and CORE + rtype not in tref.targets
                and not any(_declares(target, p) for p in profs)):
            self._err(ctx, f"{loc}.reference", f"the referenced {rtype} does not claim "
                      f"{' or '.join(profs)} in meta.profile", "reference-target", node)

    def allowed_targets(self, targets: tuple[str, ...]) -> dict[str, list[str]]:
        """Resource type -> the non-core profiles allowed for it, of a Reference's targetProfiles."""
        allowed = self._allowed_targets.get(targets)
        if allowed is None:
            allowed = {}
            for t in targets:
                sd = self.defs.get(t)
                tt = sd.type if sd is not None else t.rsplit("/", 1)[-1]
                allowed.setdefault(tt, [])
                if not t.startswith(CORE):
                    allowed[tt].append(t)
            self._allowed_targets[targets] = allowed
        return allowed

    def _conforms(self, res: dict[str, Any], url: str, idx: _BundleIndex | None = None) -> bool:
        """Does res declare the profile in meta.profile and meet it? (cached per bundle)"""
        meta = res.get("meta")
        if not isinstance(meta, dict) or url not in (meta.get("profile") or ()):
            return False
        idx = idx if idx is not None else self._fp_bundle
        key = (id(res), url)
        if idx is not None and key in idx.conforms:
            return idx.conforms[key]
        if idx is not None:
            idx.conforms[key] = True  # provisional: reference cycles (regimen <-> MA) terminate
        issues: list[Issue] = []
        self._resource(res, None, issues, idx, url, 1)
        hit = not any(i.severity in (Severity.ERROR, Severity.FATAL) for i in issues)
        if idx is not None:
            idx.conforms[key] = hit
        return hit

    # ---------------------------------------------------------------- terminology

    def _binding(self, item: Any, node: Node, tcode: str, loc: str, ctx: _Ctx) -> None:
        assert node.binding is not None
        strength, url = node.binding
        exp = self.terminology.expansion(url)
        if exp is None:
            if strength == "required":
                self._warn(ctx, loc, f"value set {url} is not available offline; code not "
                           "checked", "binding.unchecked", node)
            return
        pairs: list[tuple[str | None, str]] = []
        if tcode in ("code", "string", "uri"):
            if isinstance(item, str):
                pairs = [(None, item)]
        elif tcode == "Coding" or tcode == "Quantity":
            if isinstance(item.get("code"), str):
                pairs = [(item.get("system"), item["code"])]
        elif tcode == "CodeableConcept":
            pairs = [(c.get("system"), c["code"]) for c in item.get("coding", []) or []
                     if isinstance(c, dict) and isinstance(c.get("code"), str)]
        if not pairs:
            if strength == "required" and tcode == "CodeableConcept":
                self._err(ctx, loc, f"no code given; a code from {url} is required",
                          "binding.required", node, "code-invalid")
            return
        results = [exp.contains(s, c) for s, c in pairs]
        if any(r is True for r in results):
            return
        shown = ", ".join(f"{s}#{c}" if s else c for s, c in pairs)
        if any(r is None for r in results):
            self._warn(ctx, loc, f"{shown} could not be checked against {url} (not enumerable "
                       "offline)", "binding.unchecked", node)
            return
        if strength == "required":
            self._err(ctx, loc, f"{shown} is not in the required value set {url}",
                      "binding.required", node, "code-invalid")
        else:
            self._warn(ctx, loc, f"{shown} is not in the extensible value set {url}",
                       "binding.extensible", node, "code-invalid")

    # ---------------------------------------------------------------- invariants

    def _constraints(self, obj: dict[str, Any], tbl: Table, loc: str, ctx: _Ctx) -> None:
        for c, native, simple, lazy, base_path in tbl.constraints:
            if native is not None:
                reads_resource = inv.RESOURCE_NATIVES.get(native)
                if reads_resource is not None and reads_resource(obj):
                    ctx.tainted = _RESOURCE
                ok = native(obj, ctx.resource)
            elif simple is not None and (ok := simple(obj)) is not None:
                pass
            else:
                ctx.tainted = max(ctx.tainted, lazy.context_dependence)
                ok = self._fhirpath(lazy, obj, base_path, loc, c, ctx)
                if ok is None:
                    continue
            if not ok:
                sev = Severity.ERROR if c.severity == "error" else Severity.WARNING
                ctx.issues.append(Issue(sev, loc, f"{c.key}: {c.human}", "invariant",
                                        f"invariant:{c.key}", ctx.profile, tbl.node.id))

    def _fhirpath(self, lazy: _Lazy, obj: dict[str, Any], base_path: str,
                  loc: str, c: Constraint, ctx: _Ctx) -> bool | None:
        # `A implies B` holds whenever A is false: A usually reads a few elements, so it is cheap
        # and, cached on what it reads, nearly free
        ante = lazy.antecedent
        if ante is not None and self.shortcuts:
            try:
                if self._fp_value(ante, obj, base_path, ctx) == [False]:
                    return True
            except Exception:  # the whole expression, evaluated below, reports it
                pass
        try:
            res = self._fp_value(lazy, obj, base_path, ctx)
        except Exception as exc:  # an expression fhirpathpy cannot evaluate
            self._warn(ctx, loc, f"{c.key}: could not evaluate {c.expression!r}: {exc}",
                       f"invariant:{c.key}", None)
            return None
        return res == [True]

    def _fp_value(self, lazy: _Lazy, obj: dict[str, Any], base_path: str, ctx: _Ctx) -> list[Any]:
        # Invariants on whole resources see unique ids and dates, but most read a few elements
        # only: the result is cached on the part of the value the expression can reach.
        key = None
        if self.shortcuts and lazy.projectable:
            key = (lazy.expression, base_path, repr(lazy.projection(obj)))
            hit = self._fp_memo.get(key)
            if hit is not None:
                return list(hit)
        fn = lazy.get()
        token = inv.CURRENT.set(self._env)
        prev = self._fp_bundle
        self._fp_bundle = ctx.bundle
        try:
            res = fn(obj, base_path, {"resource": ctx.resource, "rootResource": ctx.root})
        finally:
            inv.CURRENT.reset(token)
            self._fp_bundle = prev
        if key is not None and res in ([True], [False], []):
            if len(self._fp_memo) >= _MEMO_MAX:
                self._fp_memo.clear()
            self._fp_memo[key] = tuple(res)
        return res

    def _fp_resolve(self, ref: Any) -> dict[str, Any] | None:
        if isinstance(ref, dict):
            ref = ref.get("reference")
        if isinstance(ref, str) and self._fp_bundle is not None:
            return self._fp_bundle.resolve(ref)
        return None

    # ---------------------------------------------------------------- bundles

    def _bundle_rules(self, bundle: dict[str, Any], idx: _BundleIndex,
                      issues: list[Issue]) -> None:
        btype = bundle.get("type")
        seen: dict[str, int] = {}
        for i, e in enumerate(bundle.get("entry", []) or []):
            if not isinstance(e, dict):
                continue
            loc = f"Bundle.entry[{i}]"
            fu = e.get("fullUrl")
            res = e.get("resource")
            if isinstance(fu, str):
                if fu in seen:
                    issues.append(Issue(Severity.ERROR, f"{loc}.fullUrl",
                                        f"fullUrl {fu} is also used by entry[{seen[fu]}]",
                                        "duplicate", "bundle.fullurl-unique"))
                else:
                    seen[fu] = i
                if isinstance(res, dict) and isinstance(res.get("id"), str):
                    m = _REF.search(fu)
                    if m and not fu.startswith("urn:") and (
                        m["id"] != res["id"] or m["type"] != res.get("resourceType")
                    ):
                        issues.append(Issue(Severity.ERROR, f"{loc}.fullUrl",
                                            f"fullUrl {fu} does not match the resource "
                                            f"{res.get('resourceType')}/{res['id']}", "invalid",
                                            "bundle.fullurl-match"))
            elif res is not None and btype in ("transaction", "batch"):
                issues.append(Issue(Severity.WARNING, loc, "entry has no fullUrl; references to "
                                    "it cannot be resolved", "required", "bundle.fullurl"))
            if btype in ("transaction", "batch"):
                req = e.get("request")
                if not isinstance(req, dict):
                    issues.append(Issue(Severity.ERROR, f"{loc}.request",
                                        f"every {btype} entry needs request (method and url)",
                                        "required", "bundle.request"))
                    continue
                method, url = req.get("method"), req.get("url")
                if method in ("PUT", "POST") and not isinstance(res, dict):
                    issues.append(Issue(Severity.ERROR, f"{loc}.resource",
                                        f"a {method} entry needs a resource", "required",
                                        "bundle.request"))
                if method == "PUT" and isinstance(res, dict) and isinstance(url, str):
                    expect = f"{res.get('resourceType')}/{res.get('id')}"
                    if url.split("?")[0] != expect and "?" not in url:
                        issues.append(Issue(Severity.ERROR, f"{loc}.request.url",
                                            f"PUT url {url} does not match the resource {expect}",
                                            "invalid", "bundle.request"))
        del idx

    # ---------------------------------------------------------------- issue helpers

    def _err(self, ctx: _Ctx, loc: str, msg: str, rule: str, node: Node | None,
             code: str = "invalid") -> None:
        ctx.issues.append(Issue(Severity.ERROR, loc, msg, code, rule, ctx.profile,
                                node.id if node is not None else None))

    def _warn(self, ctx: _Ctx, loc: str, msg: str, rule: str, node: Node | None,
              code: str = "invalid") -> None:
        ctx.issues.append(Issue(Severity.WARNING, loc, msg, code, rule, ctx.profile,
                                node.id if node is not None else None))


class _Lazy:
    """A FHIRPath expression compiled on first use (then shared through inv.compiled)."""

    __slots__ = ("_keeps", "antecedent", "context_dependence", "expression", "ext_urls", "fn", "names",
                 "projectable")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.fn: inv.CompiledExpression | None = None
        # reads %resource/%rootResource or follows references: its verdict is not the value's alone
        # (%ucum, %sct, %`vs-...` are constants)
        self.context_dependence = (_RESOURCE if _CONTEXT_VARIABLE.search(expression) else
                                   _BUNDLE if "resolve(" in expression or "conformsTo(" in expression
                                   else _PURE)
        # every name in the expression (element names, function names, words in literals): an
        # element of the value none of them names is unreachable, unless navigation is generic
        self.names = frozenset(_WORD.findall(expression))
        self.projectable = self.context_dependence == _PURE and not (self.names & _GENERIC_NAVIGATION)
        self._keeps: dict[str, bool] = {}
        # when extensions are only read as extension('url'), only those urls' items are reachable
        calls = _EXTENSION_CALL.findall(expression)
        self.ext_urls = (frozenset(calls) if calls and len(calls) == len(_EXTENSION_WORD.findall(expression))
                         else None)
        left = _antecedent(expression)
        self.antecedent = _Lazy(left) if left is not None else None

    def projection(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The elements of obj the expression can reach (choice elements by their base name)."""
        keeps = self._keeps
        out: dict[str, Any] = {}
        for k, v in obj.items():
            keep = keeps.get(k)
            if keep is None:
                bare = k.lstrip("_")
                keep = keeps[k] = k == "resourceType" or bare in self.names or any(
                    bare.startswith(n) and len(bare) > len(n) and bare[len(n)].isupper()
                    for n in self.names)
            if keep:
                if k == "extension" and self.ext_urls is not None and type(v) is list:
                    v = [e for e in v if not (type(e) is dict and type(e.get("url")) is str
                                              and e["url"] not in self.ext_urls)]
                out[k] = v
        return out

    def get(self) -> inv.CompiledExpression:
        if self.fn is None:
            self.fn = inv.compiled(self.expression)
        return self.fn


def _antecedent(expression: str) -> str | None:
    """A in `A implies B` when implies is the top-level operator (lowest precedence, so the last
    `implies` outside parentheses and strings splits it), else None."""
    depth, quoted, cut = 0, False, -1
    i = 0
    while i < len(expression):
        ch = expression[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and expression.startswith(" implies ", i):
            cut = i
        i += 1
    return expression[:cut].strip() if cut > 0 else None


def _split_path(path: str) -> list[str]:
    out: list[str] = []
    buf = ""
    depth = 0
    for ch in path:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "." and depth == 0:
            out.append(buf)
            buf = ""
        else:
            buf += ch
    if buf:
        out.append(buf)
    return out


def _equal(a: Any, b: Any) -> bool:
    if type(a) is dict and type(b) is dict:
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if type(a) is list and type(b) is list:
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) in (int, float) and type(b) in (int, float):
        return a == b
    return type(a) is type(b) and a == b


def _matches(value: Any, pattern: Any) -> bool:
    """FHIR pattern semantics: every element of the pattern appears in the value; array items of
    the pattern are each matched by some distinct item of the value, in any order."""
    if type(pattern) is dict:
        if type(value) is not dict:
            return False
        for k, p in pattern.items():
            v = value.get(k)
            if v is None or not _matches(v, p):
                return False
        return True
    if type(pattern) is list:
        if type(value) is not list:
            value = [value]
        used: set[int] = set()
        for p in pattern:
            for i, v in enumerate(value):
                if i not in used and _matches(v, p):
                    used.add(i)
                    break
            else:
                return False
        return True
    return _equal(value, pattern)


def _in_vs(v: Any, exp: Any) -> bool:
    if isinstance(v, str):
        return exp.contains(None, v) is True
    if isinstance(v, dict):
        codings = v.get("coding") if "coding" in v else [v]
        return any(isinstance(c, dict) and exp.contains(c.get("system"), c.get("code")) is True
                   for c in codings or [])
    return False


def _short(v: Any) -> str:
    import json

    s = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return s if len(s) <= 160 else s[:157] + "..."


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, str, str | None]] = set()
    out: list[Issue] = []
    for i in issues:
        key = (i.location, i.message, i.rule)
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


def profiles_dir() -> Path:
    """The profiles/ data folder: the installed fhir_onco.profiles package, or the repo's."""
    try:
        p = Path(str(_res.files("fhir_onco.profiles")))
        if (p / "core").is_dir():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[3] / "profiles"
