"""Partition lifecycle without an extension: generate, premake, fill, list, retire.

Partitioned tables are declared once, in ``sql/partitions.toml``; DDL comes from the jinja2
templates in ``sql/templates/partitions/`` with identifiers quoted by psycopg.

Locks (the failures pg_partman users report most):

* a new range partition is made as a plain table and then ``ATTACH``ed: the parent takes
  SHARE UPDATE EXCLUSIVE (reads and writes go on), the DEFAULT partition ACCESS EXCLUSIVE
  while it is checked; each attempt runs under ``lock_timeout`` and is retried;
* rows sitting in DEFAULT inside the new range are moved in the same transaction as the
  attach, with DEFAULT locked so no new row can slip in; the move is a move, not a delete:
  triggers and foreign-key actions are suspended for it (``session_replication_role =
  replica``, which needs a superuser), and the moved rows' count and checksum are verified
  before commit;
* retirement detaches ``CONCURRENTLY`` where PostgreSQL allows it (not while a DEFAULT
  partition exists), finishes an interrupted detach (``FINALIZE``), and never drops
  without ``--yes``.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import BadConfig, Refused
from .resources import data_dir, sql_text
from .retry import LOCK_NOT_AVAILABLE, backoff_delay
from .target import Target, connect, one_line

INTERVALS = ("yearly", "monthly", "daily")
_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")
_HASH = re.compile(r"FOR VALUES WITH \(modulus (\d+), remainder (\d+)\)")


# -- policy ------------------------------------------------------------------------------------

@dataclass
class TablePolicy:
    """One partitioned table's declared layout and lifecycle."""

    table: str
    strategy: str  # range | hash
    key: str
    naming: str
    interval: str | None = None
    start: date | None = None
    initial_until: date | None = None
    premake: int = 1
    retention: str | None = None
    default: bool = False
    modulus: int | None = None

    def premake_horizon(self, today: date) -> date:
        """The end of the runway ``ensure`` keeps: the current period plus ``premake`` more."""
        assert self.interval
        horizon = period_start(today, self.interval)
        for _ in range(self.premake + 1):
            horizon = next_period(horizon, self.interval)
        return horizon

    def name_for(self, lower: date | None = None, remainder: int | None = None) -> str:
        if self.strategy == "hash":
            return self.naming.format(table=self.table, remainder=remainder)
        assert lower is not None
        return self.naming.format(table=self.table, year=lower.year, month=lower.month,
                                  day=lower.day)


def policy_path() -> Path:
    return data_dir("sql") / "partitions.toml"


def load_policy(path: Path | None = None) -> dict[str, TablePolicy]:
    """Read and validate the partition policy (default: the shipped ``sql/partitions.toml``)."""
    path = path or policy_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadConfig(f"partition policy {path}: {one_line(exc)}") from exc
    policies: dict[str, TablePolicy] = {}
    for table, spec in raw.items():
        try:
            policy = TablePolicy(
                table=table, strategy=spec["strategy"], key=spec["key"], naming=spec["naming"],
                interval=spec.get("interval"),
                start=date.fromisoformat(spec["start"]) if "start" in spec else None,
                initial_until=(date.fromisoformat(spec["initial_until"])
                               if "initial_until" in spec else None),
                premake=int(spec.get("premake", 1)), retention=spec.get("retention"),
                default=bool(spec.get("default", False)), modulus=spec.get("modulus"))
        except (KeyError, ValueError, TypeError) as exc:
            raise BadConfig(f"partition policy {path}, table {table}: {exc!r}") from exc
        if policy.strategy == "range" and (policy.interval not in INTERVALS or not policy.start):
            raise BadConfig(f"partition policy {path}, table {table}: a range table needs "
                            f"interval ({', '.join(INTERVALS)}) and start")
        if policy.strategy == "hash" and not policy.modulus:
            raise BadConfig(f"partition policy {path}, table {table}: a hash table needs modulus")
        if policy.strategy not in ("range", "hash"):
            raise BadConfig(f"partition policy {path}, table {table}: strategy must be range "
                            "or hash")
        policies[table] = policy
    return policies


