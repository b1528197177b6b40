"""Shared state of reading one patient's FHIR resources back into a case (the reverse mapping).

The twin of :mod:`.context`: each domain's ``<domain>_reverse.py`` reads with it, beside the
``<domain>.py`` that wrote the resources. It indexes the resources, resolves references in every
form a server returns them (``Type/id``, absolute, ``_history``, ``urn:uuid:``), groups them by
our profile and collects warnings that name only resource type and id (never PHI).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from fhir_onco.fhir import urls
from fhir_onco.terminology import Terminology

Json = dict[str, Any]

_HISTORY = re.compile(r"/_history/[^/]+$")
# Key under which a domain reader notes the resource an item came from ("Type/id"); reverse.py
# moves it out of the case data into ReverseResult.sources, keyed by the item's field path.
SOURCE = "_source"


class ReverseMappingError(ValueError):
    """The resources do not make a case (no patient, several patients, or an invalid result)."""


# ---- small readers of FHIR JSON -------------------------------------------------------------

def clean(d: Json) -> Json:
    """Drop None values so the case model applies its defaults."""
    return {k: v for k, v in d.items() if v is not None}


def exts(element: Json | None, url: str) -> list[Json]:
    return [e for e in (element or {}).get("extension", []) if e.get("url") == url]


def ext(element: Json | None, url: str) -> Json | None:
    found = exts(element, url)
    return found[0] if found else None


def ext_value(element: Json | None, url: str, kind: str) -> Any:
    e = ext(element, url)
    return e.get(kind) if e else None


def text(cc: Json | None) -> str | None:
    """The term as written; a foreign concept without text falls back to its first display."""
    if not cc:
        return None
    if cc.get("text"):
        return str(cc["text"])
    return next((c["display"] for c in cc.get("coding", []) if c.get("display")), None)


def note(resource: Json) -> str | None:
    notes = resource.get("note") or []
    return notes[0].get("text") if notes else None


def written_date(element: Json | None, name: str) -> str | None:
    """A date as the case wrote it: the source-date expression, else the FHIR value."""
    if not element:
        return None
    written = ext_value(element.get("_" + name), urls.EXT_SOURCE_DATE, "valueString")
    if written:
        return str(written)
    value = element.get(name)
    # We write dates; others may write dateTimes ('2019-04-01T10:00:00Z'): the case keeps the day.
    return str(value).split("T", 1)[0] if value is not None else None


def number(q: Json | None) -> float | None:
    return None if not q or q.get("value") is None else float(q["value"])


def compact(numbers: Iterable[int]) -> str:
    """[1,2,3,8] -> '1-3,8'; [-7,-6,-5] -> '-7..-5' (the canonical form of a days or cycles list)."""
    out: list[str] = []
    nums = sorted(set(numbers))
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        sep = ".." if nums[i] < 0 or nums[j] < 0 else "-"  # '-7..-4', as conditioning days are written
        out.append(str(nums[i]) if i == j else f"{nums[i]}{sep}{nums[j]}")
        i = j + 1
    return ",".join(out)


def iso_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value and len(value) >= 10 else None
    except ValueError:
        return None


def contained_specimen(o: Json) -> str | None:
    ref = (o.get("specimen") or {}).get("reference", "")
    for c in o.get("contained", []):
        if c.get("resourceType") == "Specimen" and ref == f"#{c.get('id')}":
            return text(c.get("type"))
    return None


class ReadContext:
    """One patient's resources, indexed, with the lookups every domain reader needs."""

    def __init__(self, resources: list[Json], terminology: Terminology):
        self.tx = terminology
        self.warnings: list[str] = []
        self.by_key: dict[tuple[str, str], Json] = {}
        self.by_id: dict[str, Json] = {}
        for r in resources:
            if not isinstance(r, dict) or not r.get("resourceType") or not r.get("id"):
                self.warn("skipped an entry without resourceType and id")
                continue
            self.by_key[(r["resourceType"], str(r["id"]))] = r
            self.by_id.setdefault(str(r["id"]), r)
        self.groups: dict[str, list[Json]] = defaultdict(list)
        self.patient = self._find_patient()
        for r in self.by_key.values():
            if r is self.patient:
                continue
            profile = self.profile(r)
            if profile is None:
                from .mcode_reverse import mcode_group, not_read_reason

                profile = mcode_group(r, self.tx)
                if profile is None:
                    self.warn(f"ignored {self.label(r)}: {not_read_reason(r)}")
                    continue
            if not self.is_patients(r):
                self.warn(f"ignored {self.label(r)}: belongs to another patient")
            else:
                self.groups[profile].append(r)
        for members in self.groups.values():
            members.sort(key=self.order)
        self.conditions = self.groups["onco-primary-cancer-condition"] + self.groups["onco-secondary-cancer-condition"]
        self.conditions.sort(key=self.order)

    # ---- identity and references ------------------------------------------------------------
    def warn(self, message: str) -> None:
        self.warnings.append(message)

    @staticmethod
    def label(r: Json) -> str:
        return f"{r.get('resourceType')}/{r.get('id')}"

    @staticmethod
    def profile(r: Json) -> str | None:
        for p in (r.get("meta") or {}).get("profile", []):
            if isinstance(p, str) and p.startswith(urls.SD + "onco-"):
                return p.removeprefix(urls.SD).split("|")[0]
        return None

    def _find_patient(self) -> Json:
        patients = [r for r in self.by_key.values() if r["resourceType"] == "Patient"]
        ours = [p for p in patients if self.profile(p) == "onco-patient"] or patients
        if not ours:
            raise ReverseMappingError("no Patient among the resources")
        if len(ours) > 1:
            raise ReverseMappingError(f"{len(ours)} patients among the resources; pull one patient at a time")
        for p in patients:
            if p is not ours[0]:
                self.warn(f"ignored {self.label(p)}: a second Patient")
        return ours[0]

    def resolve(self, ref: Json | None) -> Json | None:
        """The resource a Reference points to: 'Type/id', absolute URL, '_history' or urn:uuid."""
        ref_text = (ref or {}).get("reference")
        if not ref_text:
            return None
        if ref_text.startswith("urn:uuid:"):
            return self.by_id.get(ref_text.removeprefix("urn:uuid:"))
        parts = _HISTORY.sub("", ref_text).rstrip("/").split("/")
        if len(parts) >= 2:
            return self.by_key.get((parts[-2], parts[-1]))
        return self.by_id.get(parts[-1])

    def is_patients(self, r: Json) -> bool:
        subject = r.get("subject")
        if subject is None:
            return True
        return self.resolve(subject) is self.patient

    @staticmethod
    def local_id(r: Json | None) -> str | None:
        if r is None:
            return None
        ids = r.get("identifier") or []
        for i in ids if isinstance(ids, list) else [ids]:
            if i.get("system") == urls.LOCAL_ID_SYSTEM:
                return str(i.get("value"))
        return None

    def ref_id(self, ref: Json | None, what: str, owner: Json) -> str | None:
        """Local id of a referenced item (a case refers to items by their `id`)."""
        if ref is None:
            return None
        target = self.resolve(ref)
        if target is None:
            self.warn(f"{self.label(owner)}: {what} reference does not resolve; dropped")
            return None
        lid = self.local_id(target)
        if lid is None:
            self.warn(f"{self.label(owner)}: {what} {self.label(target)} has no case-item id; dropped")
        return lid

    def dx_ref(self, refs: list[Json] | None, owner: Json) -> str | None:
        """`diagnosis:` of an item. The forward mapping points items without one at the first
        diagnosis, and marks the reference when the case named that diagnosis explicitly."""
        if not refs:
            return None
        target = self.resolve(refs[0])
        stated = ext_value(refs[0], urls.EXT_STATED_REFERENCE, "valueBoolean")
        if target is not None and self.conditions and target is self.conditions[0] and not stated:
            return None
        return self.ref_id(refs[0], "diagnosis", owner)

    @staticmethod
    def order(r: Json) -> tuple[int, str]:
        pos = ext_value(r, urls.EXT_POSITION, "valuePositiveInt")
        return (int(pos) if pos is not None else 1_000_000, str(r.get("id")))

    def key(self, table: str, cc: Json | None) -> str | None:
        """Terminology key of a coded concept (for fixed codes the case writes as plain values)."""
        for c in (cc or {}).get("coding", []):
            concept = self.tx[table].key_for(c.get("system", ""), c.get("code", ""))
            if concept is not None:
                return concept.key
        return None

    def children(self, profile: str, parent: Json, element: str = "focus") -> list[Json]:
        return [r for r in self.groups[profile]
                if any(self.resolve(ref) is parent for ref in r.get(element, []))]
