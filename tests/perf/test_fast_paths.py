"""Fast paths that must give exactly what the plain code gives."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from fhir_onco.fhir.builders import NAMESPACE, IdFactory, resource_id
from fhir_onco.tabular.store import RowStore


def test_resource_id_is_uuid5() -> None:
    rnd = random.Random(11)
    alphabet = "abcXYZ019|-_ .éжß漢\U0001f600"
    for _ in range(20_000):
        parts = tuple("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
                      for _ in range(rnd.randint(1, 4)))
        assert resource_id(*parts) == str(uuid.uuid5(NAMESPACE, "|".join(parts)))
        # a patient's ids hash its key once (mappings/context.py new_id): the same ids
        if len(parts) > 1:
            assert IdFactory(parts[0])("|".join(parts[1:])) == resource_id(*parts)


def test_row_store_gives_cells_back(tmp_path) -> None:
    cells = [{"a": "1", "b": "é \"q\" \\ \u2028", "c": ""}, {"x": "\U0001f600", "": "y"}]
    with RowStore(tmp_path) as store:
        store.add_rows("t", iter([("p1", 2, cells[0], 0), ("p1", 3, cells[1], 1)]), driver=True)
        rows = store.rows_of("p1")
    assert [r.cells for r in rows] == cells
    assert [(r.table, r.line, r.extra) for r in rows] == [("t", 2, 0), ("t", 3, 1)]


def _load_both(text: str) -> list[tuple[str, ...]]:
    import yaml

    from fhir_onco import documents

    class Standard(documents.DocumentLoader):  # PyYAML's own construction, every other hook ours
        def construct_document(self, node):  # type: ignore[no-untyped-def]
            return yaml.constructor.BaseConstructor.construct_document(self, node)

    out = []
    for loader in (documents.DocumentLoader, Standard):
        try:
            out.append(("ok", repr(yaml.load(text, Loader=loader))))
        except yaml.YAMLError as exc:
            out.append(("error", type(exc).__name__, str(exc)))
    return out


def test_direct_yaml_construction_equals_pyyaml() -> None:
    root = Path(__file__).resolve().parents[2]
    texts = [p.read_text("utf-8-sig") for p in sorted(root.glob("examples/**/*.yaml"))]
    assert len(texts) > 5
    texts += [
        "a: 1\na: 2\n", "a: &x [1, 2]\nb: *x\nc: *x\n", "<<: {a: 1}\nb: 2\n", "a: !!binary aGk=\n",
        "a: 03.2019\nb: 1e999\n", "a: " + "1" * 200 + "\n", "? [1]\n: 2\n", "a: &a [*a]\n", "1: x\n1.0: y\n",
        "x: ~\ny: yes\nz: true\nw: 2001-01-01\nv: .inf\n", "- - - 1\n", "!!set {a, b}\n", "a: !!str 12\n",
        "{a: 1, b: {c: [1, 2, {d: null}]}}", "a: !custom 1\n", "&r {a: *r}\n", "- 0x1F\n- 0o17\n- 1_000\n",
    ]
    for text in texts:
        fast, standard = _load_both(text)
        assert fast == standard, text[:80]


def test_references_from_json_text_equal_the_walk() -> None:
    """check_bundle's reference list read from orjson text against the plain walk: every golden
    resource, odd keys and values, and 2,000 random nestings."""
    import json

    from fhir_onco.validation.bundle import _references, _walk_references

    root = Path(__file__).resolve().parents[2]
    resources = [e["resource"] for p in sorted((root / "examples" / "golden").glob("*.json"))
                 for e in json.loads(p.read_text("utf-8")).get("entry", [])]
    resources += [
        {"a": {'x"reference': "v"}}, {"reference": 'a"b\\', "b": [{"reference": 1}, {"reference": "ü\u2028"}]},
        {"contained": [{"reference": "x"}], "reference": "y"}, {"k": '"reference":"z'},
        {"big": 10**30, "reference": "q"}, {"reference": "x", "c": {"contained": 1, "d": {"reference": "y"}}},
        {"reference": None, "r": {"reference": ["a"]}}, {"x\\": {"reference": "\\"}},
    ]
    rnd = random.Random(5)
    keys = ["reference", "contained", "a", 'b"', "reference\\", "c"]
    leaves = ["urn:uuid:1", 'q"', "\\", 3, None, True, "\u2028", "reference"]

    def build(depth: int) -> object:
        if depth > 3 or rnd.random() < 0.3:
            return rnd.choice(leaves)
        if rnd.random() < 0.4:
            return [build(depth + 1) for _ in range(rnd.randint(0, 3))]
        return {rnd.choice(keys): build(depth + 1) for _ in range(rnd.randint(0, 4))}

    resources += [{"r": build(0)} for _ in range(2_000)]
    for res in resources:
        assert sorted(_references(res)) == sorted(_walk_references(res)), res