def period_start(day: date, interval: str) -> date:
    if interval == "yearly":
        return date(day.year, 1, 1)
    if interval == "monthly":
        return date(day.year, day.month, 1)
    return day


def next_period(day: date, interval: str) -> date:
    if interval == "yearly":
        return date(day.year + 1, 1, 1)
    if interval == "monthly":
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day + timedelta(days=1)


def periods(lower: date, upper: date, interval: str) -> list[tuple[date, date]]:
    """Consecutive ``[lo, hi)`` periods covering ``[lower, upper)``."""
    out, current = [], period_start(lower, interval)
    while current < upper:
        out.append((current, next_period(current, interval)))
        current = next_period(current, interval)
    return out


# -- rendering ---------------------------------------------------------------------------------

def _ident(name: str) -> str:
    from psycopg import sql

    schema, _, relname = name.rpartition(".")
    parts = [schema, relname] if schema else [relname]
    return sql.Identifier(*parts).as_string(None)


def _literal(value: object) -> str:
    from psycopg import sql

    return sql.Literal(value).as_string(None)


def _template(name: str, **values: Any) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(data_dir("sql") / "templates" / "partitions"),
                      undefined=StrictUndefined, keep_trailing_newline=True)
    return env.get_template(name).render(**values).strip()


def _range_bound(lo: date, hi: date) -> str:
    return f"FOR VALUES FROM ({_literal(lo.isoformat())}) TO ({_literal(hi.isoformat())})"


def render_initial(policy: TablePolicy) -> str:
    """The DDL the migration creating ``policy.table`` carries for its first partitions."""
    parent = _ident(policy.table)
    statements = []
    if policy.strategy == "hash":
        assert policy.modulus
        for remainder in range(policy.modulus):
            statements.append(_template("hash.sql.j2", parent=parent, modulus=policy.modulus,
                                        remainder=remainder,
                                        partition=_ident(policy.name_for(remainder=remainder))))
    else:
        assert policy.start and policy.initial_until and policy.interval
        for lo, hi in periods(policy.start, policy.initial_until, policy.interval):
            statements.append(_template("range.sql.j2", parent=parent,
                                        partition=_ident(policy.name_for(lo)),
                                        lower=_literal(lo.isoformat()),
                                        upper=_literal(hi.isoformat())))
        if policy.default:
            statements.append(_template("default.sql.j2", parent=parent,
                                        partition=_ident(f"{policy.table}_default")))
    return "\n".join(statements) + "\n"


# -- reading the database ----------------------------------------------------------------------

@dataclass
class PartitionInfo:
    name: str
    bound: str
    estimated_rows: int
    bytes: int
    lower: date | None = None
    upper: date | None = None
    remainder: int | None = None
    detach_pending: bool = False

    @property
    def is_default(self) -> bool:
        return self.bound == "DEFAULT"


@dataclass
class TableInfo:
    table: str
    key: str
    partitions: list[PartitionInfo]

    @property
    def default(self) -> PartitionInfo | None:
        return next((p for p in self.partitions if p.is_default), None)


