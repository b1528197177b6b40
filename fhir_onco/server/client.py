"""A small requests-based FHIR R4 REST client.

Design points (see docs/server.md for the user-facing version):

* TLS verification is on unless the caller passes ``verify=False`` (or a CA bundle path).
* Credentials come from :func:`fhir_onco.server.auth.auth_from_env` unless given explicitly.
* Retries with exponential backoff and jitter on connection errors, timeouts, 429 (``Retry-After``
  honoured), 502, 503 and 504 - but only when repeating the request cannot do harm:

  - GET, HEAD, PUT and DELETE are idempotent by definition and are retried.
  - POST is retried only when the caller says it is idempotent. :meth:`FhirClient.transaction`
    says so when every entry is a ``PUT Type/id`` (or GET/HEAD/DELETE ``Type/id``): replaying such
    a transaction after a lost response writes the same resources under the same ids again, so it
    can neither duplicate anything nor lose anything. A transaction with a POST or a conditional
    entry is sent once.
  - Any request may be retried when it provably never reached the server (the TCP connection
    could not be opened), and after a 429, which means the server refused it unprocessed.

* Error responses become :class:`~fhir_onco.server.errors.HttpError` subclasses carrying the
  parsed OperationOutcome; HTML error pages and garbled bodies become readable messages.
* Log records carry the method, the path and the *names* of query parameters, never their values
  or any body content (search values such as identifiers are patient data).
"""

from __future__ import annotations

