"""Credentials for FHIR servers: from environment variables or a credentials file, never the CLI.

Sources, first match wins:

1. ``FHIR_ONCO_TOKEN``: a static bearer token.
2. ``FHIR_ONCO_USERNAME`` and ``FHIR_ONCO_PASSWORD``: HTTP basic auth.
3. ``FHIR_ONCO_CLIENT_ID`` and ``FHIR_ONCO_CLIENT_SECRET`` (optional ``FHIR_ONCO_TOKEN_URL``,
   ``FHIR_ONCO_SCOPE``): OAuth2 client credentials with a shared secret (SMART Backend Services,
   "client-confidential-symmetric"); the token endpoint is discovered from
   ``[base]/.well-known/smart-configuration`` when no URL is given.
4. ``FHIR_ONCO_CREDENTIALS_FILE``: a JSON file with one of ``{"token": ...}``,
   ``{"username": ..., "password": ...}`` or ``{"client_id": ..., "client_secret": ...,
   "token_url": ..., "scope": ...}``.

Secrets are never logged and never appear in ``repr``.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from .errors import AuthenticationError, ConfigurationError, diagnostics_shown, redact

log = logging.getLogger(__name__)

ENV_TOKEN = "FHIR_ONCO_TOKEN"
ENV_USERNAME = "FHIR_ONCO_USERNAME"
ENV_PASSWORD = "FHIR_ONCO_PASSWORD"
ENV_CLIENT_ID = "FHIR_ONCO_CLIENT_ID"
ENV_CLIENT_SECRET = "FHIR_ONCO_CLIENT_SECRET"
ENV_TOKEN_URL = "FHIR_ONCO_TOKEN_URL"
ENV_SCOPE = "FHIR_ONCO_SCOPE"
ENV_CREDENTIALS_FILE = "FHIR_ONCO_CREDENTIALS_FILE"
DEFAULT_SCOPE = "system/*.read system/*.write"


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>`` with a fixed token."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            raise ConfigurationError("empty bearer token")
        self._token = token.strip()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(<token>)"


class ClientCredentialsAuth(AuthBase):
    """OAuth2 client-credentials grant with a client secret (``client_secret_basic``).

    The access token is cached until shortly before it expires; :meth:`invalidate` drops it (the
    client calls it after a 401 and tries once more). ``token_url`` may be left empty and found
    through :meth:`discover`.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token_url: str | None = None,
        scope: str = DEFAULT_SCOPE,
        timeout: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        if not client_id or not client_secret:
            raise ConfigurationError("client credentials need both a client id and a secret")
        self.client_id = client_id
        self._secret = client_secret
        self.token_url = token_url
        self.scope = scope
        self.timeout = timeout
        self.verify = verify
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(client_id={self.client_id!r}, token_url={self.token_url!r})"

    def discover(self, base_url: str, session: requests.Session) -> None:
        """Find the token endpoint in the server's SMART configuration, if not configured."""
        if self.token_url:
            return
        url = f"{base_url.rstrip('/')}/.well-known/smart-configuration"
        try:
            resp = session.get(
                url,
                timeout=self.timeout,
                verify=self.verify,
                headers={"Accept": "application/json"},
            )
            doc = resp.json() if resp.ok else {}
        except (requests.RequestException, ValueError) as e:
            raise AuthenticationError(f"cannot read {url}: {type(e).__name__}") from e
        endpoint = doc.get("token_endpoint") if isinstance(doc, dict) else None
        if not endpoint:
            raise AuthenticationError(f"no token_endpoint in {url} (HTTP {resp.status_code}); set {ENV_TOKEN_URL}")
        self.token_url = str(endpoint)

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._expires = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token and time.monotonic() < self._expires:
                return self._token
            if not self.token_url:
                raise ConfigurationError("client credentials: no token URL (call discover first)")
            try:
                resp = requests.post(
                    self.token_url,
                    data={"grant_type": "client_credentials", "scope": self.scope},
                    auth=HTTPBasicAuth(self.client_id, self._secret),
                    headers={"Accept": "application/json"},
                    timeout=self.timeout,
                    verify=self.verify,
                )
            except requests.RequestException as e:
                raise AuthenticationError(f"token endpoint unreachable: {type(e).__name__}") from e
            try:
                doc = resp.json()
            except ValueError:
                doc = {}
            if not resp.ok or not isinstance(doc, dict) or not doc.get("access_token"):
                # the OAuth error code; the free-text description only on request, redacted
                reason = str(doc.get("error") or "") if isinstance(doc, dict) else ""
                if diagnostics_shown() and isinstance(doc, dict) and doc.get("error_description"):
                    reason = f"{reason}: {redact(str(doc['error_description']))}".lstrip(": ")
                raise AuthenticationError(
                    f"token request refused: HTTP {resp.status_code}" + (f": {reason}" if reason else "")
                )
            self._token = str(doc["access_token"])
            lifetime = float(doc.get("expires_in") or 300)
            # renew a little early so a request never leaves with a token about to expire
            self._expires = time.monotonic() + max(0.0, lifetime - min(60.0, lifetime / 5))
            return self._token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        return r


