"""Retention: detach or drop old range partitions, finishing an interrupted detach, with
the rows other tables reference by foreign key (and an optional archive) dealt with first."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..errors import BadConfig, Refused
from ..target import Target, one_line
from .catalog import PartitionInfo, TableInfo, _open, read_tables
from .premake import Action, PartitionRun, RunSettings, _with_retries
from .render import _ident

_AGE = re.compile(r"^\s*(\d+)\s*(year|month|day)s?\s*$")


def older_than(today: date, age: str) -> date:
    """``today`` minus an age like ``10 years``, ``18 months``, ``30 days``."""
    match = _AGE.match(age)
    if not match:
        raise BadConfig(f"--older-than {age!r}: use e.g. '5 years', '18 months', '90 days'")
    n, unit = int(match.group(1)), match.group(2)
    if unit == "day":
        return today - timedelta(days=n)
    months = today.year * 12 + today.month - 1 - (n * 12 if unit == "year" else n)
    return date(months // 12, months % 12 + 1, min(today.day, 28))


def retire(target: Target, table: str, *, older: str, mode: str, archive: Path | None = None,
           yes: bool = False, dry_run: bool = False, with_dependents: bool = False,
           settings: RunSettings | None = None) -> PartitionRun:
    """Detach (``mode="detach"``) or drop (``mode="drop"``) range partitions wholly older
    than ``older``; finish any interrupted detach first.

    Refuses to drop without ``yes``. Refuses when other tables' foreign keys still
    reference rows of a partition (detaching would break them), unless
    ``with_dependents``: then those rows are deleted first (their own dependants go by the
    foreign keys' ON DELETE CASCADE), in batches under ``lock_timeout``. With ``archive``,
    each partition is dumped with pg_dump (custom format), and every dependent row
    (following the foreign keys down) is copied to CSV, before anything goes; a failed
    dump stops.
    """
    from psycopg import sql

    if mode not in ("detach", "drop"):
        raise BadConfig("retire needs --detach or --drop")
    if mode == "drop" and not yes and not dry_run:
        raise Refused("dropping partitions deletes their rows: add --yes (and consider "
                      "--archive DIR)")
    settings = settings or RunSettings()
    run = PartitionRun(dry_run)
    with _open(target) as conn:
        today = conn.execute("SELECT current_date").fetchone()[0]
        cutoff = older_than(today, older)
        info = read_tables(conn).get(table)
        if info is None:
            raise BadConfig(f"{table} is not a partitioned table in this database")
        parent = sql.Identifier(table)
        for part in info.partitions:
            if part.detach_pending:
                stmt = sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE").format(
                    parent, sql.Identifier(part.name))
                run.actions.append(Action(table, part.name, "finalize",
                                          [stmt.as_string(conn) + ";"],
                                          "SHARE UPDATE EXCLUSIVE on the parent",
                                          note="an interrupted DETACH CONCURRENTLY"))
                if not dry_run:
                    conn.execute(stmt)
        referencing = _foreign_keys_to(conn, _ident(table))
        for part in sorted((p for p in info.partitions if p.upper and p.upper <= cutoff),
                           key=lambda p: p.upper or date.min):
            if not part.detach_pending:
                _retire_one(conn, run, table, part, referencing, info, mode, archive, dry_run,
                            settings, with_dependents)
    return run


@dataclass
class _ForeignKey:
    table: str  # the referencing table
    columns: list[str]
    referenced: list[str]


def _foreign_keys_to(conn: Any, table: str) -> list[_ForeignKey]:
    """Foreign keys (declared ones, not partition clones) that reference ``table``."""
    rows = conn.execute(
        """
        SELECT c.conrelid::regclass::text,
               ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                      ORDER BY k.i),
               ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                       JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                      ORDER BY k.i)
          FROM pg_constraint c
         WHERE c.contype = 'f' AND c.confrelid = to_regclass(%s) AND c.conparentid = 0
         ORDER BY 1
        """, (table,)).fetchall()
    return [_ForeignKey(t, list(cols), list(refs)) for t, cols, refs in rows]


def _dependent_rows(conn: Any, source: Any, table: str,
                    depth: int = 0) -> list[tuple[str, Any]]:
    """(table, SELECT of its rows) for every row that depends on ``source``'s rows of
    ``table``, following foreign keys down (at most 5 levels)."""
    from psycopg import sql

    found: list[tuple[str, Any]] = []
    if depth >= 5:
        return found
    for fk in _foreign_keys_to(conn, table):
        child = sql.SQL("SELECT c.* FROM {} c WHERE ({}) IN (SELECT {} FROM ({}) s)").format(
            sql.SQL(fk.table), sql.SQL(", ").join(sql.Identifier("c", x) for x in fk.columns),
            sql.SQL(", ").join(sql.Identifier("s", x) for x in fk.referenced), source)
        found.append((fk.table, child))
        found.extend(_dependent_rows(conn, child, fk.table, depth + 1))
    return found


def _retire_one(conn: Any, run: PartitionRun, table: str, part: PartitionInfo,
                referencing: list[_ForeignKey], info: TableInfo, mode: str,
                archive: Path | None, dry_run: bool, settings: RunSettings,
                with_dependents: bool) -> None:
    from psycopg import sql

    rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(part.name))).fetchone()[0]
    source = sql.SQL("SELECT * FROM {}").format(sql.Identifier(part.name))
    dependents = _dependent_rows(conn, source, _ident(table)) if rows and referencing else []
    if dependents and not with_dependents:
        raise Refused(f"{part.name} has {rows} row(s) that "
                      f"{', '.join(fk.table for fk in referencing)} may reference by foreign "
                      "key: detaching would break them; add --with-dependents to delete "
                      "those rows first (with --archive to keep a copy)")
    if archive is not None:
        out = archive / f"{part.name}.dump"
        run.actions.append(Action(table, part.name, "archive",
                                  [f"pg_dump --format=custom --table={part.name} --file={out}"],
                                  "ACCESS SHARE on the partition while dumped"))
        for level, (dependent, query) in enumerate(dependents):
            csv = archive / f"{part.name}.{level}.{dependent}.csv"
            copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(query)
            run.actions.append(Action(table, part.name, "archive",
                                      [copy.as_string(conn) + f";  -- into {csv}"],
                                      f"ACCESS SHARE on {dependent}"))
            if not dry_run:
                _copy_out(conn, copy, csv)
        if not dry_run:
            _archive(conn, part.name, out)
    for fk in referencing if dependents else []:
        delete = sql.SQL("DELETE FROM {} WHERE ({}) IN (SELECT {} FROM {})").format(
            sql.SQL(fk.table), sql.SQL(", ").join(map(sql.Identifier, fk.columns)),
            sql.SQL(", ").join(map(sql.Identifier, fk.referenced)),
            sql.Identifier(part.name))
        run.actions.append(Action(table, part.name, "delete dependents",
                                  [delete.as_string(conn) + ";"],
                                  f"ROW EXCLUSIVE on {fk.table} (and what its rows cascade to)",
                                  note=f"rows of {fk.table} referencing {part.name}"))
        if not dry_run:
            _with_retries(conn, settings, lambda delete=delete: conn.execute(delete))  # type: ignore[misc]
    concurrent = info.default is None
    detach = sql.SQL("ALTER TABLE {} DETACH PARTITION {}{}").format(
        sql.Identifier(table), sql.Identifier(part.name),
        sql.SQL(" CONCURRENTLY") if concurrent else sql.SQL(""))
    run.actions.append(Action(
        table, part.name, "detach", [detach.as_string(conn) + ";"],
        "SHARE UPDATE EXCLUSIVE on the parent (concurrently)" if concurrent else
        "ACCESS EXCLUSIVE on the parent, briefly (CONCURRENTLY is refused while a DEFAULT "
        "partition exists)"))
    if not dry_run:
        if concurrent:
            conn.execute(sql.SQL("SET lock_timeout = {}").format(
                sql.Literal(settings.lock_timeout)))
            try:
                conn.execute(detach)
            finally:
                conn.execute("RESET lock_timeout")
        else:
            _with_retries(conn, settings, lambda: conn.execute(detach))
    if mode == "drop":
        drop = sql.SQL("DROP TABLE {}").format(sql.Identifier(part.name))
        run.actions.append(Action(table, part.name, "drop", [drop.as_string(conn) + ";"],
                                  "ACCESS EXCLUSIVE on the detached table only"))
        if not dry_run:
            _with_retries(conn, settings, lambda: conn.execute(drop))


def _copy_out(conn: Any, copy: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as sink, conn.cursor().copy(copy) as stream:
        for chunk in stream:
            sink.write(chunk)


def _archive(conn: Any, partition: str, out: Path) -> None:
    from ..local import find_bindir

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        pg_dump = str(find_bindir() / "pg_dump")
    except Exception:  # no server binaries here: the client's pg_dump on PATH
        pg_dump = "pg_dump"
    env = dict(os.environ)
    if conn.info.password:  # through the environment: never on a command line
        env["PGPASSWORD"] = conn.info.password
    from psycopg.conninfo import make_conninfo

    # Only the basic parameters: the server's pg_dump may be older than psycopg's libpq.
    dsn = make_conninfo(host=conn.info.host, port=conn.info.port, dbname=conn.info.dbname,
                        user=conn.info.user)
    proc = subprocess.run([pg_dump, "--format=custom", f"--table={_ident(partition)}",
                           f"--file={out}", f"--dbname={dsn}"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not out.is_file():
        raise Refused(f"archiving {partition} failed, nothing was retired: "
                      f"{one_line(proc.stderr or 'pg_dump failed')}")
