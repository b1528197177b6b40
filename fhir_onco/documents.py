"""One parser for every YAML / JSON / NDJSON document the tool reads, so one input gets one verdict.

``map``, ``validate``, ``push``, ``timeline`` and ``report`` all read documents through here, and a
document they cannot use is refused with a located message instead of a traceback or a silent
guess. Beyond syntax, a document is refused when it:

- has a duplicate key in a mapping (YAML and JSON parsers otherwise keep the last one silently);
- nests deeper than :data:`MAX_DEPTH` levels (deep nesting exhausts the interpreter's stack);
- holds a number literal longer than :data:`MAX_NUMBER_CHARS` characters or one that is not finite
  (Python refuses to convert integers of more than 4,300 digits; 1e999 becomes infinity);
- is larger than :data:`max_document_bytes` (``FHIR_ONCO_MAX_INPUT_MB``, default 32 MB), or its
  YAML aliases expand it to far more values than its text holds.

``.json`` and ``.ndjson`` files are parsed as strict JSON, ``.yaml`` / ``.yml`` as YAML (safe
loader, dates kept as text). Messages name the file, the line and column or field path, and the
rule; they never quote the document's values.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import os
import re
from collections.abc import Iterator
from json.decoder import JSONObject  # type: ignore[attr-defined]
from json.scanner import py_make_scanner  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, ClassVar

import yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_NUMBER_CHARS",
    "DocumentError",
    "iter_ndjson",
    "load_document",
    "max_document_bytes",
    "parse_json",
    "parse_yaml",
]

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists accepted (our FHIR output nests about 12 levels)."""

MAX_NUMBER_CHARS = 100
"""Longest number literal accepted; no clinical or FHIR value needs more."""

DEFAULT_MAX_DOCUMENT_MB = 32
MAX_INPUT_ENV = "FHIR_ONCO_MAX_INPUT_MB"

YAML_SUFFIXES = (".yaml", ".yml")


class DocumentError(ValueError):
    """A document that cannot be used; ``issues`` holds (location, message) pairs."""

    def __init__(self, source: str, issues: list[tuple[str, str]]):
        self.source = source
        self.issues = issues
        super().__init__("; ".join(f"{source}: {loc}: {msg}" for loc, msg in issues))


def max_document_bytes() -> int:
    """Size limit per document in bytes (``FHIR_ONCO_MAX_INPUT_MB``, default 32)."""
    raw = os.environ.get(MAX_INPUT_ENV, "")
    try:
        megabytes = float(raw) if raw.strip() else DEFAULT_MAX_DOCUMENT_MB
    except ValueError:
        megabytes = DEFAULT_MAX_DOCUMENT_MB
    return int(megabytes * 1024 * 1024)


def _line_col(text: str, offset: int, ndjson_line: bool = False) -> str:
    if ndjson_line:  # its number is already in the source
        return f"column {offset + 1}"
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


# ---- JSON -----------------------------------------------------------------------------------------
class _LiteralError(ValueError):
    def __init__(self, literal: str, message: str):
        super().__init__(message)
        self.literal = literal
        self.message = message


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _check_literal(literal: str) -> None:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _LiteralError(literal, f"a number of {len(literal)} characters; at most {MAX_NUMBER_CHARS} "
                                     "are accepted")


