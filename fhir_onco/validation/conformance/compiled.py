"""Profiles compiled into checking closures: the fast "no issue here" answer for the common case.

The interpreter in validator.py walks a value against an element's `Table` (keys, cardinality,
slices, invariants), building a location string for every element and collecting `Issue`s. Mapped
bundles are valid nearly always, so the question asked millions of times is only "is there any
issue in this resource?". This module turns each (element, type) of a snapshot, once, into a
Python closure that answers exactly that - with the element's keys, cardinalities, primitive
checkers, maxLength, fixed/pattern values, bindings, slice matchers and invariants bound into the
closure, and without locations or issue objects. A closure returns True only when the interpreter
would report nothing; False sends the whole resource to the interpreter, which then reports the
issues (so every message, location and rule still comes from one place).

What the closures do not re-implement they delegate, value by value, to the interpreter (with a
throwaway issue list): references, contained resources, FHIRPath invariants evaluated by
fhirpathpy, the Observation result rule. Equal pure values at one element are accepted once (a
bounded set of marshal keys per closure; a value whose check read its resource or bundle is never
cached there). tests/conformance/test_compiled.py proves "accepted" == "the interpreter finds no
issue" on every corpus case, golden bundle and example, resource by resource.
"""

from __future__ import annotations

import builtins
import marshal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import invariants as inv
from . import ucum
from .model import RESOURCE_TYPES, Node
from .primitives import CHECKERS, INT_RANGES, PRIMITIVES, REGEXES, STRING_CONTROL

if TYPE_CHECKING:
    from .validator import ConformanceValidator, _Ctx

Check = Callable[[Any, "_Ctx"], bool]
_PURE, _BUNDLE, _RESOURCE = 0, 1, 2
# accepted values remembered over all closures together (as the interpreter's one memo): memory
# stays flat however many patients pass
_VALID_MAX = 40_000


def _false(item: Any, ctx: _Ctx) -> bool:
    return False


# ------------------------------------------------------------------ source generation

# after these types' inlined check the value is a str
_STRING_CHECKED = frozenset({*REGEXES, "string", "markdown"})


class _Source:
    """The namespace of generated functions: constants (closures, tables, regexes) by name."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"__builtins__": builtins}
        self._names: dict[int, str] = {}

    def const(self, obj: Any) -> str:
        name = self._names.get(id(obj))
        if name is None:  # the namespace keeps obj alive, so its id stays its own
            name = self._names[id(obj)] = f"c{len(self._names)}"
            self.ns[name] = obj
        return name

    def build(self, source: str, name: str, label: str) -> Any:
        # constants are named in the order they are met, so tables of the same shape (the
        # CodeableConcepts, References, extensions of many elements) have the same source: it is
        # compiled once, each table executing the code in its own namespace
        code = _CODE.get(source)
        if code is None:
            if len(_CODE) >= 5_000:
                _CODE.clear()
            code = _CODE[source] = compile(source, f"<compiled {label}>", "exec")
        exec(code, self.ns)  # our own generated source
        return self.ns[name]


_CODE: dict[str, Any] = {}


def _primitive_source(gen: _Source, tcode: str, var: str) -> list[str]:
    """Lines returning False when CHECKERS[tcode] would report var (None and arrays included)."""
    if tcode == "boolean":
        test = f"type({var}) is not bool"
    elif tcode in INT_RANGES:
        lo, hi = INT_RANGES[tcode]
        test = f"type({var}) is not int or not {lo} <= {var} <= {hi}"
    elif tcode in ("string", "markdown"):
        test = (f"type({var}) is not str or not {var}.strip() or "
                f"{gen.const(STRING_CONTROL.search)}({var}) is not None")
    elif tcode in REGEXES:
        test = (f"type({var}) is not str or not {var} or "
                f"{gen.const(REGEXES[tcode].fullmatch)}({var}) is None")
    else:
        test = f"{gen.const(CHECKERS[tcode])}({var}) is not None"
    return [f"if {test}:", "    return False"]


def _tree(leaves: list[list[str]], lo: int, hi: int, indent: str) -> list[str]:
    """Dispatch on the key's index i (lo <= i < hi): a binary tree of integer tests."""
    if hi - lo == 1:
        return [indent + line for line in (leaves[lo] or ["pass"])]
    out: list[str] = []
    if hi - lo <= 3:
        for j in range(lo, hi):
            head = "if" if j == lo else "elif"
            out.append(f"{indent}{head} i == {j}:" if j < hi - 1 else f"{indent}else:")
            out += [indent + "    " + line for line in (leaves[j] or ["pass"])]
        return out
    mid = (lo + hi) // 2
    return ([f"{indent}if i < {mid}:", *_tree(leaves, lo, mid, indent + "    "),
             f"{indent}else:", *_tree(leaves, mid, hi, indent + "    ")])


