"""Import an application from a ``"module:attribute"`` string.

The attribute part may be dotted (``"pkg.mod:app.inner"``) to reach an object nested
inside the module. Errors that come from the import string itself (bad format, the
module asked for does not exist, the attribute is missing) raise
:class:`ImportFromStringError` with a message meant for the person who typed the
string. An ``ImportError`` raised *inside* the imported module (the application's own
missing dependency, say) propagates unchanged, so its traceback points at the bug.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ImportFromStringError", "import_from_string"]


class ImportFromStringError(ValueError):
    """An import string that cannot be resolved to an object."""


def import_from_string(spec: str) -> Any:
    """Return the object named by ``spec``, a ``"module:attribute"`` string."""
    if not isinstance(spec, str):
        raise ImportFromStringError(f"Import string must be a str, got {type(spec).__name__}.")
    module_name, sep, attrs = spec.partition(":")
    if not sep or not module_name or not attrs:
        raise ImportFromStringError(
            f'Import string "{spec}" must be in format "<module>:<attribute>".'
        )
    if module_name.startswith("."):
        raise ImportFromStringError(
            f'Import string "{spec}" names a relative module; use an absolute module name.'
        )

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not _is_module_or_parent(exc.name, module_name):
            raise  # a missing import inside the user's module: their bug, their traceback
        raise ImportFromStringError(f'Could not import module "{module_name}".') from None

    instance: Any = module
    try:
        for part in attrs.split("."):
            instance = getattr(instance, part)
    except AttributeError:
        raise ImportFromStringError(
            f'Attribute "{attrs}" not found in module "{module_name}".'
        ) from None
    return instance


def _is_module_or_parent(missing: str | None, module_name: str) -> bool:
    """Whether ``missing`` is ``module_name`` itself or one of its parent packages."""
    if missing is None:
        return False
    return module_name == missing or module_name.startswith(missing + ".")
