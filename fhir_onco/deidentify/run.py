"""Files in, de-identified files out: case files, FHIR bundles or resources, and NDJSON.

Inputs are read one file (NDJSON: one line) at a time and written as they come, so memory stays
flat in the number of patients (the k-anonymity summary keeps four short strings per patient).
Output goes to a staging folder first and is moved into place only when the whole delivery passed:
a run that fails the policy's minimum k leaves nothing behind to be sent by mistake.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fhir_onco.documents import DocumentError, iter_ndjson, load_document
from fhir_onco.fhir.builders import dumps
from fhir_onco.files import write_private_text
from fhir_onco.mappings.reverse import ReverseMappingError
from fhir_onco.pipeline import NdjsonWriter, map_file
from fhir_onco.validation import validate_bundle
from fhir_onco.validation.report import Report

from .keys import load_key
from .policy import Policy, load_policy
from .reid import ReidTable
from .transform import GENERALISATION_LEVELS, GENERALISE_BIRTH_YEAR, Deidentifier, DeidentifyError, DeidReport

Json = dict[str, Any]
OutputFormat = Literal["bundle", "ndjson", "cases"]
INPUT_SUFFIXES = (".yaml", ".yml", ".json", ".ndjson")


@dataclass(slots=True)
class KAnonymity:
    """Groups of patients sharing every quasi-identifier, after de-identification."""

    quasi_identifiers: list[str]
    min_k: int
    group_sizes: list[int] = field(default_factory=list)

    @property
    def smallest(self) -> int:
        return min(self.group_sizes, default=0)

    @property
    def ok(self) -> bool:
        return not self.group_sizes or self.smallest >= self.min_k

    @property
    def patients_below_k(self) -> int:
        return sum(n for n in self.group_sizes if n < self.min_k)

    def to_json(self) -> Json:
        return {"quasi_identifiers": self.quasi_identifiers, "min_k": self.min_k, "groups": len(self.group_sizes),
                "smallest_group": self.smallest, "patients_in_groups_below_min_k": self.patients_below_k,
                "ok": self.ok}


def k_anonymity(report: DeidReport, policy: Policy) -> KAnonymity:
    qis = list(policy.k_anonymity.quasi_identifiers)
    groups = Counter(tuple(qi[q] for q in qis) for qi in report.quasi.values())
    return KAnonymity(qis, policy.k_anonymity.min_k, sorted(groups.values()))


@dataclass(slots=True)
class RunResult:
    """The report of one delivery: actions, k-anonymity, located issues, files written."""

    report: DeidReport
    k: KAnonymity
    policy: Policy
    written: list[Path] = field(default_factory=list)

    @property
    def issues(self) -> Report:
        return self.report.issues

    @property
    def ok(self) -> bool:
        return self.report.issues.ok and self.k.ok

    def to_json(self) -> Json:
        return {
            "policy": self.policy.name,
            "patients": self.report.patients,
            "resources": self.report.resources,
            "actions": dict(sorted(self.report.counts.items())),
            "generalisation": GENERALISATION_LEVELS[self.report.generalisation],
            "k_anonymity": self.k.to_json(),
            "outcome": self.report.issues.to_operation_outcome(),
        }

    def to_text(self) -> str:
        lines = [f"policy: {self.policy.name}",
                 f"patients: {self.report.patients}, resources: {self.report.resources}"]
        lines += [f"  {name}: {n}" for name, n in sorted(self.report.counts.items())
                  if not name.startswith("resources ")]
        lines.append(f"generalisation: {GENERALISATION_LEVELS[self.report.generalisation]}")
        k = self.k
        lines.append(f"k-anonymity over {', '.join(k.quasi_identifiers)}: {len(k.group_sizes)} groups, smallest "
                     f"{k.smallest} (policy min k {k.min_k}){'' if k.ok else ' - NOT MET'}")
        return "\n".join(lines)


# ---- library entry points ---------------------------------------------------------------------
def deidentify_bundle(bundle: Json, *, policy: Policy | None = None, key: bytes | None = None,
                      deidentifier: Deidentifier | None = None, source: str = "<bundle>") -> Json:
    """One de-identified bundle; raises DeidentifyError with every located problem."""
    deid = _deidentifier(deidentifier, policy, key)
    return _or_raise(deid, lambda: deid.bundle(bundle, source))


def deidentify_resource(resource: Json, *, policy: Policy | None = None, key: bytes | None = None,
                        deidentifier: Deidentifier | None = None, source: str = "<resource>") -> Json:
    """One de-identified resource; raises DeidentifyError with every located problem."""
    deid = _deidentifier(deidentifier, policy, key)
    return _or_raise(deid, lambda: deid.resource(resource, source))


def _deidentifier(given: Deidentifier | None, policy: Policy | None, key: bytes | None) -> Deidentifier:
    return given or Deidentifier(policy or load_policy(None), key if key is not None else load_key())


def _or_raise(deid: Deidentifier, run: Callable[[], Json | None]) -> Json:
    """The result of ``run``, or DeidentifyError with the errors it added to the report."""
    before = len(deid.report.issues.errors)
    out = run()
    if out is None:
        raise DeidentifyError("\n".join(i.to_text() for i in deid.report.issues.errors[before:]))
    return out


def input_files(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in INPUT_SUFFIXES)
        else:
            files.append(path)
    return files


def _json_items(path: Path, issues: Report) -> Iterator[tuple[str, Json]]:
    """(kind, item) for one input file: kind is 'bundle', 'resource' or 'case' (read by the caller).

    Documents go through fhir_onco.documents, so a file gets the same verdict here as in `map`.
    """
    source = str(path)
    if path.suffix in (".yaml", ".yml"):
        yield "case", {}
        return
    try:
        if path.suffix == ".ndjson":
            for lineno, item in iter_ndjson(path):
                if isinstance(item, DocumentError):
                    _document_issues(item, issues)
                elif not isinstance(item, dict) or "resourceType" not in item:
                    issues.error(f"{source}:{lineno}", "not a FHIR resource (no resourceType)", rule="input")
                else:
                    yield "resource", item
            return
        data = load_document(path)
    except DocumentError as exc:
        _document_issues(exc, issues)
        return
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        yield "bundle", data
    elif isinstance(data, dict) and "resourceType" in data:
        yield "resource", data
    elif isinstance(data, dict) and "patient" in data:
        yield "case", {}
    else:
        issues.error(source, "neither a FHIR Bundle or resource nor a case file", rule="input")


def _document_issues(exc: DocumentError, issues: Report) -> None:
    for location, message in exc.issues:
        issues.error(f"{exc.source}: {location}", message, rule="input")


class _Output:
    def __init__(self, directory: Path, fmt: OutputFormat):
        self.directory = directory
        self.fmt = fmt
        self._ndjson: NdjsonWriter | None = None
        self.files: set[Path] = set()

    @property
    def ndjson(self) -> NdjsonWriter:
        if self._ndjson is None:
            self._ndjson = NdjsonWriter(self.directory)
        return self._ndjson

    def bundle(self, bundle: Json) -> None:
        if self.fmt == "ndjson":
            self.ndjson.write_bundle(bundle)
            return
        if self.fmt == "cases":
            from fhir_onco.case import dump_case
            from fhir_onco.mappings.reverse import read_bundle

            # read back like `pull` does; mapping this case again derives ids from the pseudonym
            path = self.directory / f"{bundle['id']}.yaml"
            write_private_text(path, dump_case(read_bundle(bundle).case))
            self.files.add(path)
            return
        path = self.directory / f"{bundle['id']}.json"
        write_private_text(path, dumps(bundle))
        self.files.add(path)

    def resource(self, resource: Json, streamed: bool) -> None:
        if self.fmt == "ndjson" or streamed:
            self.ndjson.write(resource)
            return
        path = self.directory / f"{resource['resourceType']}-{resource['id']}.json"
        write_private_text(path, dumps(resource))
        self.files.add(path)

    def close(self) -> list[Path]:
        if self._ndjson is not None:
            self.files |= {self.directory / f"{t}.ndjson" for t in self._ndjson.counts}
            self._ndjson.close()
        return sorted(self.files)


def _one_pass(files: list[Path], staging: Path, policy: Policy, key: bytes, fmt: OutputFormat, level: int,
              reid_path: Path | None, validate: bool, allow_text_only: bool) -> tuple[DeidReport, list[Path]]:
    reid = ReidTable(reid_path) if reid_path is not None else None
    deid = Deidentifier(policy, key, reid=reid, generalisation=level)
    issues = deid.report.issues
    out = _Output(staging, fmt)
    try:
        for path in files:
            for kind, item in _json_items(path, issues):
                if kind == "case":
                    mapped = map_file(path, allow_text_only=allow_text_only)
                    if not mapped.ok or mapped.bundle is None:
                        issues.extend(mapped.report.errors)
                        continue
                    kind, item = "bundle", mapped.bundle
                if kind == "bundle":
                    bundle = deid.bundle(item, str(path))
                    if bundle is None:
                        continue
                    if validate:
                        check = validate_bundle(bundle, f"{path} (de-identified)")
                        if not check.ok:
                            issues.extend(check.errors)
                            _forget_patients(deid.report, bundle)  # not delivered: not in the k summary
                            continue
                    try:
                        out.bundle(bundle)
                    except ReverseMappingError as exc:
                        issues.error(str(path), f"the de-identified bundle does not read back as a case: {exc}",
                                     rule="deidentify")
                else:
                    resource = deid.resource(item, str(path))
                    if resource is not None:
                        out.resource(resource, streamed=path.suffix == ".ndjson")
    except DeidentifyError as exc:
        issues.error(str(path), str(exc), rule="deidentify")
    finally:
        written = out.close()
        if reid is not None:
            reid.close()
    return deid.report, written


def _forget_patients(report: DeidReport, bundle: Json) -> None:
    for entry in bundle.get("entry", []):
        if entry["resource"].get("resourceType") == "Patient":
            report.quasi.pop(entry["resource"]["id"], None)


def deidentify_paths(inputs: list[Path], output: Path, *, policy: Policy | None = None, key: bytes | None = None,
                     fmt: OutputFormat = "bundle", reid_path: Path | None = None, generalise: bool | None = None,
                     validate: bool = True, allow_text_only: bool = False) -> RunResult:
    """De-identify files into `output`; nothing is written when the policy's minimum k does not hold.

    `generalise` overrides the policy's ``k_anonymity.on_fail`` (True: generalise further until the
    policy's minimum k holds, when possible).
    """
    policy = policy or load_policy(None)
    key = key if key is not None else load_key()
    files = input_files(inputs)
    may_generalise = policy.k_anonymity.on_fail == "generalise" if generalise is None else generalise
    output.mkdir(parents=True, exist_ok=True)
    level = 0
    while True:
        staging = Path(tempfile.mkdtemp(prefix=".deid-", dir=output))
        try:
            report, written = _one_pass(files, staging, policy, key, fmt, level, reid_path, validate,
                                        allow_text_only)
            k = k_anonymity(report, policy)
            if not k.ok and may_generalise and level < GENERALISE_BIRTH_YEAR:
                level += 1
                continue
            result = RunResult(report, k, policy)
            if not k.ok:
                report.issues.error(
                    "k-anonymity", f"smallest group of patients sharing {', '.join(k.quasi_identifiers)} has "
                    f"{k.smallest} (policy minimum {k.min_k}); nothing written"
                    + ("" if may_generalise else " (--generalise drops region, then birth year)"),
                    rule="deidentify.k-anonymity")
            if k.ok:  # patients with errors were skipped and reported; the others go out
                for path in written:
                    target = output / path.name
                    path.replace(target)
                    result.written.append(target)
            elif reid_path is not None:
                reid_path.unlink(missing_ok=True)  # nothing delivered: nothing to re-identify
            return result
        finally:
            shutil.rmtree(staging, ignore_errors=True)