def _card_source(gen: _Source, child: Node, ks: tuple[str, ...]) -> list[str]:
    """The cardinality of one element in obj (every value non-null: the key loop checked)."""
    mn, mx, choice = child.min, child.max, child.is_choice
    if not child.is_array and not choice and mn <= 1:
        # a single element: its count is 1 when present
        if mn == 0:
            return []
        return ["    if " + " and ".join(f"{k!r} not in obj" for k in ks) + ":", "        return False"]
    kset = gen.const(frozenset(ks))
    bad = []
    if mn > 0:
        bad.append(f"n < {mn}")
    if mx is not None:
        bad.append(f"n > {mx}" if not choice else f"(n > {mx} and not n > 1)")
    out = [f"    if {kset}.isdisjoint(obj):",
           "        return False" if mn > 0 else "        pass",
           "    else:",
           "        n = 0",
           "        values = 0",
           f"        for k in {kset}.intersection(obj):",
           "            v = obj[k]",
           "            if k[0] == '_':",
           "                if k[1:] in obj:",
           "                    continue",
           "            else:",
           "                values += 1",
           "            n += len(v) if type(v) is list else 1"]
    if bad:
        out += ["        if " + " or ".join(bad) + ":", "            return False"]
    if choice:
        out += ["        if values > 1:", "            return False"]
    return out


def _constraints_source(gen: _Source, constraints: list[tuple[Any, ...]]) -> list[str]:
    """The table's invariants unrolled, as the interpreter's _constraints decides them."""
    out: list[str] = []
    for c, native, simple, lazy, base_path in constraints:
        if native is not None:
            reads_resource = inv.RESOURCE_NATIVES.get(native)
            if reads_resource is not None:
                out += [f"    if {gen.const(reads_resource)}(obj):", f"        ctx.tainted = {_RESOURCE}"]
            out += [f"    if not {gen.const(native)}(obj, ctx.resource):", "        return False"]
            continue
        lz = gen.const(lazy)
        fhirpath = [f"if {lz}.context_dependence > ctx.tainted:",
                    f"    ctx.tainted = {lz}.context_dependence",
                    "s = sub(ctx)",
                    f"ok = validator._fhirpath({lz}, obj, {base_path!r}, '', {gen.const(c)}, s)",
                    "if s.issues or ok is False:",
                    "    return False"]
        if simple is not None:
            out += [f"    ok = {gen.const(simple)}(obj)",
                    "    if ok is None:",
                    *["        " + line for line in fhirpath],
                    "    elif not ok:",
                    "        return False"]
        else:
            out += ["    " + line for line in fhirpath]
    return out


