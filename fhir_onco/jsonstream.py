"""A JSON object written member by member, its lists item by item, so a report never sits in memory.

The text is byte-identical to ``json.dumps(whole_object, indent=indent, ensure_ascii=ensure_ascii)``
of the same object (``tests/server/test_server_report_stream.py`` checks it), so a ``--json`` report
that streams reads exactly as one built in memory did.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO


class JsonObjectWriter:
    """Write ``{"key": value, "list": [item, ...], ...}`` to ``out`` as the members come.

    ``member(key, value)`` writes a whole member; ``begin_list(key)``, ``item(value)`` (repeated) and
    ``end_list()`` write a list member without holding it; ``close()`` ends the object.
    """

    def __init__(self, out: TextIO, indent: int | None = 2, ensure_ascii: bool = True) -> None:
        self._out = out
        self._indent = indent
        self._ascii = ensure_ascii
        self._members = 0
        self._items: int | None = None  # items written in the open list (None: no list open)
        self._closed = False

    def _dumps(self, value: Any, level: int) -> str:
        text = json.dumps(value, indent=self._indent, ensure_ascii=self._ascii)
        if self._indent is None or "\n" not in text:
            return text
        return text.replace("\n", "\n" + " " * (self._indent * level))

    def _key(self, key: str) -> None:
        assert self._items is None and not self._closed, "a list is open or the object is closed"
        if self._indent is None:
            self._out.write(("{" if not self._members else ", ") + json.dumps(key, ensure_ascii=self._ascii) + ": ")
        else:
            pad = " " * self._indent
            self._out.write(("{" if not self._members else ",") + "\n" + pad
                            + json.dumps(key, ensure_ascii=self._ascii) + ": ")
        self._members += 1

    def member(self, key: str, value: Any) -> None:
        self._key(key)
        self._out.write(self._dumps(value, 1))

    def begin_list(self, key: str) -> None:
        self._key(key)
        self._out.write("[")
        self._items = 0

    def item(self, value: Any) -> None:
        assert self._items is not None, "no list is open"
        if self._indent is None:
            self._out.write((", " if self._items else "") + self._dumps(value, 2))
        else:
            self._out.write(("," if self._items else "") + "\n" + " " * (2 * self._indent) + self._dumps(value, 2))
        self._items += 1

    def end_list(self) -> None:
        assert self._items is not None, "no list is open"
        if self._items and self._indent is not None:
            self._out.write("\n" + " " * self._indent)
        self._out.write("]")
        self._items = None

    def list_member(self, key: str, values: Iterable[Any]) -> None:
        self.begin_list(key)
        for value in values:
            self.item(value)
        self.end_list()

    def close(self) -> None:
        if self._items is not None:
            self.end_list()
        if not self._members:
            self._out.write("{}")
        else:
            self._out.write("}" if self._indent is None else "\n}")
        self._closed = True
