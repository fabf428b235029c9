"""The cache section of ``health``: Redis' hit ratio, memory, evictions and clients.

Only when a Redis is configured (``--redis``, ``WATOTO_REDIS_URL``). One INFO call; an
unreachable Redis is one critical check, not an error of the whole report.
"""

from __future__ import annotations

from typing import Any

from ..errors import WatotoError
from ..health.checks import CRITICAL, OK, WARNING, Check, Metric
from ..units import format_bytes
from .connection import CacheTarget, client
from .policy import CachePolicy

CLIENTS_WARNING = 0.8  # share of maxclients


def checks(target: CacheTarget, policy: CachePolicy, timeout: float = 5.0) -> list[Check]:
    """The cache checks of ``health`` for the Redis at ``target``."""
    import redis

    try:
        conn = client(target, timeout=timeout)
    except WatotoError as exc:
        return [Check("redis", CRITICAL, "unreachable", "", str(exc),
                      metrics=[Metric("redis_up", 0, help="Redis answered PING")])]
    try:
        info: dict[str, Any] = conn.info()
    except redis.RedisError as exc:
        return [Check("redis", CRITICAL, "INFO failed", "", type(exc).__name__,
                      metrics=[Metric("redis_up", 0, help="Redis answered PING")])]
    finally:
        conn.close()
    return [_hit_ratio(info, policy), _memory(info), _evictions(info), _clients(info)]


def _hit_ratio(info: dict[str, Any], policy: CachePolicy) -> Check:
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    metrics = [Metric("redis_keyspace_hits", hits, help="Redis lookups that found the key"),
               Metric("redis_keyspace_misses", misses, help="Redis lookups that missed")]
    threshold = f"warning below {policy.hit_ratio_warning:.0%}"
    if hits + misses < policy.min_lookups:
        return Check("redis_hit_ratio", OK, f"{hits + misses} lookups: too few to judge",
                     f"judged from {policy.min_lookups} lookups", metrics=metrics)
    ratio = hits / (hits + misses)
    metrics.append(Metric("redis_hit_ratio", ratio, help="Redis keyspace hit ratio"))
    low = ratio < policy.hit_ratio_warning
    return Check("redis_hit_ratio", WARNING if low else OK, f"{ratio:.2%}", threshold,
                 "most reads miss the cache and go to PostgreSQL: TTLs too short, or keys "
                 "invalidated too often" if low else "", metrics=metrics)


def _memory(info: dict[str, Any]) -> Check:
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    metrics = [Metric("redis_used_memory_bytes", used, help="Memory Redis has allocated"),
               Metric("redis_maxmemory_bytes", limit, help="maxmemory (0: no limit)")]
    if not limit:
        return Check("redis_memory", WARNING, f"{format_bytes(used)}, no maxmemory",
                     "maxmemory set",
                     "without maxmemory Redis grows until the OOM killer ends it; set it "
                     "with a volatile-* policy (`cache check`)", metrics=metrics)
    return Check("redis_memory", OK, f"{format_bytes(used)} of {format_bytes(limit)} "
                 f"({used / limit:.0%}), "
                 f"{info.get('maxmemory_policy', '?')}", "maxmemory set", metrics=metrics)


def _evictions(info: dict[str, Any]) -> Check:
    evicted = int(info.get("evicted_keys", 0))
    metrics = [Metric("redis_evicted_keys", evicted, help="Keys evicted since Redis started")]
    return Check("redis_evictions", WARNING if evicted else OK, str(evicted), "none",
                 "maxmemory is too small for the keys' TTLs (sessions may be evicted)"
                 if evicted else "", metrics=metrics)


def _clients(info: dict[str, Any]) -> Check:
    connected, limit = int(info.get("connected_clients", 0)), int(info.get("maxclients", 0))
    metrics = [Metric("redis_connected_clients", connected, help="Clients connected to Redis"),
               Metric("redis_up", 1, help="Redis answered PING")]
    if not limit:
        return Check("redis_clients", OK, str(connected), "", metrics=metrics)
    high = connected >= CLIENTS_WARNING * limit
    return Check("redis_clients", WARNING if high else OK, f"{connected} of {limit}",
                 f"warning at {CLIENTS_WARNING:.0%} of maxclients",
                 "raise maxclients or pool the application's connections" if high else "",
                 metrics=metrics)
