"""fhir_onco.documents: the one parser of YAML / JSON / NDJSON inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhir_onco.documents import DocumentError, iter_ndjson, load_document, parse_json, parse_yaml


def test_over_the_size_limit_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_ONCO_MAX_INPUT_MB", "0.001")
    path = tmp_path / "big.yaml"
    path.write_text("patient: {sex: male}\n" + "# padding\n" * 200, encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load_document(path)
    assert info.value.issues[0][0] == "(file)" and "FHIR_ONCO_MAX_INPUT_MB" in info.value.issues[0][1]


def test_yaml_merge_keys_may_be_overridden_but_keys_not_repeated() -> None:
    assert parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")["c"] == {"x": 3, "y": 2}
    with pytest.raises(DocumentError, match="duplicate key 'x'"):
        parse_yaml("c:\n  x: 1\n  x: 2\n")


def test_alias_bomb_is_refused() -> None:
    levels = ["a: &a [x,x,x,x,x,x,x,x,x]"]
    for prev, name in zip("abcde", "bcdef", strict=True):
        levels.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    with pytest.raises(DocumentError, match="expands to far more values"):
        parse_yaml("\n".join(levels))


def test_dates_stay_text_and_numbers_stay_numbers() -> None:
    assert parse_yaml("d: 2021-07-02\nn: 12\nf: 0.5\n") == {"d": "2021-07-02", "n": 12, "f": 0.5}


@pytest.mark.parametrize("text", ["1e999", "-1e999", "NaN", "Infinity"])
def test_json_numbers_must_be_finite(text: str) -> None:
    with pytest.raises(DocumentError):
        parse_json('{"v": ' + text + "}")


def test_ndjson_bad_lines_fail_alone(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_bytes(b'{"a": 1}\n{bad\n' + b"[" * 5000 + b'\n{"b": "\xe6"}\n\n{"c": 3}\n')
    got = list(iter_ndjson(path))
    assert [n for n, v in got if not isinstance(v, DocumentError)] == [1, 6]
    errors = {n: v.issues[0] for n, v in got if isinstance(v, DocumentError)}
    assert errors[2][0] == "column 2" and errors[3][1] == "nested deeper than 100 levels"
    assert errors[4] == ("byte 8", "not UTF-8 text")
    assert all(v.source == f"{path}:{n}" for n, v in got if isinstance(v, DocumentError))


def test_yaml_depth_and_size_limits_located_without_the_walk() -> None:
    """The construction measures depth and size; past either limit the walk still names the place."""
    deep = "a:\n" + "".join("  " * i + "- \n" for i in range(1, 101)) + "  " * 101 + "- x\n"
    with pytest.raises(DocumentError) as info:
        parse_yaml(deep)
    assert info.value.issues[0][1] == "nested deeper than 100 levels" and info.value.issues[0][0].startswith("a[0]")
    assert parse_yaml("a:\n" + "".join("  " * i + "- \n" for i in range(1, 98)) + "  " * 98 + "- x\n")
    shared = "s: &s [" + ", ".join(["1"] * 50) + "]\nt: [" + ", ".join(["*s"] * 3) + "]\n"
    assert parse_yaml(shared)["t"] == [[1] * 50] * 3  # aliases take the walk (160 values in 118 chars: within)


def test_yaml_resolver_hooks_give_pyyaml_tags() -> None:
    """The memoised resolver and the no-op path hooks give the tag PyYAML's own resolver gives."""
    import yaml

    from fhir_onco.documents import DocumentLoader

    class Plain(DocumentLoader):  # PyYAML's resolver methods, our implicit resolvers
        resolve = yaml.resolver.BaseResolver.resolve
        descend_resolver = yaml.resolver.BaseResolver.descend_resolver
        ascend_resolver = yaml.resolver.BaseResolver.ascend_resolver

    def tags(node: yaml.Node) -> list[tuple[str, object]]:
        if isinstance(node, yaml.ScalarNode):
            return [(node.tag, node.value)]
        children = node.value if isinstance(node, yaml.SequenceNode) else [x for kv in node.value for x in kv]
        return [(node.tag, None)] + [t for child in children for t in tags(child)]

    text = ("a: 1\nb: 1.5\nc: 03.2019\nd: 2021-07-02\ne: yes\nf: ~\ng: null\nh: '12'\ni: \"x\"\nj: .inf\n"
            "k: 0x1F\nl: 1_000\nm: [on, off, Null, TRUE, -1, +2, 1e3, .5]\nn: {x: !!str 3, y: !!int '4'}\n"
            "o: <<\np: =\nq: ''\nr:\ns: multiple myeloma\n")
    ours, plain = yaml.compose(text, Loader=DocumentLoader), yaml.compose(text, Loader=Plain)
    assert tags(ours) == tags(plain)
    assert ("tag:yaml.org,2002:int", "1") in tags(ours) and ("tag:yaml.org,2002:str", "12") in tags(ours)


def test_yaml_without_anchors_built_as_with_them() -> None:
    """parse_yaml skips alias bookkeeping for a text without '&' and '*': same data as yaml.load."""
    import yaml

    from fhir_onco.documents import DocumentLoader

    root = Path(__file__).resolve().parents[1]
    texts = [p.read_text("utf-8-sig") for p in sorted(root.glob("examples/**/*.yaml"))]
    plain = [t for t in texts if "&" not in t and "*" not in t]
    assert len(plain) >= 3
    for text in plain:
        assert repr(parse_yaml(text)) == repr(yaml.load(text, Loader=DocumentLoader))
