"""PgBouncer (#13): `local start --pgbouncer` puts a real PgBouncer (transaction pooling) in
front of the embedded cluster; migrate and maintain refuse it (exit 3), loadtest runs
through it, `local stop` stops it by pid. Skipped where PgBouncer is not installed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest

from watoto_schema.local import default_cluster, pgbouncer, process_alive
from watoto_schema.sample_data import load
from watoto_schema.target import through_pooler

from .test_cli import assert_one_line_error, run

pytestmark = pytest.mark.skipif(
    shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").is_file(),
    reason="pgbouncer is not installed (Debian: apt-get install pgbouncer)")


def _installed_version() -> tuple[int, ...]:
    import subprocess

    from watoto_schema.loadtest.protocol import parse_version

    found = parse_version(subprocess.run([str(pgbouncer.find_pgbouncer()), "--version"],
                                         capture_output=True, text=True).stdout)
    assert found is not None
    return found


def test_pgbouncer_in_front_of_the_local_cluster(workdir: Path) -> None:
    started = run("local", "start", "--pgbouncer", "--json")
    assert started.exit_code == 0, started.output
    pooler = json.loads(started.stdout)["pgbouncer"]
    assert pooler["running"] and pooler["pool_mode"] == "transaction"
    via = run("local", "url", "--pgbouncer").stdout.strip()
    direct = run("local", "url").stdout.strip()
    assert via == pooler["url"] and via != direct

    # The detection: PgBouncer answers the login with a made-up backend pid.
    with psycopg.connect(via, autocommit=True) as conn:
        assert through_pooler(conn)
    with psycopg.connect(direct, autocommit=True) as conn:
        assert not through_pooler(conn)

    # Session advisory locks do not hold through transaction pooling: refused, exit 3.
    for argv in (["migrate"], ["migrate", "--complete"], ["maintain", "run"],
                 ["rollback", "--steps", "1"]):
        line = assert_one_line_error(run("--dsn", via, *argv), code=3)
        assert "direct DSN" in line and "local url" in line
    with psycopg.connect(direct, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('users')").fetchone() == (None,)  # nothing ran
    assert run("--dsn", direct, "migrate").exit_code == 0
    assert run("--dsn", direct, "maintain", "run", "--dry-run").exit_code in (0, 2)

    # The load test runs through it, with more clients than the pool has server connections.
    with psycopg.connect(direct) as conn:
        load(conn, 200)
    result = run("loadtest", "--dsn", via, "--clients", "60", "--jobs", "2", "--duration", "2",
                 "--json")
    assert result.exit_code in (0, 2), result.output
    doc = json.loads(result.stdout)
    assert doc["total"]["transactions"] > 0 and doc["aborted_clients"] == 0
    # The protocol for this PgBouncer's version (#21), read from its admin console.
    version = _installed_version()
    assert doc["protocol"]["mode"] == ("extended" if version < (1, 21) else "prepared" if
                                       "max_prepared_statements" in doc["protocol"]["reason"]
                                       else "extended"), doc["protocol"]
    assert f"PgBouncer {'.'.join(map(str, version))}" in doc["protocol"]["reason"]

    pid = pooler["pid"]
    assert run("local", "stop").exit_code == 0
    assert not process_alive(pid)
    assert not pgbouncer.info(default_cluster()).running
    assert_one_line_error(run("local", "url", "--pgbouncer"))
