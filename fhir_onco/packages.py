"""FHIR packages from the npm registry (e.g. HL7 mCODE STU4), fetched once and cached.

Published implementation guides are distributed as npm packages (``hl7.fhir.us.mcode@4.0.0``
holds the mCODE StructureDefinitions with snapshots and the IG's example instances). We do not
commit them: their size and licence belong to HL7. Tests and tools call :func:`fhir_package`,
which runs ``npm pack`` into the same cache the test server uses and unpacks the tarball.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhir_onco.server.testserver import cache_dir

__all__ = ["MCODE", "PackageUnavailable", "fhir_package", "package_resources"]

MCODE = ("hl7.fhir.us.mcode", "4.0.0")


class PackageUnavailable(RuntimeError):
    """The package could not be fetched (no npm, or the registry cannot be reached)."""


def fhir_package(name: str, version: str, *, cache: Path | None = None) -> Path:
    """Return the unpacked ``package/`` folder of an npm FHIR package, fetching it when needed."""
    root = (cache or cache_dir()) / "fhir-packages"
    target = root / f"{name}-{version}"
    if (target / "package" / "package.json").exists():
        return target / "package"
    if shutil.which("npm") is None:
        raise PackageUnavailable(f"npm is not installed; cannot fetch {name}@{version}")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers fetch once
        if (target / "package" / "package.json").exists():
            return target / "package"
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            try:
                done = subprocess.run(
                    ["npm", "pack", f"{name}@{version}", "--silent"],
                    cwd=tmp, capture_output=True, text=True, timeout=300, check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PackageUnavailable(f"npm pack {name}@{version} failed: {exc}") from exc
            tarballs = list(Path(tmp).glob("*.tgz"))
            if done.returncode != 0 or not tarballs:
                raise PackageUnavailable(f"npm pack {name}@{version} failed: {done.stderr.strip()[-300:]}")
            unpacked = Path(tmp) / "unpacked"
            with tarfile.open(tarballs[0]) as tar:
                tar.extractall(unpacked, filter="data")
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(unpacked), target)
    return target / "package"


def package_resources(folder: Path, *, resource_type: str | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield ``(path, resource)`` for every JSON resource in a package folder and its ``example/``."""
    for path in sorted([*folder.glob("*.json"), *folder.glob("example/*.json")]):
        if path.name in {"package.json", ".index.json"}:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "resourceType" not in data:
            continue
        if resource_type is None or data["resourceType"] == resource_type:
            yield path, data
