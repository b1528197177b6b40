"""Terminology tables: clinical terms (English or Russian) -> codes with their systems.

The tables are reviewed CSV files in ``mappings/terminology`` (format: docs/terminology.md).
They are read once per process; lookups are dictionary hits on a normalised synonym.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

OWN_SYSTEM_BASE = "https://fhir-onco.org/fhir/CodeSystem/"
__all__ = ["OWN_SYSTEM_BASE", "Coding", "Concept", "Table", "Terminology", "UnknownTermError", "default_terminology",
           "normalise", "parse_table"]
_PUNCT = re.compile(r"[\s\-_,;:.()\[\]/\\'\"«»“”]+")


def normalise(term: str) -> str:
    """Case-, ё- and punctuation-insensitive form used for matching synonyms."""
    s = unicodedata.normalize("NFKC", term).casefold().replace("ё", "е")
    return _PUNCT.sub(" ", s).strip()


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str

    def to_fhir(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class Concept:
    table: str
    key: str
    codings: tuple[Coding, ...]
    synonyms: tuple[str, ...] = ()

    @property
    def primary(self) -> Coding:
        return self.codings[0]

    @property
    def display(self) -> str:
        return self.codings[0].display

    def coding_in(self, system: str) -> Coding | None:
        return next((c for c in self.codings if c.system == system), None)


class UnknownTermError(LookupError):
    def __init__(self, table: str, term: str, suggestions: list[str]):
        self.table, self.term, self.suggestions = table, term, suggestions
        hint = f"; closest known: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"unknown {table.replace('_', ' ')} term {term!r}{hint}")


@dataclass(slots=True)
class Table:
    name: str
    concepts: dict[str, Concept] = field(default_factory=dict)
    _index: dict[str, str] = field(default_factory=dict)

    def lookup(self, term: str) -> Concept | None:
        key = self._index.get(normalise(term))
        return self.concepts[key] if key else None

    def resolve(self, term: str) -> Concept:
        """The concept a term names; UnknownTermError lists the closest known terms."""
        concept = self.lookup(term)
        if concept is None:
            raise UnknownTermError(self.name, term, self.suggest(term))
        return concept

    def get(self, key: str) -> Concept:
        """A concept by its key (for keys the code itself relies on)."""
        try:
            return self.concepts[key]
        except KeyError:
            raise KeyError(f"terminology table {self.name!r} has no key {key!r}") from None

    def find(self, key: str) -> Concept | None:
        return self.concepts.get(key)

    def suggest(self, term: str, n: int = 3) -> list[str]:
        names = {}
        for concept in self.concepts.values():
            for name in (concept.key, *concept.synonyms):
                names.setdefault(normalise(name), name)
        close = difflib.get_close_matches(normalise(term), list(names), n=n, cutoff=0.6)
        return [names[c] for c in close]

    def key_for(self, system: str, code: str) -> Concept | None:
        """Reverse lookup, used when reading FHIR back into a case."""
        for concept in self.concepts.values():
            if any(c.system == system and c.code == code for c in concept.codings):
                return concept
        return None


def parse_table(name: str, text: str, origin: str) -> Table:
    rows = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    table = Table(name)
    reader = csv.DictReader(io.StringIO("\n".join(rows)))
    expected = ["key", "system", "code", "display", "synonyms", "source"]
    if reader.fieldnames != expected:
        raise ValueError(f"{origin}: header must be {','.join(expected)}, got {reader.fieldnames}")
    pending: dict[str, tuple[list[Coding], list[str]]] = {}
    for lineno, row in enumerate(reader, start=2):
        if None in row or any(row[k] is None for k in expected):
            raise ValueError(f"{origin}: data row {lineno}: expected 6 columns")
        key = row["key"].strip()
        codings, synonyms = pending.setdefault(key, ([], []))
        codings.append(Coding(row["system"].strip(), row["code"].strip(), row["display"].strip()))
        synonyms.extend(s.strip() for s in row["synonyms"].split("|") if s.strip())
        synonyms.append(row["display"].strip())
    for key, (codings, synonyms) in pending.items():
        unique = tuple(dict.fromkeys([key, *synonyms]))
        table.concepts[key] = Concept(name, key, tuple(codings), unique)
        for name_ in unique:
            # First key wins on a clash; the table tests reject clashes.
            table._index.setdefault(normalise(name_), key)
    return table


@dataclass(slots=True)
class Terminology:
    tables: dict[str, Table]

    def __getitem__(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"no terminology table {name!r}; have {sorted(self.tables)}") from None

    @classmethod
    def from_directory(cls, directory: Path) -> Terminology:
        tables = {}
        for path in sorted(directory.glob("*.csv")):
            tables[path.stem] = parse_table(path.stem, path.read_text("utf-8"), str(path))
        return cls(tables)


@cache
def default_terminology() -> Terminology:
    """The bundled tables (read once per process)."""
    folder = resources.files("fhir_onco.mappings") / "terminology"
    tables = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".csv"):
            name = entry.name[:-4]
            tables[name] = parse_table(name, entry.read_text("utf-8"), f"mappings/terminology/{entry.name}")
    return Terminology(tables)
