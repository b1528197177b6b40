"""Output files that hold patient data are created readable and writable by their owner only (0600).

Every writer of patient data (bundles, NDJSON, case YAML, analysis tables, reports, timelines, the
sync state) opens its files through here, so the permission does not depend on the user's umask.
An existing file keeps being overwritten in place but is tightened to 0600 too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

__all__ = ["PRIVATE_MODE", "open_private", "write_private_bytes", "write_private_text"]

PRIVATE_MODE = 0o600


def open_private(path: str | Path, mode: str = "w", **kw: Any) -> IO[Any]:
    """``open(path, mode)`` for writing ("w", "wb", "a", "ab", "x", "xb"), the file created 0600."""
    if not any(c in mode for c in "wax") or ("+" in mode and "r" in mode):
        raise ValueError(f"open_private is for writing, not mode {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT
    if "a" in mode:
        flags |= os.O_APPEND
    elif "x" in mode:
        flags |= os.O_EXCL
    else:
        flags |= os.O_TRUNC
    flags |= getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # an existing file keeps its old mode through os.open
        return os.fdopen(fd, mode, **kw)
    except BaseException:
        os.close(fd)
        raise


def write_private_text(path: str | Path, text: str, encoding: str = "utf-8", newline: str | None = "\n") -> None:
    with open_private(path, "w", encoding=encoding, newline=newline) as handle:
        handle.write(text)


def write_private_bytes(path: str | Path, data: bytes) -> None:
    with open_private(path, "wb") as handle:
        handle.write(data)
