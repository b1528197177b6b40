"""A deterministic corpus of malformed inputs: case files, registry CSV extracts and FHIR.

Every input is derived from our own good examples by a named mutation (structural attacks,
truncation, byte flips, type swaps at random field paths, encoding faults), with a fixed seed, so a
failure names the mutation that caused it and reproduces exactly.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from fhir_onco.documents import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOOD_CASE = EXAMPLES / "seed000-b-all.yaml"
GOLDEN = EXAMPLES / "golden"
REGISTRY = EXAMPLES / "registry"
COHORT_SPEC = EXAMPLES / "cohorts" / "seed004-isapd.yaml"

# values that have broken parsers and mappers before: types, sizes, ranges
HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 1e308, -1e308, 10**40, "", " ", "x" * 10_000, [], {}, [[[]]], {"a": {"b": {}}},
    "D+99999999", "day 0@x", "9999-99-99", "0000-00-00", "1-7-9999999", "\x00", "‮", "NaN", "Infinity",
    "../../etc/passwd", "%s%n", "{{7*7}}", [None], [1, "a", None], 3.5, "2021-02-30",
]


def _case_data() -> dict[str, Any]:
    return parse_yaml(GOOD_CASE.read_text(encoding="utf-8"))  # dates stay text, so JSON can hold them


def _paths(node: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*here, i))


def _set(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    target = node
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return node


def _type_swaps(data: Any, rng: random.Random, n: int) -> Iterator[tuple[str, Any]]:
    paths = [p for p in _paths(data) if p]
    for i in range(n):
        path = rng.choice(paths)
        value = rng.choice(HOSTILE_VALUES)
        mutated = _set(json.loads(json.dumps(data)), path, value)
        yield f"swap{i}", mutated


def _text_mutations(text: str, rng: random.Random, n: int) -> Iterator[tuple[str, bytes]]:
    raw = text.encode("utf-8")
    for i in range(n):
        kind = i % 5
        if kind == 0:  # truncation
            yield f"trunc{i}", raw[: rng.randrange(1, len(raw))]
        elif kind == 1:  # byte flips
            b = bytearray(raw)
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            yield f"flip{i}", bytes(b)
        elif kind == 2:  # a line duplicated (often a duplicate key)
            lines = raw.splitlines(keepends=True)
            j = rng.randrange(len(lines))
            yield f"dupline{i}", b"".join([*lines[: j + 1], lines[j], *lines[j + 1:]])
        elif kind == 3:  # a chunk deleted
            a = rng.randrange(len(raw))
            yield f"cut{i}", raw[:a] + raw[a + rng.randrange(1, 200):]
        else:  # a structural character inserted
            a = rng.randrange(len(raw))
            inserted = rng.choice([b"[", b"{", b":", b"\"", b"\n  - ", b"&a ", b"*a", b"\t"])
            yield f"insert{i}", raw[:a] + inserted + raw[a:]


STRUCTURAL: dict[str, bytes] = {
    "deep-list-100k": b"[" * 100_000,
    "deep-map-3000": b"".join(b" " * i + b"a:\n" for i in range(3000)) + b" " * 3000 + b"1\n",
    "deep-flow-map-3000": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "digits-5000": b"patient:\n  identifiers: [{system: urn:x, value: '1'}]\n  sex: male\nmrd:\n"
                   b"  - {date: 2021-01-01, value_percent: " + b"9" * 5000 + b"}\n",
    "float-5000": b'{"patient": {"sex": "male"}, "x": 0.' + b"1" * 5000 + b"}",
    "empty": b"",
    "null": b"null\n",
    "list-root": b"- a\n- b\n",
    "scalar-root": b"42\n",
    "bom-only": b"\xef\xbb\xbf",
    "not-utf8": b"patient:\n  sex: \xcf\xf0\xe8\n",
    "utf16": "patient: {sex: male}\n".encode("utf-16"),
    "nul-bytes": b"patient:\x00\x00\n",
    "dup-key-top": b"patient: {sex: male}\npatient: {sex: female}\n",
    "dup-key-nested": b'{"patient": {"sex": "male", "sex": "female", "identifiers": []}}',
    "alias-bomb": b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                  b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\npatient: [*e,*e,*e]\n",
    "python-tag": b"patient: !!python/object/apply:os.system ['true']\n",
    "yaml-inf": b"patient: {sex: male, identifiers: [{system: urn:x, value: '1'}]}\nmrd: [{date: 2021-01-01, "
                b"value_percent: .inf}]\n",
    "json-nan": b'{"patient": {"sex": "male"}, "mrd": [{"date": "2021-01-01", "value_percent": NaN}]}',
    "huge-string-key": b"patient: {sex: male}\n" + b"k" * 200_000 + b": 1\n",
}


def case_inputs(directory: Path, n_swaps: int = 90, n_text: int = 60, seed: int = 10) -> list[Path]:
    """Malformed case files (YAML and JSON)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []

    def write(name: str, payload: bytes, suffix: str) -> None:
        path = directory / f"case-{name}{suffix}"
        path.write_bytes(payload)
        out.append(path)

    for name, payload in STRUCTURAL.items():
        write(name, payload, ".json" if payload.lstrip(b"\xef\xbb\xbf").startswith((b"{", b"[")) else ".yaml")
    data = _case_data()
    for name, mutated in _type_swaps(data, rng, n_swaps):
        if rng.random() < 0.5:
            write(name, json.dumps(mutated, ensure_ascii=False).encode("utf-8"), ".json")
        else:
            write(name, yaml.safe_dump(mutated, allow_unicode=True).encode("utf-8"), ".yaml")
    for name, payload in _text_mutations(GOOD_CASE.read_text(encoding="utf-8"), rng, n_text):
        write(name, payload, ".yaml")
    return out


