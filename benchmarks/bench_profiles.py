"""Profile-validation throughput (resources/s, one core) on the example bundles.

    python benchmarks/bench_profiles.py [--seconds 3] [BUNDLE.json ...]

Uses examples/golden/*.json when present, else the conformance test bundle. Prints three figures:
base R4 structural validation (validate_resource with the base definition), full profile
validation of each entry (meta.profile), and validate_bundle (bundle rules + every entry +
reference resolution). Definitions are compiled once before timing (warm-up pass).
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path
from typing import Any

from fhir_onco.validation.conformance import ConformanceValidator

ROOT = Path(__file__).resolve().parents[1]


def _bundles(paths: list[str]) -> list[dict[str, Any]]:
    files = paths or sorted(glob.glob(str(ROOT / "examples" / "golden" / "*.json")))
    if not files:
        files = [str(ROOT / "tests" / "conformance" / "data" / "valid-bundle.json")]
    return [json.loads(Path(f).read_text("utf-8")) for f in files]


def _rate(fn: Any, n_per_call: int, seconds: float) -> float:
    fn()  # warm-up: compiles every definition and FHIRPath expression used
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls * n_per_call / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundles", nargs="*")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    bundles = _bundles(args.bundles)
    v = ConformanceValidator.load_default()
    resources = [e["resource"] for b in bundles for e in b.get("entry", [])]
    n = len(resources)
    base = [(r, "http://hl7.org/fhir/StructureDefinition/" + r["resourceType"]) for r in resources]

    def structural() -> None:
        for r, url in base:
            v.validate_resource(r, url)

    def profiled() -> None:
        for b in bundles:
            for r in (e["resource"] for e in b["entry"]):
                v.validate_resource(r)

    def bundled() -> None:
        for b in bundles:
            v.validate_bundle(b)

    print(f"{len(bundles)} bundle(s), {n} resources")
    print(f"base R4 structural : {_rate(structural, n, args.seconds):8.0f} resources/s")
    print(f"profile validation : {_rate(profiled, n, args.seconds):8.0f} resources/s")
    print(f"validate_bundle    : {_rate(bundled, n, args.seconds):8.0f} resources/s")


if __name__ == "__main__":
    main()
