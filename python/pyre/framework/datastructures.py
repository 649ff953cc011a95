"""``MultiDict``: a read-only mapping that keeps every value of a repeated key, the
shape of query strings and forms; ``MutableHeaders``: a response's header fields."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
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


class MutableHeaders(MutableMapping[str, str]):
    """A response's header fields: a case-insensitive mutable mapping over an ordered
    list of ``(name, value)`` pairs, so repeated fields (``Set-Cookie``) survive.

    ``headers["x"] = v`` replaces every ``x`` field with one, ``del headers["x"]``
    removes them all, ``headers["x"]`` is the first value and ``headers.getlist("x")``
    every one; ``headers.append("x", v)`` (or ``append(("x", v))``, as on the list the
    headers used to be) adds a field without replacing. ``raw`` is the list itself,
    in the order sent."""

    __slots__ = ("raw",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] | None = None) -> None:
        if items is None:
            self.raw: list[tuple[str, str]] = []
        elif isinstance(items, Mapping):
            self.raw = list(items.items())
        else:
            self.raw = list(items)

    def __getitem__(self, name: str) -> str:
        lowered = name.lower()
        for key, value in self.raw:
            if key.lower() == lowered:
                return value
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        lowered = name.lower()
        for index, (key, _) in enumerate(self.raw):
            if key.lower() == lowered:
                self.raw[index] = (key, value)
                self.raw[index + 1 :] = [
                    item for item in self.raw[index + 1 :] if item[0].lower() != lowered
                ]
                return
        self.raw.append((name, value))

    def __delitem__(self, name: str) -> None:
        lowered = name.lower()
        kept = [item for item in self.raw if item[0].lower() != lowered]
        if len(kept) == len(self.raw):
            raise KeyError(name)
        self.raw[:] = kept

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lowered = name.lower()
        return any(key.lower() == lowered for key, _ in self.raw)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self.raw:
            if key.lower() not in seen:
                seen.add(key.lower())
                yield key

    def __len__(self) -> int:
        return len({key.lower() for key, _ in self.raw})

    def append(self, name: str | tuple[str, str], value: str | None = None) -> None:
        """Adds a field, keeping those of the same name."""
        if isinstance(name, tuple):
            name, value = name
        assert value is not None, "append(name, value) or append((name, value))"
        self.raw.append((name, value))

    def extend(self, items: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        """Adds fields (pairs, or a mapping's items), keeping existing ones."""
        self.raw.extend(items.items() if isinstance(items, Mapping) else items)

    def getlist(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.raw if key.lower() == lowered]

    get_all = getlist

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self.raw)

    def add_vary(self, field: str) -> None:
        """Adds ``field`` to ``Vary`` unless it is already named there."""
        current = [v.strip() for v in ",".join(self.getlist("vary")).split(",") if v.strip()]
        if field.lower() not in (v.lower() for v in current):
            self["vary"] = ", ".join([*current, field])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MutableHeaders):
            return self.raw == other.raw
        if isinstance(other, list):
            return self.raw == other
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MutableHeaders({self.raw!r})"
