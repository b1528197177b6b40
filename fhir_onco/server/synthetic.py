"""Tiny generator of synthetic oncology transaction bundles (no real data: names are "Synthetic").

Used by the server tests and the push benchmark. Bundles have the same shape as the mapping's:
one transaction per patient, every entry a ``PUT Type/id`` with a deterministic UUIDv5 id, and
references between entries as relative ``Type/id``.
"""

from __future__ import annotations

import uuid
from typing import Any

NAMESPACE = uuid.UUID("6f1c1e0a-3c1e-5c1b-9d4e-5b7a9f0c2d11")
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1"  # fictitious test assigner


def rid(key: str, kind: str, n: int = 0) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{key}/{kind}/{n}"))


def entry(resource: dict[str, Any]) -> dict[str, Any]:
    ref = f"{resource['resourceType']}/{resource['id']}"
    return {"fullUrl": ref, "resource": resource, "request": {"method": "PUT", "url": ref}}


def patient_bundle(key: str, *, observations: int = 2, seed: int = 0) -> dict[str, Any]:
    """A transaction Bundle for one synthetic patient identified by ``key``.

    The bundle holds a Patient, a Condition (NSCLC), a Procedure, a MedicationStatement and
    ``observations`` hemoglobin Observations: ``4 + observations`` resources.
    """
    pid = rid(key, "Patient")
    pref = {"reference": f"Patient/{pid}"}
    cond_id = rid(key, "Condition")
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": MRN_SYSTEM, "value": key}],
        "name": [{"family": "Synthetic", "given": [f"P{int(rid(key, 'name')[:4], 16)}"]}],
        "gender": ("female", "male")[seed % 2],
        "birthDate": f"{1940 + seed % 50}-0{1 + seed % 9}-1{seed % 9}",
    }
    condition = {
        "resourceType": "Condition",
        "id": cond_id,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "254637007",
                    "display": "Non-small cell lung cancer",
                }
            ]
        },
        "subject": pref,
        "onsetDateTime": f"20{10 + seed % 10}-03-0{1 + seed % 9}",
    }
    procedure = {
        "resourceType": "Procedure",
        "id": rid(key, "Procedure"),
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "173171007", "display": "Lobectomy"}]},
        "subject": pref,
        "performedDateTime": f"20{10 + seed % 10}-04-15",
        "reasonReference": [{"reference": f"Condition/{cond_id}"}],
    }
    med = {
        "resourceType": "MedicationStatement",
        "id": rid(key, "MedicationStatement"),
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "40048",
                    "display": "carboplatin",
                }
            ]
        },
        "subject": pref,
        "effectivePeriod": {
            "start": f"20{10 + seed % 10}-05-01",
            "end": f"20{10 + seed % 10}-08-01",
        },
        "reasonReference": [{"reference": f"Condition/{cond_id}"}],
    }
    resources: list[dict[str, Any]] = [patient, condition, procedure, med]
    for i in range(observations):
        resources.append(
            {
                "resourceType": "Observation",
                "id": rid(key, "Observation", i),
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "laboratory",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"}]},
                "subject": pref,
                "effectiveDateTime": f"2020-01-{1 + i % 28:02d}",
                "valueQuantity": {
                    "value": 10 + (seed + i) % 7,
                    "unit": "g/dL",
                    "system": "http://unitsofmeasure.org",
                    "code": "g/dL",
                },
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": [entry(r) for r in resources]}
