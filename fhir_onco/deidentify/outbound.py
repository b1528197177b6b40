"""De-identification on the way out: `push`/`sync --deidentify POLICY.yaml`.

Takes the patient bundles the server commands loaded and returns their de-identified copies (new
ids, so the target server sees only pseudonymous resources and a later delivery updates them in
place). The whole delivery is refused when the policy's minimum k does not hold.
"""

from __future__ import annotations

from pathlib import Path

from fhir_onco.server.inputs import InputError, PatientBundle, from_bundle

from .keys import load_key
from .policy import Policy, load_policy
from .run import k_anonymity
from .transform import GENERALISE_BIRTH_YEAR, Deidentifier


def deidentify_outbound(bundles: list[PatientBundle], policy: Policy | Path | None,
                        key: bytes | None = None) -> tuple[list[PatientBundle], list[str]]:
    """(de-identified bundles, error lines); raises DeidKeyError / PolicyError before any work."""
    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    key = key if key is not None else load_key()
    level = 0
    while True:
        deid = Deidentifier(policy, key, generalisation=level)
        out: list[PatientBundle] = []
        errors: list[str] = []
        for item in bundles:
            bundle = deid.bundle(item.bundle, item.source)
            if bundle is None:
                continue
            try:
                out.append(from_bundle(bundle, item.source))
            except InputError as exc:
                errors.append(str(exc))
        errors += [i.to_text() for i in deid.report.issues.errors]
        k = k_anonymity(deid.report, policy)
        if k.ok:
            return out, errors
        if policy.k_anonymity.on_fail == "generalise" and level < GENERALISE_BIRTH_YEAR:
            level += 1
            continue
        return [], [*errors, f"k-anonymity: smallest group of patients sharing {', '.join(k.quasi_identifiers)} "
                             f"has {k.smallest} (policy minimum {k.min_k}); nothing sent"]
