"""`health` (#11): each check provoked for real on PostgreSQL, the output formats, the
scrape endpoint, a non-superuser with pg_monitor, and a standby whose stream breaks."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from watoto_schema import health
from watoto_schema.dashboard import Dashboard, Endpoint, Options, Renderer, start
from watoto_schema.health.exposition import nagios_line
from watoto_schema.health.serve import ScrapeCollector, exposition
from watoto_schema.local import LocalCluster, free_port
from watoto_schema.target import Target

from .test_cli import assert_one_line_error, run

QUIET = health.Thresholds(archive_required=False)


def by_name(report: health.HealthReport) -> dict[str, health.Check]:
    return {c.name: c for c in report.checks}


def test_a_fresh_database_is_healthy_but_for_archiving(db: Target) -> None:
    report = health.collect(db)
    checks = by_name(report)
    assert set(checks) >= {"connections", "cache_hit_ratio", "running_queries",
                           "statement_time", "long_transactions", "idle_in_transaction",
                           "lock_waits", "replication", "wraparound", "invalid_indexes",
                           "wal_archiving", "bloat", "partitions"}
    assert checks["wal_archiving"].status == health.WARNING  # the design asks for it
    assert checks["statement_time"].status == health.UNKNOWN  # extension not installed
    assert report.status == health.WARNING
    assert health.collect(db, QUIET).status == health.OK


def test_cli_exit_status_and_json(db: Target, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    warned = run("health", "--json", "--dsn", db.conninfo)
    assert warned.exit_code == 2
    doc = json.loads(warned.stdout)
    assert doc["status"] == "warning" and "statement_time" in doc["skipped"]
    assert {"name", "status", "value", "threshold", "hint", "details"} <= set(doc["checks"][0])
    (tmp_path / "watoto-schema.toml").write_text("[health]\narchive_required = false\n")
    monkeypatch.chdir(tmp_path)
    assert run("health", "--dsn", db.conninfo).exit_code == 0
    (tmp_path / "watoto-schema.toml").write_text("[health]\nconnection_warning = 0.5\n")
    assert "unknown threshold" in assert_one_line_error(run("health", "--dsn", db.conninfo))
    (tmp_path / "watoto-schema.toml").write_text("[health]\ncache_min_reads = 'many'\n")
    assert "must be a int" in assert_one_line_error(run("health", "--dsn", db.conninfo))


def _until(check: Any, seconds: float = 20) -> Any:
    """Poll ``check()`` until it returns something true (a loaded machine is slow)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_transactions_idle_sessions_and_lock_waits(db: Target, connect_to: Any) -> None:
    holder = connect_to(application_name="holder")
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE courses IN ACCESS EXCLUSIVE MODE")  # and now idle in it
    waiter = connect_to(application_name="waiter")
    thread = threading.Thread(target=lambda: waiter.execute("SELECT count(*) FROM courses"))
    thread.start()
    th = health.Thresholds(archive_required=False, transaction_warning=1.0,
                           idle_in_transaction_warning=1.0, lock_wait_warning=1.0)
    names = ("long_transactions", "idle_in_transaction", "lock_waits")

    def all_warn() -> dict[str, health.Check] | None:
        checks = by_name(health.collect(db, th))
        return checks if all(checks[n].status == health.WARNING for n in names) else None

    checks = _until(all_warn)
    assert checks, "the three checks never all warned"
    assert checks["idle_in_transaction"].details[0]["application"] == "holder"
    assert checks["lock_waits"].details[0]["application"] == "waiter"
    holder.execute("ROLLBACK")
    thread.join()
    assert health.collect(db, th).status == health.OK


def test_a_statement_running_long(db: Target, connect_to: Any) -> None:
    slow = connect_to(application_name="slow-report")

    def sleep() -> None:
        with contextlib.suppress(psycopg.errors.QueryCanceled):  # cancelled below
            slow.execute("SELECT pg_sleep(30)")

    thread = threading.Thread(target=sleep)
    thread.start()
    th = health.Thresholds(archive_required=False, running_query_warning=0.5)

    def warned() -> health.Check | None:
        check = by_name(health.collect(db, th))["running_queries"]
        return check if check.status == health.WARNING else None

    check = _until(warned)
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_cancel_backend(%s)", (slow.info.backend_pid,))
    thread.join()
    assert check is not None
    assert check.details[0]["application"] == "slow-report"
    assert "pg_sleep" in check.details[0]["query"]


def test_pg_stat_statements_not_loaded_says_what_to_do(db: Target, db_conn: Any) -> None:
    db_conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    check = by_name(health.collect(db, QUIET))["statement_time"]
    assert check.status == health.UNKNOWN
    assert "shared_preload_libraries" in check.hint


