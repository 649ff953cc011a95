"""The client's settings: timeouts per step and pool limits, each with its default."""

from __future__ import annotations

from dataclasses import dataclass

# Default seconds for each step of a request (httpx uses 5 s for all).
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Timeout:
    """Seconds allowed for each step; None waits forever.

    - ``connect``: establishing one connection (each address tried);
    - ``read``: the response going without a byte arriving;
    - ``write``: the server taking no request byte;
    - ``pool``: waiting for a connection when the pool is at its limits.
    """

    connect: float | None = DEFAULT_TIMEOUT
    read: float | None = DEFAULT_TIMEOUT
    write: float | None = DEFAULT_TIMEOUT
    pool: float | None = DEFAULT_TIMEOUT

    @classmethod
    def of(cls, value: Timeout | float | None) -> Timeout:
        """A Timeout from a Timeout, one number for every step, or None (no limits)."""
        if isinstance(value, Timeout):
            return value
        return cls(value, value, value, value)


@dataclass(frozen=True)
class Limits:
    """Pool limits.

    - ``max_connections``: open connections in all (idle ones included);
    - ``max_connections_per_host``: open connections to one origin (None: only the
      total limit);
    - ``keepalive_expiry``: seconds an idle connection is kept for reuse (servers
      close idle connections too: uvicorn after 5 s, nginx after 75 s).
    """

    max_connections: int = 100
    max_connections_per_host: int | None = None
    keepalive_expiry: float = 5.0
