"""``loadtest --prewarm``: the database in memory before anything is measured.

A server that has run for a day holds its hot data in shared buffers and the rest in the
operating system's cache; one just restarted, or a sample just loaded, reads from disk. A
load test against a cold cache measures the disk, and its figures move with what happened
to be cached. ``--prewarm`` loads every table and index of the database with the contrib
extension ``pg_prewarm`` (PostgreSQL's own tool for this): smallest first into shared
buffers, up to nine tenths of them, and the rest into the operating system's cache.

The extension is created, used and dropped in one transaction that is rolled back, so the
database's catalog is as it was (drift sees nothing); the pages read stay cached. Where it
is already installed it is used as it is. It is not a trusted extension: creating it needs
a superuser.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ..errors import WatotoError
from ..resources import sql_text
from ..target import one_line

# Shared buffers left to what the load itself reads and dirties.
_BUFFER_SHARE = 0.9


class PrewarmUnavailable(WatotoError):
    """pg_prewarm is not on the server, or this role cannot create it."""


@dataclass
class PrewarmResult:
    relations: int
    buffer_blocks: int  # read into shared buffers
    read_blocks: int  # read into the operating system's cache only
    shared_buffers_blocks: int
    block_size: int
    seconds: float
    installed: bool  # pg_prewarm was already installed in the database

    def describe(self) -> str:
        mib = self.block_size / (1024 * 1024)
        return (f"prewarmed {self.relations} relations: {self.buffer_blocks * mib:,.0f} MiB into "
                f"shared buffers, {self.read_blocks * mib:,.0f} MiB into the operating "
                f"system's cache, {self.seconds:.1f}s")


def plan(relations: list[tuple[int, int]], budget: int) -> list[tuple[int, str]]:
    """Each relation (oid, blocks), smallest first, with how to load it: ``buffer`` while
    the blocks loaded so far fit in ``budget`` (shared buffers), ``read`` after."""
    planned = []
    buffered = 0
    for oid, blocks in sorted(relations, key=lambda item: (item[1], item[0])):
        if buffered + blocks <= budget:
            buffered += blocks
            planned.append((oid, "buffer"))
        else:
            planned.append((oid, "read"))
    return planned


def prewarm(conn: psycopg.Connection[Any]) -> PrewarmResult:
    """Read every table and index of the database into memory (see the module's note).

    Raises ``PrewarmUnavailable`` (one line, nothing changed) when the server does not ship
    pg_prewarm or this role cannot create it.
    """
    began = time.perf_counter()
    row = conn.execute(sql_text("loadtest/prewarm/available.sql")).fetchone()
    assert row is not None
    schema, available, shared_buffers, block_size = row
    if schema is None and not available:
        raise PrewarmUnavailable(
            "--prewarm needs the pg_prewarm extension, which this server does not ship: "
            "install PostgreSQL's contrib modules (Debian's postgresql-15 has them), or drop "
            "--prewarm")
    budget = int(int(shared_buffers) * _BUFFER_SHARE)
    buffered = read = 0
    with conn.transaction(force_rollback=True):  # the extension, if created, goes with it
        if schema is None:
            try:
                conn.execute("CREATE EXTENSION pg_prewarm")
            except psycopg.errors.InsufficientPrivilege as exc:
                raise PrewarmUnavailable(
                    "--prewarm needs the pg_prewarm extension, and creating it needs a "
                    "superuser (it is not a trusted extension): run CREATE EXTENSION "
                    "pg_prewarm once as one, or drop --prewarm") from exc
            schema = conn.execute(sql_text("loadtest/prewarm/available.sql")
                                  ).fetchone()[0]  # type: ignore[index]
        load = sql.SQL(sql_text("loadtest/prewarm/load.sql")).format(sql.Identifier(schema))
        relations = conn.execute(sql_text("loadtest/prewarm/relations.sql")).fetchall()
        names = {int(oid): str(name) for name, oid, _ in relations}
        for oid, mode in plan([(int(oid), int(blocks)) for _, oid, blocks in relations],
                              budget):
            try:
                (done,) = conn.execute(load, {"relation": oid, "mode": mode}
                                       ).fetchone()  # type: ignore[misc]
            except psycopg.Error as exc:  # no SELECT on it, say
                raise PrewarmUnavailable(f"--prewarm could not read {names[oid]}: "
                                         f"{one_line(exc)}") from exc
            if mode == "buffer":
                buffered += int(done)
            else:
                read += int(done)
    return PrewarmResult(len(relations), buffered, read, int(shared_buffers), int(block_size),
                         round(time.perf_counter() - began, 3), installed=row[0] is not None)
