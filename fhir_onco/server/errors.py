"""Exception hierarchy for talking to FHIR servers.

Every exception raised by :mod:`fhir_onco.server` derives from :class:`ServerIOError`, so
callers (the CLI) can catch one type and map it to exit code 1. Messages name resources only by
``Type/id`` (our deterministic UUIDs) and never carry patient names, identifier values or other
content. A server's own diagnostic text may quote the data back (a birth date, an identifier) or
even our Authorization header, so messages show an OperationOutcome's severity, code and location
only; the diagnostics are added only after :func:`show_server_diagnostics` was switched on (the
CLI's ``--server-diagnostics``), and even then with credential-shaped text redacted (:func:`redact`).
Nothing of it ever goes into log records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SHOW_DIAGNOSTICS = [False]  # process-wide switch; the CLI flag sets it once


def show_server_diagnostics(on: bool = True) -> None:
    """Include the server's (redacted) diagnostics text in error messages from now on."""
    _SHOW_DIAGNOSTICS[0] = on


def diagnostics_shown() -> bool:
    return _SHOW_DIAGNOSTICS[0]


# Credential-shaped text a server might echo back: auth headers, key=value secrets, JWTs, long
# opaque tokens. Deliberately greedy: a redacted diagnostic is still useful, a leaked token is not.
_REDACTIONS = (
    re.compile(r"(?i)\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key)\b\s*[:=]\s*[^\r\n,;]+"),
    re.compile(r"(?i)\b(bearer|basic|digest)\s+[A-Za-z0-9._~+/=-]{4,}"),
    re.compile(
        r"(?i)\b(access_token|refresh_token|id_token|token|password|passwd|pwd|secret|client_secret|api_key|apikey)"
        r"\b(\"?\s*[:=]\s*\"?)[^\s\"',;&]+"
    ),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # JWT
    re.compile(r"\b(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{32,}={0,2}"),  # opaque keys
)


def redact(text: str) -> str:
    """``text`` with Authorization values, tokens, passwords and other credential-shaped strings removed."""
    out = _REDACTIONS[0].sub(lambda m: f"{m.group(1)}: [redacted]", text)
    out = _REDACTIONS[1].sub(lambda m: f"{m.group(1)} [redacted]", out)
    out = _REDACTIONS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", out)
    out = _REDACTIONS[3].sub("[redacted]", out)
    return _REDACTIONS[4].sub("[redacted]", out)


class ServerIOError(Exception):
    """Base class for every error raised while talking to a FHIR server."""


class ConfigurationError(ServerIOError):
    """The client is misconfigured: missing base URL, unreadable credentials file, bad values."""


class AuthenticationError(ServerIOError):
    """The server refused our credentials (HTTP 401/403) or the token endpoint failed."""


class CapabilityError(ServerIOError):
    """The server cannot take what we send (wrong FHIR version, no transaction support, ...)."""


class TransportError(ServerIOError):
    """The server could not be reached, or timed out, even after the allowed retries."""


class ResponseFormatError(ServerIOError):
    """The server answered with something that is not the FHIR JSON we expected."""


class InputError(ServerIOError):
    """An input file or bundle cannot be pushed as it is (not a bundle, no ids, ...)."""


class StateStoreError(ServerIOError):
    """The local sync state store is unusable (locked by another sync, wrong schema)."""


@dataclass(frozen=True)
class OutcomeIssue:
    """One OperationOutcome.issue, reduced to the parts we show."""

    severity: str
    code: str
    text: str
    expression: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f" at {', '.join(self.expression)}" if self.expression else ""
        text = redact(self.text) if self.text and diagnostics_shown() else ""
        return f"{self.severity}/{self.code}{where}" + (f": {text}" if text else "")


