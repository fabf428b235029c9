"""Shared helpers for the benchmarks: a throwaway cluster and whole-process timing."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from watoto_schema.local import LocalCluster
from watoto_schema.sources import MigrationFile

BIN = Path(sys.executable).parent


@contextmanager
def cluster(fsync: bool = True) -> Iterator[LocalCluster]:
    """A throwaway cluster for one benchmark run: fsync on, as a real server would run, unless
    ``fsync=False`` (fsync, synchronous_commit and full_page_writes off, as a test server)."""
    root = Path(tempfile.mkdtemp(prefix="watoto-bench-"))
    os.chmod(root, 0o755)
    pg = LocalCluster(root / "cluster", fsync=fsync)
    pg.start(dbname="postgres")
    try:
        yield pg
    finally:
        pg.destroy()
        os.rmdir(root)


def fresh_db(pg: LocalCluster, name: str) -> str:
    """Drop and recreate database ``name``; return its URL."""
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    return pg.url(name)


def sample_db(pg: LocalCluster, name: str, students: int) -> tuple[str, float]:
    """A fresh database ``name``, migrated and filled by sample-data: its URL and the
    seconds the sample-data process took."""
    url = fresh_db(pg, name)
    timed([str(BIN / "watoto-schema"), "--dsn", url, "migrate"])
    return url, timed([str(BIN / "watoto-schema"), "--dsn", url, "sample-data",
                       "--students", str(students)])


def timed(cmd: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of one whole process; fails loudly if the process fails."""
    started = time.perf_counter()
    proc = subprocess.run(list(cmd), capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed: {cmd[0]}: {proc.stderr.strip()[-400:]}")
    return elapsed


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def row(label: str, value_ms: float, reference_ms: float | None = None,
        note: str = "") -> str:
    ratio = f"{value_ms / reference_ms:6.2f}x" if reference_ms else "       "
    return f"  {label:<44} {value_ms:9.1f} ms  {ratio}  {note}"


def psql_script(files: Sequence[MigrationFile], out: Path, each: bool = False) -> int:
    """The migrations' SQL as one psql script, with the same schema_migrations rows.

    Returns the count of migrations.

    Without ``each``: one transaction around each run of transactional migrations (the
    whole set but the non-transactional ones, which run outside as they must), like
    ``psql -1``; with ``each``: every transactional migration in its own BEGIN/COMMIT, the
    atomicity migrate gives.
    """
    parts: list[str] = []
    in_transaction = False
    for f in files:
        body = ("\n".join(s.rstrip(";") + ";" for s in f.statements)
                + f"\nINSERT INTO schema_migrations (version) VALUES ('{f.version}');")
        if each and f.transactional:
            body = f"BEGIN;\n{body}\nCOMMIT;"
        elif not each and f.transactional != in_transaction:
            parts.append("BEGIN;" if f.transactional else "COMMIT;")
            in_transaction = f.transactional
        parts.append(body)
    if in_transaction:
        parts.append("COMMIT;")
    out.write_text("\n".join(parts) + "\n")
    return len(files)


# -- the LMS mix at a fixed rate (issue #21): the workload background work must not hurt --

CLASSES = ("read", "write", "report")


class LmsMix:
    """The load test's scripts (``sql/loadtest``, default weights) rendered for one database,
    run by pgbench at a fixed arrival rate with a per-transaction log.

    Latency is pgbench's under ``--rate``: counted from each transaction's *scheduled*
    start, so a stall counts in every transaction it delays (no coordinated omission).
    """

    def __init__(self, url: str, folder: Path, clients: int = 8, threads: int = 2) -> None:
        from watoto_schema.loadtest.pgbench import find_pgbench
        from watoto_schema.loadtest.scripts import BY_NAME, parameters, render, weights

        self.url, self.folder, self.clients, self.threads = url, folder, clients, threads
        self.pgbench = str(find_pgbench())
        with psycopg.connect(url) as conn:
            self.variables, lists = parameters(conn)
        chosen = {name: weight for name, weight in weights({}).items() if weight}
        paths = render(folder, list(chosen), lists)
        self.files = [f"{paths[name]}@{weight}" for name, weight in chosen.items()]
        self.kinds = [BY_NAME[name].kind for name in chosen]  # by pgbench's script number

    def start(self, prefix: str, seconds: int, rate: float) -> subprocess.Popen[str]:
        command = [self.pgbench, "-n", "-c", str(self.clients), "-j", str(self.threads),
                   "-T", str(seconds), "-R", f"{rate:g}", "-M", "prepared", "--log",
                   f"--log-prefix={self.folder / prefix}"]
        for item in self.files:
            command += ["-f", item]
        for key, value in self.variables.items():
            command += ["-D", f"{key}={value}"]
        env = {**os.environ, "PGOPTIONS": "-c statement_timeout=5s"}  # the application's
        return subprocess.Popen([*command, self.url], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    def finish(self, bench: subprocess.Popen[str], prefix: str,
               window: tuple[float, float] | None = None) -> LmsResult:
        """Wait for pgbench; per class, the latencies (ms) of the whole run and of the
        transactions in flight during ``window`` (epoch seconds)."""
        out, err = bench.communicate()
        whole: dict[str, list[float]] = {kind: [] for kind in CLASSES}
        inside: dict[str, list[float]] = {kind: [] for kind in CLASSES}
        failed = err.count("aborted in command")
        for path in sorted(self.folder.glob(prefix + ".*")):
            for line in path.read_text().splitlines():
                # client_id transaction_no time script_no time_epoch time_us [lag]
                fields = line.split()
                if len(fields) < 6:
                    continue
                if not fields[2].isdigit():  # failed or skipped
                    failed += 1
                    continue
                kind = self.kinds[int(fields[3])]
                latency = int(fields[2]) / 1000
                whole[kind].append(latency)
                finished = int(fields[4]) + int(fields[5]) / 1e6
                if window and finished >= window[0] and finished - latency / 1000 <= window[1]:
                    inside[kind].append(latency)
            path.unlink()
        if not any(whole.values()):
            raise SystemExit(f"pgbench produced no transactions: {err.strip()[-600:]}")
        return LmsResult(whole, inside, failed)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (0.0 for no values)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * share + 0.999999) - 1))]


class LmsResult:
    def __init__(self, whole: dict[str, list[float]], inside: dict[str, list[float]],
                 failed: int) -> None:
        self.whole, self.inside, self.failed = whole, inside, failed

    def p99(self, kind: str, window: bool = False) -> float:
        return percentile((self.inside if window else self.whole)[kind], 0.99)

    def count(self, window: bool = False) -> int:
        return sum(len(v) for v in (self.inside if window else self.whole).values())


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    """The 1-minute load average now, for the figures (the machine is shared)."""
    return f"{os.getloadavg()[0]:.1f}"
