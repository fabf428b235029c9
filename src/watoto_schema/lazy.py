"""Lazy exports for the packages' ``__init__``: a name is imported from its module on first
use (PEP 562), so a command pays only for what it runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def exports(package: str, homes: dict[str, str],
            namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The package's ``__getattr__``: ``homes`` maps each name to its module (relative to
    ``package``); the value is kept in ``namespace`` (the package's ``globals()``) once
    imported, where a test may still replace it."""

    def __getattr__(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__