def _as_date(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


def read_tables(conn: Any) -> dict[str, TableInfo]:
    """Every partitioned table of the database with its partitions (keyed by table name)."""
    tables: dict[str, TableInfo] = {}
    for row in conn.execute(sql_text("partitions/tables.sql")):
        parent, _, key, _, name, bound, rows, size, pending = row
        short = parent.rsplit(".", 1)[-1].strip('"')
        info = tables.setdefault(short, TableInfo(short, key, []))
        if name is None:
            continue  # no partitions yet
        part = PartitionInfo(name, bound, int(rows), int(size), detach_pending=bool(pending))
        if m := _BOUND.match(bound):
            part.lower, part.upper = _as_date(m.group(1)), _as_date(m.group(2))
        if m := _HASH.match(bound):
            part.remainder = int(m.group(2))
        info.partitions.append(part)
    return tables


# -- actions -------------------------------------------------------------------------------------

@dataclass
class Action:
    """One step a command took (or, dry, would take)."""

    table: str
    partition: str
    what: str  # create | move+attach | analyze | detach | finalize | drop | archive | skip
    statements: list[str]
    locks: str
    rows_moved: int = 0
    note: str | None = None


@dataclass
class PartitionRun:
    dry_run: bool
    actions: list[Action] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(a.what != "skip" for a in self.actions)


@dataclass
class RunSettings:
    lock_timeout: str = "3s"
    retries: int = 5
    backoff: float = 0.5


def _open(target: Target) -> Any:
    """A connection whose rows the code below reads by position (typed loosely)."""
    return connect(target)


def _with_retries(conn: Any, settings: RunSettings, work: Callable[[], object]) -> None:
    import psycopg

    for attempt in range(settings.retries + 1):
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('lock_timeout', %s, true)",
                             (settings.lock_timeout,))
                work()
            return
        except psycopg.Error as exc:
            if exc.sqlstate != LOCK_NOT_AVAILABLE or attempt == settings.retries:
                if exc.sqlstate == LOCK_NOT_AVAILABLE:
                    raise Refused(f"locks not granted within {settings.lock_timeout} in "
                                  f"{attempt + 1} attempts: {one_line(exc)}") from exc
                raise
            time.sleep(backoff_delay(settings.backoff, attempt))


def _range_create(conn: Any, policy_table: str, key: str, info: TableInfo | None, name: str,
                  lo: date, hi: date, dry_run: bool, settings: RunSettings) -> Action:
    """Make one range partition: a plain table, then ATTACH, moving DEFAULT rows if any."""
    from psycopg import sql

    parent, partition = _ident(policy_table), _ident(name)
    default = info.default if info else None
    standalone = _template("standalone.sql.j2", parent=parent, partition=partition)
    bound = _range_bound(lo, hi)
    attach = _template("attach.sql.j2", parent=parent, partition=partition, bound=bound)
    in_range = 0
    key_ident = sql.Identifier(key)
    if default and _has_rows(conn, default.name):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} >= %s AND {} < %s").format(
            sql.Identifier(default.name), key_ident, key_ident), (lo, hi)).fetchone()
        in_range = int(row[0])
    locks = ("SHARE UPDATE EXCLUSIVE on the parent; ACCESS EXCLUSIVE on the new table"
             + (" and, while it is checked, on the DEFAULT partition" if default else ""))
    if not in_range:
        action = Action(policy_table, name, "create", [standalone, attach], locks)
        if not dry_run:
            def make() -> None:  # one transaction: one commit per partition
                if conn.execute("SELECT to_regclass(%s)", (partition,)).fetchone() == (None,):
                    conn.execute(standalone)
                conn.execute(attach)

            _with_retries(conn, settings, make)
        return action
    assert default is not None
    moving = sql.SQL(
        "CREATE TEMPORARY TABLE watoto_moving ON COMMIT DROP AS WITH moved AS ("
        "DELETE FROM {default} WHERE {key} >= {lo} AND {key} < {hi} RETURNING *) "
        "SELECT * FROM moved").format(default=sql.Identifier(default.name), key=key_ident,
                                      lo=sql.Literal(lo), hi=sql.Literal(hi))
    statements = [
        standalone, "BEGIN;", f"SET LOCAL lock_timeout = {_literal(settings.lock_timeout)};",
        f"LOCK TABLE {_ident(default.name)} IN ACCESS EXCLUSIVE MODE;",
        "SET LOCAL session_replication_role = replica;  -- a move: no cascades, no triggers",
        moving.as_string(None) + ";", attach,
        f"INSERT INTO {parent} SELECT * FROM watoto_moving;",
        "-- verify: count and md5 of the moved rows equal those of the new partition",
        "COMMIT;"]
    action = Action(policy_table, name, "move+attach", statements,
                    locks + f"; ACCESS EXCLUSIVE on the DEFAULT partition while {in_range} "
                    "row(s) move (the parent stays open to reads and writes)", in_range)
    if dry_run:
        return action
    if conn.execute("SELECT to_regclass(%s)", (partition,)).fetchone() == (None,):
        conn.execute(standalone)

    def move() -> None:
        import psycopg

        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.Identifier(default.name)))
        try:
            conn.execute("SET LOCAL session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Refused(f"{in_range} row(s) of {policy_table} sit in {default.name} inside "
                          f"the range of {name}; moving them needs a superuser "
                          "(session_replication_role), so it was not attempted") from exc
        conn.execute(moving)
        conn.execute(attach)
        conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM watoto_moving").format(
            sql.Identifier(policy_table)))
        checks = conn.execute(sql.SQL(
            "SELECT (SELECT count(*) FROM watoto_moving), (SELECT count(*) FROM {p}), "
            "(SELECT md5(string_agg(m::text, ',' ORDER BY m::text)) FROM watoto_moving m), "
            "(SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {p} t)").format(
                p=sql.Identifier(name))).fetchone()
        if checks is None or checks[0] != checks[1] or checks[2] != checks[3]:
            raise Refused(f"moving rows into {name} did not verify (rolled back): {checks}")
        action.rows_moved = int(checks[0])

    _with_retries(conn, settings, move)
    return action


