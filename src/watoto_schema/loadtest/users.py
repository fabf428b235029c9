"""``loadtest --users N --think-time MS``: N people using the LMS at once (#21).

Each user is one pgbench client session held for the whole run (``--client N``), as an
application server's pool would see them through PgBouncer. A user pauses, then acts: every
script starts with ``sql/loadtest/users/think.sql``, a ``\\sleep`` drawn uniformly from
[0.5, 1.5) times the think time, then runs the script's statements. The first pause spreads
the users' first actions over one think time instead of letting ten thousand of them act in
the same instant after connecting.

pgbench counts a script's ``\\sleep`` in its transaction latency. The pause is a hash of the
client number and the client's transaction count (a pgbench variable, which persists across
a client's transactions); that count is also the transaction number of pgbench's
per-transaction log. So the analysis recomputes every pause exactly and subtracts it:
latencies are those of the statements, plus whatever pgbench itself was late in waking
from the sleep (counted against us, as schedule lag is with ``--rate``).

Before anything runs: the open-file limit (pgbench needs one descriptor per session) is
raised to the hard limit or the run refused when the hard limit is too low; through a
pooler, PgBouncer's ``max_client_conn`` (its admin console's ``SHOW CONFIG``) must hold the
users; directly, the server's free connections must. The report adds to loadtest's: the
connection failures and pgbench's time to connect everyone.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from ..errors import EXIT_DIFFERENCES, BadConfig, Refused, WatotoError
from ..limits import SPARE, require_open_files
from ..target import Target, connect, through_pooler
from . import (
    LoadtestOptions,
    LoadtestReport,
    _report,
    pgbench_command,
    refuse_unmarked,
    report_document,
)
from .pgbench import LoadtestError, PgbenchRun, Transaction, connection_environment
from .scripts import parameters, render, weights

_MASK = 0xFFFFFFFF
_CONNECT_TIME = re.compile(r"initial connection time = ([0-9.]+) ms")
_CONNECT_FAILED = re.compile(r"could not create connection for client (\d+)|"
                             r"client (\d+) aborted while establishing connection")


class UsersConnectFailed(WatotoError):
    """Sessions could not connect: pgbench stops at the first such failure, so nothing was
    measured. A finding about the target (the 0 failures asked of it), so exit 2."""

    exit_code = EXIT_DIFFERENCES


@dataclass
class UsersOptions:
    users: int
    think_time_ms: int = 1000
    jobs: int = 4
    duration: int = 60  # seconds
    weights: dict[str, int] = field(default_factory=dict)
    against: str = "ours"
    allow_unmarked: bool = False

    def loadtest_options(self) -> LoadtestOptions:
        return LoadtestOptions(clients=self.users, jobs=self.jobs, duration=self.duration,
                               weights=self.weights, against=self.against,
                               allow_unmarked=self.allow_unmarked)


@dataclass
class UsersReport:
    users: int
    think_time_ms: int
    think_range_ms: tuple[float, float]  # the uniform pause: [low, high)
    through_pooler: bool
    max_client_conn: int | None  # PgBouncer's, when its admin console answered
    connect_seconds: float | None  # pgbench's "initial connection time": every session
    connection_failures: int
    loadtest: LoadtestReport

    @property
    def missed(self) -> list[str]:
        found = list(self.loadtest.missed)
        if self.connection_failures:
            found.insert(0, f"{self.connection_failures} session(s) could not connect")
        return found


def think_us(client: int, transaction: int, lo: int, span: int) -> int:
    """The pause of ``think.sql`` for one client's transaction (numbered from 1), in µs:
    the same integer arithmetic as the script's ``\\set`` lines."""
    value = (client * 1000003 + transaction * 7919) & _MASK
    value = (((value >> 16) ^ value) * 73244475) & _MASK
    value = (((value >> 16) ^ value) * 73244475) & _MASK
    return lo + ((value >> 16) ^ value) % span


def think_bounds(think_time_ms: int) -> tuple[int, int]:
    """(lo, span) in microseconds: the pause is uniform in [0.5, 1.5) x the think time."""
    return think_time_ms * 500, think_time_ms * 1000


# -- before anything runs ---------------------------------------------------------------


