"""Locate the migrations and SQL files shipped with the package, and the user's cache."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

CACHE_ENV = "WATOTO_CACHE_DIR"


@cache
def data_dir(name: str) -> Path:
    """Return the shipped ``migrations`` or ``sql`` folder.

    An installed wheel carries them inside the package; a source checkout has them at the
    repository's top level. (The package's own folder, not ``importlib.resources``: its
    import costs a fresh ``migrate`` ~7 ms, and the package is never zipped.)
    """
    packaged = Path(__file__).resolve().parent / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / name


def migrations_dir() -> Path:
    return data_dir("migrations")


def sql_text(relative: str) -> str:
    """Return the text of a shipped ``.sql`` file, e.g. ``sql_text("app/course_search.sql")``."""
    return (data_dir("sql") / relative).read_text(encoding="utf-8")


def cache_dir() -> Path:
    """The user's cache folder: ``$WATOTO_CACHE_DIR``, else ``$XDG_CACHE_HOME/watoto-schema``
    (``~/.cache/watoto-schema``). What is kept there can be deleted at any time."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "watoto-schema")
    return Path(base)
