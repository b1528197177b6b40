#!/usr/bin/env python
"""Cross-check our conformance validator against fhircraft on the same profiles.

fhircraft builds Pydantic models from StructureDefinitions. It is too slow and too lax to be a
dependency (see docs/profiles.md), so it lives in its own venv (default
``.cache/fhircraft-venv``, gitignored; ``--install`` creates it with ``fhircraft==0.9.0``).

The script runs in two processes:

* the driver (the project venv: it imports ``fhir_onco`` and the test corpus) collects the items
  - every resource of ``examples/golden/*.json`` against its declared profile, each golden bundle
  against the bundle profile, and the single-defect cases of ``tests/conformance`` - and
  validates them with ``ConformanceValidator``;
* a worker (``--worker``, run by the fhircraft venv's python) registers every StructureDefinition
  of ``profiles/package`` offline, builds a model per profile (``mode="snapshot"``) and validates
  the same items with ``Model.model_validate``.

It prints a per-profile agreement table for the valid examples and for the invalid corpus, and the
first messages of every disagreement. ``--json`` prints the raw results instead (used by
``tests/conformance/test_crosscheck_fhircraft.py``). Exit status 0 unless the worker fails.

    python scripts/crosscheck_fhircraft.py [--install] [--corpus-sample N] [--no-corpus] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = ROOT / ".cache" / "fhircraft-venv"
FHIRCRAFT = "fhircraft==0.9.0"
CORE = "http://hl7.org/fhir/StructureDefinition/"
BUNDLE_PROFILE = "https://fhir-onco.org/fhir/StructureDefinition/onco-transaction-bundle"
Json = dict[str, Any]
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource(?:[.\[]|$)")


# ------------------------------------------------------------------------------------------
# worker: runs inside the fhircraft venv


def worker(package_dir: Path, mode: str) -> None:
    """Read {"items": [...]} on stdin, write {"builds": {...}, "results": [...]} on stdout."""
    import warnings

    import pydantic
    from fhircraft.config import override_config
    from fhircraft.fhir.resources.factory import FHIRModelFactory

    items: list[Json] = json.load(sys.stdin)["items"]
    factory = FHIRModelFactory("R4")
    factory.disable_internet_access()
    builds: dict[str, Json] = {}
    t0 = time.perf_counter()
    sds = [json.loads(p.read_text("utf-8")) for p in sorted(package_dir.glob("StructureDefinition-*.json"))]
    # our SDs are checked elsewhere; skipping fhircraft's own constraint checks on them saves ~20 s
    with override_config(validation_mode="skip"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sd in sds:
            try:
                factory.register(sd)
            except Exception as e:  # report, do not stop
                builds[sd["url"]] = {"ok": False, "error": f"register: {type(e).__name__}: {e}"[:500]}
        t_reg = time.perf_counter() - t0
        wanted = sorted({it["profile"] for it in items} | {sd["url"] for sd in sds if sd["type"] != "Extension"})
        models: dict[str, Any] = {}
        for url in wanted:
            if url in builds:
                continue
            t = time.perf_counter()
            try:
                models[url] = factory.build(canonical_url=url, mode=mode)  # type: ignore[arg-type]
                builds[url] = {"ok": True, "seconds": round(time.perf_counter() - t, 2)}
            except Exception as e:
                builds[url] = {"ok": False, "error": f"{type(e).__name__}: {e}"[:500]}
    t_build = time.perf_counter() - t0 - t_reg
    results: list[Json] = []
    t1 = time.perf_counter()
    for it in items:
        model = models.get(it["profile"])
        if model is None:
            results.append({"key": it["key"], "built": False, "valid": None, "errors": [], "warnings": []})
            continue
        errors: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.model_validate(it["resource"])
            except pydantic.ValidationError as e:
                for err in e.errors():
                    loc = ".".join(str(x) for x in err.get("loc", ()))
                    errors.append(f"{loc}: {err.get('msg', '')}"[:400])
            except Exception as e:  # fhircraft raises more than ValidationError
                errors.append(f"{type(e).__name__}: {e}"[:400])
        warns = sorted({str(w.message)[:200] for w in caught if "[dom-6]" not in str(w.message)})
        results.append({"key": it["key"], "built": True, "valid": not errors, "errors": errors, "warnings": warns})
    json.dump({"builds": builds, "results": results,
               "timing": {"register": round(t_reg, 1), "build": round(t_build, 1),
                          "validate": round(time.perf_counter() - t1, 1), "items": len(items)}},
              sys.stdout)


# ------------------------------------------------------------------------------------------
# driver: runs in the project venv


def _pid(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _profile_of(res: Any) -> str:
    meta = res.get("meta") if isinstance(res, dict) else None
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    if isinstance(profiles, list) and profiles and isinstance(profiles[0], str):
        return profiles[0]
    rt = res.get("resourceType") if isinstance(res, dict) else None
    return CORE + (rt if isinstance(rt, str) else "Resource")


def collect_golden() -> list[Json]:
    items: list[Json] = []
    for path in sorted((ROOT / "examples" / "golden").glob("*.json")):
        bundle = json.loads(path.read_text("utf-8"))
        items.append({"key": f"{path.name}#bundle", "set": "valid", "profile": BUNDLE_PROFILE,
                      "resource": bundle, "bundle": bundle, "entry": None})
        for i, e in enumerate(bundle.get("entry", [])):
            res = e["resource"]
            items.append({"key": f"{path.name}#entry[{i}] {res['resourceType']}/{res.get('id')}", "set": "valid",
                          "profile": _profile_of(res), "resource": res, "bundle": bundle, "entry": i})
    return items


def _changed_entry(base: Json, bundle: Json) -> int | None:
    """Index of the one entry resource a case broke, None when it broke the Bundle itself."""
    if {k: v for k, v in base.items() if k != "entry"} != {k: v for k, v in bundle.items() if k != "entry"}:
        return None
    old, new = base.get("entry"), bundle.get("entry")
    if not isinstance(new, list) or len(old) != len(new):
        return None
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    if len(changed) != 1 or not isinstance(new[changed[0]], dict):
        return None
    i = changed[0]
    same_rest = {k: v for k, v in old[i].items() if k != "resource"} == {
        k: v for k, v in new[i].items() if k != "resource"}
    return i if same_rest and isinstance(new[i].get("resource"), dict) else None


def collect_corpus(sample: int | None) -> list[Json]:
    sys.path.insert(0, str(ROOT / "tests"))
    from conformance.corpus import all_cases, valid_bundle  # type: ignore[import-not-found]

    cases = all_cases()
    if sample is not None and 0 < sample < len(cases):
        step = len(cases) / sample
        cases = [cases[int(k * step)] for k in range(sample)]
    base = valid_bundle()
    items: list[Json] = []
    for c in cases:
        bundle = valid_bundle()
        c.mutate(bundle)
        # the entry the case's expected location points into; a bundle-level location (bundle
        # rules and invariants) -> the bundle row; no location -> the one entry the case changed
        m = _ENTRY.match(c.location or "")
        i = int(m.group(1)) if m else None if c.location else _changed_entry(base, bundle)
        if i is not None:
            res = bundle["entry"][i]["resource"]
            items.append({"key": f"corpus:{c.name}", "set": "invalid", "profile": _profile_of(res),
                          "resource": res, "bundle": bundle, "entry": i, "rule": c.rule, "location": c.location})
        else:
            items.append({"key": f"corpus:{c.name}", "set": "invalid", "profile": BUNDLE_PROFILE,
                          "resource": bundle, "bundle": bundle, "entry": None, "rule": c.rule,
                          "location": c.location})
    return items


def ours(items: list[Json]) -> dict[str, list[str]]:
    """key -> our error messages ("rule @ location: message")."""
    from fhir_onco.validation.conformance import ConformanceValidator
    from fhir_onco.validation.report import Severity

    v = ConformanceValidator.load_default()
    out: dict[str, list[str]] = {}
    for it in items:
        if it["entry"] is None:
            # the bundle row judges the Bundle's own elements and the bundle rules; each entry
            # resource has its own row (fhircraft checks entries only against their base type)
            issues = [i for i in v.validate_bundle(it["resource"]) if not _ENTRY.match(i.location)]
        else:
            issues = v.validate_resource(it["resource"], it["profile"],
                                         location=f"Bundle.entry[{it['entry']}].resource", bundle=it["bundle"])
        out[it["key"]] = [f"{i.rule} @ {i.location}: {i.message}"[:400] for i in issues
                          if i.severity in (Severity.ERROR, Severity.FATAL)]
    return out


def run_worker(python: Path, items: list[Json], mode: str) -> Json:
    payload = json.dumps({"items": [{"key": it["key"], "profile": it["profile"], "resource": it["resource"]}
                                    for it in items]})
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", "--mode", mode,
                           "--package", str(ROOT / "profiles" / "package")],
                          input=payload, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"fhircraft worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def compare(items: list[Json], our: dict[str, list[str]], fc: Json) -> Json:
    by_key = {r["key"]: r for r in fc["results"]}
    rows: list[Json] = []
    for it in items:
        r = by_key[it["key"]]
        rows.append({
            "key": it["key"], "set": it["set"], "profile": _pid(it["profile"]),
            "built": r["built"], "ours_valid": not our[it["key"]], "fhircraft_valid": r["valid"],
            "ours": our[it["key"]][:3], "fhircraft": r["errors"][:3], "fhircraft_warnings": r["warnings"][:3],
            "rule": it.get("rule"),
        })
    return {"builds": fc["builds"], "timing": fc["timing"], "rows": rows}


def table(result: Json) -> str:
    lines: list[str] = []
    builds = result["builds"]
    ok = sorted(_pid(u) for u, b in builds.items() if b["ok"])
    bad = {_pid(u): b["error"] for u, b in builds.items() if not b["ok"]}
    lines.append(f"fhircraft built {len(ok)} models: {', '.join(ok)}")
    for p, err in sorted(bad.items()):
        lines.append(f"  could NOT build {p}: {err}")
    t = result["timing"]
    lines.append(f"fhircraft timing: register {t['register']} s, build {t['build']} s, "
                 f"validate {t['validate']} s for {t['items']} items")
    rows = result["rows"]
    for which in ("valid", "invalid"):
        sel = [r for r in rows if r["set"] == which]
        if not sel:
            continue
        per: dict[str, list[Json]] = defaultdict(list)
        for r in sel:
            per[r["profile"]].append(r)
        lines.append("")
        if which == "valid":
            lines.append("VALID examples (examples/golden): both validators should accept")
            lines.append(f"{'profile':34} {'resources':>9} {'both-valid':>10} {'only-ours-rejects':>17} "
                         f"{'only-fhircraft-rejects':>22} {'no-model':>8}")
        else:
            lines.append("INVALID corpus (tests/conformance, one defect each): both should reject")
            lines.append(f"{'profile':34} {'cases':>9} {'both-reject':>11} {'fhircraft-accepts':>17} "
                         f"{'ours-accepts':>12} {'no-model':>8}")
        tot = [0, 0, 0, 0, 0]
        for p in sorted(per):
            rs = per[p]
            built = [r for r in rs if r["built"]]
            nm = len(rs) - len(built)
            if which == "valid":
                a = sum(r["ours_valid"] and r["fhircraft_valid"] for r in built)
                b = sum(not r["ours_valid"] and r["fhircraft_valid"] for r in built)
                c = sum(r["ours_valid"] and not r["fhircraft_valid"] for r in built)
                lines.append(f"{p:34} {len(rs):>9} {a:>10} {b:>17} {c:>22} {nm:>8}")
            else:
                a = sum(not r["ours_valid"] and not r["fhircraft_valid"] for r in built)
                b = sum(not r["ours_valid"] and r["fhircraft_valid"] for r in built)
                c = sum(r["ours_valid"] for r in built)
                lines.append(f"{p:34} {len(rs):>9} {a:>11} {b:>17} {c:>12} {nm:>8}")
            for k, n in enumerate((len(rs), a, b, c, nm)):
                tot[k] += n
        if which == "valid":
            lines.append(f"{'TOTAL':34} {tot[0]:>9} {tot[1]:>10} {tot[2]:>17} {tot[3]:>22} {tot[4]:>8}")
        else:
            lines.append(f"{'TOTAL':34} {tot[0]:>9} {tot[1]:>11} {tot[2]:>17} {tot[3]:>12} {tot[4]:>8}")
            missed: dict[str, int] = defaultdict(int)
            for r in sel:
                if r["built"] and r["fhircraft_valid"]:
                    missed[r["rule"]] += 1
            lines.append("fhircraft accepts, by the rule the case breaks: "
                         + ", ".join(f"{k} {n}" for k, n in sorted(missed.items(), key=lambda x: (-x[1], x[0]))))
        dis = [r for r in sel if r["built"] and r["ours_valid"] != r["fhircraft_valid"]]
        if dis:
            lines.append(f"disagreements ({len(dis)}):")
            for r in dis:
                verdict = "ours rejects" if not r["ours_valid"] else "fhircraft rejects"
                if which == "invalid" and r["fhircraft_valid"]:
                    verdict = f"fhircraft accepts (expected {r['rule']})"
                lines.append(f"  [{r['profile']}] {r['key']}: {verdict}")
                for m in (r["ours"] if not r["ours_valid"] else r["fhircraft"])[:2]:
                    lines.append(f"      {m[:200]}")
    return "\n".join(lines)


def install(venv: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", FHIRCRAFT], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", type=Path, default=Path(os.environ.get("FHIRCRAFT_VENV", DEFAULT_VENV)))
    ap.add_argument("--install", action="store_true", help=f"create the venv with {FHIRCRAFT} first")
    ap.add_argument("--mode", default="snapshot", choices=("snapshot", "auto", "differential"),
                    help="fhircraft build mode (auto/differential lose unconstrained backbone children)")
    ap.add_argument("--no-corpus", action="store_true", help="only the valid golden examples")
    ap.add_argument("--corpus-sample", type=int, default=None, help="every k-th corpus case, N in all")
    ap.add_argument("--json", action="store_true", help="print the raw comparison as JSON")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--package", type=Path, default=ROOT / "profiles" / "package", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.package, a.mode)
        return 0
    python = a.venv / "bin" / "python"
    if a.install and not python.exists():
        install(a.venv)
    if not python.exists():
        print(f"no fhircraft venv at {a.venv}; run with --install (needs pip access)", file=sys.stderr)
        return 2
    items = collect_golden()
    if not a.no_corpus:
        items += collect_corpus(a.corpus_sample)
    t = time.perf_counter()
    our = ours(items)
    t_ours = time.perf_counter() - t
    result = compare(items, our, run_worker(python, items, a.mode))
    result["timing"]["ours"] = round(t_ours, 2)
    if a.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        print(table(result))
        print(f"\nours: {len(items)} items in {t_ours:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
