"""``cache check``: is this Redis fit to hold the design's cache, sessions and rate limits?

Reads only: INFO, CONFIG GET (skipped where a managed Redis disables it), and a sample of
keys taken with SCAN (never KEYS, which blocks the server for the whole keyspace) whose TTLs
and MEMORY USAGE are read in pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .policy import CachePolicy, Family

if TYPE_CHECKING:
    import redis

MIN_VERSION = (7, 0)
TTL_SLACK = 1.0  # seconds: a TTL set a moment ago by a clock-rounding client is not "above"


@dataclass
class Finding:
    """Something to fix, with why (``cache check`` exits 2 when there is any)."""

    check: str  # version | maxmemory | eviction | persistence | ttl | hit_ratio | evictions
    message: str
    family: str | None = None


@dataclass
class FamilyStats:
    """One family as the sample saw it."""

    family: str
    pattern: str
    ttl: float
    sampled: int = 0
    estimated_keys: int = 0
    without_ttl: int = 0
    ttl_above_policy: int = 0
    max_ttl: float | None = None  # the longest TTL seen, seconds
    memory_sampled: int = 0
    average_bytes: float | None = None
    estimated_bytes: int | None = None
    examples: list[str] = field(default_factory=list)  # keys without TTL or above policy


@dataclass
class CacheReport:
    target: str
    version: str
    maxmemory: int
    maxmemory_policy: str
    used_memory: int
    aof: bool
    save: str | None  # the RDB schedule; None: CONFIG GET is not allowed here
    keys: int
    sampled: int
    hits: int
    misses: int
    evicted_keys: int
    expired_keys: int
    connected_clients: int
    families: list[FamilyStats] = field(default_factory=list)
    unclassified: int = 0  # sampled keys that match no family
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def hit_ratio(self) -> float | None:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        doc = asdict(self)
        doc["hit_ratio"] = None if self.hit_ratio is None else round(self.hit_ratio, 4)
        return doc


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def _config(conn: redis.Redis, name: str) -> str | None:
    import redis as lib

    try:
        value = conn.config_get(name)
    except lib.ResponseError:  # CONFIG renamed or disabled (managed services)
        return None
    found: dict[Any, Any] = value if isinstance(value, dict) else {}
    raw = found.get(name, found.get(name.encode()))
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def check(conn: redis.Redis, policy: CachePolicy, target: str = "",
          sample: int | None = None) -> CacheReport:
    """Judge the server's settings and a sample of its keys against ``policy``."""
    info: dict[str, Any] = conn.info()
    report = CacheReport(
        target=target, version=str(info.get("redis_version", "?")),
        maxmemory=int(info.get("maxmemory", 0)),
        maxmemory_policy=str(info.get("maxmemory_policy", "?")),
        used_memory=int(info.get("used_memory", 0)), aof=bool(int(info.get("aof_enabled", 0))),
        save=_config(conn, "save"), keys=int(conn.dbsize()), sampled=0,
        hits=int(info.get("keyspace_hits", 0)), misses=int(info.get("keyspace_misses", 0)),
        evicted_keys=int(info.get("evicted_keys", 0)),
        expired_keys=int(info.get("expired_keys", 0)),
        connected_clients=int(info.get("connected_clients", 0)))
    _judge_server(report, policy)
    _sample_keys(conn, policy, report, sample or policy.sample)
    _judge_usage(report, policy)
    return report


def _judge_server(report: CacheReport, policy: CachePolicy) -> None:
    add = report.findings.append
    if _version(report.version) < MIN_VERSION:
        add(Finding("version", f"Redis {report.version}: the design asks for 7 or newer"))
    if report.maxmemory == 0:
        add(Finding("maxmemory", "maxmemory is not set: Redis grows until the machine swaps "
                    "or the OOM killer ends it, taking every session with it; set maxmemory "
                    "and a volatile-* maxmemory-policy"))
    kept = [f.name for f in policy.families if not f.evictable]
    chosen = report.maxmemory_policy
    separate = ("or keep them on a Redis instance of their own (a database number on the "
                "same server shares its maxmemory and eviction, so SELECT does not protect them)")
    if kept and chosen.startswith("allkeys-"):
        add(Finding("eviction", f"maxmemory-policy {chosen} evicts any key when memory is "
                    f"full, {' and '.join(kept)} keys included (a user is logged out, a rate "
                    "limit resets): use volatile-ttl, which evicts the keys nearest to expiry "
                    "first (15-60 min cache entries before 24 h sessions), " + separate))
    elif chosen == "noeviction" and report.maxmemory:
        add(Finding("eviction", "maxmemory-policy noeviction: when memory is full every write "
                    "fails (OOM), cache fills and new logins alike; use volatile-ttl so cache "
                    "entries make room"))
    elif kept and chosen in ("volatile-lru", "volatile-lfu", "volatile-random"):
        report.notes.append(
            f"maxmemory-policy {chosen} evicts only keys with a TTL; {' and '.join(kept)} keys "
            "have one too, so they can go; volatile-ttl evicts the shortest-lived keys first, "
            + separate)
    persistent = [f.name for f in policy.families if f.persistent]
    if persistent and not report.aof and report.save is not None and not report.save.strip():
        add(Finding("persistence", f"no persistence (appendonly no, save \"\"): a restart "
                    f"loses every {' and '.join(persistent)} key (every user is logged out); "
                    "enable appendonly yes (appendfsync everysec) or RDB snapshots"))
    elif persistent and not report.aof and report.save is None:
        report.notes.append("persistence: CONFIG GET is not allowed here and AOF is off; "
                            "check that RDB snapshots are scheduled for the sessions")


