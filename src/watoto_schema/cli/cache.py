"""``cache check`` and ``cache invalidate``: the Redis cache layer (sql/cache.toml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..units import format_bytes
from .context import AppContext

if TYPE_CHECKING:
    from ..cache.after_migrate import CacheRun

pass_app = click.make_pass_decorator(AppContext)


@click.group()
def cache() -> None:
    """The Redis cache in front of PostgreSQL: its key families and TTLs (sql/cache.toml,
    [cache] in watoto-schema.toml). Redis: --redis URL or $WATOTO_REDIS_URL."""


@cache.command()
@click.option("--sample", type=click.IntRange(min=1), metavar="N",
              help="Keys to sample with SCAN (default: the policy's, 10000).")
@pass_app
def check(app: AppContext, sample: int | None) -> None:
    """Check the Redis against the cache policy (read-only; exit 2 on findings).

    Server version (7+), maxmemory and the eviction policy (sessions and rate limits must
    not be evicted like cache entries), persistence for sessions, keys of a family without a
    TTL or with a TTL above the policy (a SCAN sample, never KEYS), memory per family
    (MEMORY USAGE of a sample), hit ratio and evictions.
    """
    from ..cache import check as run_check
    from ..cache.connection import connected, require
    from ..errors import EXIT_DIFFERENCES

    target = require(app.cache_target())
    policy = app.cache_policy()
    with connected(target) as conn:
        report = run_check(conn, policy, target.display, sample)
    app.out.document({**report.as_dict(), "status": "findings" if report.findings else "ok"})
    ratio = "n/a" if report.hit_ratio is None else f"{report.hit_ratio:.1%}"
    app.out.line(f"{report.target}: Redis {report.version}, {report.keys} keys "
                 f"({report.sampled} sampled), maxmemory "
                 f"{format_bytes(report.maxmemory, '') if report.maxmemory else 'unset'} "
                 f"{report.maxmemory_policy}, used {format_bytes(report.used_memory, '')}, "
                 "hit ratio "
                 f"{ratio}, {report.evicted_keys} evicted, {report.connected_clients} clients")
    app.out.table(None, ["family", "pattern", "ttl", "est. keys", "no ttl", "ttl > policy",
                         "avg size", "est. memory"],
                  [[f.family, f.pattern, f"{f.ttl:g}s", str(f.estimated_keys),
                    str(f.without_ttl), str(f.ttl_above_policy), format_bytes(f.average_bytes, ''),
                    format_bytes(f.estimated_bytes, '')] for f in report.families])
    if report.unclassified:
        app.out.line(f"{report.unclassified} sampled key(s) match no family of the policy")
    from rich.markup import escape

    for note in report.notes:
        app.out.line(escape(f"note: {note}"))
    for finding in report.findings:
        app.out.line(f"[yellow]{finding.check}[/]: {escape(finding.message)}")
    if report.findings:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)
    app.out.line("No findings.")


@cache.command()
@click.option("--table", "tables", multiple=True, metavar="TABLE",
              help="Invalidate the families derived from TABLE (repeatable).")
@click.option("--family", "families", multiple=True, metavar="FAMILY",
              help="Invalidate FAMILY, e.g. user (repeatable).")
@click.option("--id", "ids", multiple=True, metavar="ID",
              help="Only the keys of ID (the pattern's first placeholder; repeatable).")
@click.option("--dry-run", is_flag=True, help="Count the keys that would go; remove none.")
@click.option("--batch", type=click.IntRange(min=1), metavar="N",
              help="Keys per SCAN COUNT / UNLINK (default: the policy's, 200).")
@click.option("--pause", type=click.FloatRange(min=0), metavar="MS",
              help="Milliseconds between batches, at least as long as a batch took "
              "(default: the policy's, 2).")
@click.option("--max-rate", type=click.FloatRange(min=0), metavar="KEYS/S",
              help="At most this many keys a second, pausing between batches as long as it "
              "takes; 0: no limit (default: the policy's).")
@pass_app
def invalidate(app: AppContext, tables: tuple[str, ...], families: tuple[str, ...],
               ids: tuple[str, ...], dry_run: bool, batch: int | None,
               pause: float | None, max_rate: float | None) -> None:
    """Remove cached keys by family or by table: SCAN + UNLINK in batches, Redis keeps
    serving between them. Never KEYS, never FLUSHALL.

    Give --table or --family (not both). Idempotent: keys written meanwhile may survive
    one run and go with the next.
    """
    from ..cache import invalidate as run_invalidate
    from ..cache.connection import connected, require
    from ..errors import BadConfig

    if bool(tables) == bool(families):
        raise click.UsageError("give --table TABLE or --family FAMILY (not both)")
    policy = app.cache_policy()
    if families:
        chosen = [policy.family(name) for name in dict.fromkeys(families)]
    else:
        chosen = policy.families_for(tables)
        if not chosen:
            raise BadConfig(f"no cache family is derived from {', '.join(tables)} (tables "
                            f"behind the families: {', '.join(sorted(policy.tables))})")
    target = require(app.cache_target())
    with connected(target) as conn:
        result = run_invalidate(conn, policy, chosen, ids=ids, dry_run=dry_run, batch=batch,
                                pause=None if pause is None else pause / 1000,
                                max_rate=max_rate)
    app.out.document({"target": target.display, "dry_run": dry_run,
                      "families": [{"family": f.family, "match": f.match, "keys": f.keys,
                                    "batches": f.batches, "seconds": round(f.seconds, 3),
                                    "paused_seconds": round(f.paused_seconds, 3)}
                                   for f in result.families],
                      "keys": result.keys, "batches": result.batches,
                      "seconds": round(result.seconds, 3),
                      "paused_seconds": round(result.paused_seconds, 3),
                      "batch": result.batch, "pause_ms": round(result.pause * 1000, 3),
                      "max_rate": result.max_rate})
    from rich.markup import escape

    verb = "would remove" if dry_run else "removed"
    for f in result.families:
        app.out.line(escape(f"{f.family}: {verb} {f.keys} key(s) matching {f.match} "
                            f"in {f.batches} batch(es), {f.seconds:.2f}s"))
    limit = f", at most {result.max_rate:g} keys/s" if result.max_rate else ""
    app.out.line(f"{result.keys} key(s) {'to remove' if dry_run else 'removed'} in "
                 f"{result.seconds:.2f}s ({result.batches} batch(es) of up to {result.batch}, "
                 f"{result.paused_seconds:.2f}s of it pausing{limit})")


# -- `migrate` with a Redis: the hook and its report (used by cli/migrations.py) ----------

def render_cache(app: AppContext, run: CacheRun, *, dry_run: bool) -> None:
    affected = [m for m in run.migrations if m.families or m.opaque]
    if dry_run:  # after the script: SQL comments keep it a script
        for m in affected:
            what = (f"invalidate {', '.join(m.families)} (tables {', '.join(m.tables)})"
                    if m.families else "no cached family")
            unknown = f"; unknown tables: {', '.join(m.opaque)}" if m.opaque else ""
            app.out.raw(f"-- cache ({run.target}): after {m.version} commits, {what}"
                        f"{unknown}\n")
        return
    removed: dict[str, int] = {}
    for m in run.migrations:
        for family, keys in m.removed.items():
            removed[family] = removed.get(family, 0) + keys
    if removed:
        app.out.line("cache: invalidated " + ", ".join(f"{n} {f} key(s)"
                                                       for f, n in removed.items()))
    if run.missed:
        app.out.note(f"warning: the migrations stay applied, but the cached families "
                     f"{', '.join(run.missed)} were not invalidated ({run.error}); once "
                     "Redis answers run: watoto-schema cache invalidate --table "
                     + " --table ".join(run.missed_tables))