import email.utils
import json as _json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from .auth import ClientCredentialsAuth, auth_from_env
from .errors import (
    CapabilityError,
    ConfigurationError,
    HttpError,
    ResponseFormatError,
    ServerIOError,
    TransportError,
    http_error,
    summarize_body,
)

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
USER_AGENT = "fhir-onco/0.1"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    ``max_attempts`` counts every try, the first included. The wait before try *n* (n >= 2) is
    ``d/2 + uniform(0, d/2)`` with ``d = min(backoff_max, backoff_base * 2**(n-2))`` ("equal
    jitter"), or the server's ``Retry-After`` when it sent one. A ``Retry-After`` longer than
    ``max_retry_after`` is not waited for: the error is raised at once.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    max_retry_after: float = 120.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Backoff before try ``attempt + 1`` after ``attempt`` failed tries (attempt >= 1)."""
        d = min(self.backoff_max, self.backoff_base * (2.0 ** (attempt - 1)))
        return d / 2 + rng.uniform(0, d / 2)


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass
class ClientStats:
    """Counters for benchmarks and reports; safe to read while requests run."""

    requests: int = 0
    retries: int = 0
    http_seconds: float = 0.0  # wall time spent inside HTTP calls (waiting for the server)
    sleep_seconds: float = 0.0  # wall time spent backing off
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, requests: int = 0, retries: int = 0, http: float = 0.0, sleep: float = 0.0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.http_seconds += http
            self.sleep_seconds += sleep


@dataclass(frozen=True)
class FhirResponse:
    status: int
    headers: Mapping[str, str]
    body: dict[str, Any] | None


@dataclass(frozen=True)
class ServerInfo:
    """What we learnt from the CapabilityStatement."""

    fhir_version: str
    software: str
    transaction: bool
    batch: bool
    patient_everything: bool
    patient_revincludes: tuple[str, ...]
    search_types: frozenset[str]
    export_levels: frozenset[str] = frozenset()  # Bulk Data $export: "system", "patient", "group"

    def to_dict(self) -> dict[str, Any]:
        return {
            "fhirVersion": self.fhir_version,
            "software": self.software,
            "transaction": self.transaction,
            "batch": self.batch,
            "patientEverything": self.patient_everything,
            "export": sorted(self.export_levels),
        }


def describe_url(url: str) -> str:
    """``METHOD``-free, PHI-free description of a URL: the path plus query parameter names."""
    parts = urlsplit(url)
    names = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return parts.path + (f"?{'&'.join(names)}=..." if names else "")


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (connection not established)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        name = type(cur).__name__
        if name in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError"):
            return True
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            cur = reason
            continue
        if cur.args and isinstance(cur.args[0], BaseException):
            cur = cur.args[0]
            continue
        cur = cur.__cause__ or cur.__context__
    return False


def bundle_is_idempotent(bundle: Mapping[str, Any]) -> bool:
    """True when replaying this transaction/batch cannot change the outcome.

    That holds when every entry is a read, or a ``PUT``/``DELETE`` of a literal ``Type/id`` without
    ``ifMatch``/``ifNoneMatch`` preconditions (a replay of a conditional write could fail where the
    first attempt succeeded, and a POST creates a new resource on each replay).
    """
    for entry in bundle.get("entry") or []:
        req = entry.get("request") or {}
        method = str(req.get("method", "")).upper()
        url = str(req.get("url", ""))
        if method in ("GET", "HEAD"):
            continue
        if method not in ("PUT", "DELETE"):
            return False
        if "?" in url or url.count("/") != 1 or req.get("ifMatch") or req.get("ifNoneMatch"):
            return False
    return True


class FhirClient:
    """A FHIR R4 REST client for one server base URL.

    Thread-safe for concurrent requests (one pooled ``requests.Session``). Use as a context
    manager or call :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: AuthBase | Literal["env"] | None = "env",
        timeout: float | tuple[float, float] = (10.0, 300.0),
        verify: bool | str = True,
        retry: RetryPolicy | None = None,
        pool_size: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"server base URL must start with http:// or https:// (got {base_url!r})")
        self.base_url = base_url.rstrip("/")
        self._origin = urlsplit(self.base_url)[:2]
        self.timeout = timeout
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.session = session or requests.Session()
        if session is None:
            adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": FHIR_JSON, "User-Agent": USER_AGENT})
        self.auth: AuthBase | None = auth_from_env() if isinstance(auth, str) else auth
        self._info: ServerInfo | None = None
        self._capabilities: dict[str, Any] | None = None
        self._cap_lock = threading.Lock()
        if isinstance(self.auth, ClientCredentialsAuth):
            self.auth.verify = verify
        if (
            self.auth is not None
            and self._origin[0] == "http"
            and (urlsplit(self.base_url).hostname or "") not in ("localhost", "127.0.0.1", "::1")
        ):
            log.warning("sending credentials over plain http to a non-local server")

    # ------------------------------------------------------------------ plumbing

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        """Absolute URL for a path relative to the base (absolute URLs must share the origin)."""
        if path.startswith(("http://", "https://")):
            if urlsplit(path)[:2] != self._origin:
                raise ResponseFormatError(
                    f"server sent a link to another origin ({urlsplit(path).netloc}); not followed"
                )
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def _wait(self, seconds: float) -> None:
        self.stats.add(sleep=seconds)
        self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        with self._rng_lock:
            return self.retry.delay(attempt, self._rng)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        fhir: bool = True,
        retry_ambiguous: bool = True,
    ) -> FhirResponse:
        """Send one request (with the retry rules above) and parse the FHIR JSON answer.

        ``fhir=False`` accepts any JSON object (a Bulk Data manifest is not a FHIR resource).
        ``retry_ambiguous=False`` never repeats the request when it may have reached the server
        (read timeout, dropped connection, 502-504): the caller checks the server state instead.
        Redirects are followed for GET/HEAD within the base URL's origin only; one to another
        origin is an error, never followed silently (it could carry our credentials elsewhere).

        Raises :class:`HttpError` subclasses for error statuses, :class:`TransportError` when the
        server could not be reached, :class:`ResponseFormatError` for non-JSON success bodies.
        """
        method = method.upper()
        url = self.url(path)
        what = f"{method} {describe_url(url)}"
        redirects = 0
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        if not retry_ambiguous:
            idempotent = False
        hdrs = dict(headers or {})
        data: bytes | None = None
        if json is not None:
            hdrs.setdefault("Content-Type", f"{FHIR_JSON}; charset=utf-8")
            # serialised once, outside the retry loop and outside the timed HTTP window
            data = _json.dumps(json, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if isinstance(self.auth, ClientCredentialsAuth) and not self.auth.token_url:
            self.auth.discover(self.base_url, self.session)
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=hdrs,
                    timeout=self.timeout,
                    verify=self.verify,
                    auth=self.auth,
                    allow_redirects=False,
                )
                content = resp.content  # read the whole body inside the timing window
            except requests.exceptions.SSLError as e:
                # a certificate problem does not go away by asking again: no retry
                self.stats.add(requests=1, http=time.perf_counter() - started)
                raise TransportError(
                    f"{what}: TLS verification of {self.host} failed ({type(e).__name__}); check the "
                    "server certificate or pass --ca-bundle for a private CA"
                ) from e
            except requests.RequestException as e:
                self.stats.add(requests=1, http=time.perf_counter() - started)
                safe = idempotent or _never_sent(e)
                kind = (
                    f"timed out waiting for {self.host}"
                    if isinstance(e, requests.Timeout)
                    else f"connection to {self.host} failed"
                )
                if safe and attempt < self.retry.max_attempts:
                    delay = self._backoff(attempt)
                    log.info(
                        "%s %s (%s); retry %d in %.2fs",
                        what,
                        kind,
                        type(e).__name__,
                        attempt,
                        delay,
                    )
                    self.stats.add(retries=1)
                    self._wait(delay)
                    continue
                hint = "" if safe else " (not retried: the request may have reached the server)"
                raise TransportError(f"{what}: {kind} after {attempt} attempt(s): {type(e).__name__}{hint}") from e
            elapsed = time.perf_counter() - started
            self.stats.add(requests=1, http=elapsed)
            status = resp.status_code
            log.debug("%s -> %d in %.0f ms", what, status, elapsed * 1000)
            if status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD") and resp.headers.get("Location"):
                target = requests.compat.urljoin(url, resp.headers["Location"])
                if urlsplit(target)[:2] != self._origin:
                    raise ResponseFormatError(
                        f"{what}: HTTP {status} redirect to another origin ({urlsplit(target).netloc}); "
                        "not followed (it would take our request, and credentials, elsewhere)"
                    )
                redirects += 1
                if redirects > 5:
                    raise ResponseFormatError(f"{what}: more than 5 redirects")
                url, params, attempt = target, None, attempt - 1
                continue
            if status == 401 and isinstance(self.auth, ClientCredentialsAuth) and not refreshed:
                refreshed = True
                self.auth.invalidate()
                continue
            if status in self.retry.statuses:
                retry_after = _parse_retry_after(resp.headers.get("Retry-After"))
                # 429 means "refused, not processed": safe to repeat even a POST
                safe = idempotent or status == 429
                too_long = retry_after is not None and retry_after > self.retry.max_retry_after
                if safe and not too_long and attempt < self.retry.max_attempts:
                    delay = retry_after if retry_after is not None else self._backoff(attempt)
                    log.info("%s -> HTTP %d; retry %d in %.2fs", what, status, attempt, delay)
                    self.stats.add(retries=1)
                    self._wait(delay)
                    continue
                raise self._error(resp, content, what, retry_after)
            if status >= 400:
                raise self._error(resp, content, what, None)
            return FhirResponse(status, resp.headers, self._parse(resp, content, what, fhir))

    @property
    def host(self) -> str:
        """host[:port] of the base URL, for messages (no path, no credentials)."""
        return urlsplit(self.base_url).netloc.rsplit("@", 1)[-1]

    def iter_ndjson(self, url: str, *, with_auth: bool = True, chunk_size: int = 1 << 16) -> Iterator[dict[str, Any]]:
        """Stream the JSON objects of an NDJSON file line by line, never holding the whole file.

        A file on another origin (Bulk Data output in object storage) is fetched without our
        credentials (``with_auth=False``); on our origin the usual auth applies. Opening the
        connection is retried like a GET; a connection lost mid-file raises :class:`TransportError`
        (a restart would yield the first lines twice).
        """
        same_origin = urlsplit(url)[:2] == self._origin
        if not same_origin and with_auth:
            raise ResponseFormatError(
                f"a Bulk Data file is on another origin ({urlsplit(url).netloc}) but needs our access "
                "token; not sent there"
            )
        what = f"GET {describe_url(url)}"
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self.session.get(
                    url,
                    headers={"Accept": "application/fhir+ndjson"},
                    timeout=self.timeout,
                    verify=self.verify,
                    auth=self.auth if same_origin else None,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as e:
                raise TransportError(f"{what}: TLS verification of {urlsplit(url).netloc} failed") from e
            except requests.RequestException as e:
                if attempt < self.retry.max_attempts:
                    self.stats.add(requests=1, retries=1)
                    self._wait(self._backoff(attempt))
                    continue
                raise TransportError(f"{what}: connection to {urlsplit(url).netloc} failed: {type(e).__name__}") from e
            self.stats.add(requests=1)
            if resp.status_code in self.retry.statuses and attempt < self.retry.max_attempts:
                retry_after = _parse_retry_after(resp.headers.get("Retry-After"))
                resp.close()
                self.stats.add(retries=1)
                self._wait(retry_after if retry_after is not None else self._backoff(attempt))
                continue
            if resp.status_code >= 300:
                content = resp.content
                resp.close()
                raise self._error(resp, content, what, None)
            break
        try:
            lineno = 0
            for raw in resp.iter_lines(chunk_size=chunk_size):
                lineno += 1
                if not raw.strip():
                    continue
                try:
                    obj = _json.loads(raw)
                except ValueError:
                    raise ResponseFormatError(f"{what}: line {lineno} is not JSON") from None
                if not isinstance(obj, dict):
                    raise ResponseFormatError(f"{what}: line {lineno} is not a JSON object")
                yield obj
        except requests.RequestException as e:
            raise TransportError(f"{what}: connection lost mid-file ({type(e).__name__})") from e
        finally:
            resp.close()

    def _parse(self, resp: requests.Response, content: bytes, what: str, fhir: bool = True) -> dict[str, Any] | None:
        if not content.strip():
            return None
        ctype = resp.headers.get("Content-Type", "")
        try:
            body = resp.json() if content else None
        except ValueError:
            raise ResponseFormatError(
                f"{what}: HTTP {resp.status_code} with an unreadable body ({summarize_body(content, ctype)})"
            ) from None
        if not isinstance(body, dict) or (fhir and not isinstance(body.get("resourceType"), str)):
            raise ResponseFormatError(f"{what}: HTTP {resp.status_code}: JSON body is not a FHIR resource")
        return body

    def _error(self, resp: requests.Response, content: bytes, what: str, retry_after: float | None) -> HttpError:
        ctype = resp.headers.get("Content-Type", "")
        body: Any = None
        detail = ""
        try:
            body = resp.json() if content.strip() else None
        except ValueError:
            detail = summarize_body(content, ctype)
        if body is not None and not (isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"):
            detail = summarize_body(content, ctype)
        log.info("%s -> HTTP %d", what, resp.status_code)
        return http_error(resp.status_code, what, body, detail, retry_after)

    # ------------------------------------------------------------------ capabilities

    def capabilities(self, refresh: bool = False) -> dict[str, Any]:
        """The server's CapabilityStatement (cached)."""
        with self._cap_lock:
            if self._capabilities is not None and not refresh:
                return self._capabilities
            try:
                body = self.request("GET", "metadata").body
            except (HttpError, ResponseFormatError) as e:
                raise CapabilityError(
                    f"no usable CapabilityStatement at {self.base_url}/metadata ({e}); is the base "
                    "URL right (e.g. http://localhost:8080/fhir)?"
                ) from e
            if not body or body.get("resourceType") != "CapabilityStatement":
                raise CapabilityError(f"{self.base_url}/metadata did not return a CapabilityStatement")
            self._capabilities = body
            self._info = None
            return body

    def server_info(self, refresh: bool = False) -> ServerInfo:
        cap = self.capabilities(refresh)
        if self._info is not None:
            return self._info
        rest: dict[str, Any] = next(
            (r for r in cap.get("rest") or [] if r.get("mode") == "server"),
            {},
        )
        interactions = {i.get("code") for i in rest.get("interaction") or []}
        resources = {r.get("type"): r for r in rest.get("resource") or [] if r.get("type")}
        patient = resources.get("Patient", {})

        def op_names(holder: Mapping[str, Any]) -> set[str]:
            return {str(o.get("name", "")).lstrip("$") for o in holder.get("operation") or [] if isinstance(o, dict)}

        system_ops = op_names(rest)
        ops = op_names(patient) | system_ops
        levels = {"system"} if "export" in system_ops else set()
        if "export" in op_names(patient):
            levels.add("patient")
        if "export" in op_names(resources.get("Group", {})):
            levels.add("group")
        software = cap.get("software") or {}
        self._info = ServerInfo(
            fhir_version=str(cap.get("fhirVersion", "")),
            software=" ".join(str(software.get(k, "")) for k in ("name", "version")).strip(),
            transaction="transaction" in interactions,
            batch="batch" in interactions,
            patient_everything="everything" in ops,
            patient_revincludes=tuple(patient.get("searchRevInclude") or ()),
            search_types=frozenset(
                t
                for t, r in resources.items()
                if any(i.get("code") == "search-type" for i in r.get("interaction") or [])
            ),
            export_levels=frozenset(levels),
        )
        return self._info

    def check_server(self, *, transaction: bool = True, batch: bool = False) -> ServerInfo:
        """Read /metadata and fail clearly when the server cannot take what we send."""
        info = self.server_info()
        if not info.fhir_version.startswith("4.0"):
            raise CapabilityError(
                f"{self.base_url} speaks FHIR {info.fhir_version or '(unknown version)'}; "
                "fhir-onco sends FHIR R4 (4.0.x)"
            )
        if transaction and not info.transaction:
            raise CapabilityError(
                f"{self.base_url} does not declare the 'transaction' interaction; fhir-onco "
                "pushes each patient as one atomic transaction (use batch mode to push anyway)"
            )
        if batch and not info.batch:
            raise CapabilityError(f"{self.base_url} does not declare the 'batch' interaction")
        return info

    # ------------------------------------------------------------------ interactions

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """The current version of a resource, or None when it does not exist (404/410)."""
        from .errors import NotFoundError

        try:
            return self.request("GET", f"{resource_type}/{resource_id}").body
        except NotFoundError:
            return None

    def put(self, resource: Mapping[str, Any]) -> FhirResponse:
        """Update-as-create of a resource with a client-assigned id."""
        return self.request("PUT", f"{resource['resourceType']}/{resource['id']}", json=dict(resource))

    def delete(self, resource_type: str, resource_id: str) -> None:
        self.request("DELETE", f"{resource_type}/{resource_id}")

    def transaction(
        self, bundle: Mapping[str, Any], *, minimal: bool = True, retry_ambiguous: bool = True
    ) -> dict[str, Any]:
        """POST a transaction or batch Bundle; returns the response Bundle.

        Retried on transient failures only when :func:`bundle_is_idempotent` says a replay is
        harmless, and ``retry_ambiguous`` allows it (push checks the server state instead of
        replaying, so that a replay cannot add versions). ``minimal`` asks the server not to echo
        every resource back.
        """
        btype = bundle.get("type")
        if btype not in ("transaction", "batch"):
            raise ServerIOError(f"Bundle.type must be transaction or batch, not {btype!r}")
        headers = {"Prefer": "return=minimal"} if minimal else {}
        resp = self.request(
            "POST",
            "",
            json=dict(bundle),
            headers=headers,
            idempotent=bundle_is_idempotent(bundle),
            retry_ambiguous=retry_ambiguous,
        )
        body = resp.body
        if not body or body.get("resourceType") != "Bundle":
            raise ResponseFormatError(f"{btype} answer is not a Bundle")
        n_req = len(bundle.get("entry") or [])
        n_resp = len(body.get("entry") or [])
        if n_req != n_resp:
            raise ResponseFormatError(f"{btype} answer has {n_resp} entries for {n_req} requests")
        return body

    def pages(
        self,
        path: str,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        *,
        max_pages: int = 10_000,
    ) -> Iterator[dict[str, Any]]:
        """Yield a searchset Bundle and every page after it (following ``next`` links)."""
        resp = self.request("GET", path, params=params)
        page = resp.body
        seen: set[str] = set()
        for _ in range(max_pages):
            if not page or page.get("resourceType") != "Bundle":
                raise ResponseFormatError(f"GET {describe_url(self.url(path))}: not a Bundle")
            yield page
            nxt = next(
                (lk.get("url") for lk in page.get("link") or [] if lk.get("relation") == "next"),
                None,
            )
            if not nxt or nxt in seen:
                return
            seen.add(nxt)
            page = self.request("GET", nxt).body
        raise ResponseFormatError(f"more than {max_pages} pages; stopped")

    @staticmethod
    def ignored_params(page: Mapping[str, Any], sent: Iterable[str]) -> list[str]:
        """Search parameters we sent that the page's ``self`` link does not echo (the server ignored them).

        FHIR servers return the parameters they actually applied in ``Bundle.link[self]``; one
        silently dropped turns "this patient's AdverseEvents" into "every AdverseEvent".
        """
        self_url = next((lk.get("url") for lk in page.get("link") or [] if lk.get("relation") == "self"), None)
        if not isinstance(self_url, str):
            return []
        applied = {k.split(":")[0] for k, _ in parse_qsl(urlsplit(self_url).query, keep_blank_values=True)}
        paging = {"_count", "_offset", "_format", "_elements", "_summary", "_sort", "_total", "_getpagesoffset"}
        return sorted({n.split(":")[0] for n in sent} - applied - paging)

    @staticmethod
    def outcome_warnings(page: Mapping[str, Any]) -> list[str]:
        """``severity/code`` of OperationOutcome issues in a searchset (mode ``outcome``); no diagnostics."""
        out: list[str] = []
        for entry in page.get("entry") or []:
            res = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(res, dict) and res.get("resourceType") == "OperationOutcome":
                for issue in res.get("issue") or []:
                    if isinstance(issue, dict):
                        out.append(f"{issue.get('severity', '?')}/{issue.get('code', '?')}")
        return out

    def search(
        self,
        resource_type: str,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        *,
        include_included: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Every resource of a search over all pages (matches, then includes unless disabled)."""
        for page in self.pages(resource_type, params):
            for entry in page.get("entry") or []:
                res = entry.get("resource")
                mode = (entry.get("search") or {}).get("mode", "match")
                if not isinstance(res, dict) or mode == "outcome":
                    continue
                if res.get("resourceType") == "OperationOutcome":
                    continue
                if mode == "include" and not include_included:
                    continue
                yield res

    def count(self, resource_type: str, params: Mapping[str, str] | None = None) -> int:
        """Number of matches (``_summary=count``; falls back to paging when total is absent)."""
        q = dict(params or {})
        q["_summary"] = "count"
        body = self.request("GET", resource_type, params=q).body or {}
        if isinstance(body.get("total"), int):
            return int(body["total"])
        q.pop("_summary")
        return sum(1 for _ in self.search(resource_type, q, include_included=False))
