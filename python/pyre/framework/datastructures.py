"""``MultiDict``: a read-only mapping that keeps every value of a repeated key, the
shape of query strings and forms."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class MultiDict(Mapping[str, Any]):
    """``d["a"]`` is the first value of ``a``, ``d.getlist("a")`` all of them in
    order; iteration gives each key once, in first-seen order."""

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> Any:
        for name, value in self._items:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._items))

    def __len__(self) -> int:
        return len(dict.fromkeys(name for name, _ in self._items))

    def getlist(self, key: str) -> list[Any]:
        return [value for name, value in self._items if name == key]

    def multi_items(self) -> list[tuple[str, Any]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"
