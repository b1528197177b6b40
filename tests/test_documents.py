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
