"""The secret key and everything derived from it: pseudonyms, resource ids, date offsets.

All derivations are HMAC-SHA256 under the key with a domain label, so the same input always gives
the same output with the same key (stable across deliveries), an unrelated one with another key,
and nobody without the key can reverse or recompute them. The key is read from the environment or
a file, never from a command-line argument (it would end up in shell history and process lists).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

KEY_ENV = "FHIR_ONCO_DEID_KEY"
KEY_FILE_ENV = "FHIR_ONCO_DEID_KEY_FILE"
MIN_KEY_BYTES = 16


class DeidKeyError(ValueError):
    """No usable secret key (the message says where one is looked for, never the key)."""


def load_key(environ: dict[str, str] | None = None) -> bytes:
    """The secret from $FHIR_ONCO_DEID_KEY, or the file named by $FHIR_ONCO_DEID_KEY_FILE."""
    env = os.environ if environ is None else environ
    text = env.get(KEY_ENV)
    if not text and env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeidKeyError(f"cannot read the key file named by {KEY_FILE_ENV} ({exc.strerror})") from None
    if not text:
        raise DeidKeyError(f"no de-identification key: set {KEY_ENV} or {KEY_FILE_ENV} (a file holding the key)")
    key = text.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise DeidKeyError(f"the de-identification key is too short: use at least {MIN_KEY_BYTES} characters")
    return key


@dataclass(frozen=True, slots=True)
class Keyed:
    """Keyed derivations; `key` never leaves this object."""

    key: bytes

    def digest(self, domain: str, text: str) -> bytes:
        # The unit separator keeps "a|b" + "c" and "a" + "b|c" apart.
        return hmac.new(self.key, f"{domain}\x1f{text}".encode(), hashlib.sha256).digest()

    def token(self, domain: str, text: str, length: int) -> str:
        """Lower-case base32 of the HMAC: letters and 2-7, never a long run of digits."""
        return base64.b32encode(self.digest(domain, text)).decode("ascii").lower()[:length]

    def resource_id(self, resource_type: str, rid: str) -> str:
        """A new id for ``Type/rid``: UUID-shaped (FHIR id syntax), stable for the same key."""
        return str(uuid.UUID(bytes=self.digest("resource-id", f"{resource_type}/{rid}")[:16], version=4))

    def day_offset(self, patient_id: str, min_days: int, max_days: int) -> int:
        """A per-patient shift in days, +-[min_days, max_days], from the patient's original id."""
        value = int.from_bytes(self.digest("date-offset", patient_id)[:8], "big")
        span = max_days - min_days + 1
        magnitude = min_days + value % span
        return magnitude if (value >> 40) & 1 else -magnitude
