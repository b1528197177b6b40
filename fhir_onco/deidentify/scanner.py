"""`deidentify --check`: scan output for anything identifying before it leaves.

Independent of the transformer on purpose: it reads the files as a recipient would and looks for
names, exact birth dates, free text, phone / e-mail / passport / SNILS / policy-number patterns and,
given the source, the original identifiers, resource ids and birth dates. Findings name the file,
resource and element and what kind of leak it is - never the value itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_onco.documents import DocumentError, iter_ndjson, load_document
from fhir_onco.fhir import urls

from .dates import FHIR_DATE
from .policy import Policy, load_policy
from .terms import KnownTerms
from .transform import FREE_TEXT_KEYS, PERSON_ELEMENTS, PERSON_TYPES

Json = dict[str, Any]

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("e-mail address", re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]*[A-Za-z]")),
    ("SNILS", re.compile(r"(?<!\d)\d{3}-\d{3}-\d{3}[ -]\d{2}(?!\d)|(?<![\d-])\d{11}(?![\d-])")),
    ("phone number", re.compile(
        r"(?<![\w-])(?:\+7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?![\w-])"
        r"|(?<![\w-])\+\d{1,3}[\s(.-]*\d{2,4}[\s).-]*\d{3}[\s.-]*\d{2,4}(?:[\s.-]*\d{2})?(?![\w-])")),
    ("passport number", re.compile(r"(?<![\w-])\d{2}\s?\d{2}\s?№?\s?\d{6}(?![\w-])")),
    ("policy number", re.compile(r"(?<![\w-])\d{16}(?![\w-])|(?<![\w-])\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}(?![\w-])")),
    ("social security number", re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")),
)
# Elements that hold codes, ids and URLs: pattern checks there would only find UUID fragments.
STRUCTURAL_KEYS = frozenset({"id", "reference", "fullUrl", "url", "system", "code", "profile", "version",
                             "resourceType", "status", "valueCode", "unit"})
SCAN_SUFFIXES = (".json", ".ndjson", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Leak:
    location: str
    kind: str

    def to_text(self) -> str:
        return f"LEAK {self.location}: {self.kind}"


@dataclass(slots=True)
class SourceSecrets:
    """What the source knew that must not reappear: identifiers, resource ids, birth dates."""

    identifiers: set[str] = field(default_factory=set)
    resource_ids: set[str] = field(default_factory=set)
    birth_dates: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)

    def add_resource(self, resource: Json) -> None:
        if isinstance(resource.get("id"), str):
            self.resource_ids.add(resource["id"])
        for ident in resource.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") != urls.LOCAL_ID_SYSTEM and ident.get("value"):
                self.identifiers.add(str(ident["value"]))
        requester = resource.get("requester")  # a prescriber's logical reference (MedicationRequest)
        logical = requester.get("identifier") if isinstance(requester, dict) else None
        if isinstance(logical, dict) and logical.get("value"):
            self.identifiers.add(str(logical["value"]))
        if resource.get("resourceType") == "Patient":
            birth = resource.get("birthDate")
            if isinstance(birth, str) and len(birth) == 10:
                y, m, d = birth.split("-")
                self.birth_dates |= {birth, f"{d}.{m}.{y}"}
            for name in resource.get("name") or []:
                for part in [name.get("family"), *(name.get("given") or []), name.get("text")]:
                    if isinstance(part, str) and len(part) >= 2:
                        self.names.add(part.casefold())


def source_secrets(paths: list[Path]) -> SourceSecrets:
    """Collect secrets from the original inputs (case files are mapped to FHIR to find them)."""
    from .run import input_files

    secrets = SourceSecrets()
    for path in input_files(paths):
        for _, resource in _resources(path):
            if isinstance(resource, DocumentError):
                raise resource  # a source we cannot read would make the check look cleaner than it is
            secrets.add_resource(resource)
    return secrets


def _resources(path: Path) -> Iterator[tuple[str, Json | DocumentError]]:
    """(location, resource) for every resource in a JSON or NDJSON file, bundles unpacked.

    A case file (YAML, or JSON without resourceType) is mapped to FHIR first, so it is checked for
    the same things. A document (or NDJSON line) that cannot be read comes as its DocumentError.
    """
    if path.suffix in (".yaml", ".yml"):
        yield from _case_resources(path)
        return
    if path.suffix == ".ndjson":
        try:
            for lineno, item in iter_ndjson(path):
                if isinstance(item, dict | DocumentError):
                    yield f"{path}:{lineno}", item
        except DocumentError as exc:
            yield str(path), exc
        return
    try:
        data = load_document(path)
    except DocumentError as exc:
        yield str(path), exc
        return
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        for i, entry in enumerate(data.get("entry") or []):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield f"{path}: entry[{i}]", entry["resource"]
    elif isinstance(data, dict) and "resourceType" in data:
        yield str(path), data
    elif isinstance(data, dict):
        yield from _case_resources(path)


def _case_resources(path: Path) -> Iterator[tuple[str, Json]]:
    from fhir_onco.pipeline import map_file

    bundle = map_file(path, validate=False, allow_text_only=True).bundle or {}
    for i, entry in enumerate(bundle.get("entry") or []):
        yield f"{path}: case as FHIR entry[{i}]", entry["resource"]


class Scanner:
    def __init__(self, policy: Policy | None = None, secrets: SourceSecrets | None = None):
        self.policy = policy or load_policy(None)
        self.secrets = secrets or SourceSecrets()
        self.known = KnownTerms()
        self._keep_ext = frozenset(self.policy.free_text.keep_extensions)
        self._keep_paths = frozenset(self.policy.free_text.keep_paths)
        self._keep_values = {p: frozenset(v) for p, v in self.policy.free_text.keep_values.items()}

    def scan_paths(self, paths: list[Path]) -> list[Leak]:
        leaks: list[Leak] = []
        for root in paths:
            files = sorted(p for p in root.rglob("*") if p.suffix in SCAN_SUFFIXES) if root.is_dir() else [root]
            for path in files:
                for location, resource in _resources(path):
                    if isinstance(resource, DocumentError):
                        leaks.append(Leak(location, "not readable, so not checked"))
                    else:
                        leaks += self.scan_resource(resource, location)
        return leaks

    def scan_resource(self, resource: Json, location: str) -> list[Leak]:
        rtype = str(resource.get("resourceType", "?"))
        where = f"{location}: {rtype}/{resource.get('id', '?')}"
        leaks: list[Leak] = []
        if rtype in PERSON_TYPES:
            for element in PERSON_ELEMENTS:
                if element == "address" and all(set(a) <= {"state", "country"} for a in resource.get(element) or []):
                    continue
                if resource.get(element):
                    leaks.append(Leak(f"{where} {rtype}.{element}", f"{element} of a person"))
        birth = resource.get("birthDate")
        if rtype == "Patient" and isinstance(birth, str) and len(birth) >= 10:
            leaks.append(Leak(f"{where} Patient.birthDate", "exact date of birth"))
        if isinstance(resource.get("text"), dict):
            leaks.append(Leak(f"{where} {rtype}.text", "free text (narrative)"))
        if resource.get("id") in self.secrets.resource_ids:
            leaks.append(Leak(f"{where} {rtype}.id", "original resource id"))
        self._walk(resource, rtype, "", where, leaks)
        return leaks

    def _walk(self, obj: Any, path: str, ext: str, where: str, leaks: list[Leak]) -> None:
        if isinstance(obj, list):
            for item in obj:
                self._walk(item, path, ext, where, leaks)
            return
        if not isinstance(obj, dict):
            return
        url = obj.get("url") if isinstance(obj.get("url"), str) and path.endswith("xtension") else None
        ext_here = (f"{ext}#{url}" if ext else url) if url else ext
        if "family" in obj or "given" in obj:
            leaks.append(Leak(f"{where} {path}", "a person's name"))
        for key, value in obj.items():
            child = f"{path}.{key}"
            if isinstance(value, str):
                self._string(obj, key, value, child, ext_here or "", where, leaks)
            elif key in ("note", "valueAnnotation") and child not in self._keep_paths:
                leaks.append(Leak(f"{where} {child}", "free text (note)"))
            else:
                self._walk(value, child, ext_here or "", where, leaks)

    def _string(self, obj: Json, key: str, value: str, path: str, ext: str, where: str, leaks: list[Leak]) -> None:
        at = f"{where} {path}"
        s = self.secrets
        if key == "reference":
            rid = value.rsplit("/", 1)[-1].removeprefix("uuid:")
            if rid in s.resource_ids:
                leaks.append(Leak(at, "reference to an original resource id"))
            return
        if value in s.identifiers or (len(value) >= 6 and any(i in value for i in s.identifiers if len(i) >= 6)):
            leaks.append(Leak(at, "original identifier"))
        if value in s.birth_dates or any(b in value for b in s.birth_dates):
            leaks.append(Leak(at, "original date of birth"))
        if s.names and any(n in value.casefold() for n in s.names):
            leaks.append(Leak(at, "a name from the source"))
        if key in STRUCTURAL_KEYS or FHIR_DATE.match(value):
            return
        for kind, pattern in PATTERNS:
            if pattern.search(value):
                leaks.append(Leak(at, f"{kind} pattern"))
        if self._is_free_text(obj, key, value, path, ext):
            leaks.append(Leak(at, "free text"))

    def _is_free_text(self, obj: Json, key: str, value: str, path: str, ext: str) -> bool:
        if path in self._keep_paths or value in self._keep_values.get(path, ()):
            return False
        if key == "display":
            return "reference" in obj
        if key == "text":
            return value not in self.known and not self.known.names_coding(value, obj.get("coding") or [])
        if key == "valueString":
            if ext.endswith(urls.EXT_SOURCE_DATE):
                return False
            return ext not in self._keep_ext
        return key in FREE_TEXT_KEYS