def pooler_limits(conninfo: str) -> tuple[int, int]:
    """PgBouncer's (max_client_conn, clients connected now) from its admin console.

    Raises ``psycopg.Error`` when the console does not answer (not an admin user).
    """
    from psycopg.conninfo import make_conninfo

    # The admin console speaks the simple query protocol only: ClientCursor uses it.
    with psycopg.connect(make_conninfo(conninfo, dbname="pgbouncer"), autocommit=True,
                         cursor_factory=psycopg.ClientCursor, connect_timeout=10) as conn:
        config = {str(r[0]): str(r[1]) for r in conn.execute("SHOW CONFIG").fetchall()}
        lists = {str(r[0]): int(r[1]) for r in conn.execute("SHOW LISTS").fetchall()}
    return int(config["max_client_conn"]), lists.get("used_clients", 0)


def _check_pooler(target: Target, users: int, note: Callable[[str], None]) -> int | None:
    try:
        limit, used = pooler_limits(target.conninfo)
    except (psycopg.Error, KeyError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        note(f"could not read max_client_conn from PgBouncer's admin console ({reason}): "
             f"make sure the pooler accepts {users:,} clients (`SHOW CONFIG` as one of its "
             "admin_users or stats_users)")
        return None
    others = max(0, used - 2)  # this run's own two connections (the check and the console)
    if users > limit - others:
        raise Refused(
            f"--users {users:,} is above what PgBouncer accepts: max_client_conn {limit:,}"
            + (f" with {others:,} client(s) connected already" if others else "")
            + f"; nothing was run: ask for at most {max(0, limit - others):,} users, or "
            "raise max_client_conn in pgbouncer.ini and the pooler's open-file limit with it "
            "(the local one: `local stop`, then `local start --pgbouncer` sizes it for "
            "12,000)")
    return limit


def _check_direct(conn: psycopg.Connection[Any], users: int) -> None:
    from ..resources import sql_text

    row = conn.execute(sql_text("loadtest/users/server_connections.sql")).fetchone()
    assert row is not None
    max_connections, reserved, in_use = (int(value) for value in row)
    free = max_connections - reserved - in_use + 1  # this session closes before pgbench
    if users > free:
        raise Refused(
            f"--users {users:,} would open {users:,} sessions on the server directly, which "
            f"has {free:,} free (max_connections {max_connections:,}); nothing was run: go "
            "through PgBouncer, e.g. --dsn \"$(watoto-schema local url --pgbouncer)\" after "
            "`watoto-schema local start --pgbouncer`, or ask for fewer users")


# -- the run -----------------------------------------------------------------------------


def run(target: Target, options: UsersOptions,
        on_event: Callable[[str], None] | None = None) -> UsersReport:
    """Run ``options.users`` sessions, each pausing then acting, and report them.

    Refuses (``Refused``, exit 3) before anything runs: a hard open-file limit too low for
    the sessions, more users than the pooler's ``max_client_conn`` or the server's free
    connections, a database sample-data did not mark (unless ``allow_unmarked``).
    """

    note = on_event or (lambda text: None)
    if options.users < 1:
        raise BadConfig("--users must be at least 1")
    if options.think_time_ms < 0:
        raise BadConfig(f"--think-time must be >= 0 ms (got {options.think_time_ms})")
    require_open_files(options.users + SPARE,
                       f"--users {options.users:,} (pgbench holds one per session)")
    lt_options = options.loadtest_options()
    chosen = {name: weight for name, weight in weights(options.weights).items() if weight}
    began = time.perf_counter()
    with connect(target, application_name="watoto-schema loadtest --users") as conn:
        refuse_unmarked(conn, options.allow_unmarked)
        pooled = through_pooler(conn)
        max_client_conn = None
        if pooled:
            max_client_conn = _check_pooler(target, options.users, note)
        else:
            _check_direct(conn, options.users)
        variables, lists = parameters(conn)
    lo, span = think_bounds(options.think_time_ms)
    with tempfile.TemporaryDirectory(prefix="watoto-loadtest-users-") as folder:
        work = Path(folder)
        scripts = render(work, list(chosen), lists)
        if options.think_time_ms > 0:
            _prepend_think(scripts, lo, span)
        log_dir = work / "log"
        log_dir.mkdir()
        command = pgbench_command(lt_options, scripts, chosen, variables, log_dir)
        command += ["--define", "watoto_tx=0"]
        setup = time.perf_counter() - began
        note(f"running pgbench: {options.users:,} users thinking {options.think_time_ms} ms, "
             f"{len(chosen)} scripts, {options.duration}s")
        outcome, connect_seconds = _run_pgbench(command, target, log_dir, options.users,
                                                lo if options.think_time_ms else 0, span)
        analysed = time.perf_counter()
        report = _report(lt_options, list(chosen), chosen, outcome, command)
    report.setup_seconds = round(setup, 3)
    report.analysis_seconds = round(time.perf_counter() - analysed, 3)
    return UsersReport(options.users, options.think_time_ms,
                       ((lo / 1000), (lo + span) / 1000) if options.think_time_ms else (0, 0),
                       pooled, max_client_conn, connect_seconds, 0, report)


def _prepend_think(scripts: dict[str, Path], lo: int, span: int) -> None:
    import jinja2

    from ..resources import sql_text

    prefix = jinja2.Template(sql_text("loadtest/users/think.sql"),
                             undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True).render(think_lo=lo, think_span=span)
    for path in scripts.values():
        path.write_text(prefix + path.read_text(encoding="utf-8"), encoding="utf-8")


def _run_pgbench(command: list[str], target: Target, log_dir: Path, users: int, lo: int,
                 span: int) -> tuple[PgbenchRun, float | None]:
    """pgbench with the think prefix: the transactions with their pauses taken out, and
    the seconds it took to connect every session."""
    began = time.perf_counter()
    try:
        proc = subprocess.run(command, env=connection_environment(target.conninfo),
                              capture_output=True, text=True, check=False)
    except OSError as exc:
        raise LoadtestError(f"pgbench could not start: {exc}") from exc
    seconds = time.perf_counter() - began
    failed = {int(a or b) for a, b in _CONNECT_FAILED.findall(proc.stderr)}
    if failed:
        detail = [line for line in proc.stderr.splitlines()
                  if "connection" in line and "could not create" not in line]
        reason = detail[0].removeprefix("pgbench: error: ").strip() if detail else ""
        raise UsersConnectFailed(
            f"{len(failed):,} of {users:,} sessions could not connect"
            + (f" ({reason})" if reason else "")
            + "; pgbench stops at the first failure, so nothing was measured: see the "
            "pooler's and the server's connection limits (docs/loadtest.md)")
    found = _CONNECT_TIME.search(proc.stdout)
    connect_seconds = round(float(found.group(1)) / 1000, 3) if found else None
    result = PgbenchRun(proc.returncode, proc.stderr, seconds)
    result.aborted_clients = len(set(re.findall(r"client (\d+) aborted", proc.stderr)))
    logs = sorted(log_dir.glob("pgbench_log.*"))
    if proc.returncode not in (0, 2) or not logs:
        detail = proc.stderr.strip().splitlines()
        raise LoadtestError("pgbench failed: " + (detail[-1] if detail else
                                                  f"exit status {proc.returncode}, no log"))
    for path in logs:
        result.transactions.extend(read_log(path, lo, span))
    return result, connect_seconds


def read_log(path: Path, lo: int, span: int) -> list[Transaction]:
    """The transactions of one pgbench log, each pause (``lo`` 0: none) taken out.

    Each line: client_id transaction_no time script_no time_epoch time_us; ``time`` is
    the latency in microseconds including the script's sleep, or ``failed``.
    """
    found: list[Transaction] = []
    with path.open(encoding="ascii", errors="replace") as lines:
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            latency = fields[2]
            if latency == "skipped":
                continue
            if not latency.isdigit():
                found.append(Transaction(int(fields[3]), None))
                continue
            spent = int(latency)
            if lo:
                spent -= think_us(int(fields[0]), int(fields[1]), lo, span)
            found.append(Transaction(int(fields[3]), max(0, spent)))
    return found


def report_document_users(report: UsersReport) -> dict[str, Any]:
    """loadtest's JSON document with the users' part added under ``users``."""
    document = report_document(report.loadtest)
    document["missed"] = report.missed
    document["users"] = {
        "users": report.users, "think_time_ms": report.think_time_ms,
        "think_range_ms": list(report.think_range_ms),
        "through_pooler": report.through_pooler,
        "max_client_conn": report.max_client_conn,
        "connect_seconds": report.connect_seconds,
        "connection_failures": report.connection_failures,
    }
    return document
