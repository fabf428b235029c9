"""Per-test rollback isolation on a database shared by the tests of one process.

The ``watoto_conn`` fixture's engine (docs/testing.md, decision 0022). A test gets a
connection inside a transaction opened for it, with a savepoint; when the test ends the
transaction is rolled back and the session reset, so the next test finds the database as
the template made it. Handing out costs one round trip (``BEGIN`` + ``SAVEPOINT``), not a
``CREATE DATABASE``.

What a test leaves, and where it goes:

- rows, DDL, ``SET`` / ``SET ROLE``, temporary tables, ``LISTEN``: rolled back;
- sequences advanced by ``nextval`` (not transactional): set back to where they stood;
- session advisory locks, prepared statements, ``WITH HOLD`` cursors: ``DISCARD ALL``;
- the Python side of the connection (row and cursor factories, adapters, notice and
  notify handlers, prepare threshold): reset to psycopg's defaults;
- ``conn.commit()`` / ``conn.rollback()``: kept inside the test's transaction (they release
  or go back to the test's savepoint); ``with conn.transaction()`` blocks are savepoints;
- ``COMMIT`` / ``ROLLBACK`` / ``PREPARE TRANSACTION`` sent as SQL ends the test's
  transaction: detected when the test ends (its savepoint is gone), reported as an error
  of that test, and the shared database is replaced before the next test;
- two-phase commit (``tpc_begin``), ``autocommit``, isolation level: refused by psycopg
  while the transaction is open;
- a connection the test closed or broke: replaced; the server rolled its work back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq, sql

from ..resources import sql_text

_INERROR = pq.TransactionStatus.INERROR


class IsolatedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose ``commit()`` and ``rollback()`` stay in the test's
    transaction: ``commit()`` keeps the work so far (releases the test's savepoint and
    sets it again), ``rollback()`` goes back to the last ``commit()``."""

    _watoto_savepoint: str = "watoto_test"
    watoto_database: str = ""  # the shared database's name, for failure reports

    def commit(self) -> None:
        self._outside_transaction_block("commit")
        failed = self.info.transaction_status == _INERROR
        # COMMIT of a failed transaction is a rollback: so is the savepoint's.
        self._to_savepoint("ROLLBACK TO SAVEPOINT {0}" if failed
                           else "RELEASE SAVEPOINT {0}; SAVEPOINT {0}")

    def rollback(self) -> None:
        self._outside_transaction_block("rollback")
        self._to_savepoint("ROLLBACK TO SAVEPOINT {0}")

    def _outside_transaction_block(self, method: str) -> None:
        if self._num_transactions:  # psycopg's own rule, kept
            raise psycopg.ProgrammingError(
                f"Explicit {method}() forbidden within a Transaction context.")

    def _to_savepoint(self, template: str) -> None:
        stmt = sql.SQL(template).format(sql.Identifier(self._watoto_savepoint))
        try:
            self.execute(stmt)
        except (pg_errors.InvalidSavepointSpecification,
                pg_errors.NoActiveSqlTransaction) as exc:
            raise psycopg.ProgrammingError(
                "watoto_conn: the test's transaction was ended by SQL (COMMIT, ROLLBACK or "
                "PREPARE TRANSACTION); use watoto_db for code that commits") from exc


@dataclass
class Escaped:
    """What a test did that rollback isolation cannot undo."""

    database: str
    reason: str


class SharedDatabase:
    """One database and one kept connection, handed to tests one at a time.

    ``hand_out`` opens the test's transaction; ``finish`` undoes what the test did and
    returns ``Escaped`` when the test ended the transaction itself (then this database
    must not be handed out again)."""

    def __init__(self, name: str, dsn: str) -> None:
        self.name = name
        self.dsn = dsn
        self._conn: IsolatedConnection | None = None
        self._sequences: dict[str, list[Any]] | None = None

    def hand_out(self) -> IsolatedConnection:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
        conn._watoto_savepoint = f"watoto_test_{secrets.token_hex(4)}"
        # psycopg sends BEGIN before it (not autocommit): the test's transaction.
        conn.execute(sql.SQL("SAVEPOINT {}").format(sql.Identifier(conn._watoto_savepoint)))
        return conn

    def finish(self, conn: IsolatedConnection, *, commit: bool = False) -> Escaped | None:
        """Roll back the test's transaction and reset the session (``commit``: keep what
        the test did instead, to inspect it; the database is then no longer clean)."""
        if conn.closed or conn.broken:  # the server rolled back; start again cleanly
            self._conn = None
            conn = self._connect()
            self._reset(conn)
            return None
        escaped = None
        commit = commit and conn.info.transaction_status != _INERROR
        verb = "RELEASE SAVEPOINT {}" if commit else "ROLLBACK TO SAVEPOINT {}"
        try:  # the savepoint is there only if the test's transaction is
            conn.execute(sql.SQL(verb).format(sql.Identifier(conn._watoto_savepoint)))
        except (pg_errors.InvalidSavepointSpecification, pg_errors.NoActiveSqlTransaction):
            escaped = Escaped(self.name, "the test ended the fixture's transaction itself "
                              "(COMMIT, ROLLBACK or PREPARE TRANSACTION sent as SQL): what it "
                              "committed is in the shared database, which is replaced; use "
                              "watoto_db for code that commits")
        if commit and escaped is None:
            psycopg.Connection.commit(conn)
        else:
            psycopg.Connection.rollback(conn)
        if escaped is not None:
            self._rollback_prepared(conn)
        elif not commit:
            self._reset(conn)
        return escaped

    @staticmethod
    def _rollback_prepared(conn: IsolatedConnection) -> None:
        """Transactions the test prepared (``PREPARE TRANSACTION``) hold locks until they
        end: roll them back, or the database could not even be dropped."""
        conn.autocommit = True
        try:
            for (gid,) in conn.execute("SELECT gid FROM pg_prepared_xacts "
                                       "WHERE database = current_database()").fetchall():
                conn.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))
        finally:
            conn.autocommit = False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> IsolatedConnection:
        conn = IsolatedConnection.connect(self.dsn, application_name="watoto pytest",
                                          autocommit=True)
        if self._sequences is None:
            rows = conn.execute(sql_text("provision/sequences.sql")).fetchall()
            self._sequences = {"oids": [r[0] for r in rows],
                               "last_values": [r[1] for r in rows],
                               "start_values": [r[2] for r in rows]}
        conn.autocommit = False
        self._conn = conn
        return conn

    def _reset(self, conn: IsolatedConnection) -> None:
        """Sequences, session state and the Python side back to where they started."""
        from psycopg.adapt import AdaptersMap
        from psycopg.rows import tuple_row

        conn.autocommit = True
        try:
            if self._sequences and self._sequences["oids"]:
                conn.execute(sql_text("provision/sequences_reset.sql"), self._sequences)
            conn.execute("DISCARD ALL")
        finally:
            conn.autocommit = False
        conn.row_factory = tuple_row
        conn.cursor_factory = psycopg.Cursor
        conn.server_cursor_factory = psycopg.ServerCursor
        conn.prepare_threshold = 5
        conn.prepared_max = 100
        conn._adapters = AdaptersMap(psycopg.adapters)
        conn._notice_handlers.clear()
        conn._notify_handlers.clear()
