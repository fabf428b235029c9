"""Remove a family's keys without stalling Redis: SCAN with MATCH, UNLINK in batches, a pause
between batches, at most ``max_rate`` keys a second. Never KEYS (it walks the whole keyspace
in one blocking command) and never FLUSHALL/FLUSHDB (they take the sessions and rate limits
with them)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .policy import CachePolicy, Family

if TYPE_CHECKING:
    import redis


@dataclass
class FamilyInvalidation:
    """What invalidating one family did (or, dry, would do)."""

    family: str
    match: str  # the MATCH pattern
    keys: int = 0  # keys found (dry run) or removed
    batches: int = 0
    seconds: float = 0.0
    paused_seconds: float = 0.0  # of ``seconds``, asleep between batches


@dataclass
class Invalidation:
    """Per family, the keys removed; ``dry_run``: the keys that would be."""

    dry_run: bool
    families: list[FamilyInvalidation] = field(default_factory=list)
    seconds: float = 0.0
    batch: int = 0  # the SCAN COUNT / UNLINK size used
    pause: float = 0.0  # seconds between batches (at least as long as a batch took)
    max_rate: float = 0.0  # keys a second at most; 0: no limit

    @property
    def keys(self) -> int:
        return sum(f.keys for f in self.families)

    @property
    def batches(self) -> int:
        return sum(f.batches for f in self.families)

    @property
    def paused_seconds(self) -> float:
        return sum(f.paused_seconds for f in self.families)

    def counts(self) -> dict[str, int]:
        return {f.family: f.keys for f in self.families}


def invalidate(conn: redis.Redis, policy: CachePolicy, families: Sequence[Family], *,
               ids: Sequence[str] = (), dry_run: bool = False, batch: int | None = None,
               pause: float | None = None, max_rate: float | None = None,
               on_batch: Callable[[FamilyInvalidation], None] | None = None) -> Invalidation:
    """Remove the keys of ``families`` (only those of ``ids`` when given).

    Each round is one ``SCAN cursor MATCH pattern COUNT batch`` and one ``UNLINK`` of what it
    found (UNLINK frees large values in a background thread), then a pause of ``pause`` or
    as long as the round took, whichever is longer: Redis serves other clients between
    rounds, so a read waits at most for one short command, and a slow (busy) server gets
    more room. With ``max_rate`` (keys a second; the policy's when None, 0 for no limit)
    the pause is also as long as it takes to stay under that rate, which bounds the CPU the
    invalidation takes from everything else on the machine; the time is then about
    keys / max_rate. Keys written while it runs may survive (SCAN's guarantee covers keys
    present throughout); idempotent, so a second run removes them. With ``ids``, a family
    whose pattern has one placeholder is removed by name, without scanning.
    """
    from ..errors import BadConfig

    batch = policy.batch if batch is None else batch
    pause = policy.pause if pause is None else pause
    max_rate = policy.max_rate if max_rate is None else max_rate
    if batch < 1:
        raise BadConfig(f"--batch must be at least 1 (got {batch})")
    if pause < 0:
        raise BadConfig(f"--pause must be at least 0 ms (got {pause * 1000:g})")
    if max_rate < 0:
        raise BadConfig(f"--max-rate must be at least 0 keys/s (got {max_rate:g})")
    result = Invalidation(dry_run, batch=batch, pause=pause, max_rate=max_rate)
    pacer = _Pacer(pause, max_rate)
    began = time.perf_counter()
    for family in families:
        if ids and len(family.placeholders) == len(ids[:1]) == 1:
            result.families.append(_by_name(conn, policy, family, ids, dry_run, batch, pacer))
            continue
        patterns = [family.glob(policy.prefix, (i,)) for i in ids] or [family.glob(policy.prefix)]
        done = FamilyInvalidation(family.name, " ".join(patterns))
        started = time.perf_counter()
        for pattern in patterns:
            _scan_unlink(conn, pattern, done, dry_run, batch, pacer, on_batch)
        done.seconds = time.perf_counter() - started
        result.families.append(done)
    result.seconds = time.perf_counter() - began
    return result


class _Pacer:
    """The pause after each batch: ``pause``, at least as long as the batch took, and with
    ``max_rate`` long enough that the keys handled so far stay under that rate."""

    def __init__(self, pause: float, max_rate: float) -> None:
        self.pause, self.max_rate = pause, max_rate
        self.began = time.perf_counter()
        self.keys = 0

    def rest(self, round_began: float, keys: int, done: FamilyInvalidation) -> None:
        self.keys += keys
        now = time.perf_counter()
        wait = max(self.pause, now - round_began) if self.pause else 0.0
        if self.max_rate:
            wait = max(wait, self.began + self.keys / self.max_rate - now)
        if wait > 0:
            time.sleep(wait)
            done.paused_seconds += wait


def _scan_unlink(conn: redis.Redis, pattern: str, done: FamilyInvalidation, dry_run: bool,
                 batch: int, pacer: _Pacer,
                 on_batch: Callable[[FamilyInvalidation], None] | None) -> None:
    seen: set[bytes | str] = set()  # a dry run counts each key once (SCAN may return one twice)
    cursor = 0
    while True:
        began = time.perf_counter()
        cursor, keys = conn.scan(cursor, match=pattern, count=batch)
        if keys:
            if dry_run:
                seen.update(keys)
            else:
                done.keys += int(conn.unlink(*keys))
            done.batches += 1
            if on_batch is not None:
                on_batch(done)
        if cursor == 0:
            break
        pacer.rest(began, len(keys), done)
    done.keys += len(seen)


def _by_name(conn: redis.Redis, policy: CachePolicy, family: Family, ids: Sequence[str],
             dry_run: bool, batch: int, pacer: _Pacer) -> FamilyInvalidation:
    names = [policy.prefix + family.pattern.replace("{" + family.placeholders[0] + "}", i)
             for i in ids]
    done = FamilyInvalidation(family.name, " ".join(names))
    started = time.perf_counter()
    for first in range(0, len(names), batch):
        began = time.perf_counter()
        chunk = names[first:first + batch]
        done.keys += int(conn.exists(*chunk) if dry_run else conn.unlink(*chunk))
        done.batches += 1
        if first + batch < len(names):
            pacer.rest(began, len(chunk), done)
    done.seconds = time.perf_counter() - started
    return done
