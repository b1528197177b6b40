"""Regenerate the golden bundles: examples/golden/<stem>.json = dumps(bundle) for every examples/*.yaml.

Run after an intended change to the mapping, the terminology tables or an example, then review the
diff before committing: ``python scripts/update_golden.py`` (``--check`` only reports stale files).
tests/test_golden.py compares the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fhir_onco import load_case
from fhir_onco.fhir.builders import dumps
from fhir_onco.mappings import map_case_to_bundle

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = EXAMPLES / "golden"


def example_paths() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def golden_path(example: Path) -> Path:
    return GOLDEN / f"{example.stem}.json"


def render(example: Path) -> str:
    """The golden text of one example (the source name is relative, so output is machine-independent)."""
    bundle, _ = map_case_to_bundle(load_case(example), source=f"examples/{example.name}")
    return dumps(bundle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale or missing golden files, write nothing")
    args = parser.parse_args(argv)
    GOLDEN.mkdir(exist_ok=True)
    stale = []
    expected = set()
    for example in example_paths():
        target = golden_path(example)
        expected.add(target.name)
        text = render(example)
        current = target.read_text("utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(target)
        if not args.check:
            target.write_text(text, encoding="utf-8", newline="\n")
    orphans = sorted(p for p in GOLDEN.glob("*.json") if p.name not in expected)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(ROOT)}")
    for path in orphans:
        print(f"orphan (no example): {path.relative_to(ROOT)}")
    return 1 if args.check and (stale or orphans) else 0


if __name__ == "__main__":
    sys.exit(main())