def _parse_int(literal: str) -> int:
    _check_literal(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    _check_literal(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise _LiteralError(literal, "a number too large to represent (not finite)")
    return value


def _parse_constant(literal: str) -> float:
    raise _LiteralError(literal, f"{literal} is not a JSON number")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return result


def _decoder() -> json.JSONDecoder:
    return json.JSONDecoder(object_pairs_hook=_pairs, parse_int=_parse_int, parse_float=_parse_float,
                            parse_constant=_parse_constant)


def _duplicate_key_offset(text: str) -> int:
    """Offset of the object holding the first duplicate key: a slow pure-Python re-parse, error path only."""
    starts: list[int] = []
    decoder = _decoder()

    def parse_object(s_and_end: tuple[str, int], *args: Any, **kw: Any) -> tuple[Any, int]:
        starts.append(s_and_end[1] - 1)
        value = JSONObject(s_and_end, *args, **kw)
        starts.pop()
        return value

    decoder.parse_object = parse_object  # type: ignore[assignment]
    decoder.scan_once = py_make_scanner(decoder)
    try:
        decoder.decode(text)
    except _DuplicateKeyError:
        return starts[-1] if starts else 0
    except (ValueError, RecursionError):
        pass
    return 0


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep_offset(text: str) -> int:
    """Offset where nesting first exceeds MAX_DEPTH (brackets inside strings do not count)."""
    blanked = _JSON_STRING.sub(lambda m: " " * len(m.group()), text)
    depth = 0
    for match in _BRACKET.finditer(blanked):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            return match.start()
    return 0


def parse_json(text: str, source: str = "<json>", *, ndjson_line: bool = False) -> Any:
    """Strict JSON with the checks above; ``ndjson_line``: locations are columns of that one line."""
    try:
        data = _decoder().decode(text)
    except _LiteralError as exc:
        offset = max(text.find(exc.literal), 0)
        raise DocumentError(source, [(_line_col(text, offset, ndjson_line), exc.message)]) from None
    except _DuplicateKeyError as exc:
        where_dup = _line_col(text, _duplicate_key_offset(text), ndjson_line)
        raise DocumentError(source, [(where_dup, f"duplicate key '{_short(exc.key)}' in one object")]) from None
    except RecursionError:
        where_deep = _line_col(text, _too_deep_offset(text), ndjson_line)
        raise DocumentError(source, [(where_deep, f"nested deeper than {MAX_DEPTH} levels")]) from None
    except json.JSONDecodeError as exc:
        raise DocumentError(source, [(_line_col(text, exc.pos, ndjson_line), f"not valid JSON: {exc.msg}")]) from None
    _check_shape(data, source, len(text))
    return data


def _short(key: str) -> str:
    # keys are field names, not patient values; still cap what a hostile file can make us print
    return key if len(key) <= 40 and key.isprintable() else key[:40].encode("unicode_escape").decode() + "..."


def _check_shape(data: Any, source: str, text_size: int) -> None:
    """Iterative depth and expanded-size check (YAML aliases can make a small text a huge document)."""
    budget = text_size + 1000
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        if depth > MAX_DEPTH:
            raise DocumentError(source, [(path or "(root)", f"nested deeper than {MAX_DEPTH} levels")])
        budget -= len(node)
        if budget < 0:
            raise DocumentError(source, [(path or "(root)",
                                          "expands to far more values than the file holds (YAML aliases); "
                                          "write the values out")])
        for key, child in items:
            if isinstance(child, dict | list):
                child_path = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
                stack.append((child, depth + 1, child_path))


# ---- YAML -----------------------------------------------------------------------------------------
_MONTH_YEAR = re.compile(r"^\d{1,2}\.\d{4}$")

# libyaml's parser when PyYAML has it: about 20x faster than the pure-Python one, and it stops at
# 1,000 levels of nesting itself (the pure-Python composer recurses, hence compose_node below)
_YamlBase: Any = getattr(yaml, "CSafeLoader", None) if getattr(yaml, "__with_libyaml__", False) else None
_YamlBase = _YamlBase or yaml.SafeLoader


class DocumentLoader(_YamlBase):  # type: ignore[misc, valid-type]
    """Safe YAML without implicit timestamps (dates stay text, as written), refusing duplicate keys,
    over-deep nesting and over-long or non-finite numbers with their line and column."""

    _depth = 0
    no_aliases = False  # set by parse_yaml for a text with neither '&' nor '*'
    _SCALARS: ClassVar[dict[str, Any]] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:  # PyYAML hook
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # PyYAML hook
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # keys merged in with `<<` may be overridden: that is what merging is for
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the base constructor reports it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{_short(str(key))}' in one mapping", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:  # PyYAML hook
        self._check_number(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: Any) -> float | str:  # PyYAML hook
        if _MONTH_YEAR.match(node.value):
            # Clerks write `onset: 03.2019` unquoted; as a float it would be 3.2019 and `10.2020` would
            # lose its zero. It stays text (a number field still reads the text as a number).
            return str(node.value)
        self._check_number(node)
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise yaml.constructor.ConstructorError(None, None, "a number that is not finite", node.start_mark)
        return value

    def construct_document(self, node: Any) -> Any:  # PyYAML hook
        """The common case built directly from the composed nodes (libyaml composes them, PyYAML's
        generic constructor was then most of a case file's reading time); anything else - merge
        keys, other tags, cycles, any error - goes through the standard constructor, so it gets
        exactly the standard result or message.

        On the way it measures what :func:`_check_shape` would check (deepest nesting, values in
        all mappings and lists, whether an alias repeats a mapping or list): ``shape`` holds
        (depth, values) when no alias repeated one, else None - then the walk must run."""
        self.shape = None
        try:
            value, self.shape = self._fast(node)
            return value
        except (_Fallback, yaml.YAMLError, RecursionError):
            return super().construct_document(node)

    def _fast(self, root: Any) -> tuple[Any, tuple[int, int] | None]:
        done: dict[int, Any] = {}  # collections built, by node id (an alias gives the same object)
        building: set[int] = set()
        scalars = self._SCALARS
        scalar_node, seq_node, map_node = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
        deepest = values = 0
        aliased = False
        track = not self.no_aliases  # a text without '&' and '*' has no anchors, so no node is met twice

        def build(node: Any, depth: int) -> Any:
            nonlocal deepest, values, aliased
            kind, tag = type(node), node.tag
            if kind is scalar_node:
                if tag == _STR_TAG:
                    return node.value
                scalar = scalars.get(tag)
                if scalar is None:
                    raise _Fallback
                return scalar(self, node)
            key = id(node)
            if track:
                if key in done:
                    aliased = True
                    return done[key]  # an alias: the same object, as the standard constructor gives
                if key in building:
                    raise _Fallback  # a recursive structure
            if depth > deepest:
                deepest = depth
            value: Any
            if kind is seq_node and tag == _SEQ_TAG:
                if track:
                    building.add(key)
                items = node.value
                values += len(items)
                value = [item.value if type(item) is scalar_node and item.tag == _STR_TAG else build(item, depth + 1)
                         for item in items]
                if track:
                    building.discard(key)
            elif kind is map_node and tag == _MAP_TAG:
                if track:
                    building.add(key)
                pairs = node.value
                values += len(pairs)
                value = {}
                for key_node, value_node in pairs:
                    if type(key_node) is scalar_node and key_node.tag == _STR_TAG:
                        k = key_node.value
                    else:
                        k = build(key_node, depth + 1)
                        if type(k) not in (str, int, float, bool) and k is not None:
                            raise _Fallback  # the standard constructor reports or handles it
                    if k in value:
                        raise _Fallback  # a duplicate key: reported, located, by construct_mapping
                    if type(value_node) is scalar_node and value_node.tag == _STR_TAG:
                        value[k] = value_node.value
                    else:
                        value[k] = build(value_node, depth + 1)
                if track:
                    building.discard(key)
            else:
                raise _Fallback
            if track:
                done[key] = value
            return value

        data = build(root, 1)
        return data, (None if aliased else (deepest, values))

    @staticmethod
    def _check_number(node: Any) -> None:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise yaml.constructor.ConstructorError(
                None, None, f"a number of {len(node.value)} characters; at most {MAX_NUMBER_CHARS} are accepted",
                node.start_mark)


_STR_TAG, _SEQ_TAG, _MAP_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class _Fallback(Exception):
    """A node the direct construction leaves to PyYAML's standard constructor."""


DocumentLoader._SCALARS = {
    "tag:yaml.org,2002:str": lambda self, node: node.value,
    "tag:yaml.org,2002:int": DocumentLoader.construct_yaml_int,
    "tag:yaml.org,2002:float": DocumentLoader.construct_yaml_float,
    "tag:yaml.org,2002:bool": DocumentLoader.construct_yaml_bool,
    "tag:yaml.org,2002:null": lambda self, node: None,
}

DocumentLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@functools.lru_cache(maxsize=2048)
def _resolve(kind: Any, value: Any, implicit: Any) -> Any:
    """PyYAML's implicit tag of a node (what ``BaseResolver.resolve`` answers for our loader).

    The memo keeps the scalar texts it is keyed by: 2,048 entries hold the field names and the common
    values that make the hits, and bound what long free-text scalars can keep alive."""
    return yaml.resolver.BaseResolver.resolve(DocumentLoader, kind, value, implicit)  # type: ignore[arg-type]


# libyaml's composer asks these three hooks of every node. Our loader registers no path resolvers,
# so the answer depends on (kind, text, implicit) only: a C-level memo answers `resolve` (PyYAML
# tries its regular expressions on every plain scalar otherwise), and the two path-tracking hooks,
# which return at once without path resolvers, become C built-ins that ignore their arguments.
assert not DocumentLoader.yaml_path_resolvers
DocumentLoader.resolve = staticmethod(_resolve)
DocumentLoader.descend_resolver = staticmethod(operator.is_)  # (parent, index) -> ignored bool
DocumentLoader.ascend_resolver = staticmethod(tuple)  # () -> the empty tuple, ignored
DocumentLoader.add_constructor("tag:yaml.org,2002:int", DocumentLoader.construct_yaml_int)
DocumentLoader.add_constructor("tag:yaml.org,2002:float", DocumentLoader.construct_yaml_float)
DocumentLoader.add_constructor("tag:yaml.org,2002:map", DocumentLoader.construct_yaml_map)


def parse_yaml(text: str, source: str = "<yaml>") -> Any:
    """Safe YAML with the checks above."""
    loader = DocumentLoader(text)  # a SafeLoader; what yaml.load does, keeping the loader to ask
    loader.no_aliases = "&" not in text and "*" not in text
    try:
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or "unreadable"
        raise DocumentError(source, [(where, f"not valid YAML: {problem}")]) from None
    except RecursionError:  # a construct our depth check does not see; no location is known
        raise DocumentError(source, [("(file)", f"nested deeper than {MAX_DEPTH} levels")]) from None
    shape = getattr(loader, "shape", None)
    if shape is None or shape[0] > MAX_DEPTH or shape[1] > len(text) + 1000:
        _check_shape(data, source, len(text))  # it finds, and locates, what the measure suggests
    return data


# ---- files ----------------------------------------------------------------------------------------
def read_text(path: str | Path) -> str:
    """A document's text (UTF-8, BOM allowed), refused when missing, unreadable or over the size limit."""
    p = Path(path)
    limit = max_document_bytes()
    try:
        size = p.stat().st_size
        if size > limit:
            raise DocumentError(str(p), [("(file)", f"{size / 1048576:.1f} MB is over the {limit / 1048576:.0f} MB "
                                                    f"limit per document (set {MAX_INPUT_ENV} to raise it)")])
        return p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DocumentError(str(p), [("(file)", f"cannot read: {exc.strerror or type(exc).__name__}")]) from None
    except UnicodeDecodeError as exc:
        raise DocumentError(str(p), [(f"byte {exc.start}", "not UTF-8 text")]) from None


def load_document(path: str | Path) -> Any:
    """A YAML (``.yaml``/``.yml``) or JSON (anything else) document, checked as described above."""
    p = Path(path)
    text = read_text(p)
    if p.suffix.lower() in YAML_SUFFIXES:
        return parse_yaml(text, str(p))
    return parse_json(text, str(p))


def iter_ndjson(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, value or the DocumentError of that line) for each non-blank line of an NDJSON file.

    Streams: a bulk file may be far larger than one document. A bad line (not JSON, not UTF-8, over
    the size limit) does not stop the others; a file that cannot be opened raises DocumentError.
    """
    p = Path(path)
    source = str(p)
    limit = max_document_bytes()
    try:
        handle = p.open("rb")
    except OSError as exc:
        raise DocumentError(source, [("(file)", f"cannot read: {exc.strerror or type(exc).__name__}")]) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{source}:{number}"
            if len(raw) > limit:
                yield number, DocumentError(where, [("(line)", f"over the {limit / 1048576:.0f} MB limit")])
                continue
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, DocumentError(where, [(f"byte {exc.start + 1}", "not UTF-8 text")])
                continue
            if not line.strip():
                continue
            try:
                yield number, parse_json(line.rstrip("\r\n"), where, ndjson_line=True)
            except DocumentError as exc:
                yield number, exc
