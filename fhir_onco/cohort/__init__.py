"""Synthetic cohorts whose counts reproduce a published cohort's tables exactly.

>>> from fhir_onco.cohort import generate, load_spec
>>> cases = generate(load_spec("examples/cohorts/seed004-isapd.yaml"), seed=1)   # doctest: +SKIP

Same spec and seed -> byte-identical output. The spec format is documented in docs/registry.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fhir_onco.case import Case, CaseError, dump_case, parse_case
from fhir_onco.files import write_private_text

from .generate import draw, render
from .spec import CohortError, CohortSpec, load_spec, parse_spec
from .tables import group_of, tabulate
from .terms import check_terms

__all__ = [
    "CohortError",
    "CohortSpec",
    "GenerationSummary",
    "generate",
    "generate_to_directory",
    "group_of",
    "load_spec",
    "parse_spec",
    "spec_tables",
    "tabulate",
]


def generate(spec: CohortSpec, seed: int = 0) -> list[Case]:
    """The cohort's patients as validated cases (raises CohortError, naming the spec file and the field,
    when a term is unknown or the spec cannot hold)."""
    check_terms(spec)
    try:
        rendered = render(spec, draw(spec, seed), seed)
    except CohortError as exc:
        raise CohortError("\n".join(f"{spec.source}: {line}" for line in str(exc).splitlines())) from None
    cases = []
    for data in rendered:
        ident = data["patient"]["identifiers"][0]["value"]
        try:
            cases.append(parse_case(data, ident))
        except CaseError as exc:  # a template the case model rejects (or a generator bug)
            raise CohortError(f"{spec.source}: a template of the spec makes an invalid case:\n{exc}") from None
    return cases


def spec_tables(spec: CohortSpec, cases: list[Case]) -> dict[str, object]:
    """Tabulate the cases with the spec's own age bins, exposures and adverse-event thresholds; with
    groups, also per group (``groups``)."""
    aes = [(a.term, a.grade_at_least) for grp in (spec, *spec.groups) for a in grp.adverse_events]
    exposures = list(spec.prior_therapy.exposures) if spec.prior_therapy else []
    bins = spec.age.bins if spec.age else ()
    out = tabulate(cases, spec.index_regimen.id, age_bins=bins, adverse_events=aes, exposures=exposures)
    if spec.groups:  # the same tables per group, as a paper's group columns
        out["groups"] = {
            g.name: tabulate([c for c in cases if group_of(c) == g.name], (g.index_regimen or spec.index_regimen).id,
                             age_bins=bins, adverse_events=aes, exposures=exposures)
            for g in spec.groups}
    return out


@dataclass(slots=True)
class GenerationSummary:
    directory: Path
    patients: int = 0
    cases_written: int = 0
    bundles_written: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [*self.problems,
               f"{self.patients} patients: {self.cases_written} case files, {self.bundles_written} bundles "
               f"written to {self.directory}; tables in {self.directory / 'tables.json'}"
               + (f"; {self.failed} failed" if self.failed else "")]
        return out


def generate_to_directory(spec_path: str | Path, directory: str | Path, *, seed: int = 0, cases: bool = True,
                          bundles: bool = False, allow_text_only: bool = False,
                          on_patient: Callable[[int], None] | None = None) -> GenerationSummary:
    """Write cases/<id>.yaml and/or bundles/<id>.json and tables.json (counts from the cases).

    ``on_patient(total)`` is called after each patient (for progress); ``allow_text_only`` as in map.
    """
    from fhir_onco.fhir.builders import dumps
    from fhir_onco.pipeline import map_and_validate

    spec = load_spec(spec_path)
    out = Path(directory)
    summary = GenerationSummary(out)
    generated = generate(spec, seed)
    summary.patients = len(generated)
    for case in generated:
        if on_patient is not None:
            on_patient(summary.patients)
        ident = case.patient.identifiers[0].value
        if cases:
            path = out / "cases" / f"{ident}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_private_text(path, dump_case(case))
            summary.cases_written += 1
        if bundles:
            result = map_and_validate(case, ident, allow_text_only=allow_text_only)
            if not result.ok or result.bundle is None:
                summary.failed += 1
                summary.problems.extend(i.to_text() for i in result.report.errors)
                continue
            path = out / "bundles" / f"{ident}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_private_text(path, dumps(result.bundle))
            summary.bundles_written += 1
    tables = {"cohort": spec.cohort, "seed": seed, "tables": spec_tables(spec, generated)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "tables.json").write_text(json.dumps(tables, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                     encoding="utf-8", newline="\n")
    return summary
