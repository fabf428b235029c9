"""The optional project configuration file, ``watoto-schema.toml``.

Looked up as ``--config FILE``, else ``$WATOTO_CONFIG``, else ``./watoto-schema.toml``.
It holds settings a team shares in its repository; never a password (use the libpq
password file or environment for that)::

    migrations = ["db/migrations"]   # extra migration folders, relative to this file

    [health]                         # thresholds of `watoto-schema health` (docs/health.md)
    connections_warning = 0.8

    [lint]                           # rule levels of `watoto-schema lint` (docs/lint.md)
    timestamp-without-time-zone = "off"

    [cache.families.progress]        # the cache policy over sql/cache.toml (docs/cache.md)
    ttl = "5min"

    [loadtest.weights]               # script weights of `watoto-schema loadtest` (docs/loadtest.md)
    student_dashboard = 40
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadConfig
from .target import one_line

FILE_NAME = "watoto-schema.toml"
KNOWN_KEYS = {"migrations", "health", "lint", "cache", "loadtest"}


@dataclass
class Config:
    path: Path | None = None
    migrations: list[Path] = field(default_factory=list)
    health: dict[str, Any] = field(default_factory=dict)
    lint: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    loadtest_weights: dict[str, int] = field(default_factory=dict)


def load(explicit: Path | None = None) -> Config:
    """Read the configuration file, if any; unknown keys and missing folders are errors."""
    path = explicit or (Path(os.environ["WATOTO_CONFIG"]) if os.environ.get("WATOTO_CONFIG")
                        else Path(FILE_NAME))
    if not path.is_file():
        if explicit or os.environ.get("WATOTO_CONFIG"):
            raise BadConfig(f"configuration file {path} not found")
        return Config()
    import tomllib  # only when there is a file: a run without one does not pay for it

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadConfig(f"configuration file {path}: {one_line(exc)}") from exc
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise BadConfig(f"configuration file {path}: unknown setting(s) "
                        f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(KNOWN_KEYS))})")
    folders = raw.get("migrations", [])
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise BadConfig(f"configuration file {path}: migrations must be a list of folders")
    resolved = [(path.parent / f).resolve() for f in folders]
    for folder in resolved:
        if not folder.is_dir():
            raise BadConfig(f"configuration file {path}: migration folder {folder} not found")
    health = raw.get("health", {})
    if not isinstance(health, dict):
        raise BadConfig(f"configuration file {path}: [health] must be a table")
    lint = raw.get("lint", {})
    if not isinstance(lint, dict):
        raise BadConfig(f"configuration file {path}: [lint] must be a table")
    cache = raw.get("cache", {})
    if not isinstance(cache, dict):
        raise BadConfig(f"configuration file {path}: [cache] must be a table")
    loadtest = raw.get("loadtest", {})
    if not isinstance(loadtest, dict) or set(loadtest) - {"weights"}:
        raise BadConfig(f"configuration file {path}: [loadtest] takes only weights "
                        "(a table of script = weight)")
    loadtest_weights = loadtest.get("weights", {})
    if not isinstance(loadtest_weights, dict):
        raise BadConfig(f"configuration file {path}: [loadtest.weights] must be a table")
    return Config(path, resolved, health, lint, cache, loadtest_weights)
