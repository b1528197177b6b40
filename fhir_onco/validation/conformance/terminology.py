"""Offline terminology: our ValueSets/CodeSystems and the shipped expansions of core value sets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Value sets that cannot be enumerated but have a grammar we can check.
_MIME = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*(\s*;.*)?")
_BCP47 = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
GRAMMARS: dict[str, re.Pattern[str]] = {
    "http://hl7.org/fhir/ValueSet/mimetypes": _MIME,
    "http://hl7.org/fhir/ValueSet/all-languages": _BCP47,
    "http://hl7.org/fhir/ValueSet/languages": _BCP47,
}


@dataclass(slots=True)
class Expansion:
    """An expanded value set: explicit (system, code) pairs, and whether that list is complete.

    ``complete`` is False when the definition includes a whole external code system or a filter
    (e.g. a SNOMED CT hierarchy) we cannot enumerate offline: a code outside the explicit list is
    then "unknown" (warning), not "invalid" (error).
    """

    url: str
    pairs: frozenset[tuple[str, str]] = frozenset()
    codes: frozenset[str] = frozenset()
    systems: frozenset[str] = frozenset()
    complete: bool = True
    grammar: re.Pattern[str] | None = None

    def contains(self, system: str | None, code: str) -> bool | None:
        """True/False when decidable; None when the value set cannot be enumerated."""
        if self.grammar is not None:
            return self.grammar.fullmatch(code) is not None
        if system is None:
            if code in self.codes:
                return True
        elif (system, code) in self.pairs:
            return True
        return None if not self.complete else False


@dataclass(slots=True)
class Terminology:
    valuesets: dict[str, dict[str, Any]] = field(default_factory=dict)
    codesystems: dict[str, dict[str, Any]] = field(default_factory=dict)
    core_expansions: dict[str, list[list[str]]] = field(default_factory=dict)
    _cache: dict[str, Expansion | None] = field(default_factory=dict)
    # our complete code systems: url -> codes
    cs_codes: dict[str, frozenset[str]] = field(default_factory=dict)

    def add_codesystem(self, cs: dict[str, Any]) -> None:
        self.codesystems[cs["url"]] = cs
        if cs.get("content") == "complete":
            codes: set[str] = set()
            stack = list(cs.get("concept", []))
            while stack:
                c = stack.pop()
                codes.add(c["code"])
                stack.extend(c.get("concept", []))
            self.cs_codes[cs["url"]] = frozenset(codes)

    def expansion(self, url: str) -> Expansion | None:
        url = url.split("|", 1)[0]
        if url in self._cache:
            return self._cache[url]
        self._cache[url] = None  # recursion guard
        exp = self._expand(url)
        self._cache[url] = exp
        return exp

    def _expand(self, url: str) -> Expansion | None:
        if url in GRAMMARS:
            return Expansion(url, grammar=GRAMMARS[url])
        if url in self.core_expansions:
            pairs = frozenset((s, c) for s, c in self.core_expansions[url])
            return _mk(url, pairs, True)
        vs = self.valuesets.get(url)
        if vs is None:
            return None
        pairs_set: set[tuple[str, str]] = set()
        complete = True
        compose = vs.get("compose", {})
        for inc in compose.get("include", []):
            sub, ok = self._include(inc)
            pairs_set |= sub
            complete = complete and ok
        for exc in compose.get("exclude", []):
            sub, _ok = self._include(exc)
            pairs_set -= sub
        return _mk(url, frozenset(pairs_set), complete)

    def _include(self, inc: dict[str, Any]) -> tuple[set[tuple[str, str]], bool]:
        system = inc.get("system")
        out: set[tuple[str, str]] = set()
        complete = True
        vs_urls = inc.get("valueSet", [])
        if system:
            if inc.get("filter"):
                complete = False
                out |= {(system, c["code"]) for c in inc.get("concept", [])}
            elif inc.get("concept"):
                out |= {(system, c["code"]) for c in inc["concept"]}
            elif system in self.cs_codes:
                out |= {(system, c) for c in self.cs_codes[system]}
            else:
                complete = False  # a whole external code system
        for u in vs_urls:
            exp = self.expansion(u)
            if exp is None:
                complete = False
                continue
            sub = set(exp.pairs)
            out = sub if not system and not out else (out & sub if system else out | sub)
            complete = complete and exp.complete
        return out, complete

    def unknown_code(self, system: str | None, code: Any) -> bool:
        """A code claimed to be from one of our complete code systems but not defined there."""
        if system is None or type(code) is not str:
            return False
        codes = self.cs_codes.get(system)
        return codes is not None and code not in codes


def _mk(url: str, pairs: frozenset[tuple[str, str]], complete: bool) -> Expansion:
    return Expansion(
        url,
        pairs=pairs,
        codes=frozenset(c for _s, c in pairs),
        systems=frozenset(s for s, _c in pairs),
        complete=complete,
    )
