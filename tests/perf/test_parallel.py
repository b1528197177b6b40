"""`-j N` writes byte-identical output to `-j 1` (map and map-tables, NDJSON and bundles)."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from fhir_onco.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
runner = CliRunner()


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _run(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output  # 1: the bad input below fails as it should
    assert "Traceback" not in result.output


def test_map_j2_equals_j1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"  # a failing patient in the middle must not shift the others
    bad.write_text("patient: {sex: nonsense}\n", encoding="utf-8")
    inputs = [str(p) for p in EXAMPLES[:3]] + [str(bad)] + [str(p) for p in EXAMPLES[3:]]
    for fmt in ("ndjson", "bundle"):
        outs = []
        for jobs in ("1", "2"):
            out = tmp_path / f"{fmt}-{jobs}"
            _run(["map", *inputs, "-o", str(out), "-f", fmt, "-j", jobs])
            outs.append(_tree(out))
        assert outs[0] and outs[0] == outs[1]


def test_map_tables_j2_equals_j1(tmp_path: Path) -> None:
    for extract in (ROOT / "examples" / "registry", ROOT / "tests" / "data" / "mcode-sample"):
        for fmt in ("ndjson", "bundle"):
            outs = []
            for jobs in ("1", "2"):
                out = tmp_path / f"{extract.name}-{fmt}-{jobs}"
                _run(["map-tables", str(extract), "-o", str(out), "-f", fmt, "-j", jobs,
                      "--regimen-category", "salvage"])
                outs.append(_tree(out))
            assert outs[0] and outs[0] == outs[1]


def test_map_j2_many_patients_in_order(tmp_path: Path) -> None:
    """More patients than the in-flight window, so results arrive while others are queued."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        shutil.copy(EXAMPLES[i % len(EXAMPLES)], src / f"case{i:02d}.yaml")
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        _run(["map", *sorted(map(str, src.glob("*.yaml"))), "-o", str(out), "-f", "ndjson", "-j", jobs])
        outs.append(_tree(out))
    assert outs[0] == outs[1]
