"""Timeline: what is drawn, read from FHIR mapped from an inline case, checked on the Figure itself."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_onco import map_case, parse_case
from fhir_onco.analytics.reader import ResourceStore
from fhir_onco.analytics.timeline import build_timeline, render_timeline
from fhir_onco.cli.app import app

pytest.importorskip("matplotlib")

CASE: dict[str, Any] = {
    "patient": {"identifiers": [{"system": "urn:test:timeline", "value": "t1"}], "sex": "female",
                "birth_date": "2012-05-05", "death": {"date": "2023-03-01", "cause": "progression"}},
    "diagnoses": [{"id": "all", "condition": "B-ALL", "onset": "2021-01-10",
                   "relapses": [{"number": 1, "date": "2022-09-01", "sites": ["bone marrow"]}]}],
    "regimens": [
        {"id": "ind", "name": "Induction", "category": "induction", "start": "2021-01-15", "end": "2021-03-01"},
        {"id": "blina", "name": "Blinatumomab", "category": "bridging", "start": "2021-04-01", "end": "2021-04-28"},
        {"id": "cond", "name": "Conditioning", "category": "conditioning", "start": "2021-05"},
    ],
    "radiotherapy": [{"kind": "TBI", "total_dose_gy": 12, "start": "2021-05-10", "end": "2021-05-12",
                      "regimen": "cond"}],
    "hsct": [{"id": "allo", "type": "allogeneic", "date": "2021-05-20", "donor": {"match": "haploidentical"}}],
    "mrd": [{"date": "2021-03-01", "value_percent": 0.5}, {"date": "2021-04-28", "value_percent": 0.01},
            {"date": "D+30", "negative": True, "below_percent": 0.01}],
    "responses": [{"date": "2021-03-01", "response": "CR", "regimen": "ind"},
                  {"date": "D+100", "response": "CR", "best": True}],
    "adverse_events": [{"term": "CRS", "grade": 2, "onset": "2021-04-02"},
                       {"term": "febrile neutropenia", "grade": 3, "onset": "D+5"}],
}


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return map_case(parse_case(copy.deepcopy(CASE)))


@pytest.fixture
def store(bundle: dict[str, Any]) -> ResourceStore:
    return ResourceStore().extend([bundle])


def _gids(fig: Any, gid: str) -> list[Any]:
    return [a for a in fig.findobj() if getattr(a, "get_gid", lambda: None)() == gid]


def test_build_timeline_reads_every_domain(store: ResourceStore) -> None:
    pid = store.patients()[0]["id"]
    t = build_timeline(store, pid)
    assert t.title.startswith("B-cell acute lymphoblastic leukemia - female")
    assert [s.label for s in t.spans] == ["Induction", "Blinatumomab", "Conditioning", "Total body irradiation 12 Gy"]
    cond = t.spans[2]
    # "2021-05" without an end: drawn from the month's start, flagged approximate, clipped at day 0
    assert (cond.start, cond.end, cond.approximate) == (dt.date(2021, 5, 1), dt.date(2021, 5, 20), True)
    assert [h.date for h in t.hsct] == [dt.date(2021, 5, 20)] and t.day0 == dt.date(2021, 5, 20)
    assert [(e.kind, e.label) for e in t.events if e.kind == "diagnosis"] == [
        ("diagnosis", "diagnosis: B-cell acute lymphoblastic leukemia")]
    assert [(e.kind, e.date) for e in t.events if e.kind in ("response", "relapse", "death")] == [
        ("response", dt.date(2021, 3, 1)), ("response", dt.date(2021, 8, 28)),
        ("relapse", dt.date(2022, 9, 1)), ("death", dt.date(2023, 3, 1))]
    assert [(a.label, a.value) for a in t.adverse_events] == [("G2 Cytokine release syndrome", 2),
                                                                ("G3 Febrile neutropenia", 3)]
    assert [(m.percent, m.negative) for m in t.mrd] == [(0.5, False), (0.01, False), (0.01, True)]


def test_figure_has_one_bar_per_course_and_the_expected_markers(store: ResourceStore, tmp_path: Path) -> None:
    t = build_timeline(store, store.patients()[0]["id"])
    fig = render_timeline(t, tmp_path / "t.png", whole=True)
    assert len(_gids(fig, "regimen")) == 3
    assert len(_gids(fig, "radiotherapy")) == 1
    assert len(_gids(fig, "ae")) == 2
    assert len(_gids(fig, "response")) == 2 and len(_gids(fig, "relapse")) == 1 and len(_gids(fig, "death")) == 1
    assert len(_gids(fig, "hsct")) == 1  # the star in the events lane
    assert len(_gids(fig, "hsct-day0")) == 2  # the day-0 line on both panels
    mrd_points = _gids(fig, "mrd")[0].get_ydata()
    assert list(mrd_points) == [0.5, 0.01]
    assert len(_gids(fig, "mrd-negative")[0].get_xdata()) == 1
    swimmer, mrd_axis = fig.axes[0], fig.axes[1]
    assert mrd_axis.get_yscale() == "log"
    secondary = [a for a in swimmer.child_axes if "days from HSCT" in a.get_xlabel()]
    assert len(secondary) == 1  # the day +N axis
    labels = [tick.get_text() for tick in swimmer.get_yticklabels()]
    assert "Blinatumomab" in labels and "adverse events" in labels
    png = (tmp_path / "t.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_svg_keeps_the_element_ids(store: ResourceStore, tmp_path: Path) -> None:
    t = build_timeline(store, store.patients()[0]["id"])
    render_timeline(t, tmp_path / "t.svg", whole=True)
    svg = (tmp_path / "t.svg").read_text(encoding="utf-8")
    assert svg.count('id="regimen"') == 3 and svg.count('id="ae"') == 2


def test_transplant_case_opens_on_its_transplant_window(store: ResourceStore, tmp_path: Path) -> None:
    t = build_timeline(store, store.patients()[0]["id"])
    assert t.transplant_window() == (dt.date(2021, 3, 21), dt.date(2022, 5, 20))  # day -60 .. day +365
    fig = render_timeline(t, tmp_path / "d.png")
    assert len(_gids(fig, "regimen")) == 2  # induction ended before day -60; bridging and conditioning shown
    assert len(_gids(fig, "relapse")) == 0 and len(_gids(fig, "death")) == 0  # after day +365


def test_day_axis_on_the_chosen_transplant() -> None:
    case = copy.deepcopy(CASE)
    case["hsct"] = [{"id": "auto", "type": "autologous", "date": "2020-06-01"},
                    {"id": "allo1", "type": "allogeneic", "date": "2021-05-20",
                     "engraftment": [{"kind": "neutrophil", "day": 18}]},
                    {"id": "auto2", "type": "autologous", "date": "2022-01-10"}]
    case["mrd"], case["adverse_events"] = [], []
    case["responses"] = [{"date": "D+100@allo1", "response": "CR", "best": True}]
    store = ResourceStore().extend([map_case(parse_case(case))])
    pid = store.patients()[0]["id"]
    t = build_timeline(store, pid)
    assert t.day0 == dt.date(2021, 5, 20)  # the last allogeneic, not the last HSCT
    assert [e.label for e in t.events if e.kind == "engraftment"] == ["ANC engraftment D+18"]
    assert build_timeline(store, pid, hsct=1).day0 == dt.date(2020, 6, 1)
    with pytest.raises(ValueError, match="3 HSCT"):
        build_timeline(store, pid, hsct=4)


def test_window_keeps_only_what_falls_in_it(store: ResourceStore, tmp_path: Path) -> None:
    t = build_timeline(store, store.patients()[0]["id"])
    fig = render_timeline(t, tmp_path / "w.png", start=dt.date(2021, 4, 1), end=dt.date(2021, 7, 1))
    assert len(_gids(fig, "regimen")) == 2  # induction ended before the window
    assert len(_gids(fig, "death")) == 0


def test_cli_timeline_from_a_case_and_from_an_input_directory(bundle: dict[str, Any], tmp_path: Path) -> None:
    runner = CliRunner()
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(CASE), encoding="utf-8")
    out = tmp_path / "a.png"
    result = runner.invoke(app, ["timeline", str(case_file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.json").write_text(json.dumps(bundle), encoding="utf-8")
    result = runner.invoke(app, ["timeline", "urn:test:timeline|t1", "-i", str(tmp_path / "in"),
                                 "-o", str(tmp_path / "b.svg"), "--from", "2021-04"])
    assert result.exit_code == 0, result.output
    missing = runner.invoke(app, ["timeline", "secret-mrn", "-i", str(tmp_path / "in"), "-o", str(out)])
    assert missing.exit_code == 1 and "secret-mrn" not in missing.output  # the key is patient data
    assert runner.invoke(app, ["timeline", str(case_file), "-o", str(tmp_path / "x.pdf")]).exit_code == 2
