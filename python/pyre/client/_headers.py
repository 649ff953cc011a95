"""``Headers``: a response's header fields as a case-insensitive multi-map.

How it works: the fields arrive from Rust as a list of ``(name, value)`` byte pairs in
the order the server sent them; they are decoded (latin-1, as HTTP field values are
octets) and indexed by lowercase name only when first looked up, so a response whose
headers are never read costs nothing beyond that list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class Headers(Mapping[str, str]):
    """Case-insensitive; ``headers["set-cookie"]`` joins repeated fields with ", "
    (as RFC 9110 allows for list fields), ``headers.get_list(name)`` gives each."""

    __slots__ = ("_index", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]] | Mapping[str, str] | None = None) -> None:
        if raw is None:
            raw = []
        elif isinstance(raw, Mapping):
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in raw.items()]
        self._raw: list[tuple[bytes, bytes]] = raw
        self._index: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self._raw:
                index.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
            self._index = index
        return index

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The fields as received: ``(name, value)`` bytes, in order."""
        return self._raw

    def get_list(self, name: str) -> list[str]:
        """Every value of field ``name``, in order (empty when absent)."""
        return list(self._lookup().get(name.lower(), ()))

    def multi_items(self) -> list[tuple[str, str]]:
        """Every field as ``(lowercase name, value)``, in order."""
        return [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in self._raw]

    def __getitem__(self, name: str) -> str:
        values = self._lookup().get(name.lower())
        if values is None:
            raise KeyError(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"
