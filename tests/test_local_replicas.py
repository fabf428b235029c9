"""`local start --replicas N` and `--ha`: a primary with streaming standbys, and a real
pg_auto_failover formation failing over in the middle of `migrate`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from .test_cli import assert_one_line_error, run

needs_autoctl = pytest.mark.skipif(
    shutil.which("pg_autoctl") is None,
    reason="pg_auto_failover not installed (.ci/run installs postgresql-15-auto-failover)")


def _status(*extra: str) -> dict[str, object]:
    result = run("--json", "local", "status", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _nodes(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    return {n["name"]: n for n in doc["nodes"]}  # type: ignore[attr-defined,index]


def _migrations(workdir: Path, name: str, body: str) -> str:
    folder = workdir / "more"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.sql").write_text(body)
    return str(folder)


def test_a_primary_with_two_streaming_standbys(workdir: Path) -> None:
    assert "0<=x<=3" in assert_one_line_error(run("local", "start", "--replicas", "9"))
    assert not (workdir / ".watoto").exists()  # refused before anything was made

    started = run("--json", "local", "start", "--replicas", "2")
    assert started.exit_code == 0, started.output
    doc = json.loads(started.stdout)
    nodes = _nodes(doc)
    assert doc["mode"] == "replicas" and list(nodes) == ["primary", "replica1", "replica2"]
    assert nodes["primary"]["role"] == "primary"
    assert all(nodes[n]["role"] == "standby" for n in ("replica1", "replica2"))

    writer = run("local", "url").stdout.strip()
    readers = run("local", "url", "--readers").stdout.strip()
    assert "target_session_attrs=read-write" in writer
    assert "target_session_attrs=prefer-standby" in readers
    with psycopg.connect(writer) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    with psycopg.connect(readers) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)

    migrated = run("--local", "migrate", "--wait-replicas")
    assert migrated.exit_code == 0, migrated.output
    assert "replayed by 2 standby(s)" in migrated.stderr
    with psycopg.connect(readers) as conn:  # at once: migrate waited for both
        assert conn.execute("SELECT to_regclass('users') IS NOT NULL").fetchone() == (True,)
    nodes = _nodes(_status())
    assert all(nodes[n]["state"] == "streaming" and nodes[n]["lag_bytes"] is not None
               for n in ("replica1", "replica2"))
    assert run("--local", "drift", "--all-nodes").exit_code == 0

    # Every writing command reaches the primary through --local; a standby is refused.
    standby_url = f"postgresql://postgres@/watoto?host={nodes['replica1']['host']}" \
                  f"&port={nodes['replica1']['port']}"
    assert "read-only standby" in assert_one_line_error(
        run("--dsn", standby_url, "migrate"), code=3)

    assert "--ha" in assert_one_line_error(run("local", "switchover"), code=3)
    assert "killed replica2" in run("local", "kill", "replica2").stdout
    assert _nodes(_status())["replica2"]["role"] == "down"

    # A standby that is down keeps its slot: --wait-replicas waits for it, then refuses.
    folder = _migrations(workdir, "1001_notes",
                         "-- depends: 0007_views\nCREATE TABLE notes (id bigint PRIMARY KEY);")
    line = assert_one_line_error(run("--local", "--migrations", folder, "migrate",
                                     "--wait-replicas=1s"), code=3)
    assert "watoto_replica2" in line and "not connected" in line
    assert json.loads(run("--local", "--migrations", folder, "--json", "status").stdout
                      )["pending"] == 0  # applied and kept

    shrunk = run("--json", "local", "start", "--replicas", "1")
    assert shrunk.exit_code == 0, shrunk.output
    assert list(_nodes(json.loads(shrunk.stdout))) == ["primary", "replica1"]
    assert not (workdir / ".watoto" / "replica2").exists()
    with psycopg.connect(run("local", "url").stdout.strip()) as conn:
        slots = [r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots")]
    assert slots == ["watoto_replica1"]

    assert _status() and json.loads(run("--json", "local", "stop").stdout)["running"] is False
    restarted = json.loads(run("--json", "local", "start").stdout)
    assert restarted["running"] and _nodes(restarted)["replica1"]["role"] == "standby"


def _cli() -> str:
    return str(Path(sys.executable).parent / "watoto-schema")


def _wait_writable(url: str, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return int(conn.info.port)
        except psycopg.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@needs_autoctl
def test_a_failover_in_the_middle_of_migrate(workdir: Path) -> None:
    started = run("--json", "local", "start", "--ha", "--detection", "fast")
    assert started.exit_code == 0, started.output
    doc = json.loads(started.stdout)
    nodes = _nodes(doc)
    assert doc["mode"] == "ha" and nodes["node1"]["role"] == "primary"
    assert nodes["node2"]["role"] == "standby" and nodes["monitor"]["role"] == "monitor"
    assert run("--local", "migrate").exit_code == 0
    writer = run("local", "url").stdout.strip()
    old_port = _wait_writable(writer)

    # 1001 commits; 1002 sleeps inside its transaction while the marker has a row.
    folder = _migrations(workdir, "1001_notes",
                         "-- depends: 0007_views\nCREATE TABLE notes (id bigint PRIMARY KEY);")
    _migrations(workdir, "1002_slow", "-- depends: 1001_notes\n"
                "CREATE TABLE slow_notes (id bigint PRIMARY KEY);\n"
                "SELECT pg_sleep(60) FROM failover_marker;")
    with psycopg.connect(writer, autocommit=True) as conn:
        conn.execute("CREATE TABLE failover_marker AS SELECT 1 AS x")
    proc = subprocess.Popen([_cli(), "--local", "--migrations", folder, "migrate"],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(writer, autocommit=True) as conn:
            while not conn.execute("SELECT 1 FROM pg_stat_activity WHERE query LIKE "
                                   "'%pg_sleep(60)%' AND pid <> pg_backend_pid()").fetchone():
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.1)
        assert run("local", "kill", "node1").exit_code == 0
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "connection to the server was lost while applying 1002_slow" in lines[0]

    new_port = _wait_writable(writer)  # pg_auto_failover promoted node2
    assert new_port != old_port
    with psycopg.connect(writer, autocommit=True) as conn:
        conn.execute("DELETE FROM failover_marker")  # 1002 runs at once now
    rerun = subprocess.run([_cli(), "--local", "--migrations", folder, "--json", "migrate"],
                           cwd=workdir, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["versions"] == ["1002_slow"]  # 1001 survived: not again
    with psycopg.connect(writer) as conn:
        assert conn.info.port == new_port
        assert conn.execute("SELECT version FROM schema_migrations WHERE version LIKE '100%' "
                            "ORDER BY 1").fetchall() == [("1001_notes",), ("1002_slow",)]
        assert conn.execute("SELECT to_regclass('slow_notes') IS NOT NULL").fetchone() == (
            True,)
    status = json.loads(run("--local", "--migrations", folder, "--json", "status").stdout)
    assert status["pending"] == 0 and status["partial"] == 0

    # The drill: the node killed above rejoins first, then the new primary is killed.
    drilled = subprocess.run([_cli(), "--json", "local", "drill", "failover",
                              "--writes-per-second", "20"], cwd=workdir,
                             capture_output=True, text=True, timeout=300)
    logs = "".join(f"\n== {log}\n" + "\n".join(log.read_text().splitlines()[-15:])
                   for log in sorted((workdir / ".watoto").glob("*/pg_autoctl.log")))
    assert drilled.returncode in (0, 2), drilled.stderr + logs
    report = json.loads(drilled.stdout)
    assert report["old_primary"] == "node2" and report["new_primary"] == "node1"
    assert report["recovery_seconds"] is not None and report["acknowledged"] > 0
    assert report["lost"] == []  # synchronous replication (the default) loses nothing
    assert drilled.returncode == 0, drilled.stderr + logs

    # A planned switchover hands the primary back; the writer URL follows it.
    switched = run("--json", "local", "switchover")
    assert switched.exit_code == 0, switched.output
    assert json.loads(switched.stdout)["primary"] == "node2"
    nodes = _nodes(_status())
    assert nodes["node2"]["role"] == "primary" and nodes["node1"]["role"] == "standby"
    assert _wait_writable(writer) == nodes["node2"]["port"]
