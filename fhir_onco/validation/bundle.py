"""Bundle integrity: unique fullUrls, a request on every transaction entry, references resolve."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_onco.validation.report import Report

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
    entries = bundle.get("entry") or []
    needs_request = bundle.get("type") in _BUNDLE_TYPES_WITH_REQUEST
    full_urls: dict[str, int] = {}
    by_type_id: set[str] = set()
    for i, entry in enumerate(entries):
        loc = f"{where}.entry[{i}]"
        resource = entry.get("resource") or {}
        rtype, rid = resource.get("resourceType"), resource.get("id")
        full_url = entry.get("fullUrl")
        if not full_url:
            report.error(loc, "entry has no fullUrl", rule="bundle.fullUrl")
        elif full_url in full_urls:
            report.error(f"{loc}.fullUrl", f"duplicate fullUrl {full_url!r} (also entry[{full_urls[full_url]}])",
                         rule="bundle.fullUrl-unique")
        else:
            full_urls[full_url] = i
        if rtype and rid:
            by_type_id.add(f"{rtype}/{rid}")
        request = entry.get("request")
        if needs_request:
            if not request or not request.get("method") or not request.get("url"):
                report.error(f"{loc}.request", "a transaction entry needs request.method and request.url",
                             rule="bundle.request")
            elif request["method"] == "PUT" and request["url"] != f"{rtype}/{rid}":
                report.error(f"{loc}.request.url", f"PUT url {request['url']!r} does not match {rtype}/{rid}",
                             rule="bundle.request-url")
    for i, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        contained = {f"#{c.get('id')}" for c in resource.get("contained", [])}

        def resolves(ref: str, contained: set[str] = contained) -> bool:
            if ref.startswith("#"):
                return ref in contained
            if ref.startswith("urn:"):
                return ref in full_urls
            return ref in by_type_id or _relative(ref) in by_type_id or ref in full_urls

        # locations are built only for an entry with an unresolved reference: building a path
        # string for every element of every resource cost more than the check itself
        if all(resolves(ref) for ref in _references(resource)):
            continue
        for path, ref in iter_references(resource, f"{where}.entry[{i}].resource"):
            if not resolves(ref):
                report.error(path, f"reference {ref!r} does not resolve inside the bundle",
                             rule="bundle.reference-resolves", code="not-found")
    return report


def _references(resource: Any) -> Iterator[str]:
    """Every Reference.reference string below resource (as iter_references, without locations)."""
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