class Compiler:
    """Closures per (element, type) of the validator's definitions, built on first use."""

    def __init__(self, validator: ConformanceValidator) -> None:
        from . import validator as vmod

        self.v = validator
        self.vm = vmod
        self._tables: dict[tuple[int, str | None], Check] = {}
        self._items: dict[tuple[int, str | None, bool, bool], Check] = {}
        # id(table check) -> compiles it: tables not called yet (see _lazy_table)
        self._pending: dict[int, Callable[[], None]] = {}
        self._valid_sets: list[set[bytes]] = []
        self._remembered = 0

    def clear(self) -> None:
        self._tables.clear()
        self._pending.clear()
        self._items.clear()
        self._valid_sets.clear()
        self._remembered = 0

    def _remember(self, valid: set[bytes], key: bytes) -> None:
        if self._remembered >= _VALID_MAX:
            for s in self._valid_sets:
                s.clear()
            self._remembered = 0
        valid.add(key)
        self._remembered += 1

    # ------------------------------------------------------------------ entry point

    def accepts(self, res: dict[str, Any], root: Node, url: str, ctx: _Ctx) -> bool:
        """True when the interpreter would find no issue in res against this profile root."""
        if not self.table(root, None)(res, ctx):
            return False
        if res.get("resourceType") == "Observation" and url.startswith(self.vm.OUR_CANONICAL):
            sub = self._sub(ctx)
            self.v._observation_result(res, url, "", sub)
            return not sub.issues
        return True

    def _sub(self, ctx: _Ctx) -> _Ctx:
        return self.vm._Ctx([], ctx.profile, ctx.resource, ctx.root, ctx.bundle, ctx.depth,
                            shell=ctx.shell)

    # ------------------------------------------------------------------ complex values

    def table(self, node: Node, tcode: str | None) -> Check:
        key = (id(node), tcode)
        fn = self._tables.get(key)
        if fn is None:
            fn = self._tables[key] = self._lazy_table(node, tcode)
        return fn

    def _lazy_table(self, node: Node, tcode: str | None) -> Check:
        """A function that generates and compiles the table's check on its first call and then
        becomes it (its code replaced: the callers that bound it call the real check directly).
        Profiles reach hundreds of (element, type) tables that mapped data never uses; compiling
        all of them up front cost ~1 CPU-s at start-up. Recursive types (Extension.extension,
        Identifier.assigner -> Reference.identifier) bind the same function."""
        gen = _Source()
        stub: Any = None

        def compile_now() -> None:
            self._pending.pop(id(stub), None)
            if stub.__code__ is stub_code:
                stub.__code__ = self._compile_table(node, tcode, gen).__code__

        def first(obj: dict[str, Any], ctx: _Ctx) -> bool:
            compile_now()
            return bool(stub(obj, ctx))

        gen.ns["_first"] = first
        stub = gen.build("def check(obj, ctx):\n    return _first(obj, ctx)\n", "check",
                         f"{node.id} ({tcode or '-'})")
        stub_code = stub.__code__
        self._pending[id(stub)] = compile_now
        return stub  # type: ignore[no-any-return]

    def force(self, fn: Check) -> None:
        """Compile a table's check now if it is still waiting for its first call (before forking
        workers, who then share the compiled code)."""
        compile_now = self._pending.get(id(fn))
        if compile_now is not None:
            compile_now()

    def _compile_table(self, node: Node, tcode: str | None, gen: _Source) -> Check:
        """The table's check as generated Python source: the key dispatch a dict of key -> index
        and a tree of integer tests, primitive checks inlined (type test, compiled regex,
        maxLength), cardinalities as straight tests - fewer Python calls per element than
        closures calling closures."""
        tbl = self.v._table(node, tcode)
        index: dict[str, int] = {}
        leaves: list[list[str]] = []
        # keys in snapshot order, primitive extensions (`_x`, rare) last
        order = sorted(tbl.keys.items(), key=lambda kv: kv[0].startswith("_"))
        if tbl.is_resource:
            index["resourceType"] = len(leaves)
            leaves.append([])
        for k, (child, ct, prim_ext) in order:
            index[k] = len(leaves)
            leaves.append(self._element_source(gen, child, ct, prim_ext))
        lines = ["def check(obj, ctx):",
                 "    if not obj:",
                 "        return False"]
        if index:
            lines += ["    for k, val in obj.items():",
                      "        try:",
                      f"            i = {gen.const(index)}[k]",
                      "        except KeyError:",
                      "            return False"]
            lines += _tree(leaves, 0, len(leaves), "        ")
        else:
            lines += ["    return False"]
        for child, ks in tbl.card:
            lines += _card_source(gen, child, ks)
        for _child, name in tbl.required_slices:
            lines += [f"    if {name!r} not in obj:", "        return False"]
        if tbl.constraints:
            gen.ns.update(validator=self.v, sub=self._sub)
            lines += _constraints_source(gen, tbl.constraints)
        lines.append("    return True")
        return gen.build("\n".join(lines), "check", f"{node.id} ({tcode or '-'})")

    def _element_source(self, gen: _Source, child: Node, ct: str | None, prim_ext: bool) -> list[str]:
        """Lines checking one key's value `val` (returning False on a problem), as _element."""
        if child.max == 0:
            return ["return False"]
        if child.is_array:
            if child.slicing is not None and not child.choice and not prim_ext:
                return ["if type(val) is not list or not val:", "    return False",
                        *self._sliced_source(gen, child, ct)]
            item = gen.const(self.item(child, ct, prim_ext, True))
            return ["if type(val) is not list or not val:", "    return False",
                    "for x in val:", f"    if not {item}(x, ctx):", "        return False"]
        if ct in PRIMITIVES and not prim_ext:
            out = _primitive_source(gen, ct, "val")
            if child.max_length is not None:
                if ct in _STRING_CHECKED:
                    out += [f"if len(val) > {child.max_length}:", "    return False"]
                else:
                    out += [f"if isinstance(val, str) and len(val) > {child.max_length}:",
                            "    return False"]
            tail = self._tail(child, ct)
            if tail is not None:
                out += [f"if not {gen.const(tail)}(val, ctx):", "    return False"]
            return out
        single = gen.const(self.item(child, ct, prim_ext, False))
        return [f"if type(val) is list or not {single}(val, ctx):", "    return False"]

    # ------------------------------------------------------------------ one value (_value)

    def item(self, node: Node, tcode: str | None, prim_ext: bool, in_array: bool) -> Check:
        key = (id(node), tcode, prim_ext, in_array)
        fn = self._items.get(key)
        if fn is None:
            self._items[key] = lambda item, ctx: self._items[key](item, ctx)
            fn = self._items[key] = self._compile_item(node, tcode, prim_ext, in_array)
        return fn

    def _compile_item(self, node: Node, tcode: str | None, prim_ext: bool, in_array: bool) -> Check:
        checked = self._checked(node, tcode, prim_ext, in_array)
        if prim_ext or tcode in RESOURCE_TYPES or tcode in PRIMITIVES:
            return checked  # the interpreter memoises objects only (and never these)
        valid: set[bytes] = set()
        self._valid_sets.append(valid)
        slot = len(self._valid_sets)
        remember = self._remember
        dumps = marshal.dumps

        def memoised(item: Any, ctx: _Ctx) -> bool:
            if type(item) is not dict or ctx.shell:
                return checked(item, ctx)
            try:
                key = dumps(item, 2)
            except ValueError:  # not plain JSON data (a subclass, a Decimal): checked, not kept
                return checked(item, ctx)
            if key in valid:
                return True
            bundle = ctx.bundle
            if bundle is not None and (slot, key) in bundle.valid:
                # accepted in this bundle only: so is the enclosing value
                if ctx.tainted < _BUNDLE:
                    ctx.tainted = _BUNDLE
                return True
            outer = ctx.tainted
            ctx.tainted = _PURE
            ok = checked(item, ctx)
            if ok:
                taint = ctx.tainted
                if taint == _PURE:
                    remember(valid, key)
                elif taint == _BUNDLE and bundle is not None:
                    bundle.valid.add((slot, key))
            if outer > ctx.tainted:
                ctx.tainted = outer
            return ok
        return memoised

    def _checked(self, node: Node, tcode: str | None, prim_ext: bool, in_array: bool) -> Check:
        v = self.v
        if prim_ext:
            elem = v.defs.base("Element")
            if elem is None or elem.root is None:
                return self._interpreted(node, tcode, prim_ext, in_array)
            elem_check = self.table(elem.root, None)

            def prim_extension(item: Any, ctx: _Ctx) -> bool:
                if item is None and in_array:
                    return True
                return type(item) is dict and elem_check(item, ctx)
            return prim_extension
        tail = self._tail(node, tcode)
        if tcode in PRIMITIVES:
            checker = CHECKERS[tcode]
            max_length = node.max_length

            def primitive(item: Any, ctx: _Ctx) -> bool:
                if item is None:
                    return in_array
                if checker(item) is not None:
                    return False
                if max_length is not None and isinstance(item, str) and len(item) > max_length:
                    return False
                return tail is None or tail(item, ctx)
            return primitive
        if tcode in RESOURCE_TYPES:
            interpreted = self._interpreted(node, tcode, prim_ext, in_array)
            entry_resource = node.path == "Bundle.entry.resource"

            def resource(item: Any, ctx: _Ctx) -> bool:
                if type(item) is not dict:
                    return False
                ctx.tainted = _RESOURCE
                if ctx.shell and ctx.depth == 0 and entry_resource:
                    return True
                return interpreted(item, ctx)
            return resource
        body = (self._extension(node) if tcode == "Extension" and not node.slice_name
                else self.table(node, tcode))
        extra: Check | None = None
        if tcode == "Reference" and node.types:
            extra = self._reference(node)
        elif tcode == "Coding":
            unknown = v.terminology.unknown_code

            def coding(item: Any, ctx: _Ctx) -> bool:
                return not unknown(item.get("system"), item.get("code"))
            extra = coding
        elif tcode in self.vm._QUANTITY_TYPES:
            def quantity(item: Any, ctx: _Ctx) -> bool:
                if item.get("system") != ucum.UCUM:
                    return True
                code = item.get("code")
                return type(code) is not str or ucum.check(code) is None
            extra = quantity

        def complex_value(item: Any, ctx: _Ctx) -> bool:
            if type(item) is not dict or not body(item, ctx):
                return False
            if extra is not None and not extra(item, ctx):
                return False
            return tail is None or tail(item, ctx)
        return complex_value

    def _tail(self, node: Node, tcode: str | None) -> Check | None:
        """fixed / pattern / binding of the element, as _value_checked ends."""
        vm = self.vm
        checks: list[Check] = []
        if node.fixed is not None:
            fixed = node.fixed
            checks.append(lambda item, ctx: vm._equal(item, fixed))
        elif node.pattern is not None:
            pattern = node.pattern
            checks.append(lambda item, ctx: vm._matches(item, pattern))
        if node.binding is not None and tcode in vm._CODED:
            checks.append(self._binding(node, tcode))
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        first, second = checks
        return lambda item, ctx: first(item, ctx) and second(item, ctx)

    def _binding(self, node: Node, tcode: str) -> Check:
        assert node.binding is not None
        strength, url = node.binding
        exp = self.v.terminology.expansion(url)
        if exp is None:
            return (_false if strength == "required" else lambda item, ctx: True)
        contains = exp.contains
        required_cc = strength == "required" and tcode == "CodeableConcept"

        def binding(item: Any, ctx: _Ctx) -> bool:
            if tcode in ("code", "string", "uri"):
                if not isinstance(item, str):
                    return True
                return contains(None, item) is True
            if tcode == "Coding" or tcode == "Quantity":
                code = item.get("code")
                if not isinstance(code, str):
                    return True
                return contains(item.get("system"), code) is True
            found = False
            for c in item.get("coding", []) or []:
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    if contains(c.get("system"), c["code"]) is True:
                        return True
                    found = True
            # no pair: an issue only for a required CodeableConcept; pairs none of which is in
            # the value set: always an issue (error, or warning when not enumerable)
            return not found and not required_cc
        return binding

    def _extension(self, node: Node) -> Check:
        v = self.v
        own = self.vm.OUR_CANONICAL
        generic = self.table(node, "Extension")
        modifier = node.name == "modifierExtension"
        by_url: dict[str, Check | None] = {}

        def extension(item: dict[str, Any], ctx: _Ctx) -> bool:
            url = item.get("url")
            if isinstance(url, str):
                fn = by_url.get(url, _false)
                if fn is _false:
                    sd = v.defs.get(url)
                    fn = (self.table(sd.root, "Extension")
                          if sd is not None and sd.type == "Extension" and sd.root is not None else None)
                    if len(by_url) < 1_000:  # urls are few; bounded against odd input
                        by_url[url] = fn
                if fn is not None:
                    return fn(item, ctx)
                if url.startswith(own) or modifier:
                    return False
            return generic(item, ctx)
        return extension

    # ------------------------------------------------------------------ slices

    def _sliced_source(self, gen: _Source, node: Node, tcode: str | None) -> list[str]:
        """Lines checking the non-empty list `val` against the element's slices (as the
        interpreter's _sliced decides): each item to its slice - by url for extensions - or to the
        element itself, and each slice's cardinality (a maximum as soon as it is passed)."""
        slicing = node.slicing
        assert slicing is not None
        v = self.v
        prepared = node.matchers
        if prepared is None:
            prepared = node.matchers = [[v._matcher(node, s) for s in node.slices],
                                        v._url_index(node) if v.shortcuts else None]
        matchers, by_url = prepared
        base_item = self.item(node, tcode, False, True)
        slice_items = gen.const([self.item(s, s.types[0].code if s.types else tcode, False, True)
                                 for s in node.slices])
        maxima = gen.const([sys.maxsize if s.max is None else s.max for s in node.slices])
        match = ["    for m in " + gen.const(matchers) + ":",
                 "        if m(item, ctx):",
                 "            break",
                 "        hit += 1",
                 "    else:",
                 "        hit = -1"]
        out = [f"counts = [0] * {len(node.slices)}",
               "for item in val:",
               "    hit = 0 if type(item) is dict else -1",
               "    if hit == 0:"]
        if by_url is not None:
            out += ["        url = item.get('url')",
                    "        if type(url) is str:",
                    f"            hit = {gen.const(by_url)}.get(url, -1)",
                    "        else:",
                    *["        " + line for line in match]]
        else:
            out += ["    " + line for line in match]
        out += ["    if hit < 0:",
                *(["        return False"] if slicing.rules == "closed" else
                  [f"        if not {gen.const(base_item)}(item, ctx):", "            return False"]),
                "    else:",
                "        n = counts[hit] + 1",
                f"        if n > {maxima}[hit]:",
                "            return False",
                "        counts[hit] = n",
                f"        if not {slice_items}[hit](item, ctx):",
                "            return False"]
        for j, s in enumerate(node.slices):
            if s.min > 0:
                out += [f"if counts[{j}] < {s.min}:", "    return False"]
        return out

    # ------------------------------------------------------------------ delegated to the interpreter

    def _reference(self, node: Node) -> Check:
        """validator._reference for the common case - a relative or urn reference that resolves
        inside the bundle to a resource with a string resourceType - with the element's allowed
        targets bound in; anything else (contained '#', unresolved, external, no bundle) is
        delegated to the interpreter."""
        v = self.v
        sub = self._sub
        tref = node.type_for("Reference")
        targets = tref.targets if tref is not None else ()
        allowed = v.allowed_targets(targets) if targets else None
        any_type = allowed is not None and "Resource" in allowed
        core = self.vm.CORE
        # core + rtype in targets, as a set of types
        core_types = frozenset(t[len(core):] for t in targets if t.startswith(core))

        def delegated(item: dict[str, Any], ctx: _Ctx) -> bool:
            s = sub(ctx)
            s.tainted = ctx.tainted
            v._reference(item, node, "", s)
            ctx.tainted = s.tainted
            return not s.issues

        def reference(item: dict[str, Any], ctx: _Ctx) -> bool:
            if ctx.tainted < _BUNDLE:
                ctx.tainted = _BUNDLE
            ref = item.get("reference")
            if type(ref) is not str:
                return not isinstance(ref, str) or delegated(item, ctx)
            bundle = ctx.bundle
            if bundle is None or ref[:1] == "#":
                return delegated(item, ctx)
            target = bundle.resolve(ref)
            if target is None:
                return delegated(item, ctx)
            rtype = target.get("resourceType")
            if type(rtype) is not str:
                return delegated(item, ctx)
            declared = item.get("type")
            if isinstance(declared, str) and declared != rtype:
                return False
            if allowed is None or any_type:
                return True
            profs = allowed.get(rtype)
            if profs is None:
                return False
            if not profs or rtype in core_types:
                return True
            # the target claims one of the profiles (validator._declares, without a generator)
            meta = target.get("meta")
            if not isinstance(meta, dict):
                return False
            claimed = meta.get("profile") or ()
            for p in profs:  # noqa: SIM110 - a loop: no generator frame per reference
                if p in claimed:
                    return True
            return False
        return reference

    def _interpreted(self, node: Node, tcode: str | None, prim_ext: bool, in_array: bool) -> Check:
        v = self.v
        sub = self._sub

        def interpreted(item: Any, ctx: _Ctx) -> bool:
            s = sub(ctx)
            v._value_checked(item, node, tcode, "", s, prim_ext, in_array)
            if s.tainted > ctx.tainted:
                ctx.tainted = s.tainted
            return not s.issues
        return interpreted