def _has_rows(conn: Any, table: str) -> bool:
    from psycopg import sql

    row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
        sql.Identifier(table))).fetchone()
    return bool(row and row[0])


def _analyze(conn: Any, table: str, dry_run: bool) -> Action:
    from psycopg import sql

    action = Action(table, table, "analyze", [f"ANALYZE {_ident(table)};"],
                    "SHARE UPDATE EXCLUSIVE on the parent and each partition while sampled",
                    note="autovacuum never analyzes a partitioned parent")
    if not dry_run:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    return action


def _never_analyzed(conn: Any, table: str) -> bool:
    row = conn.execute(
        "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL FROM pg_stat_user_tables "
        "WHERE relid = to_regclass(%s)", (_ident(table),)).fetchone()
    return bool(row and row[0])


def ensure(target: Target, *, policy: dict[str, TablePolicy] | None = None,
           tables: Sequence[str] = (), today: date | None = None, dry_run: bool = False,
           settings: RunSettings | None = None, skip_missing: bool = False) -> PartitionRun:
    """Create every missing partition up to the premake horizon of each declared table.

    Idempotent: a second run finds nothing to do. Range partitions go from the policy's
    ``start`` to the current period plus ``premake``; hash tables get any missing
    remainder of their modulus. The parent is analyzed when anything changed (or it was
    never analyzed). ``today`` defaults to the server's ``current_date``. A declared table
    the database does not have is an error, or passed over with ``skip_missing`` (what
    ``migrate --to`` an early version needs).
    """
    policy = policy if policy is not None else load_policy()
    settings = settings or RunSettings()
    chosen = [policy[t] for t in tables] if tables else list(policy.values())
    unknown = set(tables) - set(policy)
    if unknown:
        raise BadConfig(f"not in the partition policy: {', '.join(sorted(unknown))}")
    run = PartitionRun(dry_run)
    with _open(target) as conn:
        if today is None:
            row = conn.execute("SELECT current_date").fetchone()
            today = row[0] if row else date.today()
        assert today is not None
        existing = read_tables(conn)
        for p in chosen:
            info = existing.get(p.table)
            if info is None and skip_missing:
                continue
            if info is None:
                raise BadConfig(f"{p.table} is not a partitioned table in this database "
                                "(has the migration that creates it run?)")
            before = len(run.actions)
            if p.strategy == "hash":
                have = {part.remainder for part in info.partitions}
                assert p.modulus
                for remainder in range(p.modulus):
                    if remainder in have:
                        continue
                    name = p.name_for(remainder=remainder)
                    ddl = _template("hash.sql.j2", parent=_ident(p.table),
                                    partition=_ident(name), modulus=p.modulus,
                                    remainder=remainder)
                    run.actions.append(Action(p.table, name, "create", [ddl],
                                              "ACCESS EXCLUSIVE on the parent (brief)"))
                    if not dry_run:
                        _with_retries(conn, settings, lambda ddl=ddl: conn.execute(ddl))  # type: ignore[misc]
            else:
                assert p.interval and p.start
                if p.default and info.default is None:
                    name = f"{p.table}_default"
                    ddl = _template("default.sql.j2", parent=_ident(p.table),
                                    partition=_ident(name))
                    run.actions.append(Action(p.table, name, "create", [ddl],
                                              "ACCESS EXCLUSIVE on the parent (brief)"))
                    if not dry_run:
                        _with_retries(conn, settings, lambda ddl=ddl: conn.execute(ddl))  # type: ignore[misc]
                        info = read_tables(conn)[p.table]
                horizon = p.premake_horizon(today)
                ranges = [(q.lower, q.upper) for q in info.partitions if q.lower and q.upper]
                for lo, hi in periods(p.start, horizon, p.interval):
                    if any(a < hi and lo < b for a, b in ranges):
                        continue  # covered (or overlapped by a hand-made partition)
                    run.actions.append(_range_create(conn, p.table, p.key, info,
                                                     p.name_for(lo), lo, hi, dry_run, settings))
            if len(run.actions) > before or _never_analyzed(conn, p.table):
                run.actions.append(_analyze(conn, p.table, dry_run))
    return run


