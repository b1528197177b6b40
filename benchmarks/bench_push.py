"""Push throughput: N synthetic patients to a FHIR server, and where the wall time goes.

    python benchmarks/bench_push.py                      # 1000 patients to a fresh local sekmet
    python benchmarks/bench_push.py -n 200 -j 8 --source examples
    python benchmarks/bench_push.py --server http://localhost:8080/fhir   # e.g. HAPI

Two passes: the first creates everything, the second pushes the same data again (every resource
compared with the server and found unchanged, nothing written). For each pass it prints resources/s
and the split of wall time:

* ``client CPU``: CPU time of this process (our code, JSON, requests);
* ``server CPU``: CPU time of the sekmet process (only when this script started it);
* ``HTTP wait``: time the workers spent inside HTTP calls, averaged over workers (= the share of
  wall time a worker was waiting for the server rather than running our code).

``--source examples`` uses the project's example cases mapped by ``fhir_onco.map_case``, re-keyed
per patient (every id replaced by a fresh UUIDv5), instead of the tiny synthetic generator.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fhir_onco.server.client import FhirClient
from fhir_onco.server.inputs import PatientBundle, from_bundle, load_input
from fhir_onco.server.push import PushReport, push
from fhir_onco.server.synthetic import patient_bundle
from fhir_onco.server.testserver import SekmetServer

NS = uuid.UUID("0d9c5e43-7f57-4f8b-9a8e-7d3c2b1a0f99")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def synthetic(n: int, observations: int, run: str) -> list[PatientBundle]:
    return [from_bundle(patient_bundle(f"{run}-{i}", observations=observations, seed=i), f"syn{i}") for i in range(n)]


def from_examples(n: int, run: str) -> list[PatientBundle]:
    templates = [load_input(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    if not templates:
        raise SystemExit("no example cases found")
    out = []
    for i in range(n):
        t = templates[i % len(templates)]
        text = json.dumps(t.bundle)
        for r in t.resources:
            text = text.replace(r["id"], str(uuid.uuid5(NS, f"{run}/{i}/{r['id']}")))
        out.append(from_bundle(json.loads(text), f"{t.source}#{i}"))
    return out


def proc_cpu(pid: int | None) -> float | None:
    """user+system CPU seconds of a process (Linux /proc), None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def run_pass(
    client: FhirClient, bundles: list[PatientBundle], concurrency: int, server_pid: int | None
) -> tuple[PushReport, dict[str, Any]]:
    http0, cpu0, srv0 = client.stats.http_seconds, time.process_time(), proc_cpu(server_pid)
    t0 = time.perf_counter()
    report = push(client, bundles, concurrency=concurrency)
    wall = time.perf_counter() - t0
    srv1 = proc_cpu(server_pid)
    stats = {
        "wall": wall,
        "client_cpu": time.process_time() - cpu0,
        "server_cpu": (srv1 - srv0) if srv0 is not None and srv1 is not None else None,
        "http_wait_per_worker": (client.stats.http_seconds - http0) / concurrency,
    }
    return report, stats


def show(label: str, report: PushReport, stats: dict[str, Any]) -> None:
    t = report.totals()["resources"]
    n = sum(t[k] for k in ("created", "updated", "unchanged"))
    wall = stats["wall"]
    print(f"\n{label}: {report.totals()['patients']['total']} patients, {n} resources in {wall:.2f}s")
    print(f"  created {t['created']}, updated {t['updated']}, unchanged {t['unchanged']}, failed {t['failed']}")
    print(f"  throughput      {n / wall:8.0f} resources/s   ({report.requests} HTTP requests)")
    print(f"  client CPU      {stats['client_cpu']:7.2f}s  {100 * stats['client_cpu'] / wall:5.1f}% of wall")
    if stats["server_cpu"] is not None:
        print(f"  server CPU      {stats['server_cpu']:7.2f}s  {100 * stats['server_cpu'] / wall:5.1f}% of wall")
    hw = stats["http_wait_per_worker"]
    print(f"  HTTP wait/worker{hw:7.2f}s  {100 * hw / wall:5.1f}% of wall (rest: our code + scheduling)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--patients", type=int, default=1000)
    ap.add_argument("-j", "--concurrency", type=int, default=4)
    ap.add_argument("--observations", type=int, default=6, help="per synthetic patient (4 + this resources)")
    ap.add_argument("--source", choices=["synthetic", "examples"], default="synthetic")
    ap.add_argument("--server", help="push here instead of a fresh local sekmet server")
    args = ap.parse_args()

    run = uuid.uuid4().hex[:8]
    t0 = time.perf_counter()
    bundles = (
        from_examples(args.patients, run)
        if args.source == "examples"
        else synthetic(args.patients, args.observations, run)
    )
    n_res = sum(len(b.resources) for b in bundles)
    print(f"generated {len(bundles)} patients / {n_res} resources ({args.source}) in {time.perf_counter() - t0:.2f}s")

    server: SekmetServer | None = None
    with tempfile.TemporaryDirectory() as tmp:
        base = args.server
        if not base:
            server = SekmetServer(Path(tmp) / "sekmet").start()
            base = server.base_url
            print(f"local sekmet-fhir at {base} (pid {server.pid})")
        try:
            with FhirClient(base, pool_size=max(4, args.concurrency)) as client:
                client.check_server()
                pid = server.pid if server else None
                report, stats = run_pass(client, bundles, args.concurrency, pid)
                show("pass 1 (create)", report, stats)
                report2, stats2 = run_pass(client, bundles, args.concurrency, pid)
                show("pass 2 (re-push, unchanged)", report2, stats2)
                if not (report.ok and report2.ok):
                    raise SystemExit("push reported failures")
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
