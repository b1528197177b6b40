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
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

OWN_SYSTEM_BASE = "https://fhir-onco.org/fhir/CodeSystem/"
__all__ = ["OWN_SYSTEM_BASE", "Coding", "Concept", "Table", "Terminology", "UnknownTermError", "default_terminology",
           "normalise", "parse_table"]
_PUNCT = re.compile(r"[\s\-_,;:.()\[\]/\\'\"«»“”]+")


# Cyrillic and Latin letters that look alike (lower case). Clerks mix them: «ОМЛ М5» typed with a Latin M,
# «ВCP-ОЛЛ» with a Latin C and P. A word written only in look-alike letters is folded to Latin (М5 = M5,
# В-ОЛЛ's «В» = B); a word with any other Cyrillic letter is folded to Cyrillic («ОMЛ» = «ОМЛ»).
_LOOKALIKE_CYR, _LOOKALIKE_LAT = "авекмнорстух", "abekmhopctyx"
_TO_LATIN = str.maketrans(_LOOKALIKE_CYR, _LOOKALIKE_LAT)
_TO_CYRILLIC = str.maketrans(_LOOKALIKE_LAT, _LOOKALIKE_CYR)
_CYRILLIC = re.compile(r"[а-я]")
_OTHER_CYRILLIC = re.compile(r"[бгджзийлпфцчшщъыьэюя]")


def _fold_lookalikes(word: str) -> str:
    if not _CYRILLIC.search(word):
        return word
    return word.translate(_TO_CYRILLIC if _OTHER_CYRILLIC.search(word) else _TO_LATIN)


def _plain(term: str) -> str:
    return _PUNCT.sub(" ", unicodedata.normalize("NFKC", term).casefold().replace("ё", "е")).strip()


@lru_cache(maxsize=1 << 16)  # registries repeat the same few hundred terms (drugs, routes, units) per patient
def normalise(term: str) -> str:
    """Case-, ё-, punctuation- and look-alike-letter-insensitive form used for matching synonyms."""
    s = _plain(term)
    if _CYRILLIC.search(s):
        s = " ".join(_fold_lookalikes(w) for w in s.split(" "))
    return s


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


# Cyrillic -> Latin (close to how Russian drug and disease names are transliterated), so a Russian spelling
# can be compared with an English one: «митоксантрон» ~ mitoxantrone, «лейкопения» ~ leukopenia.
_TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i", "й": "i",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e",
    "ю": "yu", "я": "ya",
})
# Latin spellings that differ only in how a sound is written; folded so transliterations meet the English form.
_LATIN_FOLD = (("ph", "f"), ("th", "t"), ("ck", "k"), ("c", "k"), ("x", "ks"), ("y", "i"), ("w", "v"), ("q", "k"),
               ("kh", "h"), ("ae", "e"), ("oe", "e"))
_STEM = 3  # leading letters a word's meaning hangs on (mito- vs meto-, mielo- vs neiro-)
_ROOT, _ROOT_CREDIT = 5, 0.75  # a shared 5-letter root (mielo-, trombo-) counts as related
_NEAR = 0.85  # words this alike are the same word misspelt
# grade and number words of a term, in folded spelling: "3", "iv", "grade", "st" (ст.), "stepeni" (степени)
_QUALIFIER = re.compile(r"\d+|[ivx]+|grade|gr|st|stepen[ia]?|stepeni|g")


def phonetic(term: str) -> str:
    """A normalised term in folded Latin letters, for comparing Russian and English spellings."""
    s = _plain(term).translate(_TRANSLIT)  # not look-alike folded: «рак» is "rak", not "pak"
    for a, b_ in _LATIN_FOLD:
        s = s.replace(a, b_)
    return s