def fhir_inputs(directory: Path, n_swaps: int = 50, n_text: int = 25, seed: int = 20) -> list[Path]:
    """Malformed FHIR: bundles, resources and NDJSON."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    bundle = json.loads((GOLDEN / "seed004-progression-death.json").read_text(encoding="utf-8"))
    out: list[Path] = []

    def write(name: str, payload: bytes, suffix: str = ".json") -> None:
        path = directory / f"fhir-{name}{suffix}"
        path.write_bytes(payload)
        out.append(path)

    def dumps(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")

    shapes: dict[str, Any] = {
        "entry-object": {**bundle, "entry": {"a": 1}},
        "entry-string": {**bundle, "entry": "nope"},
        "entry-items-null": {**bundle, "entry": [None, "x", 3]},
        "resource-list": {**bundle, "entry": [{"resource": [1, 2]}]},
        "resource-string": {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": "Patient"}]},
        "type-bogus": {**bundle, "type": "bogus"},
        "method-yeet": {**bundle, "entry": [{**e, "request": {"method": "YEET", "url": "x"}} for e in bundle["entry"]]},
        "resourceType-number": {"resourceType": 7},
        "resourceType-list": {"resourceType": ["Patient"]},
        "unknown-type": {"resourceType": "Banana", "id": "1"},
        "patient-only": {"resourceType": "Patient", "id": "x", "gender": 5, "birthDate": {"a": 1}},
        "empty-bundle": {"resourceType": "Bundle"},
        "null-doc": None,
        "list-doc": [bundle],
    }
    for name, value in shapes.items():
        write(name, dumps(value))
    for name, payload in STRUCTURAL.items():
        if payload.lstrip(b"\xef\xbb\xbf").startswith((b"{", b"[")) or name in ("empty", "null", "not-utf8"):
            write(f"raw-{name}", payload)
    for name, mutated in _type_swaps(bundle, rng, n_swaps):
        write(name, dumps(mutated))
    for name, payload in _text_mutations(json.dumps(bundle, indent=1), rng, n_text):
        write(name, payload)
    lines = [json.dumps(e["resource"]) for e in bundle["entry"][:6]]
    ndjson = {
        "nd-broken-line": "\n".join([lines[0], "{not json", *lines[1:]]),
        "nd-deep-line": "\n".join([lines[0], "[" * 50_000, lines[1]]),
        "nd-null-line": "\n".join([lines[0], "null", "[]", "7", lines[1]]),
        "nd-digits": "\n".join([lines[0], '{"resourceType": "Observation", "valueInteger": ' + "9" * 5000 + "}"]),
        "nd-dup-key": "\n".join([lines[0], '{"resourceType": "Patient", "id": "a", "id": "b"}']),
    }
    for name, text in ndjson.items():
        write(name, text.encode("utf-8"), ".ndjson")
    write("nd-cp1251-line", (lines[0] + "\n").encode() + '{"resourceType": "Patient", "id": "ж"}\n'.encode("cp1251")
          + (lines[1] + "\n").encode(), ".ndjson")
    return out


CsvMutation = Callable[[Path, random.Random], None]


def _rewrite(path: Path, fn: Callable[[bytes], bytes]) -> None:
    path.write_bytes(fn(path.read_bytes()))


def _pick_csv(root: Path, rng: random.Random) -> Path:
    return rng.choice(sorted(root.glob("*.csv")))


def _csv_mutations() -> dict[str, CsvMutation]:
    def truncate(root: Path, rng: random.Random) -> None:
        _rewrite(_pick_csv(root, rng), lambda b: b[: rng.randrange(1, max(2, len(b)))])

    def flip(root: Path, rng: random.Random) -> None:
        def go(b: bytes) -> bytes:
            arr = bytearray(b)
            for _ in range(rng.randrange(1, 6)):
                arr[rng.randrange(len(arr))] = rng.randrange(256)
            return bytes(arr)
        _rewrite(_pick_csv(root, rng), go)

    def drop_header(root: Path, rng: random.Random) -> None:
        _rewrite(_pick_csv(root, rng), lambda b: b.split(b"\n", 1)[-1])

    def dup_row(root: Path, rng: random.Random) -> None:
        def go(b: bytes) -> bytes:
            lines = b.splitlines(keepends=True)
            if len(lines) < 2:
                return b + b
            j = rng.randrange(1, len(lines))
            return b"".join([*lines, lines[j] if lines[j].endswith(b"\n") else lines[j] + b"\n"])
        _rewrite(_pick_csv(root, rng), go)

    def huge_cell(root: Path, rng: random.Random) -> None:
        _rewrite(_pick_csv(root, rng), lambda b: b + b'patient-1,"' + b"x" * 200_000 + b'"\n')

    def huge_number(root: Path, rng: random.Random) -> None:
        def go(b: bytes) -> bytes:
            lines = b.splitlines(keepends=True)
            if len(lines) < 2:
                return b
            j = rng.randrange(1, len(lines))
            sep = b";" if b";" in lines[0] else b","
            cells = lines[j].rstrip(b"\r\n").split(sep)
            cells[rng.randrange(1, len(cells))] = rng.choice([b"9" * 5000, b"1e999", b"D+99999999", b"-0,0e-5"])
            lines[j] = sep.join(cells) + b"\n"
            return b"".join(lines)
        _rewrite(_pick_csv(root, rng), go)

    def cp1251_row(root: Path, rng: random.Random) -> None:
        row = "patient-1,x2,анемия,,2,,,2021-12,,,,,,,\n".encode("cp1251")
        _rewrite(root / "adverse_events.csv", lambda b: b + row)

    def unbalanced_quote(root: Path, rng: random.Random) -> None:
        _rewrite(_pick_csv(root, rng), lambda b: b + b'patient-1,"unterminated\n')

    def empty_file(root: Path, rng: random.Random) -> None:
        _pick_csv(root, rng).write_bytes(b"")

    def delete_file(root: Path, rng: random.Random) -> None:
        _pick_csv(root, rng).unlink()

    def extra_cells(root: Path, rng: random.Random) -> None:
        _rewrite(_pick_csv(root, rng), lambda b: b.replace(b"\n", b",,,zzz\n", 2))

    def nul_bytes(root: Path, rng: random.Random) -> None:
        _rewrite(_pick_csv(root, rng), lambda b: b.replace(b"a", b"\x00", 3))

    def link_outside(root: Path, rng: random.Random) -> None:
        target = root.parent / f"outside-{root.name}.csv"
        target.write_text("patient_id,system,value\npatient-1,urn:x,1\n", encoding="utf-8")
        (root / "identifiers.csv").unlink()
        (root / "identifiers.csv").symlink_to(target)

    return {f.__name__: f for f in (truncate, flip, drop_header, dup_row, huge_cell, huge_number, cp1251_row,
                                    unbalanced_quote, empty_file, delete_file, extra_cells, nul_bytes,
                                    link_outside)}


def csv_inputs(directory: Path, n: int = 80, seed: int = 30) -> list[Path]:
    """Malformed registry extracts: each a copy of examples/registry with one mutation."""
    rng = random.Random(seed)
    mutations = _csv_mutations()
    names = sorted(mutations)
    out: list[Path] = []
    for i in range(n):
        name = names[i % len(names)]
        root = directory / f"csv-{i:03d}-{name}"
        shutil.copytree(REGISTRY, root)
        mutations[name](root, rng)
        out.append(root)
    return out


def spec_inputs(directory: Path, n: int = 25, seed: int = 40) -> list[Path]:
    """Malformed cohort specs."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    data = parse_yaml(COHORT_SPEC.read_text(encoding="utf-8"))
    out: list[Path] = []
    for name, mutated in _type_swaps(data, rng, n):
        path = directory / f"spec-{name}.yaml"
        path.write_text(yaml.safe_dump(mutated, allow_unicode=True), encoding="utf-8")
        out.append(path)
    for name in ("deep-map-3000", "digits-5000", "dup-key-top", "alias-bomb", "null", "empty"):
        path = directory / f"spec-{name}.yaml"
        path.write_bytes(STRUCTURAL[name])
        out.append(path)
    return out
