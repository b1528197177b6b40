"""ctcae_version selects the term list: v4.03 events are coded from the CTCAE v4.03 list (MedDRA),
v5.0 events from the v5.0 list (NCIt + MedDRA); both read back as written."""

from __future__ import annotations

import pytest
from mapping_support import NCIT, assert_round_trip, case_data

MEDDRA = "http://terminology.hl7.org/CodeSystem/MDRAE"


def _case(term: str, version: str | None) -> dict:
    return case_data(diagnoses=[{"condition": "AML", "onset": "2020"}],
                     adverse_events=[{"term": term, "grade": 3, "onset": "2020-02", "ctcae_version": version}])


@pytest.mark.parametrize(("term", "version", "codings"), [
    ("анемия", "4.03", [(MEDDRA, "10002272", "4.03")]),
    ("анемия", "5.0", [(NCIT, "C143283", "5.0"), (MEDDRA, "10002272", None)]),
    ("Spleen disorder", "4.03", [(MEDDRA, "10041633", "4.03")]),  # a term CTCAE v5.0 dropped
    ("РТПХ", "4.03", [(MEDDRA, "10021428", "4.03")]),  # GVHD: 'Immune system disorders - Other, specify'
])
def test_the_version_selects_the_term_list(map_case, term: str, version: str, codings: list) -> None:
    data = _case(term, version)
    m = map_case(data)
    event = m.one("AdverseEvent")["event"]
    assert [(c["system"], c["code"], c.get("version")) for c in event["coding"]] == codings
    assert event["text"] == term
    assert_round_trip(m, data)


def test_a_v5_only_term_in_a_v403_record_keeps_its_meddra_code_and_warns(map_case) -> None:
    m = map_case(_case("CMV reactivation", "4.03"))
    event = m.one("AdverseEvent")["event"]
    assert [(c["system"], c["code"]) for c in event["coding"]] == [(MEDDRA, "10058666")]
    assert [i.location.split(": ")[-1] for i in m.report.issues if i.severity == "warning"] == \
        ["adverse_events[0].term"]


def test_spleen_disorder_is_not_a_v5_term(map_errors) -> None:
    assert [loc for loc, _ in map_errors(_case("Spleen disorder", "5.0"))] == ["adverse_events[0].term"]
