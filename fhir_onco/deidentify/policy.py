"""The de-identification policy: a YAML file that states and documents every choice.

The built-in default (``policies/safe-harbor.yaml``) follows HIPAA Safe Harbor; a policy file names
only what it changes and inherits the rest from the default. Unknown keys are errors, so a typo
cannot silently weaken a policy.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

QuasiIdentifier = Literal["sex", "birth_year", "diagnosis", "region"]


class PolicyError(ValueError):
    """A policy file that cannot be read or is not valid (message names the file and field)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PseudonymPolicy(_Model):
    system: str = Field("https://fhir-onco.org/fhir/sid/pseudonym",
                        description="Identifier system of the patient pseudonym.")
    prefix: str = Field("P-", description="Text before the keyed hash in the pseudonym.")
    length: int = Field(20, ge=16, le=52, description="Base32 characters of the keyed hash (5 bits each).")
    other_identifiers: Literal["pseudonymise", "remove"] = Field(
        "pseudonymise", description="Identifiers of non-Patient resources outside the case-item system.")


class DatePolicy(_Model):
    shift: bool = Field(True, description="Shift every date of a patient by one keyed offset.")
    min_shift_days: int = Field(1, ge=0)
    max_shift_days: int = Field(365, ge=1, le=3650)

    @model_validator(mode="after")
    def _range(self) -> DatePolicy:
        if self.min_shift_days > self.max_shift_days:
            raise ValueError("min_shift_days must not exceed max_shift_days")
        return self


class BirthDatePolicy(_Model):
    precision: Literal["year", "year-month", "remove", "age-at-diagnosis"] = Field(
        "year", description="What is left of the (shifted) birth date; age-at-diagnosis: the age in years at "
        "the first cancer's onset instead (bundles and case files; NDJSON falls back to year).")
    when_age_stated: Literal["keep", "remove"] = Field(
        "remove", description="remove: a patient with a stated age at an event keeps the age, not the birth date.")


class AgePolicy(_Model):
    group_from: int = Field(90, ge=1, le=130, description="Ages from this on become '>= group_from'.")
    as_of: int | None = Field(None, ge=1800, le=2200, description="Year against which a living patient's age is "
                              "taken when the record has no last contact date; default: the year of the run.")


class FreeTextPolicy(_Model):
    drop: bool = Field(True, description="Drop free text (notes, narratives, strings) not allowed below.")
    keep_paths: list[str] = Field(default_factory=list,
                                  description="Element paths (ResourceType.element...) whose text is kept.")
    keep_values: dict[str, list[str]] = Field(
        default_factory=dict, description="Element path -> the only values kept there (generated wording).")
    keep_extensions: list[str] = Field(
        default_factory=list, description="Extension URLs (nested: parent#child) whose valueString is kept.")
    codeable_text: Literal["known-terms", "drop", "keep"] = Field(
        "known-terms", description="CodeableConcept.text: kept only when it is a terminology term.")


class KAnonymityPolicy(_Model):
    quasi_identifiers: list[QuasiIdentifier] = Field(
        default_factory=lambda: ["sex", "birth_year", "diagnosis", "region"])
    min_k: int = Field(1, ge=1, description="Smallest allowed group of patients sharing all quasi-identifiers.")
    on_fail: Literal["error", "generalise"] = Field(
        "error", description="generalise: drop region, then birth year, until min_k holds (else error).")


class Policy(_Model):
    name: str
    description: str = ""
    pseudonyms: PseudonymPolicy = Field(default_factory=PseudonymPolicy)
    dates: DatePolicy = Field(default_factory=DatePolicy)
    birth_date: BirthDatePolicy = Field(default_factory=BirthDatePolicy)
    ages: AgePolicy = Field(default_factory=AgePolicy)
    free_text: FreeTextPolicy = Field(default_factory=FreeTextPolicy)
    region: Literal["keep-state", "remove"] = Field(
        "keep-state", description="Patient.address: keep state and country only, or remove it.")
    k_anonymity: KAnonymityPolicy = Field(default_factory=KAnonymityPolicy)
    methods: dict[str, str] = Field(default_factory=dict,
                                    description="Documentation: which legal method each choice implements.")


POLICY_FOLDER = "policies"
DEFAULT_POLICY = "safe-harbor.yaml"


def _policy_text(name: str) -> str:
    return (resources.files("fhir_onco.deidentify") / POLICY_FOLDER / name).read_text("utf-8")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in ("keep_values",):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse(data: Any, origin: str) -> Policy:
    if not isinstance(data, dict):
        raise PolicyError(f"{origin}: a policy is a YAML mapping (name:, dates:, ...)")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors())
        raise PolicyError(f"{origin}: {problems}") from None


def default_policy() -> Policy:
    """The built-in HIPAA Safe Harbor policy."""
    return _parse(yaml.safe_load(_policy_text(DEFAULT_POLICY)), f"built-in {DEFAULT_POLICY}")


def load_policy(path: str | Path | None) -> Policy:
    """A policy file layered over the built-in default; None gives the default."""
    if path is None:
        return default_policy()
    origin = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{origin}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{origin}:{where} not valid YAML") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{origin}: a policy is a YAML mapping (name:, dates:, ...)")
    base = yaml.safe_load(_policy_text(DEFAULT_POLICY))
    return _parse(_merge(base, data), origin)
