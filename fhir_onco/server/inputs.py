"""Turn input files (case YAML/JSON or FHIR bundle JSON) into one transaction Bundle per patient.

A pushable bundle is a ``transaction`` (or ``batch``/``collection``, converted) whose entries all
carry a resource with an id; every entry becomes ``PUT Type/id``. That is what makes a push
idempotent and a replay harmless: the same data always lands on the same ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

CASE_SUFFIXES = (".yaml", ".yml")
INPUT_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass
class PatientBundle:
    """One patient's transaction bundle and where it came from."""

    key: str  # our Patient resource id
    bundle: dict[str, Any]
    source: str

    @property
    def resources(self) -> list[dict[str, Any]]:
        return [e["resource"] for e in self.bundle.get("entry") or []]


def _ref(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def normalize_bundle(bundle: Any, source: str) -> dict[str, Any]:
    """Check a bundle and return it as a transaction of ``PUT Type/id`` entries."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError(f"{source}: not a FHIR Bundle")
    if bundle.get("type") not in ("transaction", "batch", "collection"):
        raise InputError(f"{source}: Bundle.type {bundle.get('type')!r}; expected transaction, batch or collection")
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, e in enumerate(bundle.get("entry") or []):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict) or not res.get("resourceType") or not res.get("id"):
            raise InputError(f"{source}: entry {i} has no resource with a resourceType and id")
        ref = _ref(res)
        req = e.get("request") or {}
        method = str(req.get("method", "PUT")).upper()
        url = str(req.get("url", ref))
        if method != "PUT" or url.split("?")[0] != ref or "?" in url:
            raise InputError(
                f"{source}: entry {i} is {method} {url}; fhir-onco pushes 'PUT Type/id' entries "
                "only (deterministic ids make re-pushes idempotent)"
            )
        if ref in seen:
            raise InputError(f"{source}: {ref} appears twice")
        seen.add(ref)
        entries.append({"fullUrl": ref, "resource": res, "request": {"method": "PUT", "url": ref}})
    if not entries:
        raise InputError(f"{source}: the bundle has no entries")
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def patient_key(bundle: Mapping[str, Any], source: str) -> str:
    """Our id of the bundle's Patient (exactly one Patient per bundle)."""
    patients = [
        e["resource"]["id"] for e in bundle.get("entry") or [] if e["resource"].get("resourceType") == "Patient"
    ]
    if len(patients) != 1:
        raise InputError(f"{source}: expected exactly one Patient per bundle, found {len(patients)}")
    return str(patients[0])


def from_bundle(bundle: Any, source: str) -> PatientBundle:
    tx = normalize_bundle(bundle, source)
    return PatientBundle(patient_key(tx, source), tx, source)


def _map_case_file(path: Path) -> dict[str, Any]:
    try:
        from fhir_onco import load_case, map_case
    except ImportError as e:
        raise InputError(f"{path}: case files need fhir_onco.load_case/map_case, which this build lacks") from e
    try:
        return dict(map_case(load_case(path)))
    except InputError:
        raise
    except Exception as e:  # the mapper's own errors: report, don't crash the whole run
        raise InputError(f"{path}: cannot map the case: {type(e).__name__}: {e}") from e


def load_input(path: Path) -> PatientBundle:
    """Load one file: a FHIR Bundle JSON, or a case file (YAML, or JSON without resourceType)."""
    source = str(path)
    if path.suffix.lower() in CASE_SUFFIXES:
        return from_bundle(_map_case_file(path), source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{source}: cannot read: {e.strerror}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{source}: not valid JSON ({type(e).__name__})") from e
    if isinstance(data, dict) and "resourceType" in data:
        return from_bundle(data, source)
    return from_bundle(_map_case_file(path), source)


def expand_inputs(paths: Iterable[Path], exclude: Iterable[Path] = ()) -> list[Path]:
    """Files named directly, plus ``*.json``/``*.yaml``/``*.yml`` under named directories."""
    skip = {p.resolve() for p in exclude}
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES and f.resolve() not in skip:
                    out.append(f)
        else:
            out.append(p)
    return out
