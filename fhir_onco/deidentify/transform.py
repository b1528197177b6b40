"""De-identification of FHIR resources and bundles, one resource at a time.

Every resource is transformed on its own (what it needs - the key, the policy and the id of its
patient - it carries itself), so NDJSON streams through in flat memory and a bundle is simply its
entries. Pseudonyms, ids and date offsets derive from the original ids with the key, so a later
delivery of the same patient gets the same pseudonym, ids and offset and updates in place.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fhir_onco.dates import PartialDate, parse_date
from fhir_onco.fhir import urls
from fhir_onco.validation.report import Report

from .dates import FHIR_DATE, generalise_date, shift_fhir_date, shift_written_date
from .keys import Keyed
from .policy import Policy
from .reid import ReidTable
from .terms import KnownTerms

Json = dict[str, Any]

# Resource types that describe a person: name, telecom, address, photo and contacts go.
PERSON_TYPES = frozenset({"Patient", "RelatedPerson", "Person", "Practitioner"})
PERSON_ELEMENTS = ("name", "telecom", "photo", "contact", "address")
# Date-typed elements; anything ending in Date/DateTime/Instant (valueDateTime, onsetDateTime ...) too.
DATE_KEYS = frozenset({"date", "start", "end", "issued", "recorded", "authoredOn", "created", "detected",
                       "timestamp", "when", "event"})  # event: Timing.event (dateTimes); AdverseEvent.event is a dict
DATE_SUFFIXES = ("Date", "DateTime", "Instant")
# Elements that hold free text wherever they occur.
FREE_TEXT_KEYS = frozenset({"title", "description", "comment", "conclusion", "summary", "patientInstruction",
                            "valueString", "valueMarkdown", "reasonText", "contentString"})
# Person data and documents wherever they occur (extensions, payloads): removed, never inspected.
REMOVED_KEYS = frozenset({"valueHumanName", "valueAddress", "valueContactPoint", "valueAttachment",
                          "presentedForm", "photo", "content", "payload"})
PATIENT_REFERENCE_KEYS = ("subject", "patient", "beneficiary")
SERVER_META = ("lastUpdated", "versionId", "source")
_REFERENCE = re.compile(r"^(?P<base>.*?)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")

GENERALISE_REGION = 1
GENERALISE_BIRTH_YEAR = 2
GENERALISATION_LEVELS = {0: "none", GENERALISE_REGION: "region removed",
                         GENERALISE_BIRTH_YEAR: "region and birth year removed"}


class DeidentifyError(ValueError):
    """Input that cannot be de-identified safely (located message, never patient data)."""


@dataclass(slots=True)
class DeidReport:
    """What a run did: counts per action, located issues, and the quasi-identifiers per patient."""

    counts: Counter[str] = field(default_factory=Counter)
    issues: Report = field(default_factory=Report)
    # new Patient id -> quasi-identifier -> value (only what left the run)
    quasi: dict[str, dict[str, str]] = field(default_factory=dict)
    resources: int = 0
    generalisation: int = 0

    @property
    def patients(self) -> int:
        return len(self.quasi)

    def qi(self, patient_id: str) -> dict[str, str]:
        return self.quasi.setdefault(patient_id, {"sex": "*", "birth_year": "*", "diagnosis": "*", "region": "*"})


@dataclass(slots=True)
class _Ctx:
    """Per-resource state of the walk."""

    location: str
    offset: int | None  # None: the resource names no patient, so it must hold no date
    urn_map: dict[str, str]
    failed: bool = False


class Deidentifier:
    """Applies one policy with one key. Reuse it for a whole delivery: the report accumulates."""

    def __init__(self, policy: Policy, key: bytes, *, reid: ReidTable | None = None,
                 generalisation: int = 0, known_terms: KnownTerms | None = None):
        self.policy = policy
        self.keyed = Keyed(key)
        self.reid = reid
        self.report = DeidReport(generalisation=generalisation)
        self.known = known_terms or KnownTerms()
        self._keep_paths = frozenset(policy.free_text.keep_paths)
        self._keep_values = {p: frozenset(v) for p, v in policy.free_text.keep_values.items()}
        self._keep_ext = frozenset(policy.free_text.keep_extensions)
        # (age in years, original onset) of the patient of the bundle in hand (birth_date: age-at-diagnosis)
        self._age_at_diagnosis: tuple[int, str] | None = None

    # ---- derived values ---------------------------------------------------------------------
    def new_id(self, resource_type: str, rid: str) -> str:
        return self.keyed.resource_id(resource_type, rid)

    def offset_for(self, patient_id: str) -> int:
        d = self.policy.dates
        return self.keyed.day_offset(patient_id, d.min_shift_days, d.max_shift_days) if d.shift else 0

    def pseudonym(self, patient: Json) -> str:
        ident = next((i for i in patient.get("identifier", []) if i.get("value")), None)
        business_key = f"{ident.get('system', '')}|{ident['value']}" if ident else f"Patient/{patient.get('id')}"
        p = self.policy.pseudonyms
        return p.prefix + self.keyed.token("patient", business_key, p.length)

    def rewrite_reference(self, ref: str, urn_map: dict[str, str]) -> str:
        if ref.startswith("#"):
            return ref  # contained resource, local to this resource
        if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
            return urn_map.get(ref) or "urn:uuid:" + self.new_id("urn", ref)
        m = _REFERENCE.match(ref)
        if m is None:
            # A conditional or otherwise unparseable reference may carry an identifier: not sent.
            raise DeidentifyError("a reference that is not Type/id, urn:uuid or #local cannot be pseudonymised")
        return f"{m['base']}{m['type']}/{self.new_id(m['type'], m['id'])}"

    # ---- one resource -----------------------------------------------------------------------
    def patient_of(self, resource: Json, urn_patients: dict[str, str] | None = None) -> str | None:
        if resource.get("resourceType") == "Patient":
            return resource.get("id")
        for key in PATIENT_REFERENCE_KEYS:
            ref = resource.get(key)
            text = ref.get("reference") if isinstance(ref, dict) else None
            if not isinstance(text, str):
                continue
            if urn_patients and text in urn_patients:
                return urn_patients[text]
            m = _REFERENCE.match(text)
            if m is not None and m["type"] == "Patient":
                return m["id"]
        return None

    def resource(self, resource: Json, location: str, *, patient_hint: str | None = None,
                 urn_map: dict[str, str] | None = None, urn_patients: dict[str, str] | None = None) -> Json | None:
        """The de-identified copy of one resource, or None (with a located error) when unsafe."""
        rtype = resource.get("resourceType")
        rid = resource.get("id")
        if not isinstance(rtype, str) or not isinstance(rid, str):
            self.report.issues.error(location, "a resource needs resourceType and id to be pseudonymised",
                                     rule="deidentify")
            return None
        patient_id = self.patient_of(resource, urn_patients) or patient_hint
        # Organization, Medication, Practitioner ... name no patient: fine as long as they hold no date
        offset = self.offset_for(patient_id) if patient_id is not None else None
        ctx = _Ctx(location, offset, urn_map or {})
        try:
            out = self._object(resource, rtype, "", ctx, top=True)
        except DeidentifyError as exc:
            self.report.issues.error(location, str(exc), rule="deidentify")
            return None
        if ctx.failed:
            return None
        if rtype == "Patient":
            self._patient(resource, out, ctx)
        elif rtype == "Condition" and patient_id is not None:
            self._diagnosis_qi(out, self.new_id("Patient", patient_id))
        self.report.resources += 1
        self.report.counts[f"resources {rtype}"] += 1
        return out

    # ---- the walk ---------------------------------------------------------------------------
    def _object(self, obj: Json, path: str, ext: str, ctx: _Ctx, *, top: bool = False) -> Json:
        out: Json = {}
        # a resource: the top one, or one contained in it (whose local id is kept)
        rtype = obj.get("resourceType") if top or path.endswith(".contained") else None
        url = obj.get("url") if isinstance(obj.get("url"), str) and path.endswith(("extension", "Extension")) else None
        ext_here = (f"{ext}#{url}" if ext else url) if url else ext
        for key, value in obj.items():
            child = f"{path}.{key}"
            if top and key == "id":
                out["id"] = self.new_id(rtype, value)  # type: ignore[arg-type]
                self.report.counts["ids re-derived"] += 1
                continue
            if key == "text" and isinstance(value, dict):  # Narrative
                self.report.counts["narratives removed"] += 1
                continue
            if top and key == "meta" and isinstance(value, dict):
                kept = {k: v for k, v in value.items() if k not in SERVER_META}
                if kept:
                    out["meta"] = kept
                continue
            if rtype in PERSON_TYPES and key in PERSON_ELEMENTS:
                if key == "address" and rtype == "Patient":
                    region = self._region(value)
                    if region:
                        out["address"] = region
                        continue
                self.report.counts[f"{key} removed"] += 1
                continue
            if top and rtype == "Patient" and key == "identifier":  # contained: pseudonymised below
                continue  # replaced by the pseudonym in _patient
            if top and key == "contained" and isinstance(value, list):
                out[key] = [self._object(r, f"{path}.contained", "", ctx, top=False) for r in value]
                continue
            if key.startswith("_") and isinstance(value, dict):
                kept = self._primitive_extension(value, child, ctx)
                if kept:
                    out[key] = kept
                continue
            if key.startswith("_") and isinstance(value, list):  # a repeating primitive's extensions (Timing._event)
                parts = [self._primitive_extension(v, child, ctx) or None if isinstance(v, dict) else None
                         for v in value]
                if any(parts):
                    out[key] = parts
                continue
            if isinstance(value, list) and _is_date_key(key) and all(isinstance(v, str | None) for v in value):
                # a repeating date (Timing.event); null keeps its place for the _event sibling
                out[key] = [self._shift(v, child, ctx) if v is not None and FHIR_DATE.match(v) else v for v in value]
                continue
            if key == "reference" and isinstance(value, str):
                out[key] = self.rewrite_reference(value, ctx.urn_map)
                self.report.counts["references rewritten"] += 1
                continue
            if key == "display" and "reference" in obj:
                self.report.counts["free text removed"] += 1  # Reference.display: a name, typically
                continue
            if key == "identifier" and isinstance(value, list):
                idents = [i for i in (self._identifier(i) for i in value) if i]
                if idents:
                    out[key] = idents
                continue
            if key in ("identifier", "valueIdentifier") and isinstance(value, dict):
                ident = self._identifier(value)  # Reference.identifier, an extension's identifier
                if ident:
                    out[key] = ident
                continue
            if key in REMOVED_KEYS:
                self.report.counts[f"{key} removed"] += 1
                continue
            if key == "note" and isinstance(value, list):
                if self._keeps_text(child, None):
                    out[key] = value
                else:
                    self.report.counts["free text removed"] += 1
                continue
            if key == "text" and isinstance(value, str):
                if self._keeps_codeable_text(obj, child, value):
                    out[key] = value
                continue
            if key in FREE_TEXT_KEYS and isinstance(value, str):
                if key == "valueString" and ext_here:
                    if ext_here in self._keep_ext or self._keeps_text(child, value):
                        out[key] = value
                        self.report.counts["structured strings kept"] += 1
                    else:
                        self.report.counts["free text removed"] += 1
                    continue
                if self._keeps_text(child, value):
                    out[key] = value
                else:
                    self.report.counts["free text removed"] += 1
                continue
            if key == "valueAnnotation":
                if self._keeps_text(child, None):
                    out[key] = value
                else:
                    self.report.counts["free text removed"] += 1
                continue
            if isinstance(value, str) and _is_date_key(key) and FHIR_DATE.match(value):
                out[key] = self._shift(value, child, ctx)
                continue
            if key == "valueAge" and isinstance(value, dict):
                out[key] = self._age(value)
                continue
            if isinstance(value, dict):
                kept = self._object(value, child, ext_here or "", ctx)
                if kept:
                    out[key] = kept
            elif isinstance(value, list):
                items = [self._object(v, child, ext_here or "", ctx) if isinstance(v, dict) else v for v in value]
                items = [v for v in items if v not in ({}, None)]
                if items:
                    out[key] = items
            else:
                out[key] = value
        # An extension whose every value was removed is itself removed (FHIR forbids empty ones).
        if url and not any(k.startswith("value") or k == "extension" for k in out):
            return {}
        return out

    def _keeps_text(self, path: str, value: str | None) -> bool:
        if not self.policy.free_text.drop:
            return True
        if path in self._keep_paths:
            return True
        allowed = self._keep_values.get(path)
        return allowed is not None and value is not None and value in allowed

    def _keeps_codeable_text(self, obj: Json, path: str, value: str) -> bool:
        is_codeable = "coding" in obj or set(obj) <= {"text", "id", "extension"}
        if is_codeable and not path.endswith(".valueAnnotation.text") and ".note" not in path:
            mode = self.policy.free_text.codeable_text
            known = mode == "known-terms" and (
                value in self.known or self.known.names_coding(value, obj.get("coding") or []))
            if mode == "keep" or known or self._keeps_text(path, value):
                self.report.counts["terminology text kept"] += 1
                return True
            self.report.counts["free text removed"] += 1
            return False
        if self._keeps_text(path, value):
            return True
        self.report.counts["free text removed"] += 1
        return False

    def _primitive_extension(self, value: Json, path: str, ctx: _Ctx) -> Json:
        """``_element`` siblings: the source-date extension is shifted (or kept when relative)."""
        kept_ext = []
        for ext in value.get("extension", []):
            if ext.get("url") == urls.EXT_SOURCE_DATE and isinstance(ext.get("valueString"), str):
                written = shift_written_date(ext["valueString"], _offset(ctx, path))
                if written is not None:
                    kept_ext.append({"url": ext["url"], "valueString": written})
                    self.report.counts["written dates shifted"] += 1
                else:
                    self.report.counts["free text removed"] += 1
                continue
            obj = self._object(ext, f"{path}.extension", "", ctx)
            if obj:
                kept_ext.append(obj)
        return {"extension": kept_ext} if kept_ext else {}

    def _shift(self, value: str, path: str, ctx: _Ctx) -> str:
        offset = _offset(ctx, path)
        try:
            shifted = shift_fhir_date(value, offset)
        except ValueError:
            raise DeidentifyError(f"{path}: not a real date, so it cannot be shifted") from None
        self.report.counts["dates shifted"] += 1
        return shifted

    def _age(self, age: Json) -> Json:
        value = age.get("value")
        threshold = self.policy.ages.group_from
        if isinstance(value, int | float) and value >= threshold:
            self.report.counts["ages grouped"] += 1
            return {**age, "value": threshold, "comparator": ">="}
        return age

    def _identifier(self, ident: Json) -> Json | None:
        if ident.get("system") == urls.LOCAL_ID_SYSTEM:
            return ident  # a case-item key (regimen 'blina1'): names the item, not the person
        if self.policy.pseudonyms.other_identifiers == "remove" or not ident.get("value"):
            self.report.counts["identifiers removed"] += 1
            return None
        self.report.counts["identifiers pseudonymised"] += 1
        out = {k: v for k, v in ident.items() if k in ("use", "system")}
        out["value"] = self.keyed.token("identifier", f"{ident.get('system', '')}|{ident['value']}",
                                        self.policy.pseudonyms.length)
        return out

    def _region(self, addresses: Any) -> list[Json]:
        if self.policy.region != "keep-state" or self.report.generalisation >= GENERALISE_REGION:
            return []
        kept = []
        for addr in addresses if isinstance(addresses, list) else []:
            part = {k: addr[k] for k in ("state", "country") if isinstance(addr, dict) and addr.get(k)}
            if part:
                kept.append(part)
        if kept:
            self.report.counts["addresses reduced to region"] += 1
        return kept

    # ---- the patient ------------------------------------------------------------------------
    def _patient(self, original: Json, out: Json, ctx: _Ctx) -> None:
        pseudonym = self.pseudonym(original)
        new_id = out["id"]
        out_ids = [{"system": self.policy.pseudonyms.system, "value": pseudonym}]
        ordered: Json = {**out, "identifier": out_ids}
        self.report.counts["patient identifiers replaced by a pseudonym"] += len(original.get("identifier", [])) or 1
        stated_age = _age_extension(out)
        birth = out.pop("birthDate", None)
        ordered.pop("birthDate", None)
        ordered.pop("_birthDate", None)  # the written birth date would give the day back
        level = self.report.generalisation
        by_age = self.policy.birth_date.precision == "age-at-diagnosis"
        if birth is not None and by_age and level < GENERALISE_BIRTH_YEAR:
            if stated_age is None and self._age_at_diagnosis is not None:
                years, onset = self._age_at_diagnosis
                ordered.setdefault("extension", []).append(self._age_extension(years, onset, ctx))
                stated_age = ordered["extension"][-1]
                self.report.counts["birth dates replaced by age at diagnosis"] += 1
                birth = None
            elif stated_age is not None:
                self.report.counts["birth dates removed"] += 1
                birth = None
        if birth is not None:
            bd = self.policy.birth_date
            age_instead = stated_age is not None and bd.when_age_stated == "remove"
            keep_birth = level < GENERALISE_BIRTH_YEAR and not age_instead
            precision = "year" if bd.precision == "age-at-diagnosis" else bd.precision  # no onset known
            generalised = generalise_date(birth, precision) if keep_birth else None
            if generalised is not None and self._birth_is_over_threshold(generalised, out):
                generalised = None
                self.report.counts["birth dates removed (age group)"] += 1
            if generalised is not None:
                ordered["birthDate"] = generalised
                self.report.counts["birth dates generalised"] += 1
            else:
                self.report.counts["birth dates removed"] += 1
        if level >= GENERALISE_BIRTH_YEAR and stated_age is not None:
            ordered["extension"] = [e for e in ordered.get("extension", []) if e.get("url") != urls.EXT_AGE_AT_EVENT]
            if not ordered["extension"]:
                del ordered["extension"]
            self.report.counts["stated ages removed"] += 1
        out.clear()
        out.update(_reorder(ordered))
        if self.reid is not None:
            self.reid.add(pseudonym, original, new_id, ctx.offset or 0)
        qi = self.report.qi(new_id)
        qi["sex"] = str(out.get("gender", "*"))
        qi["birth_year"] = _birth_year_qi(out, self.policy.ages.group_from)
        states = [a.get("state") or a.get("country") for a in out.get("address", [])]
        qi["region"] = str(states[0]) if states and states[0] else "*"

    def _age_extension(self, years: int, onset: str, ctx: _Ctx) -> Json:
        age: Json = {"value": years, "unit": "a", "system": urls.UCUM, "code": "a"}
        return {"url": urls.EXT_AGE_AT_EVENT, "extension": [
            {"url": "age", "valueAge": self._age(age)},
            {"url": "date", "valueDateTime": self._shift(onset, "Patient.extension.date", ctx)}]}

    def _birth_is_over_threshold(self, birth: str, patient: Json) -> bool:
        """Safe Harbor: a birth year that says 90 or older is itself identifying.

        The age is taken at death, else at the last contact, else (a living patient with no
        follow-up) in the policy's ``as_of`` year or the year of the run: a living person's age
        grows, so only the last two are a question of when the delivery is made.
        """
        return _reference_year(patient, self.policy.ages.as_of) - int(birth[:4]) >= self.policy.ages.group_from

    def _diagnosis_qi(self, condition: Json, patient_id: str) -> None:
        profiles = condition.get("meta", {}).get("profile", [])
        if profiles and not any(p.endswith("primary-cancer-condition") for p in profiles):
            return
        codings = condition.get("code", {}).get("coding", [])
        if not codings:
            return
        code = f"{codings[0].get('system', '')}|{codings[0].get('code', '')}"
        qi = self.report.qi(patient_id)
        known = set(qi["diagnosis"].split("+")) - {"*"}
        qi["diagnosis"] = "+".join(sorted(known | {code}))

    # ---- a bundle ---------------------------------------------------------------------------
    def bundle(self, bundle: Json, location: str) -> Json | None:
        """The de-identified bundle, or None when any entry cannot be (never half a patient)."""
        entries = bundle.get("entry") or []
        urn_map: dict[str, str] = {}
        urn_patients: dict[str, str] = {}
        patients: list[str] = []
        for entry in entries:
            res = entry.get("resource") or {}
            full = entry.get("fullUrl")
            if isinstance(full, str) and res.get("id") and res.get("resourceType"):
                if full.startswith("urn:uuid:"):
                    new = self.new_id(res["resourceType"], res["id"])
                    urn_map[full] = f"urn:uuid:{new}" if full == f"urn:uuid:{res['id']}" else (
                        "urn:uuid:" + self.new_id("urn", full))
                if res["resourceType"] == "Patient":
                    urn_patients[full] = res["id"]
            if res.get("resourceType") == "Patient" and res.get("id"):
                patients.append(res["id"])
        hint = patients[0] if len(patients) == 1 else None
        self._age_at_diagnosis = _age_at_diagnosis(entries) if len(patients) == 1 else None
        out_entries = []
        errors = len(self.report.issues.errors)
        for i, entry in enumerate(entries):
            where = f"{location}: Bundle.entry[{i}]"
            res = entry.get("resource")
            if not isinstance(res, dict):
                self.report.issues.error(where, "an entry without a resource", rule="deidentify")
                continue
            new_res = self.resource(res, where, patient_hint=hint, urn_map=urn_map, urn_patients=urn_patients)
            if new_res is None:
                continue
            new_entry: Json = {}
            full = entry.get("fullUrl")
            if isinstance(full, str):
                new_entry["fullUrl"] = urn_map.get(full) or self._safe_reference(full, where)
            new_entry["resource"] = new_res
            if isinstance(entry.get("request"), dict):
                request = dict(entry["request"])
                if request.get("method") in ("PUT", "GET", "DELETE", "PATCH") or "?" in str(request.get("url")):
                    request["url"] = f"{new_res['resourceType']}/{new_res['id']}"
                    if request.get("method") != "PUT" and "?" in str(entry["request"].get("url")):
                        request["method"] = "PUT"  # a conditional create would search by identifier
                for conditional in ("ifNoneExist", "ifMatch", "ifNoneMatch", "ifModifiedSince"):
                    request.pop(conditional, None)
                new_entry["request"] = request
            if isinstance(entry.get("search"), dict):
                new_entry["search"] = entry["search"]
            out_entries.append(new_entry)
        if len(self.report.issues.errors) > errors:
            return None
        bundle_id = str(bundle.get("id") or location)
        out: Json = {"resourceType": "Bundle"}
        if len(patients) == 1:
            pseud = next(e["resource"] for e in out_entries if e["resource"]["resourceType"] == "Patient")
            out["id"] = pseud["identifier"][0]["value"]
        else:
            out["id"] = "deid-" + self.keyed.token("bundle", bundle_id, self.policy.pseudonyms.length)
        for key, value in bundle.items():
            if key in ("resourceType", "id", "entry", "link", "total", "timestamp", "signature"):
                continue
            if key == "meta" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in SERVER_META}
                if not value:
                    continue
            if key == "identifier":
                continue
            out[key] = value
        out["entry"] = out_entries
        return out

    def _safe_reference(self, ref: str, where: str) -> str:
        try:
            return self.rewrite_reference(ref, {})
        except DeidentifyError as exc:
            raise DeidentifyError(f"{where}: fullUrl: {exc}") from None


def _offset(ctx: _Ctx, path: str) -> int:
    if ctx.offset is None:
        raise DeidentifyError(f"{path}: a date in a resource that names no patient (subject/patient), so it "
                              "cannot be shifted with the patient's offset")
    return ctx.offset


def _age_at_diagnosis(entries: list[Json]) -> tuple[int, str] | None:
    """(completed years, onset) at the first cancer's onset, from the original dates of one bundle."""
    resources = [e.get("resource") or {} for e in entries]
    birth = next((r.get("birthDate") for r in resources if r.get("resourceType") == "Patient"), None)
    onsets = sorted(r["onsetDateTime"] for r in resources if r.get("resourceType") == "Condition"
                    and isinstance(r.get("onsetDateTime"), str) and FHIR_DATE.match(r["onsetDateTime"]))
    if not isinstance(birth, str) or not FHIR_DATE.match(birth) or not onsets:
        return None
    b, o = (parse_date(v[:10]) for v in (birth, onsets[0]))
    if not isinstance(b, PartialDate) or not isinstance(o, PartialDate):
        return None
    # Partial dates count from their first day: the age may then be one year high, never more.
    born, onset = b.earliest(), o.earliest()
    years = onset.year - born.year - ((onset.month, onset.day) < (born.month, born.day))
    return (years, onsets[0]) if years >= 0 else None