def create(target: Target, table: str, *, lower: date | None = None, upper: date | None = None,
           interval: str | None = None, modulus: int | None = None,
           policy: dict[str, TablePolicy] | None = None, dry_run: bool = False,
           settings: RunSettings | None = None) -> PartitionRun:
    """Create an explicit set of partitions, for any partitioned table.

    Range: every ``interval`` period in ``[lower, upper)`` (interval and naming from the
    policy when the table is declared, else ``interval`` and ``<table>_<period>``).
    Hash: every remainder of ``modulus`` (a table with no partitions yet).
    """
    policy = policy if policy is not None else load_policy()
    settings = settings or RunSettings()
    declared = policy.get(table)
    run = PartitionRun(dry_run)
    with _open(target) as conn:
        info = read_tables(conn).get(table)
        if info is None:
            raise BadConfig(f"{table} is not a partitioned table in this database")
        strategy = info.key.split(" ", 1)[0].lower()
        if strategy == "hash":
            if not modulus:
                raise BadConfig("a hash-partitioned table needs --modulus N")
            have = {(p.remainder, p.name) for p in info.partitions}
            if info.partitions and any(
                    not p.bound.startswith(f"FOR VALUES WITH (modulus {modulus},")
                    for p in info.partitions):
                raise Refused(f"{table} already has partitions of another modulus: a new set "
                              "needs a new table (rows are placed by modulus)")
            naming = declared.naming if declared else "{table}_{remainder}"
            for remainder in range(modulus):
                name = naming.format(table=table, remainder=remainder)
                if any(r == remainder for r, _ in have):
                    continue
                ddl = _template("hash.sql.j2", parent=_ident(table), partition=_ident(name),
                                modulus=modulus, remainder=remainder)
                run.actions.append(Action(table, name, "create", [ddl],
                                          "ACCESS EXCLUSIVE on the parent (brief)"))
                if not dry_run:
                    _with_retries(conn, settings, lambda ddl=ddl: conn.execute(ddl))  # type: ignore[misc]
            return run
        interval = interval or (declared.interval if declared else None)
        if interval not in INTERVALS:
            raise BadConfig(f"--interval must be one of {', '.join(INTERVALS)}")
        if lower is None or upper is None or lower >= upper:
            raise BadConfig("a range-partitioned table needs --from DATE --to DATE (from < to)")
        naming = declared.naming if declared else {
            "yearly": "{table}_{year}", "monthly": "{table}_p{year}_{month:02d}",
            "daily": "{table}_p{year}_{month:02d}_{day:02d}"}[interval]
        key = declared.key if declared else _range_key(info)
        ranges = [(q.lower, q.upper) for q in info.partitions if q.lower and q.upper]
        for lo, hi in periods(lower, upper, interval):
            name = naming.format(table=table, year=lo.year, month=lo.month, day=lo.day)
            if any(a < hi and lo < b for a, b in ranges):
                run.actions.append(Action(table, name, "skip", [], "",
                                          note="range already covered"))
                continue
            run.actions.append(_range_create(conn, table, key, info, name, lo, hi, dry_run,
                                             settings))
    return run


