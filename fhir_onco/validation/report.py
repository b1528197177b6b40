"""Validation findings, shared by every validation layer, rendered as text or OperationOutcome."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding.

    `location` is where a person looks: a file (and row) and a field path or FHIRPath,
    e.g. ``case.yaml: regimens[2].drugs[0].dose`` or ``Bundle.entry[3].resource.status``.
    """

    severity: Severity
    location: str
    message: str
    code: str = "invalid"  # OperationOutcome.issue.code (IssueType)
    rule: str | None = None  # which check fired, e.g. "cardinality", "plausibility.mrd-range"
    profile: str | None = None  # canonical URL of the profile that was checked
    element: str | None = None  # ElementDefinition.id behind the rule

    def to_text(self) -> str:
        extra = " ".join(
            f"[{label}: {value}]"
            for label, value in (("rule", self.rule), ("element", self.element),
                                 ("profile", self.profile))
            if value
        )
        return f"{self.severity.value.upper()} {self.location}: {self.message}" + (
            f" {extra}" if extra else ""
        )

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity.value,
            "code": self.code,
            "diagnostics": self.message,
            "location": [self.location],
            "expression": [self.location],
        }
        details = [d for d in (self.rule, self.element, self.profile) if d]
        if details:
            issue["details"] = {"text": " | ".join(details)}
        return issue


@dataclass(slots=True)
class Report:
    """An ordered collection of issues with convenience renderers."""

    issues: list[Issue] = field(default_factory=list)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    def add(self, severity: Severity, location: str, message: str, **kw: Any) -> None:
        self.issues.append(Issue(severity, location, message, **kw))

    def error(self, location: str, message: str, **kw: Any) -> None:
        self.add(Severity.ERROR, location, message, **kw)

    def warning(self, location: str, message: str, **kw: Any) -> None:
        self.add(Severity.WARNING, location, message, **kw)

    def extend(self, issues: Iterable[Issue]) -> None:
        self.issues.extend(issues)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity in (Severity.ERROR, Severity.FATAL)]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_text(self) -> str:
        return "\n".join(i.to_text() for i in self.issues)

    def to_operation_outcome(self) -> dict[str, Any]:
        issues = [i.to_fhir() for i in self.issues] or [
            {"severity": "information", "code": "informational", "diagnostics": "No issues."}
        ]
        return {"resourceType": "OperationOutcome", "issue": issues}
