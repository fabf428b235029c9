"""Locate the migrations and SQL files shipped with the package."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path


@cache
def data_dir(name: str) -> Path:
    """Return the shipped ``migrations`` or ``sql`` folder.

    An installed wheel carries them inside the package; a source checkout has them at the
    repository's top level.
    """
    packaged = Path(str(resources.files("watoto_schema"))) / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / name


def migrations_dir() -> Path:
    return data_dir("migrations")


def sql_text(relative: str) -> str:
    """Return the text of a shipped ``.sql`` file, e.g. ``sql_text("app/course_search.sql")``."""
    return (data_dir("sql") / relative).read_text(encoding="utf-8")
