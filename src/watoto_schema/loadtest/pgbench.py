"""Run pgbench with the rendered scripts and read its per-transaction log."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WatotoError

# libpq connection keywords and the environment variables pgbench (libpq) reads them from:
# the connection goes to pgbench through its environment, so a password never shows in ps.
_ENVIRONMENT = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
    "user": "PGUSER", "password": "PGPASSWORD", "passfile": "PGPASSFILE",
    "service": "PGSERVICE", "options": "PGOPTIONS", "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT", "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL", "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE", "channel_binding": "PGCHANNELBINDING",
}
# "client 7 aborted ..." and, since PostgreSQL 15, "client 7 script 1 aborted in command 1".
_ABORTED = re.compile(r"client (\d+) (?:script \d+ )?aborted", re.IGNORECASE)


class LoadtestError(WatotoError):
    """pgbench could not run, or ended without a log to read."""


def find_pgbench() -> Path:
    """pgbench from the server binaries (as ``local`` finds initdb), else from PATH."""
    from ..local.cluster import find_bindir

    try:
        candidate = find_bindir() / "pgbench"
        if candidate.is_file():
            return candidate
    except WatotoError:
        pass
    on_path = shutil.which("pgbench")
    if on_path:
        return Path(on_path)
    raise LoadtestError("pgbench not found: install the PostgreSQL server package (Debian: "
                        "apt-get install postgresql-15, which ships it) or set WATOTO_PG_BINDIR")


def connection_environment(conninfo: str) -> dict[str, str]:
    """The libpq environment that makes pgbench connect where ``conninfo`` points."""
    from psycopg.conninfo import conninfo_to_dict

    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    for key, value in conninfo_to_dict(conninfo).items():
        if value is None:
            continue
        name = _ENVIRONMENT.get(key)
        if name is None:
            raise LoadtestError(f"connection setting {key!r} cannot be passed to pgbench")
        env[name] = str(value)
    return env


@dataclass(slots=True)
class Transaction:
    script: int  # index in the order the scripts were given to pgbench
    latency_us: int | None  # None: failed; with --rate, counted from the scheduled start
    epoch_us: int = 0  # when it ended, microseconds since the epoch
    lag_us: int | None = None  # with --rate: how late it started after its schedule
    client: int = 0


@dataclass
class PgbenchRun:
    """What pgbench did: its exit status, stderr, the transactions of its log, seconds."""

    returncode: int
    stderr: str
    seconds: float
    transactions: list[Transaction] = field(default_factory=list)
    aborted_clients: int = 0
    cpu_seconds: float | None = None  # pgbench's own user + system CPU (its rusage)


def run(command: list[str], env: dict[str, str], log_dir: Path,
        watch: Callable[[int], AbstractContextManager[object]] | None = None) -> PgbenchRun:
    """Run pgbench (``command`` writes its log under ``log_dir``) and read the log.

    ``watch(pid)``, when given, is a context manager entered while pgbench runs (a sampler
    of the server's state). pgbench's CPU time comes from its rusage when it is reaped.
    """
    import time
    from contextlib import nullcontext

    began = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as errors:
        try:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors,
                                    text=True)
        except OSError as exc:
            raise LoadtestError(f"pgbench could not start: {exc}") from exc
        reaped = False
        try:
            with watch(proc.pid) if watch else nullcontext():
                _, status, usage = os.wait4(proc.pid, 0)
                reaped = True
        finally:
            if not reaped:  # the watcher failed, or an interrupt: do not leave pgbench behind
                proc.kill()
                proc.wait()
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read()
    seconds = time.perf_counter() - began
    result = PgbenchRun(proc.returncode, stderr, seconds,
                        cpu_seconds=usage.ru_utime + usage.ru_stime)
    result.aborted_clients = len(set(_ABORTED.findall(stderr)))
    logs = sorted(log_dir.glob("pgbench_log.*"))
    if proc.returncode not in (0, 2) or not logs:
        detail = stderr.strip().splitlines()
        raise LoadtestError("pgbench failed: " + (detail[-1] if detail else
                                                  f"exit status {proc.returncode}, no log"))
    for path in logs:
        result.transactions.extend(read_log(path))
    return result


def read_log(path: Path) -> list[Transaction]:
    """Transactions of one per-transaction log file of pgbench.

    Each line: client_id transaction_no time script_no time_epoch time_us [schedule_lag
    ...]; ``time`` is the latency in microseconds, or ``failed`` (also ``serialization``,
    ``deadlock``) for a failed transaction, ``skipped`` for one --latency-limit dropped.
    With ``--rate``, ``time`` runs from the transaction's scheduled start, so it includes
    ``schedule_lag`` (the queueing a fixed arrival rate builds up), as pgbench's own report
    does: the percentiles do not hide queueing.
    """
    found: list[Transaction] = []
    append = found.append
    with path.open(encoding="ascii", errors="replace") as lines:
        for line in lines:
            fields = line.split()
            if len(fields) < 6:
                if len(fields) >= 4 and fields[2] != "skipped":
                    append(Transaction(int(fields[3]), _latency(fields[2])))
                continue
            latency = fields[2]
            if latency == "skipped":
                continue
            try:
                epoch = int(fields[4]) * 1_000_000 + int(fields[5])
                lag = int(fields[6]) if len(fields) >= 7 else None
                append(Transaction(int(fields[3]), _latency(latency), epoch, lag,
                                   int(fields[0])))
            except ValueError:
                continue
    return found


def _latency(text: str) -> int | None:
    return int(text) if text.isdigit() else None