def _range_key(info: TableInfo) -> str:
    match = re.fullmatch(r"RANGE \((\w+)\)", info.key)
    if not match:
        raise BadConfig(f"{info.table}: only single-column range keys are supported "
                        f"({info.key})")
    return match.group(1)


# -- list --------------------------------------------------------------------------------------

@dataclass
class TableReport:
    table: str
    strategy: str
    partitions: list[PartitionInfo]
    runway_until: date | None = None  # upper bound of the newest range partition
    runway_days: int | None = None
    default_rows: int | None = None
    newest_row: datetime | None = None
    premake_until: date | None = None  # the policy's horizon, for a declared range table
    warnings: list[str] = field(default_factory=list)


def list_partitions(target: Target, tables: Sequence[str] = (),
                    policy: dict[str, TablePolicy] | None = None) -> list[TableReport]:
    """Partitions with bounds, estimated rows and size; per table the runway, the rows in
    DEFAULT (exact count) and the newest row's time (reads the newest non-empty partition).

    Operational warnings (not schema drift): a declared range table whose runway ends
    before its premake horizon, rows waiting in DEFAULT, a declared table missing. A name
    in ``tables`` that is not a partitioned table is an error.
    """
    from psycopg import sql

    policy = policy if policy is not None else load_policy()
    reports = []
    with _open(target) as conn:
        today = conn.execute("SELECT current_date").fetchone()[0]
        existing = read_tables(conn)
        unknown = [t for t in tables if t not in existing]
        if unknown:
            raise BadConfig(f"not a partitioned table in this database: {', '.join(unknown)}")
        for name, info in sorted(existing.items()):
            if tables and name not in tables:
                continue
            strategy = info.key.split(" ", 1)[0].lower()
            report = TableReport(name, strategy, info.partitions)
            declared = policy.get(name)
            if strategy == "range":
                uppers = [p.upper for p in info.partitions if p.upper]
                if uppers:
                    report.runway_until = max(uppers)
                    report.runway_days = (report.runway_until - today).days
                if info.default:
                    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                        sql.Identifier(info.default.name))).fetchone()
                    report.default_rows = int(row[0]) if row else 0
                key = sql.Identifier(_range_key(info))
                ordered = sorted((p for p in info.partitions if p.upper),
                                 key=lambda p: p.upper or date.min, reverse=True)
                for part in ([info.default] if info.default else []) + ordered:
                    row = conn.execute(sql.SQL("SELECT max({}) FROM {}").format(
                        key, sql.Identifier(part.name))).fetchone()
                    if row and row[0] is not None:
                        if report.newest_row is None or row[0] > report.newest_row:
                            report.newest_row = row[0]
                        if not part.is_default:
                            break
                if declared and declared.strategy == "range":
                    report.premake_until = declared.premake_horizon(today)
                    if report.runway_until is None or report.runway_until < report.premake_until:
                        report.warnings.append(
                            f"runway ends {report.runway_until or 'now'}, before the premake "
                            f"horizon {report.premake_until}: run `partitions ensure`")
                if report.default_rows:
                    report.warnings.append(
                        f"{report.default_rows} row(s) in DEFAULT: `partitions ensure` or "
                        "`partitions create` moves them into their partition")
            elif declared and declared.modulus and len(info.partitions) < declared.modulus:
                report.warnings.append(f"{len(info.partitions)} of {declared.modulus} hash "
                                       "partitions: run `partitions ensure`")
            reports.append(report)
    return reports


# -- retire ------------------------------------------------------------------------------------

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
    from .local import find_bindir

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