def parse_outcome(body: Any) -> list[OutcomeIssue]:
    """Issues of an OperationOutcome dict; an empty list for anything else."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return []
    issues: list[OutcomeIssue] = []
    for raw in body.get("issue") or []:
        if not isinstance(raw, dict):
            continue
        details: dict[str, Any] = raw["details"] if isinstance(raw.get("details"), dict) else {}
        text = raw.get("diagnostics") or details.get("text") or ""
        if not text:
            codings = details.get("coding") or []
            text = "; ".join(str(c.get("display") or c.get("code")) for c in codings if isinstance(c, dict))
        expr = raw.get("expression") or raw.get("location") or []
        issues.append(
            OutcomeIssue(
                severity=str(raw.get("severity", "error")),
                code=str(raw.get("code", "unknown")),
                text=str(text).strip(),
                expression=tuple(str(e) for e in expr if isinstance(e, str)),
            )
        )
    return issues


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def summarize_body(content: bytes, content_type: str, limit: int = 200) -> str:
    """A short, single-line description of a non-FHIR response body (HTML error pages, text).

    An HTML page is reduced to its ``<title>`` (a proxy's "502 Bad Gateway"); any other body is
    described by type and size only, its text shown (redacted) only with the diagnostics switch on.
    """
    text = content.decode("utf-8", errors="replace")
    if "html" in content_type.lower() or text.lstrip().lower().startswith(("<!doctype", "<html")):
        m = _TITLE.search(text)
        text = m.group(1) if m else (_TAGS.sub(" ", text) if diagnostics_shown() else "")
        kind = "HTML page"
    else:
        kind = content_type.split(";")[0].strip() or "body"
        if text.strip() and not diagnostics_shown():
            return f"non-FHIR {kind} of {len(content)} bytes (see --server-diagnostics)"
    text = redact(" ".join(text.split()))
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"non-FHIR {kind}: {text!r}" if text else f"empty {kind}"


@dataclass
class HttpError(ServerIOError):
    """The server answered a request with an HTTP error status.

    ``what`` is a short, PHI-free description of the request (method and path with query parameter
    names only). ``issues`` holds the parsed OperationOutcome, if the server sent one.
    """

    status: int
    what: str
    issues: list[OutcomeIssue] = field(default_factory=list)
    detail: str = ""  # description of a non-OperationOutcome body
    retry_after: float | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    @property
    def server_text(self) -> str:
        """What may be shown: severity/code/location (diagnostics only when switched on, redacted)."""
        if self.issues:
            return "; ".join(str(i) for i in self.issues)
        return self.detail

    @property
    def raw_text(self) -> str:
        """The server's unfiltered diagnostics: for matching (which entry failed), never for display."""
        return " ".join(i.text for i in self.issues)

    def __str__(self) -> str:
        text = self.server_text
        return f"{self.what}: HTTP {self.status}" + (f": {text}" if text else "")

    def __reduce__(self) -> tuple[Any, ...]:  # dataclass exceptions do not pickle by default
        args = (self.status, self.what, self.issues, self.detail, self.retry_after)
        return (self.__class__, args)


class ClientError(HttpError):
    """4xx: the request (usually the data) was rejected."""


class NotFoundError(ClientError):
    """404 or 410."""


class ConflictError(ClientError):
    """409 or 412: a concurrent change or version conflict; nothing was committed."""


class UnauthorizedError(ClientError, AuthenticationError):
    """401 or 403: credentials missing or refused."""


class ServerError(HttpError):
    """5xx after retries were exhausted (or not allowed)."""


def http_error(
    status: int,
    what: str,
    body: Any = None,
    detail: str = "",
    retry_after: float | None = None,
) -> HttpError:
    """Build the most specific :class:`HttpError` subclass for a status code."""
    issues = parse_outcome(body)
    cls: type[HttpError]
    if status in (401, 403):
        cls = UnauthorizedError
    elif status in (404, 410):
        cls = NotFoundError
    elif status in (409, 412):
        cls = ConflictError
    elif status >= 500:
        cls = ServerError
    else:
        cls = ClientError
    return cls(status=status, what=what, issues=issues, detail=detail, retry_after=retry_after)


@dataclass
class PatientError(ServerIOError):
    """Pushing, pulling or syncing one patient failed.

    ``patient`` is our resource id of the Patient (never a name or identifier value); ``resource``
    is the ``Type/id`` the server blamed, when it said which entry failed.
    """

    patient: str
    message: str
    resource: str | None = None
    cause: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f", resource {self.resource}" if self.resource else ""
        return f"patient Patient/{self.patient}{where}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.patient, self.message, self.resource, self.cause))
