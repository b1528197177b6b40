"""sync against a real FHIR server: state store, edits, removals, crashes and restarts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from fhir_onco.server.client import FhirClient, RetryPolicy
from fhir_onco.server.errors import StateStoreError
from fhir_onco.server.push import fetch_current
from fhir_onco.server.sync import RemovalPolicy, StateStore, sync
from fhir_onco.server.synthetic import patient_bundle, rid
from fhir_onco.server.testserver import SekmetServer

ServerFactory = Callable[..., SekmetServer]


class SlowSession(requests.Session):
    """A client that takes its time, so a test can hit it mid-run. The server is untouched."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        time.sleep(self.delay)
        return super().request(*args, **kwargs)


def write_patients(src: Path, keys: list[str], observations: int = 2) -> dict[str, dict[str, Any]]:
    src.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, key in enumerate(keys):
        b = patient_bundle(key, observations=observations, seed=i)
        (src / f"{key}.json").write_text(json.dumps(b))
        out[key] = b
    return out


def all_refs(bundles: dict[str, dict[str, Any]]) -> list[str]:
    return [e["request"]["url"] for b in bundles.values() for e in b["entry"]]


def server_versions(client: FhirClient, refs: list[str]) -> dict[str, str | None]:
    cur = fetch_current(client, refs)
    return {k: (v or {}).get("meta", {}).get("versionId") for k, v in cur.items()}


