"""What every command shares: quiet mode, progress that never glues to output lines, and the
usage checks (inputs that do not exist, outputs that cannot be written) that give exit code 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["AllowTextOpt", "EncodingOpt", "IdSystemOpt", "Progress", "RegimenCategoryOpt",
           "check_inputs", "check_output_dir", "check_output_file", "echo", "is_quiet",
           "progress", "set_quiet", "usage_error"]

# Options of every command that reads CSV extracts or maps terms, declared once so that their
# names and help read the same in map, map-tables, push, sync and spark.
AllowTextOpt = Annotated[bool, typer.Option(
    "--allow-text-only", help="Keep unknown terms as text (flagged) instead of failing the patient.")]
EncodingOpt = Annotated[str | None, typer.Option(
    "--encoding", help="CSV extracts: force an encoding (default: sniffed per file: UTF-8/BOM, else cp1251).",
    show_default=False)]
IdSystemOpt = Annotated[str | None, typer.Option(
    "--id-system", help="CSV extracts: identifier system (URI) for patient ids without one (the FHIR ids derive "
    "from it).", show_default=False)]
RegimenCategoryOpt = Annotated[str | None, typer.Option(
    "--regimen-category", help="mCODE CSV extracts: category for medication administrations (e.g. salvage); "
    "the layout has none.", show_default=False)]

PROGRESS_THRESHOLD = 10  # show a progress bar from this many items on
_FLAG_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}
_state = {"quiet": False}
_active: list[Progress] = []

T = TypeVar("T")


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


def usage_error(message: str) -> typer.Exit:
    """Print a usage error and return the Exit(2) to raise."""
    _clear_bar()
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def echo(message: str, *, err: bool = False, info: bool = False) -> None:
    """typer.echo that first clears a progress bar on the terminal (so the two never share a
    line) and redraws it after; ``info`` lines are dropped by ``--quiet``."""
    if info and is_quiet():
        return
    _clear_bar()
    typer.echo(message, err=err)
    for bar in _active:
        bar.draw()


def _clear_bar() -> None:
    if _active and _active[-1].shown:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


class Progress:
    """A one-line progress bar on stderr, drawn only on a terminal, never under --quiet or --json."""

    def __init__(self, total: int | None, label: str, enabled: bool = True):
        self.total = total
        self.label = label
        self.done = 0
        self.enabled = enabled and not is_quiet() and sys.stderr.isatty() and (
            total is None or total >= PROGRESS_THRESHOLD)
        self.shown = False

    def advance(self, n: int = 1, *_: Any) -> None:
        self.done += n
        self.draw()

    def draw(self) -> None:
        if not self.enabled:
            return
        if self.total:
            width = 30
            filled = min(width, width * self.done // self.total)
            text = f"{self.label} [{'#' * filled}{'-' * (width - filled)}] {self.done}/{self.total}"
        else:
            text = f"{self.label} {self.done}"
        sys.stderr.write("\r\x1b[K" + text)
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


@contextmanager
def progress(total: int | None, label: str, enabled: bool = True) -> Iterator[Progress]:
    bar = Progress(total, label, enabled)
    _active.append(bar)
    try:
        bar.draw()
        yield bar
    finally:
        _active.remove(bar)
        bar.close()


def iterate(items: Iterable[T], total: int | None, label: str, enabled: bool = True) -> Iterator[T]:
    """Items with a progress bar advanced after each one."""
    with progress(total, label, enabled) as bar:
        for item in items:
            yield item
            bar.advance()


def check_inputs(paths: Iterable[Path | str], what: str = "input") -> None:
    """Every named input must exist: a missing one is a usage error (exit 2) in every command,
    before anything is read or written."""
    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if not missing:
        return
    hint = ""
    if any(m.lower() in _FLAG_WORDS for m in missing):
        hint = " (flags such as --json take no value: write --json, not --json true)"
    raise usage_error(f"no such {what}: {', '.join(missing)}{hint}")


def check_output_dir(path: Path, option: str = "--output") -> None:
    """An output directory must be a directory we can create and write in (else exit 2)."""
    if path.exists() and not path.is_dir():
        raise usage_error(f"{option} {path} is an existing file; it must name a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise usage_error(f"{option} {path}: cannot create the directory ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise usage_error(f"{option} {path}: the directory is not writable")


def check_output_file(path: Path, option: str = "--output") -> None:
    """An output file must not be a directory and its directory must be writable (else exit 2)."""
    if path.is_dir():
        raise usage_error(f"{option} {path} is a directory; it must name a file")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise usage_error(f"{option} {path}: {parent} is not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise usage_error(f"{option} {path}: cannot create {parent} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise usage_error(f"{option} {path}: not writable")
