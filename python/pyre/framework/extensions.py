"""Extensions: modules of views loaded, unloaded and reloaded while the app serves.

An extension is a module with ``setup(app)`` (sync or async), which registers what it
brings (blueprints, middleware, converters, exception handlers, hooks), and optionally
``teardown(app)``. The app records what each ``setup`` registered by comparing its
registries before and after, so unloading removes exactly that; every change swaps in
a new route table, so requests in flight finish on the table they started with.

How reload stays atomic: ``setup`` (sync or async) registers into a *staging*
registry, a copy of the app's without the old version's registrations, seen only by
the task running the setup (a context variable), while requests go on being served
by the old route table. Only when the setup (and, on a started app, the new startup
hooks) succeeded is one new route table swapped in; if anything fails, the staging
registry is dropped, ``sys.modules`` is put back and the old version goes on
serving. Then the old module's ``teardown`` (and shutdown hooks) run.

What is re-imported: the extension's module and its submodules, and every module
first imported while it was loaded whose file is under the extension's directory
(a sibling ``helpers.py`` it imports), so a reload picks up their new code too.
What ``setup`` set on ``app.state`` is recorded and removed (or restored) on unload.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import sysconfig
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
    mounts: list[Any] = field(default_factory=list)

    def copy(self) -> Registry:
        return Registry(
            list(self.blueprints),
            list(self.middleware),
            dict(self.converters),
            dict(self.exception_handlers),
            list(self.startup),
            list(self.shutdown),
            list(self.websocket_middleware),
            list(self.mounts),
        )

    def merged(self, owned: Registry) -> Registry:
        """This registry with ``owned``'s items added (lists after, dicts over)."""
        return Registry(
            [*self.blueprints, *owned.blueprints],
            [*self.middleware, *owned.middleware],
            {**self.converters, **owned.converters},
            {**self.exception_handlers, **owned.exception_handlers},
            [*self.startup, *owned.startup],
            [*self.shutdown, *owned.shutdown],
            [*self.websocket_middleware, *owned.websocket_middleware],
            [*self.mounts, *owned.mounts],
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
            new_items(self.mounts, before.mounts),
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
            keep(self.mounts, owned.mounts),
        )


@dataclass
class Extension:
    module: ModuleType
    owned: Registry
    #: Other modules first imported with it, under its directory (re-imported too).
    modules: list[str] = field(default_factory=list)
    #: What setup set on ``app.state``: name -> the value before (``MISSING``: none).
    state: dict[str, Any] = field(default_factory=dict)


#: An ``app.state`` attribute that did not exist before an extension set it.
MISSING = object()


def state_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The ``app.state`` names set between two snapshots, with their earlier values."""
    return {
        name: before.get(name, MISSING)
        for name, value in after.items()
        if name not in before or before[name] is not value
    } | {name: value for name, value in before.items() if name not in after}


def restore_state(state: Any, changes: dict[str, Any]) -> None:
    """Undoes ``state_changes``: removes what was added, puts back what was replaced."""
    for name, value in changes.items():
        if value is MISSING:
            with contextlib.suppress(AttributeError):
                delattr(state, name)
        else:
            setattr(state, name, value)


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.realpath(r) + os.sep for r in roots)


def companions(name: str, module: ModuleType, before: set[str]) -> list[str]:
    """Modules imported since ``before`` (a snapshot of ``sys.modules``' names) whose
    file is under the extension's directory, outside the standard library and
    site-packages: what ``name`` brought along and a reload must re-import."""
    source = getattr(module, "__file__", None)
    if not source:
        return []
    directory = os.path.dirname(os.path.realpath(source)) + os.sep
    libraries = _library_roots()
    if directory.startswith(libraries):
        return []
    found = []
    for key, other in list(sys.modules.items()):
        if key in before or key == name or key.startswith(name + "."):
            continue
        path = getattr(other, "__file__", None)
        if path and os.path.realpath(path).startswith(directory):
            found.append(key)
    return found


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


def forget(name: str, also: list[str] | tuple[str, ...] = ()) -> dict[str, ModuleType]:
    """Drops ``name`` and its submodules (and the modules named in ``also``) from
    ``sys.modules`` (and their cached bytecode, so a file rewritten within the same
    second is not read stale); returns what was dropped."""
    dropped = modules_of(name)
    dropped.update({key: sys.modules[key] for key in also if key in sys.modules})
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
