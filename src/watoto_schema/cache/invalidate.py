"""Remove a family's keys without stalling Redis: SCAN with MATCH, UNLINK in batches, a pause
between batches. Never KEYS (it walks the whole keyspace in one blocking command) and never
FLUSHALL/FLUSHDB (they take the sessions and rate limits with them)."""

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


@dataclass
class Invalidation:
    """Per family, the keys removed; ``dry_run``: the keys that would be."""

    dry_run: bool
    families: list[FamilyInvalidation] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def keys(self) -> int:
        return sum(f.keys for f in self.families)

    def counts(self) -> dict[str, int]:
        return {f.family: f.keys for f in self.families}


def invalidate(conn: redis.Redis, policy: CachePolicy, families: Sequence[Family], *,
               ids: Sequence[str] = (), dry_run: bool = False, batch: int | None = None,
               pause: float | None = None,
               on_batch: Callable[[FamilyInvalidation], None] | None = None) -> Invalidation:
    """Remove the keys of ``families`` (only those of ``ids`` when given).

    Each round is one ``SCAN cursor MATCH pattern COUNT batch`` and one ``UNLINK`` of what it
    found (UNLINK frees large values in a background thread), then a pause of ``pause`` or
    as long as the round took, whichever is longer: Redis serves other clients between
    rounds, so a read waits at most for one short command. Keys
    written while it runs may survive (SCAN's guarantee covers keys present throughout);
    idempotent, so a second run removes them. With ``ids``, a family whose pattern has one
    placeholder is removed by name, without scanning.
    """
    batch = batch or policy.batch
    pause = policy.pause if pause is None else pause
    result = Invalidation(dry_run)
    began = time.perf_counter()
    for family in families:
        if ids and len(family.placeholders) == len(ids[:1]) == 1:
            result.families.append(_by_name(conn, policy, family, ids, dry_run, batch))
            continue
        patterns = [family.glob(policy.prefix, (i,)) for i in ids] or [family.glob(policy.prefix)]
        done = FamilyInvalidation(family.name, " ".join(patterns))
        started = time.perf_counter()
        for pattern in patterns:
            _scan_unlink(conn, pattern, done, dry_run, batch, pause, on_batch)
        done.seconds = time.perf_counter() - started
        result.families.append(done)
    result.seconds = time.perf_counter() - began
    return result


def _scan_unlink(conn: redis.Redis, pattern: str, done: FamilyInvalidation, dry_run: bool,
                 batch: int, pause: float,
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
        if pause:
            # At least as long as the round took: a busy (slow) server gets more room, so
            # the invalidation never takes more than about half of its time.
            time.sleep(max(pause, time.perf_counter() - began))
    done.keys += len(seen)


def _by_name(conn: redis.Redis, policy: CachePolicy, family: Family, ids: Sequence[str],
             dry_run: bool, batch: int) -> FamilyInvalidation:
    names = [policy.prefix + family.pattern.replace("{" + family.placeholders[0] + "}", i)
             for i in ids]
    done = FamilyInvalidation(family.name, " ".join(names))
    started = time.perf_counter()
    for first in range(0, len(names), batch):
        chunk = names[first:first + batch]
        done.keys += int(conn.exists(*chunk) if dry_run else conn.unlink(*chunk))
        done.batches += 1
    done.seconds = time.perf_counter() - started
    return done