def _word_match(qw: str, nw: str) -> float:
    """How well one word of a term matches one word of a known name, 0..1.

    The start of a word carries its meaning, so words that begin differently only match when they
    are nearly identical: «митоксантрон» does not reach methotrexate, «миелотоксичность» does not
    reach neurotoxicity, though each is a few edits away; a typo later in the word («флюдарабин»)
    still matches."""
    if qw == nw:
        return 1.0
    if len(qw) < _STEM:
        return 0.8 if nw.startswith(qw) else 0.0
    if qw[0] != nw[0]:
        return 0.0
    ratio = difflib.SequenceMatcher(None, qw, nw, autojunk=False).ratio()
    if qw[:_STEM] != nw[:_STEM]:
        return ratio if ratio >= _NEAR else 0.0
    if len(qw) > _ROOT and nw.startswith(qw[:_ROOT]):
        ratio = max(ratio, _ROOT_CREDIT)  # same root, other ending: «миелотоксичность» ~ «миелосупрессия»
    return ratio


def _similarity(query: str, name: str) -> float:
    """How close a known name is to an unknown term, 0..1, word by word (see _word_match).

    Grades and numbers in the term ("мукозит 3", "anemia grade 3") are not compared. A name whose
    every word is found in the term is close even when the term says more ("пневмония
    двусторонняя" ~ «пневмония»). An abbreviation matches the initials of a name ("CRS")."""
    q_words = [w for w in query.split() if not _QUALIFIER.fullmatch(w)]
    n_words = name.split()
    if not q_words or not n_words:
        return 0.0
    if len(q_words) == 1 and len(n_words) > 1 and q_words[0] == "".join(w[0] for w in n_words):
        return 0.9
    pairs = [[_word_match(qw, nw) for nw in n_words] for qw in q_words]
    of_term = sum(max(row) for row in pairs) / len(q_words)
    of_name = sum(max(col) for col in zip(*pairs, strict=True)) / len(n_words)
    score = (of_term + of_name) / 2
    if of_name >= _NEAR and len(n_words) < len(q_words):
        score = max(score, 0.8 * of_name)  # the whole known name is inside the term
    return score


@dataclass(slots=True)
class Table:
    name: str
    concepts: dict[str, Concept] = field(default_factory=dict)
    _index: dict[str, str] = field(default_factory=dict)
    _by_coding: dict[tuple[str, str], str] = field(default_factory=dict)
    _by_code: dict[str, list[str]] = field(default_factory=dict)
    _phonetic: list[tuple[str, str, str]] | None = None  # (folded name, name as written, key), built on first need

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

    def suggest(self, term: str, n: int = 3, cutoff: float = 0.72) -> list[str]:
        """Known names closest in meaning to an unknown term: one per concept, best first.

        Compared word by word in a folded Latin spelling (so Russian and English names meet); words
        that begin differently match only when nearly identical, and abbreviations match initials
        (see _similarity). Only called on the error path, so the scan does not touch lookup speed."""
        if self._phonetic is None:
            self._phonetic = [(phonetic(name), name, concept.key)
                              for concept in self.concepts.values() for name in concept.synonyms]
        query = phonetic(term)
        best: dict[str, tuple[float, str]] = {}
        for folded, name, key in self._phonetic:
            score = _similarity(query, folded)
            if score >= cutoff and score > best.get(key, (0.0, ""))[0]:
                best[key] = (score, name)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
        return [name for _, (_, name) in ranked[:n]]

    def key_for(self, system: str, code: str) -> Concept | None:
        """Reverse lookup, used when reading FHIR back into a case (first key with that coding)."""
        key = self._by_coding.get((system, code))
        return self.concepts[key] if key else None

    def concept_of(self, codings: list[tuple[str, str]], text: str | None = None) -> Concept | None:
        """The concept of coded data read back: the first coding the table knows, unless the text
        names another concept carrying that coding (a shared code, e.g. CTCAE 'Immune system
        disorders - Other, specify' for GVHD, is told apart by the term as written)."""
        named = self.lookup(text) if text else None
        for system, code in codings:
            key = self._by_coding.get((system, code))
            if key is None:
                continue
            if named is not None and any(c.system == system and c.code == code for c in named.codings):
                return named
            return self.concepts[key]
        return None

    def with_code(self, code: str) -> list[Concept]:
        """Every concept carrying a code in any system (when a source gives no system)."""
        return [self.concepts[k] for k in self._by_code.get(code, ())]


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
        for coding in codings:
            table._by_coding.setdefault((coding.system, coding.code), key)
            keys = table._by_code.setdefault(coding.code, [])
            if key not in keys:
                keys.append(key)
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