def _sample_keys(conn: redis.Redis, policy: CachePolicy, report: CacheReport,
                 sample: int) -> None:
    """SCAN (no MATCH: the sample is the keyspace's own mix) until ``sample`` keys."""
    keys: list[Any] = []
    cursor = 0
    while True:
        cursor, found = conn.scan(cursor, count=1000)
        keys.extend(found)
        if cursor == 0 or len(keys) >= sample:
            break
    keys = list(dict.fromkeys(keys))[:sample]
    report.sampled = len(keys)
    stats = {f.name: FamilyStats(f.name, f.pattern, f.ttl) for f in policy.families}
    members: dict[str, list[bytes]] = {f.name: [] for f in policy.families}
    families: list[Family | None] = []
    for key in keys:
        family = policy.classify(key.decode(errors="replace"))
        families.append(family)
        if family is None:
            report.unclassified += 1
        else:
            members[family.name].append(key)
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
    for key, family, pttl in zip(keys, families, pipe.execute(), strict=True):
        if family is None or pttl == -2:  # expired meanwhile
            continue
        entry = stats[family.name]
        entry.sampled += 1
        if pttl == -1:
            entry.without_ttl += 1
            if len(entry.examples) < 3:
                entry.examples.append(key.decode(errors="replace"))
            continue
        ttl = pttl / 1000
        entry.max_ttl = ttl if entry.max_ttl is None else max(entry.max_ttl, ttl)
        if ttl > family.ttl + TTL_SLACK:
            entry.ttl_above_policy += 1
            if len(entry.examples) < 3:
                entry.examples.append(key.decode(errors="replace"))
    for name, entry in stats.items():
        entry.estimated_keys = (entry.sampled if report.sampled >= report.keys
                                else round(report.keys * entry.sampled / max(report.sampled, 1)))
        measured = members[name][:policy.memory_sample]
        if not measured:
            continue
        pipe = conn.pipeline(transaction=False)
        for key in measured:
            pipe.memory_usage(key)
        sizes = [int(n) for n in pipe.execute() if n is not None]
        if sizes:
            entry.memory_sampled = len(sizes)
            entry.average_bytes = sum(sizes) / len(sizes)
            entry.estimated_bytes = round(entry.average_bytes * entry.estimated_keys)
    report.families = list(stats.values())


def _judge_usage(report: CacheReport, policy: CachePolicy) -> None:
    add = report.findings.append
    for entry in report.families:
        if entry.without_ttl:
            add(Finding("ttl", f"{entry.without_ttl} of {entry.sampled} sampled {entry.family} "
                        f"keys have no TTL (e.g. {entry.examples[0]}): they never expire, "
                        "and volatile-* eviction never frees them", entry.family))
        if entry.ttl_above_policy:
            add(Finding("ttl", f"{entry.ttl_above_policy} of {entry.sampled} sampled "
                        f"{entry.family} keys have a TTL above the policy's "
                        f"{_duration(entry.ttl)} (longest {_duration(entry.max_ttl or 0)})",
                        entry.family))
    ratio, lookups = report.hit_ratio, report.hits + report.misses
    if ratio is not None and lookups >= policy.min_lookups and ratio < policy.hit_ratio_warning:
        add(Finding("hit_ratio", f"hit ratio {ratio:.1%} over {lookups} lookups, below "
                    f"{policy.hit_ratio_warning:.0%}: most reads miss and go to PostgreSQL"))
    if report.evicted_keys:
        add(Finding("evictions", f"{report.evicted_keys} keys evicted since Redis started: "
                    "maxmemory is too small for keys that all carry a TTL of at most 24 h "
                    "(CONFIG RESETSTAT resets the counter)"))


def _duration(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g} h"
    if value >= 60:
        return f"{value / 60:g} min"
    return f"{value:g} s"
