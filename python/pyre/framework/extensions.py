"""Extensions: modules of views loaded, unloaded and reloaded while the app serves.

An extension is a module with ``setup(app)`` (sync or async), which registers what it
brings (blueprints, middleware, converters, exception handlers, hooks), and optionally
``teardown(app)``. The app records what each ``setup`` registered by comparing its
registries before and after, so unloading removes exactly that; every change swaps in
a new route table, so requests in flight finish on the table they started with.

How reload stays atomic: the old extension's registrations are set aside, the module
is imported afresh and its ``setup`` runs; if either fails, the registries and
``sys.modules`` are put back as they were and the old version goes on serving.
Only then is the old module's ``teardown`` called.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import logging
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

logger = logging.getLogger("pyre.error")


class ExtensionError(Exception):
    """Base of the extension errors; ``name`` is the extension's module name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class ExtensionAlreadyLoaded(ExtensionError):
    def __init__(self, name: str) -> None:
        super().__init__(name, f"extension {name!r} is already loaded")


class ExtensionNotLoaded(ExtensionError):
    def __init__(self, name: str) -> None:
        super().__init__(name, f"extension {name!r} is not loaded")


class NoEntryPointError(ExtensionError):
    def __init__(self, name: str) -> None:
        super().__init__(name, f"extension {name!r} has no setup(app) function")


class ExtensionFailed(ExtensionError):
    """Importing the extension, or its setup, raised; the cause is ``__cause__``."""

    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(name, f"extension {name!r} failed: {type(error).__name__}: {error}")
        self.original = error


@dataclass
class Registry:
    """Everything an app has registered, as plain containers (copied, compared)."""

    blueprints: list[Any] = field(default_factory=list)
    middleware: list[Any] = field(default_factory=list)
    converters: dict[str, Any] = field(default_factory=dict)
    exception_handlers: dict[Any, Any] = field(default_factory=dict)
    startup: list[Any] = field(default_factory=list)
    shutdown: list[Any] = field(default_factory=list)
    websocket_middleware: list[Any] = field(default_factory=list)

    def copy(self) -> Registry:
        return Registry(
            list(self.blueprints),
            list(self.middleware),
            dict(self.converters),
            dict(self.exception_handlers),
            list(self.startup),
            list(self.shutdown),
            list(self.websocket_middleware),
        )

    def added_since(self, before: Registry) -> Registry:
        """What is here and was not in ``before`` (by identity for list items)."""

        def new_items(now: list[Any], then: list[Any]) -> list[Any]:
            return [x for x in now if not any(x is y for y in then)]

        def new_keys(now: dict[Any, Any], then: dict[Any, Any]) -> dict[Any, Any]:
            return {k: v for k, v in now.items() if k not in then or then[k] is not v}

        return Registry(
            new_items(self.blueprints, before.blueprints),
            new_items(self.middleware, before.middleware),
            new_keys(self.converters, before.converters),
            new_keys(self.exception_handlers, before.exception_handlers),
            new_items(self.startup, before.startup),
            new_items(self.shutdown, before.shutdown),
            new_items(self.websocket_middleware, before.websocket_middleware),
        )

    def without(self, owned: Registry) -> Registry:
        """This registry with ``owned``'s items taken out."""

        def keep(items: list[Any], drop: list[Any]) -> list[Any]:
            return [x for x in items if not any(x is y for y in drop)]

        return Registry(
            keep(self.blueprints, owned.blueprints),
            keep(self.middleware, owned.middleware),
            {k: v for k, v in self.converters.items() if owned.converters.get(k) is not v},
            {
                k: v
                for k, v in self.exception_handlers.items()
                if owned.exception_handlers.get(k) is not v
            },
            keep(self.startup, owned.startup),
            keep(self.shutdown, owned.shutdown),
            keep(self.websocket_middleware, owned.websocket_middleware),
        )


@dataclass
class Extension:
    module: ModuleType
    owned: Registry


async def call_maybe_async(function: Any, *args: Any) -> Any:
    result = function(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def modules_of(name: str) -> dict[str, ModuleType]:
    """The module ``name`` and its submodules, as imported now."""
    return {
        key: module
        for key, module in sys.modules.items()
        if key == name or key.startswith(name + ".")
    }


def forget(name: str) -> dict[str, ModuleType]:
    """Drops ``name`` and its submodules from ``sys.modules`` (and their cached
    bytecode, so a file rewritten within the same second is not read stale); returns
    what was dropped."""
    dropped = modules_of(name)
    for key, module in dropped.items():
        del sys.modules[key]
        source = getattr(module, "__file__", None)
        if source and source.endswith(".py"):
            with contextlib.suppress(OSError, NotImplementedError, ValueError):
                os.unlink(importlib.util.cache_from_source(source))
    importlib.invalidate_caches()
    return dropped


def import_extension(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except BaseException as exc:
        forget(name)
        raise ExtensionFailed(name, exc) from exc