def test_invalid_index_wraparound_and_partitions(db: Target, db_conn: Any) -> None:
    db_conn.execute("CREATE TABLE dupes (n int)")
    db_conn.execute("INSERT INTO dupes VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db_conn.execute("CREATE UNIQUE INDEX CONCURRENTLY dupes_n ON dupes (n)")
    for name in ("enrollments_2028", "enrollments_2027"):
        db_conn.execute(sql.SQL("ALTER TABLE enrollments DETACH PARTITION {}").format(
            sql.Identifier(name)))
    th = health.Thresholds(archive_required=False, wraparound_warning=1,
                           runway_warning_days=400)
    checks = by_name(health.collect(db, th))
    assert checks["invalid_indexes"].status == health.WARNING
    assert checks["invalid_indexes"].details[0]["index"] == "dupes_n"
    assert checks["wraparound"].status == health.WARNING
    assert checks["partitions"].status == health.WARNING
    [enrollments] = [d for d in checks["partitions"].details if d["table"] == "enrollments"]
    assert any("premake horizon" in w for w in enrollments["warnings"])


def test_prometheus_text_and_textfile(db: Target, tmp_path: Path) -> None:
    result = run("health", "--format", "prometheus", "--dsn", db.conninfo)
    assert result.exit_code == 2  # archiving off: a warning
    families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
    status = {s.labels["check"]: s.value for s in families["watoto_check_status"].samples}
    assert status["wal_archiving"] == 1 and status["connections"] == 0
    assert "watoto_connections_usable" in families
    assert "watoto_partition_runway_days" in families

    out = tmp_path / "watoto.prom"
    assert run("health", "--format", "prometheus", "--output", str(out), "--dsn",
               db.conninfo).exit_code == 2
    assert "watoto_check_status" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watoto.prom"]  # no temp left
    misuse = run("health", "--output", str(out), "--dsn", db.conninfo)  # a usage error
    assert misuse.exit_code == 1 and "needs --format prometheus" in misuse.stderr


def test_nagios_speaks_its_own_codes(db: Target) -> None:
    result = run("health", "--nagios", "--dsn", db.conninfo)
    assert result.exit_code == 1  # WARNING
    assert result.stdout.startswith("WATOTO WARNING - wal_archiving warning")
    assert "| connections_used=" in result.stdout and result.stdout.count("\n") == 1
    ok_line, ok_code = nagios_line(health.collect(db, QUIET))
    assert ok_code == 0 and ok_line.startswith("WATOTO OK")
    down = run("health", "--nagios", "--dsn", "postgresql://x@127.0.0.1:1/none")
    assert down.exit_code == 3 and down.stdout.startswith("WATOTO UNKNOWN - cannot connect")


def serve(produce: Any, port: int, address: str) -> tuple[Any, Any, ScrapeCollector]:
    """health serve's server: /metrics beside the dashboard's pages."""
    target = Target("postgresql://x@127.0.0.1:1/none", "tests")
    metrics, collector = exposition(produce)
    endpoint = Endpoint(Dashboard(target, Options()), Renderer(target.display, refresh=10,
                                                               slow_every=300),
                        metrics=metrics)
    server, thread = start(endpoint, address, port)
    return server, thread, collector


def test_serve_answers_scrapes_without_piling_them_up(db: Target) -> None:
    port = free_port()
    server, _thread, collector = serve(lambda: health.collect(db, QUIET), port, "127.0.0.1")
    try:
        bodies: list[str] = []

        def scrape() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                bodies.append(r.read().decode())

        scrapers = [threading.Thread(target=scrape) for _ in range(6)]
        for t in scrapers:
            t.start()
        for t in scrapers:
            t.join()
        assert len(bodies) == 6 and all("watoto_up 1.0" in b for b in bodies)
        assert collector.collections < 6  # concurrent scrapes shared collections
        time.sleep(1.1)
        scrape()
        assert collector.collections >= 2  # a later scrape collects afresh
    finally:
        server.shutdown()
        server.server_close()


def test_serve_reports_an_unreachable_database_as_down() -> None:
    port = free_port()
    target = Target("postgresql://x@127.0.0.1:1/none?connect_timeout=2", "tests")
    server, _thread, _ = serve(lambda: health.collect(target), port, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            assert "watoto_up 0.0" in r.read().decode()
    finally:
        server.shutdown()
        server.server_close()


def test_a_pg_monitor_role_gets_every_check_it_may_see(db: Target, db_conn: Any,
                                                       pg_server: Any) -> None:
    with pg_server.admin() as admin:
        admin.execute("CREATE ROLE watoto_monitor LOGIN IN ROLE pg_monitor")
    try:
        monitor = Target(psycopg.conninfo.make_conninfo(db.conninfo, user="watoto_monitor"),
                         "tests")
        checks = by_name(health.collect(monitor, QUIET))
        assert checks["connections"].status == health.OK
        assert checks["replication"].status == health.OK
        skipped = [c for c in checks.values() if c.status == health.UNKNOWN]
        assert {c.name for c in skipped} <= {"statement_time", "partitions"}
        assert "permission denied" in checks["partitions"].value  # counting DEFAULT rows
    finally:
        with pg_server.admin() as admin:
            admin.execute("DROP ROLE watoto_monitor")


# -- a standby (the primary_and_standby fixture is in conftest) --------------------------------

def _wait(predicate: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.2)


def test_replication_seen_from_both_ends(
        primary_and_standby: tuple[Target, Target, LocalCluster]) -> None:
    primary, standby, _ = primary_and_standby

    def streaming() -> bool:
        return by_name(health.collect(standby, QUIET))["replication"].status == health.OK

    _wait(streaming)
    on_primary = by_name(health.collect(primary, QUIET))["replication"]
    assert on_primary.status == health.OK and len(on_primary.details) == 1
    assert any(m.name == "replication_lag_bytes" for m in on_primary.metrics)
    expecting_two = health.Thresholds(archive_required=False, expected_standbys=2)
    assert by_name(health.collect(primary, expecting_two))["replication"].status == \
        health.CRITICAL

    time.sleep(1.5)  # an idle primary: the last replayed transaction only grows old
    idle = by_name(health.collect(standby, QUIET))["replication"]
    assert idle.status == health.OK and "0 B to replay" in idle.value


def test_a_broken_stream_is_critical_on_the_standby(
        primary_and_standby: tuple[Target, Target, LocalCluster]) -> None:
    primary, standby, cluster = primary_and_standby
    cluster.stop()  # the primary goes away: nothing to replay, but nothing arrives either
    try:
        def broken() -> bool:
            return by_name(health.collect(standby, QUIET))["replication"].status == \
                health.CRITICAL

        _wait(broken)
        check = by_name(health.collect(standby, QUIET))["replication"]
        assert check.status == health.CRITICAL and "stream" in check.hint
    finally:
        cluster.start(dbname="postgres")


@contextlib.contextmanager
def cluster_with(prefix: str, **settings: str) -> Iterator[Target]:
    """A throwaway cluster restarted with ``settings`` (ALTER SYSTEM)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root / "cluster", fsync=False)
    cluster.start(dbname="postgres")
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name),
                                                                   sql.Literal(value)))
    cluster.stop()
    cluster.start(dbname="postgres")
    try:
        yield Target(cluster.url("postgres"), "tests")
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def preloaded() -> Iterator[Target]:
    """A throwaway cluster with pg_stat_statements in shared_preload_libraries."""
    with cluster_with("watoto-health-pss-",
                      shared_preload_libraries="pg_stat_statements") as target:
        yield target


def test_the_slowest_statements_by_mean_and_total(preloaded: Target) -> None:
    with psycopg.connect(preloaded.conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT pg_sleep(0.3)")
        for _ in range(50):
            conn.execute("SELECT count(*) FROM pg_class")
    th = health.Thresholds(archive_required=False, statement_mean_warning=0.2)
    check = by_name(health.collect(preloaded, th))["statement_time"]
    assert check.status == health.WARNING
    slowest = [d for d in check.details if d["rank"] == "mean"][0]
    assert "pg_sleep" in slowest["query"] and slowest["mean_ms"] >= 300
    assert any(d["rank"] == "total" and d["calls"] == 50 for d in check.details)
    assert any(m.name == "statement_mean_seconds" for m in check.metrics)


def test_bloat_is_flagged(db: Target, db_conn: Any) -> None:
    db_conn.execute("CREATE TABLE bloat_demo (id int PRIMARY KEY, note text) "
                    "WITH (autovacuum_enabled = false)")
    db_conn.execute("INSERT INTO bloat_demo SELECT g, repeat('x', 60) "
                    "FROM generate_series(1, 60000) g")
    db_conn.execute("DELETE FROM bloat_demo WHERE id % 10 <> 0")
    db_conn.execute("VACUUM ANALYZE bloat_demo")  # the space is free but not returned
    th = health.Thresholds(archive_required=False, bloat_min_bytes=256 * 1024)
    check = by_name(health.collect(db, th))["bloat"]
    assert check.status == health.WARNING
    assert any(d["relation"].endswith("bloat_demo") for d in check.details), check.details


@pytest.fixture(scope="module")
def failing_archive() -> Iterator[Target]:
    """A throwaway cluster whose archive_command always fails."""
    with cluster_with("watoto-health-arch-", archive_mode="on",
                      archive_command="/bin/false") as target:
        yield target


def test_failing_wal_archiving_is_critical(failing_archive: Target) -> None:
    with psycopg.connect(failing_archive.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
        conn.execute("SELECT pg_switch_wal()")

    def critical() -> health.Check | None:
        check = by_name(health.collect(failing_archive))["wal_archiving"]
        return check if check.status == health.CRITICAL else None

    check = _until(critical, 30)
    assert check is not None and "failing" in check.value
    assert "pg_wal grows" in check.hint
