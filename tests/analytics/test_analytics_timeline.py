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


def _timeline(case: dict[str, Any]) -> Any:
    store = ResourceStore().extend([map_case(parse_case(copy.deepcopy(case)))])
    return build_timeline(store, store.patients()[0]["id"])


def test_mrd_negatives_are_below_threshold_markers_never_joined_to_values(tmp_path: Path) -> None:
    case = copy.deepcopy(CASE)
    case["mrd"] = [{"date": "2021-03-01", "value_percent": 0.5}, {"date": "2021-04-01", "negative": True},
                   {"date": "2021-04-28", "value_percent": 0.02}, {"date": "D+30", "negative": True,
                                                                  "below_percent": 0.01}]
    t = _timeline(case)
    fig = render_timeline(t, tmp_path / "m.png", whole=True)
    trend = _gids(fig, "mrd-trend")[0]
    ys = list(trend.get_ydata())
    # the line runs through measured values only: a gap (NaN) wherever a negative lies between
    assert ys[0] == 0.5 and ys[1] != ys[1] and ys[2] == 0.02 and ys[3] != ys[3]
    negative = _gids(fig, "mrd-negative")[0]
    below = sorted(negative.get_ydata())
    assert below[1] == 0.01  # at its threshold
    assert below[0] < 0.02 / 5  # no threshold: in the 'not detected' band, below every value
    assert _gids(fig, "mrd-not-detected-band")
    texts = {a.get_text() for a in _gids(fig, "mrd-label")}
    assert {"0.5%", "0.02%", "<0.01%", "not detected\n(no threshold)"} <= texts


def test_partial_and_bounded_dates_are_ranges_not_points(tmp_path: Path) -> None:
    case = copy.deepcopy(CASE)
    case["adverse_events"] = [{"term": "CRS", "grade": 2, "onset": "2021-04"},  # known to the month
                              {"term": "febrile neutropenia", "grade": 3, "onset": "during@ind"},
                              {"term": "sepsis", "grade": 4, "onset": "after@blina"}]
    case["mrd"] = [{"date": "2021-02", "value_percent": 0.3}]
    t = _timeline(case)
    by_label = {e.label: e for e in t.adverse_events}
    crs = by_label["G2 Cytokine release syndrome"]
    assert (crs.date, crs.end, crs.approximate) == (dt.date(2021, 4, 1), dt.date(2021, 4, 30), True)
    fn = by_label["G3 Febrile neutropenia"]
    assert (fn.date, fn.end, fn.open_start, fn.open_end) == (dt.date(2021, 1, 15), dt.date(2021, 3, 1), False, False)
    sepsis = next(e for e in t.adverse_events if e.value == 4)
    assert sepsis.date == dt.date(2021, 4, 28) and sepsis.open_end and sepsis.end == dt.date(2023, 3, 1)
    assert (t.mrd[0].date, t.mrd[0].end) == (dt.date(2021, 2, 1), dt.date(2021, 2, 28))
    fig = render_timeline(t, tmp_path / "p.png", whole=True)
    bars = [p for p in _gids(fig, "ae")]
    assert len(bars) == 3 and all(hasattr(p, "get_width") for p in bars)  # bars, no point markers
    assert sorted(round(p.get_width()) for p in bars)[:2] == [30, 46]  # April; 2021-01-15..03-01
    assert len(_gids(fig, "ae-open")) == 1  # the arrow of 'after@blina'
    assert not _gids(fig, "mrd") and len(_gids(fig, "mrd-range")) == 1


def test_hsct_known_to_the_month_has_no_made_up_day_axis(tmp_path: Path) -> None:
    case = copy.deepcopy(CASE)
    case["hsct"][0]["date"] = "2021-05"
    case["regimens"][2] = {"id": "cond", "name": "Conditioning", "category": "conditioning", "start": "D-6@allo",
                           "hsct_relative": "allo"}
    case["mrd"], case["responses"], case["adverse_events"] = [], [], []
    t = _timeline(case)
    assert t.day0_span == (dt.date(2021, 5, 1), dt.date(2021, 5, 31))
    cond = next(s for s in t.spans if s.label == "Conditioning")
    # D-6 of a May HSCT: 25 April to 25 May (not the whole year it shares), ending by the HSCT's last day
    assert (cond.start, cond.end) == (dt.date(2021, 4, 25), dt.date(2021, 5, 25))
    fig = render_timeline(t, tmp_path / "h.png")
    swimmer = fig.axes[0]
    assert not [a for a in swimmer.child_axes if "days from HSCT" in a.get_xlabel()]
    assert "known only to the month" in swimmer.get_title()
    assert _gids(fig, "hsct-day0") and not [a for a in _gids(fig, "hsct-day0") if hasattr(a, "get_xdata")]


