"""A lock per (server, patient) shared by every fhir-onco process of this user on this machine.

Two pushes of the same data at once would both read "absent" and both write, and a server that
versions every PUT (sekmet) then holds two versions of each resource; the push report would also
claim both runs "created" them. Holding this lock from the read of the server state to the end of
the transaction makes the second push see the first one's result and send nothing.

The locks are ``flock`` locks on a fixed set of striped files (a hash of server and patient picks
one of :data:`STRIPES`), so the lock directory does not grow with the number of patients; two
patients sharing a stripe merely wait for each other. ``flock`` works between threads too, since
every acquisition opens its own file description. Writers on other machines are covered by the
``If-Match`` preconditions push sends with updates, not by this lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigurationError

ENV_LOCK_DIR = "FHIR_ONCO_LOCK_DIR"
STRIPES = 1024


def lock_dir() -> Path:
    """``$FHIR_ONCO_LOCK_DIR``, else ``$XDG_RUNTIME_DIR/fhir-onco-locks``, else a per-user temp folder."""
    env = os.environ.get(ENV_LOCK_DIR)
    if env:
        return Path(env).expanduser()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "fhir-onco-locks"
    return Path(tempfile.gettempdir()) / f"fhir-onco-locks-{os.getuid()}"


@contextlib.contextmanager
def patient_lock(server: str, patient: str, directory: Path | None = None) -> Iterator[None]:
    """Hold the (server, patient) lock; blocks while another process or thread holds it."""
    folder = directory or lock_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigurationError(f"cannot create the lock directory {folder}: {e.strerror} (set {ENV_LOCK_DIR})") from e
    digest = hashlib.sha256(f"{server.rstrip('/').lower()}|{patient}".encode()).digest()
    stripe = int.from_bytes(digest[:4], "big") % STRIPES
    # the file name says nothing about the patient: only the stripe number
    path = folder / f"stripe-{stripe:04d}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the description releases the flock
