"""Fast paths that must give exactly what the plain code gives."""

from __future__ import annotations

import random
import uuid

from fhir_onco.fhir.builders import NAMESPACE, resource_id
from fhir_onco.tabular.store import RowStore


def test_resource_id_is_uuid5() -> None:
    rnd = random.Random(11)
    alphabet = "abcXYZ019|-_ .éжß漢\U0001f600"
    for _ in range(20_000):
        parts = tuple("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
                      for _ in range(rnd.randint(1, 4)))
        assert resource_id(*parts) == str(uuid.uuid5(NAMESPACE, "|".join(parts)))


def test_row_store_gives_cells_back(tmp_path) -> None:
    cells = [{"a": "1", "b": "é \"q\" \\ \u2028", "c": ""}, {"x": "\U0001f600", "": "y"}]
    with RowStore(tmp_path) as store:
        store.add_rows("t", iter([("p1", 2, cells[0], 0), ("p1", 3, cells[1], 1)]), driver=True)
        rows = store.rows_of("p1")
    assert [r.cells for r in rows] == cells
    assert [(r.table, r.line, r.extra) for r in rows] == [("t", 2, 0), ("t", 3, 1)]