def _check_file_mode(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("credentials file %s is readable by other users; chmod 600 it", path)


def _from_mapping(data: Mapping[str, Any], origin: str) -> AuthBase:
    for key in ("token", "username", "password", "client_id", "client_secret", "token_url", "scope"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigurationError(f"{origin}: '{key}' must be a string")
    if data.get("token"):
        return BearerAuth(str(data["token"]))
    if data.get("username") is not None and data.get("password") is not None:
        return HTTPBasicAuth(str(data["username"]), str(data["password"]))
    if data.get("client_id") and data.get("client_secret"):
        return ClientCredentialsAuth(
            str(data["client_id"]),
            str(data["client_secret"]),
            token_url=str(data["token_url"]) if data.get("token_url") else None,
            scope=str(data.get("scope") or DEFAULT_SCOPE),
        )
    raise ConfigurationError(f"{origin}: expected 'token', 'username'+'password' or 'client_id'+'client_secret'")


def load_credentials_file(path: str | Path) -> AuthBase:
    """Read a JSON credentials file (see the module docstring for its shape)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError(f"cannot read credentials file {p}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigurationError(f"credentials file {p} is not UTF-8 text (byte {e.start})") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # the position only: the text around it may be the secret itself
        raise ConfigurationError(f"credentials file {p} is not valid JSON (line {e.lineno}, column {e.colno})") from e
    except (ValueError, RecursionError) as e:
        raise ConfigurationError(f"credentials file {p} is not usable JSON ({type(e).__name__})") from e
    if not isinstance(data, dict):
        raise ConfigurationError(f"credentials file {p} must hold a JSON object")
    _check_file_mode(p)
    return _from_mapping(data, f"credentials file {p}")


def auth_from_env(env: Mapping[str, str] | None = None) -> AuthBase | None:
    """Auth configured by the environment, or None when no credentials are configured."""
    env = os.environ if env is None else env
    if env.get(ENV_TOKEN):
        return BearerAuth(env[ENV_TOKEN])
    user, pw = env.get(ENV_USERNAME), env.get(ENV_PASSWORD)
    if user or pw:
        if not (user and pw is not None):
            raise ConfigurationError(f"set both {ENV_USERNAME} and {ENV_PASSWORD}")
        return HTTPBasicAuth(user, pw)
    if env.get(ENV_CLIENT_ID) or env.get(ENV_CLIENT_SECRET):
        return _from_mapping(
            {
                "client_id": env.get(ENV_CLIENT_ID),
                "client_secret": env.get(ENV_CLIENT_SECRET),
                "token_url": env.get(ENV_TOKEN_URL),
                "scope": env.get(ENV_SCOPE),
            },
            f"{ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}",
        )
    if env.get(ENV_CREDENTIALS_FILE):
        return load_credentials_file(env[ENV_CREDENTIALS_FILE])
    return None
