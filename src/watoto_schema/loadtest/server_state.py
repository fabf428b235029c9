"""The server's state while a load step runs: CPU, waits, top statements.

* CPU: when the server runs on this machine (the backend pid of our own session is a
  ``postgres`` process here, child of a ``postgres`` postmaster), the user + system time of
  the postmaster's children over the step, from ``/proc``, against pgbench's own (its
  rusage). A remote server: "unknown".
* Waits: ``pg_stat_activity`` sampled every half second, active client sessions of this
  database counted by wait event (``CPU / running``: no wait event recorded).
* Top statements: ``pg_stat_statements``, reset at the start of each step, when the
  extension is installed in the database and the role may reset it; otherwise skipped with
  the reason.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..resources import sql_text
from ..target import Target, connect, one_line

SAMPLE_SECONDS = 0.5
TOP_STATEMENTS = 5


@dataclass
class Wait:
    wait_event_type: str
    wait_event: str
    sessions: float  # active sessions in this state, averaged over the samples


@dataclass
class Statement:
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    blocks_read: int


@dataclass
class ServerState:
    """One step's server state (see the module's docstring)."""

    seconds: float
    cpu: str  # "local" (the figures below hold) or why they are unknown
    server_cores: float | None = None  # CPU seconds of the postmaster's children per second
    pgbench_cores: float | None = None  # pgbench's CPU seconds per second
    machine_cores: int | None = None
    samples: int = 0
    waits: list[Wait] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    statements_skipped: str | None = None  # why there are no top statements
    sampling_failed: str | None = None  # pg_stat_activity could not be read (the error)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(command name, parent pid, user + system clock ticks) of a process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, _, rest = text.rpartition(")")
    fields = rest.split()
    try:
        return head.partition("(")[2], int(fields[1]), int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        return None


def _children(parent: int) -> list[int]:
    try:
        text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN: walk /proc
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                info = _stat(int(name))
                if info and info[1] == parent:
                    found.append(int(name))
        return found
    return [int(pid) for pid in text.split()]


class Sampler:
    """Samples the server while pgbench runs; one per search, one connection of its own."""

    def __init__(self, target: Target) -> None:
        self.conn = connect(target, autocommit=True,
                            application_name="watoto-schema loadtest sampler")
        self.postmaster, self.cpu_note = self._find_postmaster()
        self.statements_schema, self.statements_skipped = self._statements_extension()

    def close(self) -> None:
        self.conn.close()

    def _find_postmaster(self) -> tuple[int | None, str]:
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = _stat(int(str(row[0]))) if row else None
        if backend is None or backend[0] != "postgres":
            return None, ("unknown: the server is not on this machine (its backend pid is "
                          "not a local postgres process)")
        parent = _stat(backend[1])
        if parent is None or parent[0] != "postgres":
            return None, "unknown: the backend's parent is not a local postmaster"
        return backend[1], "local"

    def _statements_extension(self) -> tuple[str | None, str | None]:
        row = self.conn.execute(sql_text("loadtest/state/statements_available.sql")).fetchone()
        if row is None:
            return None, ("pg_stat_statements is not installed in this database "
                          "(CREATE EXTENSION pg_stat_statements, with it in "
                          "shared_preload_libraries)")
        schema = str(row[0])
        try:
            self._reset(schema)
        except psycopg.Error as exc:
            return None, f"pg_stat_statements cannot be used (reset): {one_line(exc)}"
        return schema, None

    def _reset(self, schema: str) -> None:
        self.conn.execute(sql.SQL(sql_text("loadtest/state/statements_reset.sql"))
                          .format(sql.Identifier(schema)))

    def _cpu_ticks(self) -> dict[int, int]:
        if self.postmaster is None:
            return {}
        ticks = {}
        for pid in _children(self.postmaster):
            info = _stat(pid)
            if info is not None:
                ticks[pid] = info[2]
        return ticks

    @contextmanager
    def step(self, state: list[ServerState]) -> Iterator[None]:
        """Sample while the body runs (pgbench); append the step's ``ServerState``."""
        if self.statements_schema:
            try:
                self._reset(self.statements_schema)
            except psycopg.Error as exc:
                self.statements_schema = None
                self.statements_skipped = f"pg_stat_statements reset failed: {one_line(exc)}"
        baseline = self._cpu_ticks()
        latest = dict(baseline)
        waits: Counter[tuple[str, str]] = Counter()
        samples = 0
        stop = threading.Event()
        failure: list[str] = []

        def sample() -> None:
            nonlocal samples
            query = sql_text("loadtest/state/activity.sql")
            while not stop.wait(SAMPLE_SECONDS):
                try:
                    rows = self.conn.execute(query).fetchall()
                except psycopg.Error as exc:
                    failure.append(one_line(exc))
                    return
                samples += 1
                for kind, event, sessions in rows:
                    waits[(str(kind), str(event))] += int(str(sessions))
                for pid, ticks in self._cpu_ticks().items():
                    latest[pid] = max(latest.get(pid, 0), ticks)

        began = time.perf_counter()
        worker = threading.Thread(target=sample, name="loadtest-sampler", daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join()
        seconds = time.perf_counter() - began
        result = ServerState(round(seconds, 3), self.cpu_note, samples=samples,
                             machine_cores=os.cpu_count())
        if self.postmaster is not None and seconds > 0:
            for pid, ticks in self._cpu_ticks().items():
                latest[pid] = max(latest.get(pid, 0), ticks)
            used = sum(ticks - baseline.get(pid, 0) for pid, ticks in latest.items())
            result.server_cores = round(used / os.sysconf("SC_CLK_TCK") / seconds, 2)
        result.waits = sorted((Wait(kind, event, round(count / samples, 2))
                               for (kind, event), count in waits.items()),
                              key=lambda w: -w.sessions) if samples else []
        if self.statements_schema:
            result.statements = self._top_statements(self.statements_schema)
        else:
            result.statements_skipped = self.statements_skipped
        if failure:
            result.sampling_failed = failure[0]
        state.append(result)

    def _top_statements(self, schema: str) -> list[Statement]:
        query = sql.SQL(sql_text("loadtest/state/statements.sql")).format(sql.Identifier(schema))
        rows: list[Any] = self.conn.execute(query, {"limit": TOP_STATEMENTS}).fetchall()
        return [Statement(str(r[0]), int(r[1]), float(r[2]), float(r[3]), int(r[4]))
                for r in rows]
