"""Invariants (ElementDefinition.constraint): fhirpathpy with the R4 model, plus native fast paths.

Every FHIRPath expression is compiled once (``fhirpathpy.compile`` with the R4 model, so choice
elements such as ``value`` resolve) and cached by expression. The functions fhirpathpy lacks are
added through its user invocation table: ``hasValue()``, ``resolve()`` (inside the bundle being
validated), ``memberOf()`` (against our local/expanded value sets), ``conformsTo()`` and
``htmlChecks()``.

The core R4 invariants that fire on nearly every resource we emit have native Python equivalents
(``NATIVE``), used only when the constraint's expression is byte-identical to the core one; a test
checks each native function against fhirpathpy on sample data.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .terminology import Terminology

try:  # fhirpathpy is a runtime dependency; keep the import error readable
    import fhirpathpy
    from fhirpathpy.engine.nodes import ResourceNode
    from fhirpathpy.models import models as _fp_models
except ImportError as exc:  # pragma: no cover
    raise ImportError("fhir-onco conformance validation needs `fhirpathpy`") from exc

R4_MODEL = _fp_models["r4"]


@dataclass(slots=True)
class EvalEnv:
    """What a running validation exposes to FHIRPath user functions."""

    resolve: Callable[[Any], dict[str, Any] | None]
    terminology: Terminology
    conforms: Callable[[dict[str, Any], str], bool]


CURRENT: contextvars.ContextVar[EvalEnv | None] = contextvars.ContextVar(
    "fhir_onco_fhirpath_env", default=None
)


def _has_value(inputs: list[Any]) -> list[bool]:
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


def _resolve(inputs: list[Any]) -> list[Any]:
    env = CURRENT.get()
    out: list[Any] = []
    if env is None:
        return out
    for ref in inputs:
        r = env.resolve(ref)
        if r is not None:
            out.append(r)
    return out


def _member_of(inputs: list[Any], url: str) -> list[bool]:
    env = CURRENT.get()
    if env is None or not inputs:
        return []
    exp = env.terminology.expansion(url)
    if exp is None:
        return []
    item = inputs[0]
    pairs: list[tuple[str | None, str]] = []
    if isinstance(item, str):
        pairs = [(None, item)]
    elif isinstance(item, dict):
        codings = item.get("coding") if "coding" in item else [item]
        pairs = [(c.get("system"), c.get("code")) for c in codings or [] if c.get("code")]
    results = [exp.contains(s, c) for s, c in pairs]
    if any(r is True for r in results):
        return [True]
    if any(r is None for r in results):
        return []
    return [False]


def _conforms_to(inputs: list[Any], url: str) -> list[bool]:
    env = CURRENT.get()
    if env is None or len(inputs) != 1 or not isinstance(inputs[0], dict):
        return []
    return [env.conforms(inputs[0], url)]


USER_FUNCTIONS: dict[str, dict[str, Any]] = {
    "hasValue": {"fn": _has_value, "arity": {0: []}},
    "resolve": {"fn": _resolve, "arity": {0: []}},
    "memberOf": {"fn": _member_of, "arity": {1: ["String"]}},
    "conformsTo": {"fn": _conforms_to, "arity": {1: ["String"]}},
    "htmlChecks": {"fn": lambda inputs: [True], "arity": {0: []}},
}
_OPTIONS = {"userInvocationTable": USER_FUNCTIONS}


class CompiledExpression:
    """One FHIRPath expression compiled once with the R4 model."""

    __slots__ = ("expression", "fn")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.fn = fhirpathpy.compile(expression, R4_MODEL, _OPTIONS)

    def __call__(self, value: Any, base_path: str, variables: dict[str, Any]) -> list[Any]:
        node: Any = value
        if isinstance(value, dict) and "resourceType" not in value:
            node = ResourceNode.create_node(value, base_path)
        return self.fn(node, variables)


_COMPILED: dict[str, CompiledExpression] = {}


def compiled(expression: str) -> CompiledExpression:
    c = _COMPILED.get(expression)
    if c is None:
        c = _COMPILED[expression] = CompiledExpression(expression)
    return c


# ------------------------------------------------------------------------------------------
# Native equivalents of hot core invariants: fn(value, resource) -> bool


def _codings(cc: Any) -> list[dict[str, Any]]:
    if isinstance(cc, dict):
        return [c for c in cc.get("coding", []) if isinstance(c, dict)]
    return []


def _has_code(cc: Any, system: str, codes: tuple[str, ...]) -> bool:
    return any(c.get("system") == system and c.get("code") in codes for c in _codings(cc))


def _choice_present(obj: dict[str, Any], prefix: str) -> bool:
    n = len(prefix)
    return any(k.startswith(prefix) and len(k) > n and k[n].isupper() for k in obj)


_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _con3(v: dict[str, Any], r: dict[str, Any]) -> bool:
    if "clinicalStatus" in v or _has_code(v.get("verificationStatus"), _VER, ("entered-in-error",)):
        return True
    # category.select($this='problem-list-item').empty(): a CodeableConcept never equals a
    # string, so select() yields false per category and the clause is false whenever a category
    # exists (a known R4 quirk; the HL7 validator reports it the same way, as a warning)
    return not v.get("category")


def _con4(v: dict[str, Any], r: dict[str, Any]) -> bool:
    if not _choice_present(v, "abatement"):
        return True
    return _has_code(v.get("clinicalStatus"), _CLIN, ("resolved", "remission", "inactive"))


def _con5(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return not _has_code(v.get("verificationStatus"), _VER, ("entered-in-error",)) or (
        "clinicalStatus" not in v
    )


def _obs6(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "dataAbsentReason" not in v or not _choice_present(v, "value")


def _obs7(v: dict[str, Any], r: dict[str, Any]) -> bool:
    if not _choice_present(v, "value"):
        return True
    own = {(c.get("system"), c.get("code"), c.get("display"), c.get("version"),
            c.get("userSelected")) for c in _codings(r.get("code"))}
    for comp in v.get("component", []) or []:
        if isinstance(comp, dict):
            for c in _codings(comp.get("code")):
                key = (c.get("system"), c.get("code"), c.get("display"), c.get("version"),
                       c.get("userSelected"))
                if key in own:
                    return False
    return True


def _date_key(s: Any) -> tuple[str, dt.datetime | None] | None:
    if not isinstance(s, str):
        return None
    if "T" in s:
        try:
            return s, dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            return None
    return s, None


def _per1(v: dict[str, Any], r: dict[str, Any]) -> bool:
    a, b = _date_key(v.get("start")), _date_key(v.get("end"))
    if a is None or b is None:
        return True
    if a[1] is not None and b[1] is not None:
        if (a[1].tzinfo is None) != (b[1].tzinfo is None):
            return True
        return a[1] <= b[1]
    n = min(len(a[0].split("T")[0]), len(b[0].split("T")[0]))
    return a[0][:n] <= b[0][:n]


def _qty3(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "code" not in v or "system" in v


def _sqty1(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "comparator" not in v


def _ref1(v: dict[str, Any], r: dict[str, Any]) -> bool:
    ref = v.get("reference")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return True
    ids: list[Any] = []  # FHIRPath flattens a (malformed) list id; a set of them could not hash it
    for c in r.get("contained", []) or []:
        if isinstance(c, dict):
            cid = c.get("id")
            ids.extend(cid if isinstance(cid, list) else [cid])
    return ref[1:] in ids


def _ext1(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return ("extension" in v) != _choice_present(v, "value")


def _dom2(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return not any(isinstance(c, dict) and "contained" in c for c in v.get("contained", []) or [])


def _dom4(v: dict[str, Any], r: dict[str, Any]) -> bool:
    for c in v.get("contained", []) or []:
        m = c.get("meta") if isinstance(c, dict) else None
        if isinstance(m, dict) and ("versionId" in m or "lastUpdated" in m):
            return False
    return True


def _dom5(v: dict[str, Any], r: dict[str, Any]) -> bool:
    for c in v.get("contained", []) or []:
        m = c.get("meta") if isinstance(c, dict) else None
        if isinstance(m, dict) and "security" in m:
            return False
    return True


def _dom3(v: dict[str, Any], r: dict[str, Any]) -> bool:
    contained = v.get("contained") or []
    if not contained:
        return True
    refs: set[str] = set()
    stack: list[Any] = [{k: x for k, x in v.items() if k != "contained"}, contained]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            for k, y in x.items():
                if isinstance(y, str) and y.startswith("#"):
                    refs.add(y)
                elif k != "resourceType":
                    stack.append(y)
        elif isinstance(x, list):
            stack.extend(x)
    if "#" in refs:
        return True
    return all(isinstance(c, dict) and "#" + str(c.get("id")) in refs for c in contained)


def _true(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return True


def _mad1(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "dose" in v or _choice_present(v, "rate")


def _cpl3(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "detail" not in v or "reference" not in v


def _obs3(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "low" in v or "high" in v or "text" in v


def _con1(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "summary" in v or "assessment" in v


def _con2(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "code" in v or "detail" in v


# key -> (exact core expression, native function). ele-1 is enforced structurally (no empty
# values/objects); dom-6 (narrative) is a best-practice warning we deliberately do not report.
NATIVE_SPECS: dict[str, tuple[str, Callable[[dict[str, Any], dict[str, Any]], bool]]] = {
    "ele-1": ("hasValue() or (children().count() > id.count())", _true),
    "ext-1": ("extension.exists() != value.exists()", _ext1),
    "dom-2": ("contained.contained.empty()", _dom2),
    "dom-4": ("contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", _dom4),
    "dom-5": ("contained.meta.security.empty()", _dom5),
    "dom-6": ("text.`div`.exists()", _true),
    "con-1": ("summary.exists() or assessment.exists()", _con1),
    "con-2": ("code.exists() or detail.exists()", _con2),
    "con-4": ("abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()", _con4),  # noqa: E501
    "con-5": ("verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()", _con5),  # noqa: E501
    "obs-3": ("low.exists() or high.exists() or text.exists()", _obs3),
    "obs-6": ("dataAbsentReason.empty() or value.empty()", _obs6),
    "obs-7": ("value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()", _obs7),
    "mad-1": ("dose.exists() or rate.exists()", _mad1),
    "cpl-3": ("detail.empty() or reference.empty()", _cpl3),
    "qty-3": ("code.empty() or system.exists()", _qty3),
    "sqty-1": ("comparator.empty()", _sqty1),
    "per-1": ("start.hasValue().not() or end.hasValue().not() or (start <= end)", _per1),
    "ref-1": ("reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))", _ref1),  # noqa: E501
    "txt-1": ("htmlChecks()", _true),
    "txt-2": ("htmlChecks()", _true),
}
# dom-3 and con-3 have long expressions; match them by key + a distinctive fragment.
NATIVE_FRAGMENTS: dict[str, tuple[str, Callable[[dict[str, Any], dict[str, Any]], bool]]] = {
    "dom-3": ("contained.where((('#'+id in (%resource.descendants().reference", _dom3),
    "con-3": ("clinicalStatus.exists() or verificationStatus.coding.where(", _con3),
}


def native_for(key: str, expression: str) -> Callable[[dict[str, Any], dict[str, Any]], bool] | None:
    spec = NATIVE_SPECS.get(key)
    if spec is not None and spec[0] == expression:
        return spec[1]
    frag = NATIVE_FRAGMENTS.get(key)
    if frag is not None and expression.startswith(frag[0]):
        return frag[1]
    return None


def _bdl5(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "resource" in v or "request" in v or "response" in v


def _bdl8(v: dict[str, Any], r: dict[str, Any]) -> bool:
    fu = v.get("fullUrl")
    return not isinstance(fu, str) or "/_history/" not in fu


def _entries(v: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in v.get("entry", []) or [] if isinstance(e, dict)]


def _bdl1(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return "total" not in v or v.get("type") in ("searchset", "history")


def _bdl2(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return v.get("type") == "searchset" or not any("search" in e for e in _entries(v))


def _bdl3(v: dict[str, Any], r: dict[str, Any]) -> bool:
    want = v.get("type") in ("batch", "transaction", "history")
    return all(("request" in e) == want for e in _entries(v))


def _bdl4(v: dict[str, Any], r: dict[str, Any]) -> bool:
    want = v.get("type") in ("batch-response", "transaction-response", "history")
    return all(("response" in e) == want for e in _entries(v))


def _bdl7(v: dict[str, Any], r: dict[str, Any]) -> bool:
    if v.get("type") == "history":
        return True
    seen: set[tuple[Any, Any]] = set()
    for e in _entries(v):
        if "fullUrl" not in e:
            continue
        res = e.get("resource")
        meta = res.get("meta") if isinstance(res, dict) else None
        key = (e["fullUrl"], meta.get("versionId") if isinstance(meta, dict) else None)
        if key in seen:
            return False
        seen.add(key)
    return True


def _bdl9(v: dict[str, Any], r: dict[str, Any]) -> bool:
    ident = v.get("identifier")
    return v.get("type") != "document" or (
        isinstance(ident, dict) and "system" in ident and "value" in ident)


def _bdl10(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return v.get("type") != "document" or isinstance(v.get("timestamp"), str)


def _first_is(v: dict[str, Any], rt: str) -> bool:
    es = _entries(v)
    res = es[0].get("resource") if es else None
    return isinstance(res, dict) and res.get("resourceType") == rt


def _bdl11(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return v.get("type") != "document" or _first_is(v, "Composition")


def _bdl12(v: dict[str, Any], r: dict[str, Any]) -> bool:
    return v.get("type") != "message" or _first_is(v, "MessageHeader")


_BDL: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {
    "bdl-1": _bdl1, "bdl-2": _bdl2, "bdl-3": _bdl3, "bdl-4": _bdl4, "bdl-5": _bdl5,
    "bdl-7": _bdl7, "bdl-8": _bdl8, "bdl-9": _bdl9, "bdl-10": _bdl10, "bdl-11": _bdl11,
    "bdl-12": _bdl12,
}
_BDL_EXPR = {
    "bdl-1": "total.empty() or (type = 'searchset') or (type = 'history')",
    "bdl-2": "entry.search.empty() or (type = 'searchset')",
    "bdl-3": "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))",  # noqa: E501
    "bdl-4": "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))",  # noqa: E501
    "bdl-5": "resource.exists() or request.exists() or response.exists()",
    "bdl-7": "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
    "bdl-8": "fullUrl.contains('/_history/').not()",
    "bdl-9": "type = 'document' implies (identifier.system.exists() and identifier.value.exists())",
    "bdl-10": "type = 'document' implies (timestamp.hasValue())",
    "bdl-11": "type = 'document' implies entry.first().resource.is(Composition)",
    "bdl-12": "type = 'message' implies entry.first().resource.is(MessageHeader)",
}
# natives that read the resource around the value (not just the value): see ConformanceValidator._memo
# (native -> does it read the resource for this value?)
RESOURCE_NATIVES: dict[Callable[[dict[str, Any], dict[str, Any]], bool],
                       Callable[[dict[str, Any]], bool]] = {
    _obs7: lambda v: True,
    _ref1: lambda v: isinstance(v.get("reference"), str) and v["reference"].startswith("#"),
}

for _k, _fn in _BDL.items():
    NATIVE_SPECS[_k] = (_BDL_EXPR[_k], _fn)


# ------------------------------------------------------------------------------------------
# Compiled existence invariants: `a.exists() or b.exists()`, `extension('url').empty() and ...`
#
# Profiles (ours included) are full of invariants that only test whether elements are present.
# They are compiled into a Python function instead of being interpreted by fhirpathpy for every
# resource (for MedicationAdministration that was most of the FHIRPath time). The function returns
# None - "ask fhirpathpy" - for any input it is not sure about (a primitive carried only by its
# `_name` extension object), so the verdict is always fhirpathpy's; a test compares both.

SimpleCheck = Callable[[dict[str, Any]], bool | None]

_TERM = re.compile(
    r"^(?:(?P<name>[a-z][A-Za-z0-9]*)|extension\('(?P<url>[^'\\]+)'\))\.(?P<op>exists|empty)\(\)$"
)


def _present(obj: dict[str, Any], name: str, choice: bool) -> bool | None:
    if "_" + name in obj:
        return None
    if choice:
        n = len(name)
        return any(k[:n] == name and len(k) > n and k[n].isupper() and k[0] != "_"
                   and obj[k] not in (None, [], {}) for k in obj)
    return obj.get(name) not in (None, [], {})


def _has_extension(obj: dict[str, Any], url: str) -> bool | None:
    exts = obj.get("extension")
    if exts is None:
        return False
    if type(exts) is not list or not all(type(e) is dict and "url" in e for e in exts):
        return None
    return any(e["url"] == url for e in exts)


def _term(text: str, base_path: str) -> SimpleCheck | None:
    m = _TERM.match(text.strip())
    if m is None:
        return None
    want = m["op"] == "exists"
    if m["url"] is not None:
        url = m["url"]

        def ext_check(obj: dict[str, Any]) -> bool | None:
            hit = _has_extension(obj, url)
            return None if hit is None else hit == want
        return ext_check
    name = m["name"]
    if name in ("extension", "modifierExtension", "id", "value"):
        return None  # these carry special meaning in the FHIRPath model; leave them to fhirpathpy
    choice = f"{base_path}.{name}" in R4_MODEL["choiceTypePaths"]

    def check(obj: dict[str, Any]) -> bool | None:
        hit = _present(obj, name, choice)
        return None if hit is None else hit == want
    return check


def _entry_resources(bundle: dict[str, Any]) -> list[dict[str, Any]] | None:
    """entry.resource of a well-shaped bundle; None (ask fhirpathpy) for any other shape."""
    entries = bundle.get("entry", [])
    if type(entries) is not list:
        return None
    out = []
    for e in entries:
        if type(e) is not dict:
            return None
        r = e.get("resource")
        if r is None:
            continue
        if type(r) is not dict:
            return None
        out.append(r)
    return out


def _one_patient(bundle: dict[str, Any]) -> bool | None:
    resources = _entry_resources(bundle)
    if resources is None:
        return None
    return sum(1 for r in resources if r.get("resourceType") == "Patient") == 1


def _all_profiled(bundle: dict[str, Any]) -> bool | None:
    resources = _entry_resources(bundle)
    if resources is None:
        return None
    for r in resources:
        meta = r.get("meta")
        if meta is None:
            return False
        if type(meta) is not dict or type(meta.get("profile", [])) is not list:
            return None
        if not meta.get("profile"):
            return False
    return True


def _absent(obj: dict[str, Any], name: str) -> bool | None:
    """name.empty() for a non-primitive element; None (ask fhirpathpy) for an unusual value."""
    if "_" + name in obj:
        return None
    v = obj.get(name, _MISSING)
    if v is _MISSING:
        return True
    if (type(v) is dict or type(v) is list) and v:
        return False
    return None


_MISSING = object()


def _mrd_range(obs: dict[str, Any]) -> bool | None:
    """onco-mrd-range: `value.ofType(Quantity).value.empty() or (value.ofType(Quantity).value >= 0
    and value.ofType(Quantity).value <= 100)` on an Observation."""
    if "_valueQuantity" in obs:
        return None
    q = obs.get("valueQuantity", _MISSING)
    if q is _MISSING:
        return True
    if type(q) is not dict or "_value" in q:
        return None
    v = q.get("value", _MISSING)
    if v is _MISSING:
        return True
    if type(v) is not int and type(v) is not float:
        return None
    return 0 <= v <= 100


_GRADE_URL = "http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade"
_GRADE_ZERO = {("http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system", "0"),
               ("http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "C75533")}


def _ae_grade_zero(ae: dict[str, Any]) -> bool | None:
    """onco-ae-grade-zero: a CTCAE grade 0 (either coding) implies no seriousness, no suspectEntity."""
    exts = ae.get("extension", _MISSING)
    if exts is _MISSING:
        return True
    if type(exts) is not list or "_extension" in ae:
        return None
    zero = False
    for e in exts:
        if type(e) is not dict or type(e.get("url")) is not str:
            return None
        if e["url"] != _GRADE_URL:
            continue
        values = [k for k in e if k.startswith("value") or k.startswith("_value")]
        if not values:
            continue
        if values != ["valueCodeableConcept"]:
            return None
        cc = e["valueCodeableConcept"]
        if type(cc) is not dict or "_coding" in cc:
            return None
        codings = cc.get("coding", [])
        if type(codings) is not list:
            return None
        for c in codings:
            if type(c) is not dict or "_system" in c or "_code" in c:
                return None
            system, code = c.get("system"), c.get("code")
            if (system is not None and type(system) is not str) or (code is not None and type(code) is not str):
                return None
            if (system, code) in _GRADE_ZERO:
                zero = True
    if not zero:
        return True
    seriousness, suspects = _absent(ae, "seriousness"), _absent(ae, "suspectEntity")
    if seriousness is None or suspects is None:
        return None
    return seriousness and suspects


# Our own invariants over whole bundles (profiles/input/fsh/profiles.fsh): fhirpathpy builds a node
# for every element of the bundle to answer them. Exact expression -> function; a test compares.
OWN_CHECKS: dict[str, SimpleCheck] = {
    "entry.resource.ofType(Patient).count() = 1": _one_patient,
    "entry.resource.all(meta.profile.exists())": _all_profiled,
}
# Our own invariants on single resources that fhirpathpy evaluated for every one of them (their
# values contain per-patient references or numbers, so its result cache rarely hit):
# (exact expression, base path) -> function answering None when unsure; a test compares.
OWN_RESOURCE_CHECKS: dict[tuple[str, str], SimpleCheck] = {
    ("value.ofType(Quantity).value.empty() or (value.ofType(Quantity).value >= 0 and "
     "value.ofType(Quantity).value <= 100)", "Observation"): _mrd_range,
    ("extension('http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade').value.coding.where("
     "(system = 'http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system' and code = '0') or "
     "(system = 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl' and code = 'C75533')).exists() "
     "implies (seriousness.empty() and suspectEntity.empty())", "AdverseEvent"): _ae_grade_zero,
}


def simple_for(expression: str, base_path: str) -> SimpleCheck | None:
    """A compiled function for an and-only or or-only chain of existence tests, else None."""
    text = expression.strip()
    if text in OWN_CHECKS and base_path == "Bundle":
        return OWN_CHECKS[text]
    own = OWN_RESOURCE_CHECKS.get((text, base_path))
    if own is not None:
        return own
    if "(" in text.replace(".exists()", "").replace(".empty()", "").replace("extension('", ""):
        return None
    for joiner in (" or ", " and "):
        parts = text.split(joiner)
        other = " and " if joiner == " or " else " or "
        if any(other in p for p in parts):
            continue
        terms = [_term(p, base_path) for p in parts]
        if any(t is None for t in terms):
            return None
        return _combine([t for t in terms if t is not None], any_mode=joiner == " or ")
    return None


def _combine(checks: list[SimpleCheck], *, any_mode: bool) -> SimpleCheck:
    def combined(obj: dict[str, Any]) -> bool | None:
        results = [c(obj) for c in checks]
        if None in results:
            return None
        return any(results) if any_mode else all(results)
    return combined
