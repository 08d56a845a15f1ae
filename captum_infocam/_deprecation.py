"""Deprecated aliases of renamed public names (internal).

A renamed public name stays importable for one release under its old name: accessing it
raises a :class:`DeprecationWarning` that names its replacement. Module-level names use
:func:`renamed_attributes` as the module's ``__getattr__`` (PEP 562), so that the warning is
raised where the old name is used, not when the module is imported; arguments and attributes
call :func:`warn_renamed` themselves.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (``stacklevel`` as in
    :func:`warnings.warn`, counted from the caller of this function's caller)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new} instead",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_attributes(
    module: str, aliases: Mapping[str, tuple[str, object]]
) -> Callable[[str], object]:
    """A module ``__getattr__`` serving ``aliases``: old name -> (new name, object)."""

    def __getattr__(name: str) -> object:
        if name in aliases:
            new, value = aliases[name]
            warn_renamed(f"{module}.{name}", new)
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