def test_transplant_course_gvhd_graft_failure_and_second_cancer() -> None:
    case = copy.deepcopy(CASE)
    case["diagnoses"].append({"id": "aml", "kind": "secondary", "condition": "AML", "onset": "2022-06-01",
                              "related_to": "all", "therapy_related": True})
    case["hsct"][0].update({
        "engraftment": [{"kind": "neutrophil", "day": 18}],
        "chimerism": [{"date": "D+30", "result": "mixed", "recipient_percent": 8}],
        "gvhd": [{"kind": "acute", "onset": "D+25", "resolved": "D+60", "criteria": "MAGIC", "grade": "III",
                  "organs": [{"organ": "skin", "stage": 3}]},
                 {"kind": "chronic", "onset": "D+200", "criteria": "NIH 2014", "severity": "moderate"}],
        "graft_failure": {"kind": "secondary", "date": "D+90"}})
    case["adverse_events"] = [{"term": "acute GVHD", "gvhd_grade": 2, "onset": "D+20"}]
    t = _timeline(case)
    labels = {e.label: e for e in t.adverse_events}
    acute = labels["Acute GVHD grade III (MAGIC)"]
    assert (acute.kind, acute.date, acute.end, acute.open_end) == ("gvhd", dt.date(2021, 6, 14),
                                                                   dt.date(2021, 7, 19), False)
    chronic = labels["Chronic GVHD, moderate (NIH 2014)"]
    assert chronic.open_end and chronic.end == dt.date(2023, 3, 1)  # not resolved: runs to the last date
    assert "Acute GVHD grade II" in labels  # the older AE route, as clinicians write it
    kinds = {(e.kind, e.label) for e in t.events}
    assert ("engraftment", "ANC engraftment D+18") in kinds
    assert ("chimerism", "chimerism mixed 8% recipient") in kinds
    assert ("graft-failure", "secondary graft failure") in kinds
    assert ("diagnosis", "second cancer: Acute myeloid leukemia") in kinds


@pytest.mark.parametrize("example", sorted(p.name for p in (Path(__file__).parents[2] / "examples").glob("*.yaml")))
def test_every_bundled_example_renders_without_cut_or_overlapping_labels(example: str, tmp_path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    from fhir_onco.analytics.reader import read_input

    store = read_input(Path(__file__).parents[2] / "examples" / example)
    t = build_timeline(store, store.patients()[0]["id"])
    for whole in (False, True):
        fig = render_timeline(t, tmp_path / "x.png", whole=whole)
        FigureCanvasAgg(fig)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        texts = [x for x in fig.findobj(Text) if x.get_visible() and x.get_text().strip()]
        boxes = [(x, x.get_window_extent(renderer)) for x in texts]
        page = fig.bbox
        for x, box in boxes:
            inside = page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0 <= box.y1 <= page.y1 + 1
            assert inside, (example, whole, x.get_text())
        labels = [(x, b) for x, b in boxes if x.get_gid() in ("label", "mrd-label")]
        for i, (x, box) in enumerate(labels):
            for y, other in boxes:
                if y is not x and (y.get_gid() not in ("label", "mrd-label") or labels.index((y, other)) > i):
                    assert not box.overlaps(other), (example, whole, x.get_text(), y.get_text())


def test_same_data_gives_the_same_bytes(store: ResourceStore, tmp_path: Path) -> None:
    pid = store.patients()[0]["id"]
    for suffix in (".svg", ".png"):
        render_timeline(build_timeline(store, pid), tmp_path / f"a{suffix}")
        render_timeline(build_timeline(store, pid), tmp_path / f"b{suffix}")
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
