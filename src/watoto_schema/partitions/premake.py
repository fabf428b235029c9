"""Making partitions: ``ensure`` (premake up to the policy's horizon) and ``create`` (an
explicit set); a range partition is a plain table then ATTACH, moving DEFAULT's rows in its
range; each step under ``lock_timeout`` and retried.

Round trips (``migrate`` premakes after every run that applied something, issue #22):
``ensure`` reads the date, the partitioned tables and which were never analyzed in one
(pipelined), makes each partition in one (its transaction sent as one script; a DEFAULT
partition holding rows in the new range makes the ATTACH fail, and only then are the rows
counted and moved), and analyzes in one."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..errors import BadConfig, Refused
from ..resources import sql_text
from ..retry import LOCK_NOT_AVAILABLE, backoff_delay
from ..target import Target, one_line
from .catalog import TableInfo, _open, _range_key, read_tables, tables_of
from .policy import INTERVALS, TablePolicy, load_policy, periods
from .render import _ident, _literal, _range_bound, _template


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


def _transaction(conn: Any, settings: RunSettings, statements: list[str]) -> None:
    """Run ``statements`` in one transaction under ``lock_timeout``, sent as one script (one
    round trip), retried like ``_with_retries``; any other error rolls back and is raised."""
    import psycopg
    from psycopg.pq import TransactionStatus

    script = "\n".join([f"BEGIN; SET LOCAL lock_timeout = {_literal(settings.lock_timeout)};",
                        *(s.rstrip().rstrip(";") + ";" for s in statements), "COMMIT;"])
    for attempt in range(settings.retries + 1):
        try:
            conn.execute(script)
            return
        except psycopg.Error as exc:
            if not conn.closed and not conn.broken and \
                    conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            if exc.sqlstate != LOCK_NOT_AVAILABLE or attempt == settings.retries:
                if exc.sqlstate == LOCK_NOT_AVAILABLE:
                    raise Refused(f"locks not granted within {settings.lock_timeout} in "
                                  f"{attempt + 1} attempts: {one_line(exc)}") from exc
                raise
            time.sleep(backoff_delay(settings.backoff, attempt))


def _if_missing(partition: str, ddl: str) -> str:
    """``ddl`` (creating ``partition``) run only when no relation has that name yet."""
    from psycopg import sql

    return sql.SQL("DO $watoto_premake$ BEGIN IF to_regclass({}) IS NULL THEN EXECUTE {}; "
                   "END IF; END $watoto_premake$").format(
                       sql.Literal(partition), sql.Literal(ddl)).as_string(None)


def _range_create(conn: Any, policy_table: str, key: str, info: TableInfo | None, name: str,
                  lo: date, hi: date, dry_run: bool, settings: RunSettings) -> Action:
    """Make one range partition: a plain table, then ATTACH, moving DEFAULT rows if any."""
    import psycopg
    from psycopg import sql

    parent, partition = _ident(policy_table), _ident(name)
    default = info.default if info else None
    standalone = _template("standalone.sql.j2", parent=parent, partition=partition)
    bound = _range_bound(lo, hi)
    attach = _template("attach.sql.j2", parent=parent, partition=partition, bound=bound)
    locks = ("SHARE UPDATE EXCLUSIVE on the parent; ACCESS EXCLUSIVE on the new table"
             + (" and, while it is checked, on the DEFAULT partition" if default else ""))
    if not dry_run:  # one transaction, one commit, one round trip per partition
        try:
            _transaction(conn, settings, [_if_missing(partition, standalone), attach])
            return Action(policy_table, name, "create", [standalone, attach], locks)
        except psycopg.errors.CheckViolation:
            if default is None:
                raise
            # rows of the DEFAULT partition lie in the new range: counted and moved below
    in_range = 0
    key_ident = sql.Identifier(key)
    if default and _has_rows(conn, default.name):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} >= %s AND {} < %s").format(
            sql.Identifier(default.name), key_ident, key_ident), (lo, hi)).fetchone()
        in_range = int(row[0])
    if not in_range:  # a dry run's
        return Action(policy_table, name, "create", [standalone, attach], locks)
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


def _analyze(table: str) -> Action:
    """The ANALYZE of ``table`` (``ensure`` runs those of every table at once)."""
    return Action(table, table, "analyze", [f"ANALYZE {_ident(table)};"],
                  "SHARE UPDATE EXCLUSIVE on the parent and each partition while sampled",
                  note="autovacuum never analyzes a partitioned parent")


def _read_state(conn: Any, tables: Sequence[str], today: date | None
                ) -> tuple[date, dict[str, TableInfo], set[str]]:
    """The date (``today``, else the server's), the partitioned tables, and which of
    ``tables`` were never analyzed: one round trip (pipelined when libpq can)."""
    import psycopg

    queries: list[tuple[str, dict[str, Any] | None]] = [
        ("SELECT current_date", None), (sql_text("partitions/tables.sql"), None),
        (sql_text("partitions/never_analyzed.sql"), {"tables": [_ident(t) for t in tables]})]
    if psycopg.Pipeline.is_supported():
        with conn.pipeline():
            cursors = [conn.execute(query, params) for query, params in queries]
    else:
        cursors = [conn.execute(query, params) for query, params in queries]
    row = cursors[0].fetchone()
    day = today or (row[0] if row else date.today())
    never = {name for (name,) in cursors[2].fetchall()}
    return day, tables_of(cursors[1].fetchall()), {t for t in tables if _ident(t) in never}


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
        today, existing, never_analyzed = _read_state(conn, [p.table for p in chosen], today)
        to_analyze: list[str] = []
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
                        _transaction(conn, settings, [ddl])
            else:
                assert p.interval and p.start
                if p.default and info.default is None:
                    name = f"{p.table}_default"
                    ddl = _template("default.sql.j2", parent=_ident(p.table),
                                    partition=_ident(name))
                    run.actions.append(Action(p.table, name, "create", [ddl],
                                              "ACCESS EXCLUSIVE on the parent (brief)"))
                    if not dry_run:
                        _transaction(conn, settings, [ddl])
                        info = read_tables(conn)[p.table]
                horizon = p.premake_horizon(today)
                ranges = [(q.lower, q.upper) for q in info.partitions if q.lower and q.upper]
                for lo, hi in periods(p.start, horizon, p.interval):
                    if any(a < hi and lo < b for a, b in ranges):
                        continue  # covered (or overlapped by a hand-made partition)
                    run.actions.append(_range_create(conn, p.table, p.key, info,
                                                     p.name_for(lo), lo, hi, dry_run, settings))
            if len(run.actions) > before or p.table in never_analyzed:
                run.actions.append(_analyze(p.table))
                to_analyze.append(p.table)
        if to_analyze and not dry_run:  # one round trip
            conn.execute("; ".join(f"ANALYZE {_ident(t)}" for t in to_analyze))
    return run


def create(target: Target, table: str, *, lower: date | None = None, upper: date | None = None,
           interval: str | None = None, modulus: int | None = None,
           policy: dict[str, TablePolicy] | None = None, dry_run: bool = False,
           settings: RunSettings | None = None) -> PartitionRun:
    """Create an explicit set of partitions, for any partitioned table.

    Range: every ``interval`` period in ``[lower, upper)`` (interval and naming from the
    policy when the table is declared and no other interval is asked for, else ``interval``
    and ``<table>_<period>``).
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
        # The policy's naming fits the policy's interval only: another interval on a declared
        # table (monthly partitions of a yearly table) is named by the interval, so its names
        # cannot collide with the policy's.
        naming = declared.naming if declared and interval == declared.interval else {
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
