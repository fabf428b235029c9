"""The cache policy: ``sql/cache.toml`` (key families, TTLs, the tables behind them), with
``[cache]`` of ``watoto-schema.toml`` laid over it."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadConfig
from ..resources import data_dir
from ..target import one_line

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TTL = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|min|h|d)?\s*")
_UNITS = {None: 1, "s": 1, "min": 60, "h": 3600, "d": 86400}
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis MATCH pattern."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def seconds(value: str | int | float, what: str) -> float:
    """Seconds of a TTL written as 1h, 30min, 15min, 24h, 90s or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _TTL.fullmatch(str(value))
    if not match:
        raise BadConfig(f"{what}: {value!r} is not a duration like 90s, 30min, 1h, 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Family:
    """One key family: ``user:{id}`` with its TTL and the tables its values come from."""

    name: str
    pattern: str
    ttl: float  # seconds
    tables: tuple[str, ...] = ()
    evictable: bool = True
    persistent: bool = False
    description: str = ""

    def glob(self, prefix: str = "", ids: tuple[str, ...] = ()) -> str:
        """The MATCH pattern of the family's keys; ``ids`` fill its first placeholders."""
        out, last = [glob_escape(prefix)], 0
        for filled, match in enumerate(_PLACEHOLDER.finditer(self.pattern)):
            out.append(glob_escape(self.pattern[last:match.start()]))
            out.append(glob_escape(ids[filled]) if filled < len(ids) else "*")
            last = match.end()
        out.append(glob_escape(self.pattern[last:]))
        return "".join(out)

    @property
    def placeholders(self) -> list[str]:
        return _PLACEHOLDER.findall(self.pattern)

    def regex(self, prefix: str = "") -> re.Pattern[str]:
        """The family's keys as a regular expression (a placeholder is any text, as ``*``)."""
        parts, last = [re.escape(prefix)], 0
        for match in _PLACEHOLDER.finditer(self.pattern):
            parts.append(re.escape(self.pattern[last:match.start()]))
            parts.append(".*")
            last = match.end()
        parts.append(re.escape(self.pattern[last:]))
        return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class CachePolicy:
    """Every family, and how invalidation and ``cache check`` behave."""

    families: tuple[Family, ...]
    prefix: str = ""
    batch: int = 200
    pause: float = 0.002  # seconds between batches (at least as long as the batch took)
    max_rate: float = 10_000.0  # keys a second at most (0: no limit)
    sample: int = 10_000
    memory_sample: int = 200
    hit_ratio_warning: float = 0.80
    min_lookups: int = 1000
    sources: tuple[str, ...] = field(default=(), compare=False)

    def family(self, name: str) -> Family:
        for family in self.families:
            if family.name == name:
                return family
        raise BadConfig(f"unknown cache family {name!r} (known: "
                        f"{', '.join(f.name for f in self.families)})")

    def families_for(self, tables: Iterable[str]) -> list[Family]:
        """The families derived from any of ``tables`` (names without schema)."""
        wanted = {t.lower() for t in tables}
        return [f for f in self.families if wanted.intersection(t.lower() for t in f.tables)]

    def classify(self, key: str) -> Family | None:
        """The family a key belongs to (the first whose pattern matches), or None."""
        for family, regex in self._regexes:
            if regex.fullmatch(key):
                return family
        return None

    @property
    def _regexes(self) -> list[tuple[Family, re.Pattern[str]]]:
        cached: list[tuple[Family, re.Pattern[str]]] | None = self.__dict__.get("_compiled")
        if cached is None:
            cached = [(f, f.regex(self.prefix)) for f in self.families]
            object.__setattr__(self, "_compiled", cached)
        return cached

    @property
    def tables(self) -> set[str]:
        return {t for f in self.families for t in f.tables}


def policy_path() -> Path:
    return data_dir("sql") / "cache.toml"


def load_policy(overrides: dict[str, Any] | None = None, path: Path | None = None) -> CachePolicy:
    """The shipped policy (or ``path``), with ``overrides`` (``[cache]`` of the config) over it.

    An override replaces single settings of a family and may add families; unknown settings
    and wrong types are errors naming where they are.
    """
    path = path or policy_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadConfig(f"cache policy {path}: {one_line(exc)}") from exc
    sources = [str(path)]
    if overrides:
        raw = _merge(raw, overrides)
        sources.append("[cache] of watoto-schema.toml")
    where = " + ".join(sources)
    known = {"prefix", "invalidation", "check", "families"}
    unknown = set(raw) - known
    if unknown:
        raise BadConfig(f"cache policy ({where}): unknown setting(s) {', '.join(sorted(unknown))}"
                        f" (known: {', '.join(sorted(known))})")
    invalidation = _table(raw, "invalidation", where, {"batch", "pause_ms", "max_rate"})
    check = _table(raw, "check", where,
                   {"sample", "memory_sample", "hit_ratio_warning", "min_lookups"})
    families = [_family(name, spec, where)
                for name, spec in _table(raw, "families", where, None).items()]
    if not families:
        raise BadConfig(f"cache policy ({where}): no families")
    prefix = raw.get("prefix", "")
    if not isinstance(prefix, str):
        raise BadConfig(f"cache policy ({where}): prefix must be a string")
    return CachePolicy(
        families=tuple(families), prefix=prefix,
        batch=_number(invalidation, "batch", 200, where, integer=True, minimum=1),
        pause=_number(invalidation, "pause_ms", 2.0, where) / 1000,
        max_rate=float(_number(invalidation, "max_rate", 10_000, where)),
        sample=_number(check, "sample", 10_000, where, integer=True, minimum=1),
        memory_sample=_number(check, "memory_sample", 200, where, integer=True),
        hit_ratio_warning=_number(check, "hit_ratio_warning", 0.8, where),
        min_lookups=_number(check, "min_lookups", 1000, where, integer=True),
        sources=tuple(sources))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _table(raw: dict[str, Any], name: str, where: str,
           keys: set[str] | None) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise BadConfig(f"cache policy ({where}): [{name}] must be a table")
    if keys is not None and set(value) - keys:
        raise BadConfig(f"cache policy ({where}): unknown setting(s) in [{name}]: "
                        f"{', '.join(sorted(set(value) - keys))}")
    return value


def _number(values: dict[str, Any], key: str, default: float, where: str, *,
            integer: bool = False, minimum: float = 0) -> Any:
    value: Any = values.get(key, default)
    number = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not number or value < minimum:
        raise BadConfig(f"cache policy ({where}): {key} must be a "
                        f"{'whole ' if integer else ''}number >= {minimum:g}")
    return value


_FAMILY_KEYS = {"pattern", "ttl", "tables", "evictable", "persistent", "description"}


def _family(name: str, spec: Any, where: str) -> Family:
    what = f"cache policy ({where}): family {name}"
    if not isinstance(spec, dict):
        raise BadConfig(f"{what} must be a table")
    unknown = set(spec) - _FAMILY_KEYS
    if unknown:
        raise BadConfig(f"{what}: unknown setting(s) {', '.join(sorted(unknown))} "
                        f"(known: {', '.join(sorted(_FAMILY_KEYS))})")
    pattern = spec.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise BadConfig(f"{what}: pattern is required, e.g. \"user:{{id}}\"")
    if "ttl" not in spec:
        raise BadConfig(f"{what}: ttl is required, e.g. \"1h\"")
    ttl = seconds(spec["ttl"], f"{what}: ttl")
    tables = spec.get("tables", [])
    if not isinstance(tables, list) or not all(isinstance(t, str) for t in tables):
        raise BadConfig(f"{what}: tables must be a list of table names")
    flags = {k: spec.get(k, d) for k, d in (("evictable", True), ("persistent", False))}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise BadConfig(f"{what}: {key} must be true or false")
    return Family(name, pattern, ttl, tuple(tables), flags["evictable"], flags["persistent"],
                  str(spec.get("description", "")))