def _is_date_key(key: str) -> bool:
    return key in DATE_KEYS or key.endswith(DATE_SUFFIXES)


def _age_extension(patient: Json) -> Json | None:
    return next((e for e in patient.get("extension", []) if e.get("url") == urls.EXT_AGE_AT_EVENT), None)


def _reference_year(patient: Json, as_of: int | None) -> int:
    death = patient.get("deceasedDateTime")
    if isinstance(death, str) and death[:4].isdigit():
        return int(death[:4])
    for ext in patient.get("extension", []):
        if ext.get("url") == urls.EXT_FOLLOW_UP:
            for part in ext.get("extension", []):
                contact = part.get("valueDateTime")
                if part.get("url") == "lastContact" and isinstance(contact, str) and contact[:4].isdigit():
                    return int(contact[:4])
    return as_of if as_of is not None else _dt.date.today().year


def _birth_year_qi(patient: Json, group_from: int) -> str:
    birth = patient.get("birthDate")
    if isinstance(birth, str):
        return birth[:4]
    ext = _age_extension(patient)
    if ext is None:
        return "*"
    parts = {e.get("url"): e for e in ext.get("extension", [])}
    age = (parts.get("age") or {}).get("valueAge", {})
    at = (parts.get("date") or {}).get("valueDateTime")
    if age.get("comparator") == ">=":
        return f"{group_from}+"
    if isinstance(age.get("value"), int | float) and isinstance(at, str):
        return str(int(at[:4]) - int(age["value"]))  # what the stated age gives away
    return "*"


_PATIENT_ORDER = ("resourceType", "id", "meta", "extension", "identifier", "active", "gender", "birthDate")


def _reorder(patient: Json) -> Json:
    """Patient keys in FHIR's element order, so the pseudonym sits where identifiers do."""
    head = {k: patient[k] for k in _PATIENT_ORDER if k in patient}
    return {**head, **{k: v for k, v in patient.items() if k not in head}}
