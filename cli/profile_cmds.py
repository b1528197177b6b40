"""`fhir-onco profiles`: list the conformance profiles (ours and the external stand-ins)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fhir_onco.validation.conformance import ConformanceValidator

OUR_BASE = "https://fhir-onco.org/fhir/"


def profiles(
    kind: Annotated[str, typer.Option(
        "--kind", help="profiles (resource profiles, default), extensions, or all")] = "profiles",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List the profiles (and with --kind extensions/all, extensions) with their canonical URLs."""
    if kind not in ("profiles", "extensions", "all"):
        raise typer.BadParameter("use profiles, extensions or all", param_hint="--kind")
    v = ConformanceValidator.load_default()
    rows = []
    for sd in v.profiles():
        is_ext = sd.type == "Extension"
        if (kind == "profiles" and is_ext) or (kind == "extensions" and not is_ext):
            continue
        raw = sd.raw or {}
        rows.append({
            "id": sd.id,
            "url": sd.url,
            "type": sd.type,
            "title": raw.get("title", sd.name),
            "origin": "fhir-onco" if sd.url.startswith(OUR_BASE) else "external (stand-in)",
        })
    rows.sort(key=lambda r: (r["origin"] != "fhir-onco", r["type"] == "Extension", r["id"]))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    width = max((len(r["id"]) for r in rows), default=10)
    for r in rows:
        note = "" if r["origin"] == "fhir-onco" else "  [external stand-in]"
        typer.echo(f"{r['id']:<{width}}  {r['type']:<24}  {r['url']}{note}")


def register(app: typer.Typer) -> None:
    app.command("profiles")(profiles)
