"""Bundle integrity: unique fullUrls, a request on every transaction entry, references resolve."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from fhir_onco.validation.report import Report

try:
    import orjson
except ImportError:  # pragma: no cover - a declared dependency
    orjson = None  # type: ignore[assignment]

_scanstring = json.decoder.scanstring
_REF_KEY = '"reference":"'

_BUNDLE_TYPES_WITH_REQUEST = {"transaction", "batch"}


def iter_references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield (FHIRPath-like location, reference string) for every Reference.reference below node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield path, value
            elif key != "contained":
                yield from iter_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from iter_references(item, f"{path}[{i}]")


def check_bundle(bundle: dict[str, Any], source: str, report: Report | None = None) -> Report:
    report = report if report is not None else Report()
    where = f"{source}: Bundle"
    if bundle.get("resourceType") != "Bundle":
        report.error(where, "expected a Bundle resource", rule="bundle.type", code="structure")
        return report
    entries = well_formed_entries(bundle, source, report)
    needs_request = bundle.get("type") in _BUNDLE_TYPES_WITH_REQUEST
    full_urls: dict[str, int] = {}
    by_type_id: set[str] = set()
    for i, entry in entries:
        # locations are formatted only for a finding: per entry they cost more than the checks
        resource = entry.get("resource") or {}
        rtype, rid = resource.get("resourceType"), resource.get("id")
        own = f"{rtype}/{rid}"
        full_url = entry.get("fullUrl")
        if not full_url:
            report.error(f"{where}.entry[{i}]", "entry has no fullUrl", rule="bundle.fullUrl")
        elif full_url in full_urls:
            report.error(f"{where}.entry[{i}].fullUrl",
                         f"duplicate fullUrl {full_url!r} (also entry[{full_urls[full_url]}])",
                         rule="bundle.fullUrl-unique")
        else:
            full_urls[full_url] = i
        if rtype and rid:
            by_type_id.add(own)
        request = entry.get("request")
        if needs_request:
            if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
                report.error(f"{where}.entry[{i}].request",
                             "a transaction entry needs request.method and request.url", rule="bundle.request")
            elif request["method"] == "PUT" and request["url"] != own:
                report.error(f"{where}.entry[{i}].request.url",
                             f"PUT url {request['url']!r} does not match {rtype}/{rid}", rule="bundle.request-url")
    for i, entry in entries:
        resource = entry.get("resource") or {}
        contained = ({f"#{c.get('id')}" for c in resource.get("contained") or [] if isinstance(c, dict)}
                     if resource.get("contained") else _NO_IDS)
        # locations are built only for an entry with an unresolved reference: building a path
        # string for every element of every resource cost more than the check itself
        if all(_resolves(ref, contained, full_urls, by_type_id) for ref in _references(resource)):
            continue
        for path, ref in iter_references(resource, f"{where}.entry[{i}].resource"):
            if not _resolves(ref, contained, full_urls, by_type_id):
                report.error(path, f"reference {ref!r} does not resolve inside the bundle",
                             rule="bundle.reference-resolves", code="not-found")
    return report


_NO_IDS: frozenset[str] = frozenset()


def _resolves(ref: str, contained: Collection[str], full_urls: dict[str, int], by_type_id: set[str]) -> bool:
    if ref.startswith("#"):
        return ref in contained
    if ref.startswith("urn:"):
        return ref in full_urls
    return ref in by_type_id or _relative(ref) in by_type_id or ref in full_urls


def well_formed_entries(bundle: dict[str, Any], source: str,
                        report: Report | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(index, entry) of the entries shaped as FHIR says (an object whose resource, if any, is an
    object); every other shape is reported, located, instead of breaking the checks after it."""
    where = f"{source}: Bundle"
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        if report is not None:
            report.error(f"{where}.entry", f"entry must be a JSON array, got {_kind(entries)}",
                         rule="bundle.shape", code="structure")
        return []
    out: list[tuple[int, dict[str, Any]]] = []
    for i, entry in enumerate(entries):
        problem = None
        if not isinstance(entry, dict):
            problem = (f"{where}.entry[{i}]", f"an entry must be a JSON object, got {_kind(entry)}")
        elif entry.get("resource") is not None and not isinstance(entry["resource"], dict):
            problem = (f"{where}.entry[{i}].resource",
                       f"a resource must be a JSON object, got {_kind(entry['resource'])}")
        if problem is None:
            out.append((i, entry))
        elif report is not None:
            report.error(*problem, rule="bundle.shape", code="structure")
    return out


def _kind(value: Any) -> str:
    """The JSON type of a value, never the value itself (it may hold patient data)."""
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number")


def _references(resource: Any) -> Iterable[str]:
    """Every Reference.reference string below resource (as iter_references, without locations).

    Read from the resource's compact JSON (orjson, C) where that is exact: inside a JSON string
    every quote is escaped, so `"reference":"` right after `{` or `,` is a key named reference with
    a string value, at any depth. Anything unusual (a `contained` key, which the walk skips, a
    match not preceded by `{`/`,`, a value orjson refuses) takes the walk below."""
    if orjson is not None and type(resource) is dict:
        try:
            text = orjson.dumps(resource).decode("utf-8")
        except (TypeError, ValueError):
            text = None
        if text is not None and '"contained":' not in text:
            out: list[str] = []
            at = text.find(_REF_KEY)
            while at > 0 and text[at - 1] in "{,":
                ref, end = _scanstring(text, at + len(_REF_KEY))
                out.append(ref)
                at = text.find(_REF_KEY, end)
            if at < 0:
                return out
    return _walk_references(resource)


def _walk_references(resource: Any) -> Iterator[str]:
    stack = [resource]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            for key, value in node.items():
                if key == "reference" and type(value) is str:
                    yield value
                elif key != "contained" and type(value) in (dict, list):
                    stack.append(value)
        elif type(node) is list:
            stack.extend(node)


def _relative(ref: str) -> str:
    """'http://x/fhir/Patient/1/_history/2' -> 'Patient/1'."""
    parts = ref.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])
