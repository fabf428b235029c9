"""``plan()``: what needs ANALYZE, VACUUM or REINDEX and why (read-only); the direct
forms for named tables and indexes; ``render_script()`` for ``--dry-run``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import (
    BadConfig,
    Refused,
    WatotoError,
)
from ..migrate import LOCK_CLASS, LOCK_MIGRATE
from ..resources import sql_text
from ..target import Target, connect, dict_rows, one_line
from ..units import format_bytes
from .catalog import _Catalog, _statement
from .model import (
    _LEFTOVER,
    _PRIORITY,
    APPLICATION,
    LOCK_EFFECTS,
    Finding,
    MaintenancePlan,
    RunOptions,
    Task,
    Thresholds,
)

if TYPE_CHECKING:
    import psycopg

# -- planning ------------------------------------------------------------------------------

def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = (now - then).total_seconds()
    if seconds >= 86_400:
        return f"{seconds / 86_400:.0f} day(s) ago"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.0f} hour(s) ago"
    return f"{max(seconds, 0) / 60:.0f} minute(s) ago"


def _table_findings(row: dict[str, Any], th: Thresholds, now: datetime) -> dict[str, Finding]:
    """Findings about a leaf or regular table (or materialized view), by kind."""
    schema, name = row["schema"], row["name"]
    live, dead, changed = int(row["n_live_tup"]), int(row["n_dead_tup"]), int(
        row["n_mod_since_analyze"])
    found: dict[str, Finding] = {}
    dead_share = dead / max(live + dead, 1)
    if dead >= th.dead_min and dead_share >= th.dead_ratio:
        found["dead_tuples"] = Finding(
            "dead_tuples", schema, name,
            f"{dead:,} dead tuples ({dead_share:.0%} of rows); last vacuum "
            f"{_ago(now, row['last_vacuumed'])}",
            {"n_dead_tup": dead, "n_live_tup": live, "dead_ratio": round(dead_share, 4)})
    analyzed = row["last_analyzed"]
    changed_share = changed / max(live, 1)
    if analyzed is None:
        if max(live, changed) >= th.analyze_min:
            found["never_analyzed"] = Finding(
                "never_analyzed", schema, name,
                f"never analyzed; {live:,} rows without planner statistics",
                {"n_live_tup": live, "n_mod_since_analyze": changed})
    elif changed >= th.analyze_min and changed_share >= th.analyze_ratio:
        found["stale_statistics"] = Finding(
            "stale_statistics", schema, name,
            f"{changed:,} rows changed since the last analyze ({changed_share:.0%} of "
            f"{live:,}), {_ago(now, analyzed)}",
            {"n_mod_since_analyze": changed, "n_live_tup": live,
             "last_analyzed": analyzed})
    elif changed > 0 and (now - analyzed).total_seconds() >= th.stale_days * 86_400:
        found["stale_statistics"] = Finding(
            "stale_statistics", schema, name,
            f"last analyzed {_ago(now, analyzed)}, {changed:,} rows changed since",
            {"n_mod_since_analyze": changed, "last_analyzed": analyzed})
    for kind, age, limit in (("transaction ID", row["xid_age"], row["freeze_max_age"]),
                             ("multixact ID", row["mxid_age"], row["mxid_freeze_max_age"])):
        if age is None or not limit:
            continue
        share = int(age) / int(limit)
        if share >= th.wraparound_ratio and "wraparound" not in found:
            setting = ("autovacuum_freeze_max_age" if kind == "transaction ID"
                       else "autovacuum_multixact_freeze_max_age")
            found["wraparound"] = Finding(
                "wraparound", schema, name,
                f"{kind} age {int(age):,} is {share:.0%} of {setting} ({int(limit):,}): "
                "freeze it before autovacuum forces an uncancellable anti-wraparound vacuum",
                {"age": int(age), "limit": int(limit), "ratio": round(share, 6)})
    return found


def _parent_findings(row: dict[str, Any], th: Thresholds, now: datetime) -> list[Finding]:
    """Findings about a partitioned parent, judged against its leaf partitions."""
    schema, name = row["schema"], row["name"]
    rows = int(row["leaf_rows"] or 0)
    parts = int(row["leaf_count"] or 0)
    analyzed = row["last_analyzed"]
    if analyzed is None:
        if rows >= th.analyze_min:
            return [Finding(
                "partitioned_never_analyzed", schema, name,
                f"partitioned table never analyzed: autovacuum never analyzes partitioned "
                f"parents, so queries across its {parts} partitions ({rows:,} rows) are "
                "planned without statistics", {"leaf_rows": rows, "partitions": parts})]
        return []
    known = max(float(row["reltuples"]), 0.0)
    drift = abs(rows - known)
    if drift >= th.analyze_min and drift / max(known, 1.0) >= th.analyze_ratio:
        return [Finding(
            "partitioned_stale", schema, name,
            f"its statistics describe {known:,.0f} rows, its partitions now hold {rows:,} "
            f"(analyzed {_ago(now, analyzed)}; autovacuum never analyzes partitioned parents)",
            {"reltuples": known, "leaf_rows": rows})]
    leaf_analyzed = row["leaf_last_analyzed"]
    if (leaf_analyzed is not None and leaf_analyzed > analyzed
            and (now - analyzed).total_seconds() >= th.stale_days * 86_400):
        return [Finding(
            "partitioned_stale", schema, name,
            f"last analyzed {_ago(now, analyzed)}; its partitions changed and were analyzed "
            "since (autovacuum never analyzes partitioned parents)",
            {"last_analyzed": analyzed, "leaf_last_analyzed": leaf_analyzed})]
    return []


def _table_task(cat: _Catalog, oid: int, action: str, findings: list[Finding],
                analyze: bool = True) -> Task:
    row = cat.tables[oid]
    label = f"{row['schema']}.{row['name']}"
    templates = {"analyze": "ANALYZE {}",
                 "vacuum": "VACUUM (ANALYZE) {}" if analyze else "VACUUM {}",
                 "vacuum_freeze": "VACUUM (FREEZE, ANALYZE) {}" if analyze
                 else "VACUUM (FREEZE) {}",
                 "vacuum_full": "VACUUM (FULL, ANALYZE) {}" if analyze else "VACUUM (FULL) {}"}
    statement = _statement(cat.conn, templates[action], row["schema"], row["name"])
    mode = "ACCESS EXCLUSIVE" if action == "vacuum_full" else "SHARE UPDATE EXCLUSIVE"
    lock = f"{mode} on {label}"
    locked = {oid}
    if row["relkind"] == "p":
        lock += " and, in turn, on each of its partitions"
        locked.update(cat.leaves(oid))
    return Task(action, row["schema"], row["name"], row["name"], [statement], lock, findings,
                int(row["size_bytes"] or 0), frozenset(locked), row["relkind"] == "p",
                templates[action].removesuffix(" {}"))


def _index_task(cat: _Catalog, oid: int, action: str, findings: list[Finding]) -> Task:
    row = cat.indexes[oid]
    table = f"{row['table_schema']}.{row['table']}"
    if action == "reindex":
        statements = [_statement(cat.conn, "REINDEX INDEX CONCURRENTLY {}", row["schema"],
                                 row["name"])]
        lock = f"SHARE UPDATE EXCLUSIVE on {table} and the index"
    else:
        statements = [_statement(cat.conn, "DROP INDEX CONCURRENTLY IF EXISTS {}",
                                 row["schema"], row["name"])]
        lock = f"SHARE UPDATE EXCLUSIVE on {table}"
        if action == "rebuild_index":
            statements.append(_concurrently(str(row["definition"])))
    return Task(action, row["schema"], row["name"], row["table"], statements, lock, findings,
                int(row["size_bytes"] or 0), frozenset({int(row["table_oid"])}))


def _concurrently(definition: str) -> str:
    from ..concurrent import build_concurrently

    try:
        return build_concurrently(definition)
    except ValueError as exc:
        raise WatotoError(f"cannot rebuild concurrently: {exc}") from exc


def _migration_running(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = %s::oid AND objid = %s::oid AND objsubid = 2 AND pid <> pg_backend_pid()"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        (LOCK_CLASS, LOCK_MIGRATE)).fetchone()
    return bool(row and row[0])


def plan(target: Target, thresholds: Thresholds | None = None, *, exact: bool = False,
         create_extension: bool = False) -> MaintenancePlan:
    """List what needs ANALYZE, VACUUM, REINDEX or an INVALID-index rebuild, and why.

    Reads only the statistics views and the catalog: takes no lock beyond ACCESS SHARE on
    catalogs and writes nothing, except ``CREATE EXTENSION IF NOT EXISTS pgstattuple`` when
    both ``exact`` and ``create_extension`` are given. With ``exact``, candidates the cheap
    estimate flagged (leaf tables and B-tree indexes only) are measured with pgstattuple,
    which reads each of them in full.
    """
    th = thresholds or Thresholds()
    with connect(target, application_name=APPLICATION) as conn:
        now: datetime = dict_rows(conn, "SELECT now() AS now")[0]["now"]
        cat = _Catalog(conn)
        result = MaintenancePlan(target.display, th, exact=exact)
        table_findings: dict[int, dict[str, Finding]] = {}
        parent_tasks: dict[int, Task] = {}
        for oid, trow in cat.tables.items():
            if trow["relkind"] == "p":
                about_parent = _parent_findings(trow, th, now)
                if about_parent:
                    parent_tasks[oid] = _table_task(cat, oid, "analyze", about_parent)
            else:
                table_findings[oid] = _table_findings(trow, th, now)

        table_bloat = _bloat_candidates(
            dict_rows(conn, sql_text("maintenance/table_bloat.sql")), th.table_bloat_ratio, th)
        index_bloat = _bloat_candidates(
            dict_rows(conn, sql_text("maintenance/index_bloat.sql")), th.index_bloat_ratio, th)
        if exact and (table_bloat or index_bloat):
            _confirm_exactly(conn, result, table_bloat, index_bloat, th, create_extension)

        tasks: list[Task] = []
        for oid, found in table_findings.items():
            trow = cat.tables[oid]
            bloat = table_bloat.get(oid)
            if "wraparound" in found:
                action = "vacuum_freeze"
            elif "dead_tuples" in found:
                action = "vacuum"
            elif found:
                action = "analyze"
            else:
                action = ""
            if bloat is not None:
                finding = Finding("table_bloat", trow["schema"], trow["name"], bloat[0],
                                  bloat[1])
                if action.startswith("vacuum"):
                    found["table_bloat"] = finding
                else:
                    finding.reason += ("; the free space is reusable but stays allocated: "
                                       "`maintain vacuum --full --yes` (ACCESS EXCLUSIVE) in "
                                       "a maintenance window, or pg_repack, would return it")
                    result.advice.append(finding)
            if not action:
                continue
            parent = next((p for p in trow["ancestors"] or [] if p in parent_tasks), None)
            if action == "analyze" and parent is not None:
                # The parent's ANALYZE analyzes each of its partitions as well.
                parent_tasks[parent].findings.extend(found.values())
                continue
            tasks.append(_table_task(cat, oid, action, list(found.values())))
        tasks.extend(parent_tasks.values())

        for oid, (reason, metrics) in index_bloat.items():
            irow = cat.indexes.get(oid)
            if irow is None or irow["exclusion"]:
                continue
            tasks.append(_index_task(cat, oid, "reindex", [
                Finding("index_bloat", irow["schema"], irow["name"], reason, metrics)]))

        tasks.extend(_invalid_index_tasks(conn, cat, result))
        tasks.sort(key=lambda t: (t.partitioned, _PRIORITY[t.action], t.schema, t.relation))
        result.tasks = tasks
    return result


def _bloat_candidates(rows: list[dict[str, Any]], ratio: float,
                      th: Thresholds) -> dict[int, tuple[str, dict[str, Any]]]:
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for row in rows:
        share, wasted = row["bloat_ratio"], row["bloat_bytes"]
        if share is None or wasted is None:
            continue
        if share >= ratio and wasted >= th.bloat_min_bytes:
            found[int(row["oid"])] = (
                f"estimated bloat {format_bytes(wasted, '?')} ({share:.0%} of "
                f"{format_bytes(row['size_bytes'], '?')})",
                {"size_bytes": int(row["size_bytes"]), "bloat_bytes": int(wasted),
                 "bloat_ratio": round(float(share), 4), "fillfactor": int(row["fillfactor"]),
                 "source": "estimate", "relation": f"{row['schema']}.{row['name']}"})
    return found


def _confirm_exactly(conn: psycopg.Connection[Any], result: MaintenancePlan,
                     tables: dict[int, tuple[str, dict[str, Any]]],
                     indexes: dict[int, tuple[str, dict[str, Any]]], th: Thresholds,
                     create_extension: bool) -> None:
    """Measure estimated-bloat candidates with pgstattuple; drop those it does not confirm."""
    import psycopg
    from psycopg import sql

    def extension_schema() -> str | None:
        row = conn.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                           "ON n.oid = e.extnamespace WHERE e.extname = 'pgstattuple'"
                           ).fetchone()
        return str(row[0]) if row else None

    schema = extension_schema()
    if schema is None and create_extension:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        except psycopg.Error as exc:
            result.notes.append(f"exact bloat unavailable: CREATE EXTENSION pgstattuple "
                                f"failed: {one_line(exc)}; showing estimates")
            return
        schema = extension_schema()
    if schema is None:
        result.notes.append("exact bloat unavailable: the pgstattuple extension is not "
                            "installed in this database (allow creating it with "
                            "--create-extension); showing estimates")
        return
    table_query = sql.SQL("SELECT table_len, dead_tuple_len, free_space FROM {}(%s::regclass)"
                          ).format(sql.Identifier(schema, "pgstattuple"))
    index_query = sql.SQL("SELECT index_size, avg_leaf_density, leaf_pages FROM {}"
                          "(%s::regclass)").format(sql.Identifier(schema, "pgstatindex"))
    try:
        for oid, (_, metrics) in list(tables.items()):
            row = conn.execute(table_query, (oid,)).fetchone()
            assert row is not None
            length, dead, free = (int(v) for v in row)
            reserved = length * (100 - metrics["fillfactor"]) / 100
            wasted = max(dead + free - reserved, 0.0)
            share = wasted / length if length else 0.0
            _exact_verdict(result, tables, oid, share, wasted, length, th.table_bloat_ratio, th)
        for oid, (_, metrics) in list(indexes.items()):
            row = conn.execute(index_query, (oid,)).fetchone()
            assert row is not None
            size, density, leaves = int(row[0]), float(row[1]), int(row[2])
            if not leaves or density != density:  # no leaf pages, or NaN
                share = 0.0
            else:
                share = max(1 - density / metrics["fillfactor"], 0.0)
            _exact_verdict(result, indexes, oid, share, size * share, size,
                           th.index_bloat_ratio, th)
    except psycopg.Error as exc:
        result.notes.append(f"exact bloat unavailable: {one_line(exc)}; showing estimates")


def _exact_verdict(result: MaintenancePlan, found: dict[int, tuple[str, dict[str, Any]]],
                   oid: int, share: float, wasted: float, size: int, ratio: float,
                   th: Thresholds) -> None:
    reason, metrics = found[oid]
    exact = {"exact_bloat_bytes": int(wasted), "exact_bloat_ratio": round(share, 4),
             "source": "pgstattuple"}
    if share >= ratio and wasted >= th.bloat_min_bytes:
        found[oid] = (f"bloat {format_bytes(wasted, '?')} ({share:.0%} of "
                      f"{format_bytes(size, '?')}), measured by pgstattuple ({reason})",
                      {**metrics, **exact})
    else:
        del found[oid]
        result.notes.append(f"{metrics['relation']}: {reason}, but pgstattuple measured "
                            f"only {share:.0%}: not bloated enough to act on")


def _invalid_index_tasks(conn: psycopg.Connection[Any], cat: _Catalog,
                         result: MaintenancePlan) -> list[Task]:
    """Tasks for INVALID indexes: drop leftovers, rebuild the rest; never a build running."""
    invalid = conn.execute(sql_text("engine/invalid_indexes.sql")).fetchall()
    if not invalid:
        return []
    by_name = {(r["schema"], r["name"]): oid for oid, r in cat.indexes.items()}
    migrating = _migration_running(conn)
    tasks: list[Task] = []
    for schema, name, table, building in invalid:
        oid = by_name.get((schema, name))
        if oid is None:
            continue
        if building:
            result.in_progress.append(Finding(
                "build_in_progress", schema, name,
                f"INVALID because a concurrent index build on {table} is running now: "
                "left alone"))
            continue
        if migrating:
            result.notes.append(f"INVALID index {schema}.{name} left alone: a migration run "
                                "holds the migration lock (`migrate` resumes its own builds)")
            continue
        row = cat.indexes[oid]
        if _LEFTOVER.search(name):
            copy = match.group(1) if (match := _LEFTOVER.search(name)) else "cc"
            tasks.append(_index_task(cat, oid, "drop_index", [Finding(
                "leftover_index", schema, name,
                f"INVALID _cc{copy} copy left by a failed REINDEX CONCURRENTLY on {table}: "
                "dropped")]))
        elif row["index_ancestors"]:
            tasks.append(_index_task(cat, oid, "reindex", [Finding(
                "invalid_index", schema, name,
                "INVALID partition of a partitioned index (a failed build): rebuilt in place "
                "with REINDEX INDEX CONCURRENTLY")]))
        else:
            tasks.append(_index_task(cat, oid, "rebuild_index", [Finding(
                "invalid_index", schema, name,
                "INVALID index (a failed CREATE INDEX CONCURRENTLY): unused by queries but "
                "still updated by every write; dropped and re-created concurrently")]))
    return tasks


# -- direct forms --------------------------------------------------------------------------

def _requested(cat: _Catalog, oid: int, asked: str | None) -> list[Finding]:
    row = cat.tables.get(oid) or cat.indexes[oid]
    reason = f"requested ({asked})" if asked else "requested (every table)"
    return [Finding("requested", row["schema"], row["name"], reason)]


def _resolve_tables(cat: _Catalog, tables: Sequence[str]) -> list[tuple[int, str | None]]:
    if not tables:
        return [(oid, None) for oid in cat.tables]
    return [(cat.resolve(name, "table"), f"--table {name}") for name in tables]


def analyze_tasks(target: Target, tables: Sequence[str] = ()) -> list[Task]:
    """Build ANALYZE tasks for the named tables (all tables when none are named).

    A partitioned table is analyzed through its parent, which samples and analyzes every
    partition too. Resolving names only reads the catalog.
    """
    with connect(target, application_name=APPLICATION) as conn:
        cat = _Catalog(conn)
        chosen = _resolve_tables(cat, tables)
        if not tables:  # every table once: top-level tables, partitions through their parent
            chosen = [(o, a) for o, a in chosen if not cat.tables[o]["is_partition"]]
        return _dedupe([_table_task(cat, oid, "analyze", _requested(cat, oid, asked))
                        for oid, asked in chosen])


def vacuum_tasks(target: Target, tables: Sequence[str] = (), *, full: bool = False,
                 freeze: bool = False, analyze: bool = True) -> list[Task]:
    """Build VACUUM tasks for the named tables (all tables when none are named).

    A partitioned table becomes one task per leaf partition. ``full`` builds
    ``VACUUM (FULL)``, which holds ACCESS EXCLUSIVE for the whole rewrite: ``run()``
    refuses it unless ``RunOptions.allow_vacuum_full`` is set.
    """
    action = "vacuum_full" if full else "vacuum_freeze" if freeze else "vacuum"
    with connect(target, application_name=APPLICATION) as conn:
        cat = _Catalog(conn)
        tasks = []
        for oid, asked in _resolve_tables(cat, tables):
            for leaf in cat.leaves(oid):
                tasks.append(_table_task(cat, leaf, action, _requested(cat, leaf, asked),
                                         analyze=analyze))
        return _dedupe(tasks)


def reindex_tasks(target: Target, tables: Sequence[str] = (),
                  indexes: Sequence[str] = ()) -> list[Task]:
    """Build one REINDEX INDEX CONCURRENTLY task per index of the named tables and indexes.

    Partitioned tables and indexes expand to their partitions' indexes. With neither
    tables nor indexes named, every index. INVALID indexes are rebuilt (or, for a
    ``_ccnew`` leftover, dropped) as ``plan()`` would; indexes of exclusion constraints,
    which PostgreSQL cannot reindex concurrently, and builds in progress are refused.
    """
    with connect(target, application_name=APPLICATION) as conn:
        cat = _Catalog(conn)
        chosen: list[tuple[int, str | None]] = []
        for name in tables:
            oid = cat.resolve(name, "table")
            chosen.extend((i, f"--table {name}") for i, r in cat.indexes.items()
                          if r["table_oid"] == oid or oid in (r["table_ancestors"] or []))
        for name in indexes:
            oid = cat.resolve(name, "index")
            chosen.extend((i, f"--index {name}") for i, r in cat.indexes.items()
                          if i == oid or oid in (r["index_ancestors"] or []))
        if not tables and not indexes:
            chosen = [(i, None) for i in cat.indexes]
        tasks = []
        for oid, asked in chosen:
            row = cat.indexes[oid]
            label = f"{row['schema']}.{row['name']}"
            if row["exclusion"]:
                raise BadConfig(f"{label} backs an exclusion constraint: PostgreSQL cannot "
                                "rebuild it concurrently")
            if row["build_in_progress"] and not row["valid"]:
                if asked and asked.startswith("--index"):
                    raise Refused(f"{label} is being built by another session right now")
                continue  # not ours to touch
            found = _requested(cat, oid, asked)
            if row["valid"]:
                tasks.append(_index_task(cat, oid, "reindex", found))
            elif _LEFTOVER.search(row["name"]):
                tasks.append(_index_task(cat, oid, "drop_index", found))
            elif row["index_ancestors"]:
                tasks.append(_index_task(cat, oid, "reindex", found))
            else:
                tasks.append(_index_task(cat, oid, "rebuild_index", found))
        return _dedupe(tasks)


def _dedupe(tasks: list[Task]) -> list[Task]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for task in tasks:
        key = (task.action, task.schema, task.relation)
        if key not in seen:
            seen.add(key)
            out.append(task)
    return out


# -- dry run -------------------------------------------------------------------------------

def render_script(tasks: Sequence[Task], options: RunOptions | None = None,
                  target: str | None = None) -> str:
    """Return the statements of ``tasks`` as a commented SQL script with their locks."""
    options = options or RunOptions()
    on = f" on {target}" if target else ""
    lines = [f"-- watoto-schema maintain: {len(tasks)} operation(s){on} (dry run: nothing "
             "was run)",
             "-- Each statement runs on its own in autocommit (none can run in a "
             "transaction block), after",
             f"-- SET lock_timeout = '{options.lock_timeout}'; SET statement_timeout = "
             f"'{options.statement_timeout}';",
             f"-- SET vacuum_cost_delay = '{options.cost_delay}'; "
             "SET max_parallel_maintenance_workers = 0;",
             f"-- and is retried up to {options.retries} times, with backoff, when a lock "
             "is not granted in time."]
    if options.pause_above_ms is not None or options.pause_above_factor is not None:
        above = (f"{options.pause_above_ms:g} ms" if options.pause_above_ms is not None
                 else f"{options.pause_above_factor:g}x its latency before the run")
        lines.append(f"-- Before each operation it waits while a probe's latency is above "
                     f"{above} (at most {options.max_pause:g}s of pauses in all).")
    if not tasks:
        lines.append("-- nothing to do")
    for number, task in enumerate(tasks, 1):
        lines.append("")
        lines.append(f"-- {number}. {task.title}")
        for reason in task.reasons:
            lines.append(f"--    why: {reason}")
        lines.append(f"--    lock: {task.lock}: {LOCK_EFFECTS[task.action]}")
        lines.extend(f"{statement};" for statement in task.statements)
    return "\n".join(lines) + "\n"


