"""loadtest --users (#21): a few hundred users through a real PgBouncer, each pausing then
acting; the pauses taken out of the latencies exactly; the connect time and connection
failures in the report; refusals (max_client_conn, the open-file limit, a direct server's
connections) before anything runs, and usage errors. Skipped where PgBouncer is not
installed."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from watoto_schema.loadtest.pgbench import connection_environment, find_pgbench
from watoto_schema.loadtest.users import _prepend_think, think_bounds, think_us
from watoto_schema.local import LocalCluster, pgbouncer
from watoto_schema.sample_data import load

from .test_cli import assert_one_line_error, run

pytestmark = pytest.mark.skipif(
    shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").is_file(),
    reason="pgbouncer is not installed (Debian: apt-get install pgbouncer)")

MAX_CLIENT_CONN = 400  # small, so that asking for more is cheap to refuse


@dataclass
class Pooled:
    direct: str
    via: str
    max_client_conn: int


@pytest.fixture(scope="module")
def pooled() -> Iterator[Pooled]:
    """A cluster of its own with PgBouncer in front, migrated and holding 200 students."""
    root = Path(tempfile.mkdtemp(prefix="watoto-users-"))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root / "cluster", fsync=False)
    try:
        cluster.start()
        pooler = pgbouncer.start(cluster, max_client_conn=MAX_CLIENT_CONN)
        assert pooler.url is not None
        direct = cluster.url()
        assert run("--dsn", direct, "migrate").exit_code == 0
        with psycopg.connect(direct, autocommit=True) as conn:
            load(conn, 200)
        yield Pooled(direct, pooler.url, pooler.max_client_conn)
    finally:
        pgbouncer.stop(cluster)
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def _submissions(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM assessment_submissions").fetchone()
    assert row is not None
    return int(row[0])


def test_a_few_hundred_users_through_pgbouncer(pooled: Pooled) -> None:
    result = run("--dsn", pooled.via, "loadtest", "--users", "300", "--think-time", "1000",
                 "--duration", "3", "--jobs", "2", "--against", "design", "--json")
    assert result.exit_code in (0, 2), result.output
    doc = json.loads(result.stdout)
    users = doc["users"]
    assert users["users"] == 300 and users["through_pooler"]
    assert users["max_client_conn"] == pooled.max_client_conn == MAX_CLIENT_CONN
    assert users["connection_failures"] == 0 and doc["aborted_clients"] == 0
    assert 0 < users["connect_seconds"] < 30
    assert users["think_range_ms"] == [500.0, 1500.0]
    assert [c["kind"] for c in doc["classes"]] == ["read", "write", "report"]
    for item in doc["classes"]:
        stats = item["stats"]
        assert stats["transactions"] > 0, item
        assert 0 <= stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
        assert stats["failures"] == 0
    # The pauses (0.5-1.5 s) are not in the latencies: half the transactions took less
    # than the shortest pause. Each user acts at most once per 0.5 s.
    assert doc["total"]["p50_ms"] < 500
    assert doc["total"]["transactions"] <= 300 * 3 * 2
    assert (result.exit_code == 2) == bool(doc["missed"])

    human = run("--dsn", pooled.via, "loadtest", "--users", "50", "--think-time", "0",
                "--duration", "1", "--jobs", "1")
    assert human.exit_code in (0, 2), human.output
    assert "50 users through a pooler" in human.stdout
    assert "0 connection failures" in human.stdout and "connected everyone in" in human.stdout
    assert "p95 ms" in human.stdout


def test_the_pause_is_recomputed_exactly(pooled: Pooled, tmp_path: Path) -> None:
    """pgbench's logged latency minus the recomputed pause: never negative (an off-by-one
    transaction number would make about half of them so), and small for SELECT 1."""
    lo, span = think_bounds(20)
    script = tmp_path / "select.sql"
    script.write_text("SELECT 1;\n")
    _prepend_think({"select": script}, lo, span)
    subprocess.run([str(find_pgbench()), "--no-vacuum", "--client", "4", "--jobs", "1",
                    "--time", "2", "--define", "watoto_tx=0", "--file", str(script), "--log",
                    f"--log-prefix={tmp_path / 'log'}"], env=connection_environment(
                        pooled.direct), check=True, capture_output=True)
    rest = []
    for path in tmp_path.glob("log.*"):
        for line in path.read_text().splitlines():
            client, number, latency = (int(v) for v in line.split()[:3])
            rest.append(latency - think_us(client, number, lo, span))
    assert len(rest) > 40
    assert min(rest) >= 0
    rest.sort()
    assert rest[len(rest) // 2] < 10_000  # µs: the median SELECT 1, without its pause


def test_more_users_than_max_client_conn_are_refused(pooled: Pooled) -> None:
    before = _submissions(pooled.direct)
    line = assert_one_line_error(run("--dsn", pooled.via, "loadtest", "--users",
                                     str(MAX_CLIENT_CONN + 1), "--duration", "1"), code=3)
    assert "max_client_conn 400" in line and "nothing was run" in line
    assert _submissions(pooled.direct) == before


def test_a_direct_server_without_the_connections_is_refused(pooled: Pooled) -> None:
    line = assert_one_line_error(run("--dsn", pooled.direct, "loadtest", "--users", "500",
                                     "--duration", "1"), code=3)
    assert "max_connections" in line and "local url --pgbouncer" in line


def test_an_open_file_limit_too_low_is_refused(pooled: Pooled) -> None:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    before = _submissions(pooled.direct)
    proc = subprocess.run([str(Path(sys.executable).parent / "watoto-schema"), "--dsn",
                           pooled.via, "loadtest", "--users", "300", "--duration", "1"],
                          capture_output=True, text=True, preexec_fn=lower, check=False)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "hard limit" in lines[0] and "ulimit" in lines[0] and "LimitNOFILE" in lines[0]
    assert "364" in lines[0]  # 300 sessions and pgbench's own files
    assert _submissions(pooled.direct) == before


@pytest.mark.parametrize("argv", [
    ["--users", "10", "--think-time", "-1"],
    ["--users", "0"],
    ["--think-time", "100"],
    ["--users", "10", "--clients", "5"],
    ["--users", "10", "--rate", "50"],
    ["--users", "10", "--find-capacity"],
    ["--users", "10", "--protocol", "simple"],
    ["--users", "10", "--plans", "generic"],
])
def test_bad_options_are_usage_errors(argv: list[str]) -> None:
    assert_one_line_error(run("loadtest", "--dsn", "postgresql:///nowhere", *argv))


def test_the_pool_follows_the_cores_and_the_servers_connections(pooled: Pooled) -> None:
    assert pgbouncer.pool_size_for(2, 100, 3) == 40  # 2 cores: at least 40
    assert pgbouncer.pool_size_for(8, 1000, 3) == 80  # ten per core
    assert pgbouncer.pool_size_for(16, 100, 3) == 48  # half the unreserved connections
    assert pgbouncer.MAX_CLIENT_CONN >= 12_000  # 10,000 users and headroom
    # What PgBouncer runs with, from its admin console.
    with psycopg.connect(pooled.direct) as conn:
        row = conn.execute("SELECT current_setting('max_connections')::int, "
                           "current_setting('superuser_reserved_connections')::int").fetchone()
    assert row is not None
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(pooled.via, dbname="pgbouncer"), autocommit=True,
                         cursor_factory=psycopg.ClientCursor) as console:
        config = {r[0]: r[1] for r in console.execute("SHOW CONFIG").fetchall()}
    assert int(config["default_pool_size"]) == pgbouncer.pool_size_for(os.cpu_count() or 1,
                                                                        *row)
    assert int(config["max_client_conn"]) == MAX_CLIENT_CONN
    assert int(config["listen_backlog"]) == pgbouncer.LISTEN_BACKLOG


def test_sessions_that_cannot_connect_are_a_finding(pooled: Pooled, tmp_path: Path) -> None:
    """Past the admin-console check (as when the console does not answer), PgBouncer turns
    sessions beyond max_client_conn away: one line, exit 2, nothing measured."""
    from watoto_schema.errors import EXIT_DIFFERENCES
    from watoto_schema.limits import raise_open_files
    from watoto_schema.loadtest.users import UsersConnectFailed, _run_pgbench
    from watoto_schema.target import Target

    raise_open_files(600)
    script = tmp_path / "select.sql"
    script.write_text("SELECT 1;\n")
    (tmp_path / "log").mkdir()
    command = [str(find_pgbench()), "--no-vacuum", "--client", "450", "--jobs", "1", "--time",
               "1", "--file", str(script), "--log", f"--log-prefix={tmp_path / 'log' / 'x'}"]
    with pytest.raises(UsersConnectFailed) as caught:
        _run_pgbench(command, Target(pooled.via, "tests"), tmp_path / "log", 450, 0, 1)
    assert caught.value.exit_code == EXIT_DIFFERENCES
    message = str(caught.value)
    assert "of 450 sessions could not connect" in message and "\n" not in message
    assert "max_client_conn" in message  # PgBouncer's own reason