def synced_count(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as c:
            return int(c.execute("SELECT COUNT(*) FROM patients WHERE status='synced'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # tables not created yet


def test_resync_of_unchanged_data_sends_nothing(client: FhirClient, run_key: str, tmp_path: Path) -> None:
    keys = [f"{run_key}-{i}" for i in range(5)]
    bundles = write_patients(tmp_path / "src", keys)
    with StateStore(tmp_path / "state.sqlite") as store:
        first = sync(client, [tmp_path / "src"], store)
        assert first.ok, first.to_json()
        assert first.totals()["patients"]["created"] == 5
        assert set(server_versions(client, all_refs(bundles)).values()) == {"1"}

        before = client.stats.requests
        second = sync(client, [tmp_path / "src"], store)
        assert client.stats.requests == before  # not a single request
        assert second.ok and second.requests == 0
        assert all(p.skipped_by_state for p in second.patients)
        assert second.to_dict()["totals"]["patients"]["skipped_by_state"] == 5


def test_changed_patient_is_updated_and_dropped_resource_deleted(
    client: FhirClient, run_key: str, tmp_path: Path
) -> None:
    keys = [f"{run_key}-{i}" for i in range(3)]
    src = tmp_path / "src"
    bundles = write_patients(src, keys, observations=3)
    with StateStore(tmp_path / "state.sqlite") as store:
        assert sync(client, [src], store).ok
        b = bundles[keys[1]]
        b["entry"][4]["resource"]["valueQuantity"]["value"] = 42  # edit Observation 0
        dropped = b["entry"].pop()  # Observation 2 is no longer produced
        (src / f"{keys[1]}.json").write_text(json.dumps(b))
        report = sync(client, [src], store)
        assert report.ok, report.to_json()
        t = report.totals()
        assert t["resources"]["updated"] == 1 and t["resources"]["deleted"] == 1
        assert t["resources"]["created"] == 0
        assert sum(p.skipped_by_state for p in report.patients) == 2
        assert client.read("Observation", dropped["resource"]["id"]) is None
        v = server_versions(client, [e["request"]["url"] for e in b["entry"]])
        assert v.pop(b["entry"][4]["request"]["url"]) == "2"
        assert set(v.values()) == {"1"}
        again = sync(client, [src], store)
        assert again.requests == 0


@pytest.mark.parametrize("policy", list(RemovalPolicy))
def test_removed_patient_policy(client: FhirClient, run_key: str, tmp_path: Path, policy: RemovalPolicy) -> None:
    keys = [f"{run_key}-a", f"{run_key}-b"]
    src = tmp_path / "src"
    bundles = write_patients(src, keys)
    with StateStore(tmp_path / "state.sqlite") as store:
        assert sync(client, [src], store).ok
        (src / f"{keys[1]}.json").unlink()
        report = sync(client, [src], store, on_removed=policy)
        assert report.ok, report.to_json()
        assert [r.patient for r in report.removed] == [rid(keys[1], "Patient")]
        gone_refs = [e["request"]["url"] for e in bundles[keys[1]]["entry"]]
        v = server_versions(client, gone_refs)
        patient = client.read("Patient", rid(keys[1], "Patient"))
        if policy is RemovalPolicy.KEEP:
            assert set(v.values()) == {"1"}
        elif policy is RemovalPolicy.INACTIVATE:
            assert patient is not None and patient["active"] is False
            assert v.pop(f"Patient/{rid(keys[1], 'Patient')}") == "2"
            assert set(v.values()) == {"1"}
        else:
            assert set(v.values()) == {None}
        kept = server_versions(client, [e["request"]["url"] for e in bundles[keys[0]]["entry"]])
        assert set(kept.values()) == {"1"}
        # running again does nothing more; bringing the file back restores the patient
        assert sync(client, [src], store, on_removed=policy).requests == 0
        (src / f"{keys[1]}.json").write_text(json.dumps(bundles[keys[1]]))
        back = sync(client, [src], store, on_removed=policy)
        assert back.ok
        restored = client.read("Patient", rid(keys[1], "Patient"))
        assert restored is not None and "active" not in restored


def test_broken_input_blocks_removals(client: FhirClient, run_key: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_patients(src, [f"{run_key}-a", f"{run_key}-b"])
    with StateStore(tmp_path / "state.sqlite") as store:
        assert sync(client, [src], store).ok
        (src / f"{run_key}-b.json").write_text("{ this is not json")
        report = sync(client, [src], store, on_removed=RemovalPolicy.DELETE)
        assert not report.ok and report.input_errors and report.removed == []
        assert report.removal_skipped
        assert client.read("Patient", rid(f"{run_key}-b", "Patient")) is not None


def test_state_store_is_exclusive(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.sqlite"), pytest.raises(StateStoreError):
        StateStore(tmp_path / "s.sqlite")


DRIVER = """
import sys, time
from pathlib import Path
import requests
from fhir_onco.server.client import FhirClient
from fhir_onco.server.sync import StateStore, sync

class Slow(requests.Session):
    def request(self, *a, **k):
        time.sleep(0.02)
        return super().request(*a, **k)

base, src, state = sys.argv[1:4]
with StateStore(state) as st:
    sync(FhirClient(base, auth=None, session=Slow()), [Path(src)], st, concurrency=1)
print("finished", flush=True)
"""


def test_sync_killed_mid_run_resumes_without_loss_or_duplicates(
    client: FhirClient, run_key: str, tmp_path: Path
) -> None:
    keys = [f"{run_key}-{i:02d}" for i in range(30)]
    src = tmp_path / "src"
    bundles = write_patients(src, keys)
    state = tmp_path / "state.sqlite"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_ONCO_")}
    proc = subprocess.Popen(
        [sys.executable, str(driver), client.base_url, str(src), str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while synced_count(state) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    done_before = synced_count(state)
    assert 5 <= done_before < len(keys), "the kill must land mid-run"

    with StateStore(state) as store:
        report = sync(client, [src], store)
    assert report.ok, report.to_json()
    assert sum(p.skipped_by_state for p in report.patients) == done_before
    assert synced_count(state) == len(keys)
    # every resource exactly once, and nothing written twice
    assert set(server_versions(client, all_refs(bundles)).values()) == {"1"}
    for key in keys:
        assert client.count("Observation", {"subject": f"Patient/{rid(key, 'Patient')}"}) == 2


def test_server_restarted_mid_sync(own_server: ServerFactory, tmp_path: Path) -> None:
    server = own_server()
    keys = [f"r{i:02d}" for i in range(24)]
    src = tmp_path / "src"
    bundles = write_patients(src, keys)
    state = tmp_path / "state.sqlite"
    patient_retry = RetryPolicy(max_attempts=10, backoff_base=0.2, backoff_max=1.5)
    slow = FhirClient(server.base_url, auth=None, retry=patient_retry, session=SlowSession(0.03))
    result: dict[str, object] = {}

    def run() -> None:
        with StateStore(state) as store:
            result["report"] = sync(slow, [src], store, concurrency=2)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 60
    while synced_count(state) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # crash, mid-sync
    time.sleep(0.5)
    server.start()
    t.join(120)
    assert not t.is_alive()
    report = result["report"]
    assert report.ok, report.to_json()  # type: ignore[attr-defined]
    assert slow.stats.retries > 0  # the outage was seen and ridden out
    with FhirClient(server.base_url, auth=None) as c:
        assert set(server_versions(c, all_refs(bundles)).values()) == {"1"}


def test_server_down_then_resume(own_server: ServerFactory, tmp_path: Path) -> None:
    server = own_server()
    keys = [f"d{i}" for i in range(4)]
    src = tmp_path / "src"
    bundles = write_patients(src, keys)
    server.stop()
    quick = RetryPolicy(max_attempts=2, backoff_base=0.01)
    with StateStore(tmp_path / "state.sqlite") as store:
        c = FhirClient(server.base_url, auth=None, retry=quick)
        with pytest.raises(Exception, match=r"connection to 127\.0\.0\.1:\d+ failed"):
            sync(c, [src], store)
        assert store.patients(server.base_url.lower()) == []
        server.start()
        report = sync(c, [src], store)
        assert report.ok and report.totals()["patients"]["created"] == 4
        assert set(server_versions(c, all_refs(bundles)).values()) == {"1"}
