"""Type stubs for the Rust extension module ``pyre._core`` (crates/pyre-py)."""

from collections.abc import Awaitable, Callable
from os import PathLike
from typing import Any, Final, final

__version__: Final[str]
"""The package version; the single source is the workspace Cargo.toml."""

DEFAULT_MAX_HEAD_BYTES: Final[int]
"""Largest request head accepted by default, in bytes (larger: 431)."""

DEFAULT_MAX_TARGET_BYTES: Final[int]
"""Longest request-target accepted by default, in bytes (longer: 414)."""

DEFAULT_MAX_HEADERS: Final[int]
"""Most header fields accepted by default (more: 431)."""

class ClientDisconnected(OSError):
    """The client closed the connection; the response cannot be sent."""

@final
class Server:
    """The runtime bound to an asyncio loop and an ASGI application."""

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        runner: Callable[..., Awaitable[None]],
        event_loop: Any,
        *,
        root_path: str = "",
        timeout_keep_alive: float = 75.0,
        timeout_header: float = 10.0,
        limit_concurrency: int | None = None,
        limit_request_head: int = 65536,
        limit_request_body: int | None = None,
        read_high_water: int = 65536,
        write_high_water: int = 65536,
        write_low_water: int = 16384,
        protocol_error_log: Callable[[str], object] | None = None,
        access_log: Callable[[dict[str, Any], int], object] | None = None,
    ) -> None: ...
    def listen_tcp(self, host: str, port: int, backlog: int) -> tuple[str, int]:
        """Listens on TCP; returns the bound (host, port)."""
    def listen_unix(self, path: str | PathLike[str], backlog: int) -> tuple[str, None]:
        """Listens on a Unix domain socket; returns (path, None)."""
    def listen_fd(self, fd: int, backlog: int) -> tuple[Any, Any]:
        """Serves an inherited listening socket, taking ownership of it."""
    def fileno(self) -> int:
        """The poll's file descriptor, for ``loop.add_reader``."""
    def set_state(self, state: dict[str, Any] | None) -> None:
        """The lifespan state; each request scope gets a shallow copy."""
    @property
    def in_flight(self) -> int:
        """Requests whose responses are not complete."""
    @property
    def active_tasks(self) -> int:
        """Application calls that have not returned (responses may be complete)."""
    @property
    def connections(self) -> int:
        """Open connections."""
    def on_ready(self) -> None:
        """Does all ready I/O, then starts the application for new requests."""
    def tick(self) -> None:
        """Sweeps deadlines (keep-alive, header timeout); call about once a second."""
    def begin_shutdown(self) -> None:
        """Stops accepting and closes idle connections; in-flight requests finish."""
    def close_all(self) -> list[Any]:
        """Closes every connection, cancels the tasks of requests still running and
        returns them."""

@final
class Channel:
    """One request's ASGI ``receive`` and ``send``."""

    @property
    def status(self) -> int:
        """The status the application chose (0 before ``http.response.start``)."""
    def receive(self) -> Awaitable[dict[str, Any]]: ...
    def send(self, message: dict[str, Any]) -> Awaitable[None]: ...
    def finish(self, error: BaseException | None = None) -> str | None:
        """Settles the response when the application ended; returns what went
        wrong, if anything."""
