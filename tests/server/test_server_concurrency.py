"""No new versions of unchanged resources: two processes pushing at once, and a lost transaction answer.

Both tests count versions on the real server. The lost answer comes from a small fault-injecting
HTTP proxy in front of the real server: it forwards the transaction (which the server commits)
and then drops the connection instead of relaying the answer, as a timeout or a crashed load
balancer would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from fhir_onco.server.client import FhirClient, RetryPolicy
from fhir_onco.server.inputs import from_bundle
from fhir_onco.server.push import push
from fhir_onco.server.synthetic import patient_bundle


def versions_on_server(client: FhirClient, bundle: dict[str, Any]) -> dict[str, str]:
    out = {}
    for e in bundle["entry"]:
        r = e["resource"]
        current = client.read(r["resourceType"], r["id"])
        assert current is not None
        out[f"{r['resourceType']}/{r['id']}"] = str(current["meta"]["versionId"])
    return out


def test_two_processes_push_the_same_data_at_once(fhir_base_url: str, run_key: str, tmp_path: Path) -> None:
    keys = [f"{run_key}-{i}" for i in range(16)]
    src = tmp_path / "in"
    src.mkdir()
    bundles = {}
    for i, k in enumerate(keys):
        bundles[k] = patient_bundle(k, observations=3, seed=i)
        (src / f"{k}.json").write_text(json.dumps(bundles[k]))
    n_resources = sum(len(b["entry"]) for b in bundles.values())
    env = {**os.environ, "FHIR_ONCO_LOCK_DIR": str(tmp_path / "locks")}
    for name in [n for n in env if n.startswith("FHIR_ONCO_") and n not in ("FHIR_ONCO_LOCK_DIR", "FHIR_ONCO_CACHE")]:
        env.pop(name)
    cmd = [sys.executable, "-m", "fhir_onco", "push", str(src), "--server", fhir_base_url, "--json", "-j", "4"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
        reports.append(json.loads(out))
    created = [r["totals"]["resources"]["created"] for r in reports]
    unchanged = [r["totals"]["resources"]["unchanged"] for r in reports]
    # every resource created exactly once, by one of the two, and reported so
    assert sum(created) == n_resources, (created, unchanged)
    assert sum(created) + sum(unchanged) == 2 * n_resources
    assert all(r["totals"]["resources"]["updated"] == 0 for r in reports)
    with FhirClient(fhir_base_url, auth=None) as client:
        for b in bundles.values():
            assert set(versions_on_server(client, b).values()) == {"1"}


class _DroppingProxy(BaseHTTPRequestHandler):
    """Forwards to the real server; drops the answer of the next ``drop`` transaction POSTs."""

    upstream = ""
    drop = 0
    truncate = False
    dropped = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        upstream = requests.request(
            self.command, self.upstream + self.path, data=body, headers=headers, timeout=60, allow_redirects=False
        )
        with self.lock:
            drop = self.command == "POST" and b'"transaction"' in (body or b"") and type(self).drop > 0
            if drop:
                type(self).drop -= 1
                type(self).dropped += 1
        if drop:
            # the server committed; the client never learns it
            if type(self).truncate:
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content[: len(upstream.content) // 3])
            self.close_connection = True
            return
        self.send_response(upstream.status_code)
        for k, v in upstream.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    do_GET = do_POST = do_PUT = do_DELETE = _forward


@pytest.fixture
def proxy(fhir_base_url: str) -> Iterator[tuple[str, type[_DroppingProxy]]]:
    handler = type("Proxy", (_DroppingProxy,), {"upstream": fhir_base_url.split("/fhir")[0], "drop": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("truncate", [False, True], ids=["dropped", "truncated"])
def test_lost_answer_is_not_replayed_blindly(
    proxy: tuple[str, type[_DroppingProxy]], fhir_base_url: str, run_key: str, truncate: bool
) -> None:
    url, handler = proxy
    handler.drop, handler.truncate = 1, truncate
    b = patient_bundle(run_key, observations=4)
    retry = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05)
    with FhirClient(url, auth=None, retry=retry) as client:
        report = push(client, [from_bundle(b, "p.json")])
    assert handler.dropped == 1  # the fault really happened
    assert report.ok, report.to_json()
    # the lost attempt wrote everything: counted as created by this push, not "unchanged"
    t = report.totals()["resources"]
    assert t == {"created": len(b["entry"]), "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0}
    assert report.patients[0].status == "created"
    with FhirClient(fhir_base_url, auth=None) as direct:
        assert set(versions_on_server(direct, b).values()) == {"1"}  # no replay, no second version

    # an update whose answer is lost: one new version, counted as updated
    b2 = patient_bundle(run_key, observations=4)
    b2["entry"][-1]["resource"]["valueQuantity"]["value"] = 123
    handler.drop = 1
    with FhirClient(url, auth=None, retry=retry) as client:
        again = push(client, [from_bundle(b2, "p.json")])
    assert again.ok and again.totals()["resources"]["updated"] == 1
    assert again.totals()["resources"]["unchanged"] == len(b2["entry"]) - 1
    with FhirClient(fhir_base_url, auth=None) as direct:
        v = versions_on_server(direct, b2)
    changed = f"Observation/{b2['entry'][-1]['resource']['id']}"
    assert v.pop(changed) == "2" and set(v.values()) == {"1"}
