"""De-identification and pseudonymisation of cases and FHIR data (docs/deidentify.md).

``deidentify_paths`` de-identifies files (case files, bundles, resources, NDJSON) into a folder;
``deidentify_bundle`` / ``deidentify_resource`` work on one dict; ``Scanner`` checks output for leaks.
The key comes from ``$FHIR_ONCO_DEID_KEY`` or the file named by ``$FHIR_ONCO_DEID_KEY_FILE``.
"""

from .keys import KEY_ENV, KEY_FILE_ENV, DeidKeyError, load_key
from .policy import Policy, PolicyError, default_policy, load_policy
from .run import KAnonymity, RunResult, deidentify_bundle, deidentify_paths, deidentify_resource, k_anonymity
from .scanner import Leak, Scanner, SourceSecrets, source_secrets
from .transform import Deidentifier, DeidentifyError, DeidReport

__all__ = [
    "KEY_ENV", "KEY_FILE_ENV", "DeidKeyError", "DeidReport", "Deidentifier", "DeidentifyError", "KAnonymity",
    "Leak", "Policy", "PolicyError", "RunResult", "Scanner", "SourceSecrets", "default_policy",
    "deidentify_bundle", "deidentify_paths", "deidentify_resource", "k_anonymity", "load_key", "load_policy",
    "source_secrets",
]
