"""`drift --all-nodes` (#12): every host of a multi-host DSN against one expected schema; a
standby that is merely behind is reported with its lag, not as drift."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from watoto_schema import drift, migrate
from watoto_schema.local import LocalCluster
from watoto_schema.target import Target

from .test_cli import run


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(drift.CACHE_ENV, str(tmp_path / "drift-cache"))


def multi_host(*targets: Target) -> str:
    params = [conninfo_to_dict(t.conninfo) for t in targets]
    return make_conninfo("", user="postgres", dbname="postgres",
                         host=",".join(str(p["host"]) for p in params),
                         port=",".join(str(p["port"]) for p in params))


def _caught_up(primary: Target, standby: Target) -> None:
    import time

    with psycopg.connect(primary.conninfo) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(standby.conninfo, autocommit=True) as conn:
        for _ in range(300):
            row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                               (lsn,)).fetchone()
            if row and row[0]:
                return
            time.sleep(0.1)
    raise AssertionError("the standby never caught up")


def test_all_nodes_in_sync_then_a_standby_behind_is_not_drift(
        primary_and_standby: tuple[Target, Target, LocalCluster], tmp_path: Path) -> None:
    primary, standby, _ = primary_and_standby
    migrate.migrate(primary)
    _caught_up(primary, standby)
    dsn = multi_host(standby, primary)  # the primary need not come first
    both = run("drift", "--all-nodes", "--json", "--dsn", dsn)
    assert both.exit_code == 0, both.output
    doc = json.loads(both.stdout)
    assert [r["in_sync"] for r in doc["reports"]] == [True, True]

    with psycopg.connect(standby.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        folder = tmp_path / "migrations"
        folder.mkdir()
        (folder / "1001_notes.sql").write_text(
            "-- depends: 0007_views\nCREATE TABLE notes (id bigint PRIMARY KEY);\n")
        migrate.migrate(primary, extra_dirs=[folder])
        behind = run("drift", "--all-nodes", "--json", "--migrations", str(folder),
                     "--dsn", dsn)
        assert behind.exit_code == 0, behind.output  # lag is not drift
        primary_report, standby_report = json.loads(behind.stdout)["reports"]
        assert primary_report["in_sync"]
        assert standby_report["behind_bytes"] > 0 and not standby_report["drifted"]
        assert {"change": "missing", "kind": "table", "name": "public.notes"} in [
            {k: d[k] for k in ("change", "kind", "name")}
            for d in standby_report["differences"]]
        human = run("drift", "--all-nodes", "--migrations", str(folder), "--dsn", dsn)
        assert "replication lag, not drift" in human.stdout
    finally:
        with psycopg.connect(standby.conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    _caught_up(primary, standby)
    again = run("drift", "--all-nodes", "--json", "--migrations", str(folder), "--dsn", dsn)
    assert again.exit_code == 0
    assert all(r["in_sync"] for r in json.loads(again.stdout)["reports"])


def test_all_nodes_needs_one_primary(
        primary_and_standby: tuple[Target, Target, LocalCluster]) -> None:
    _, standby, _ = primary_and_standby
    result = run("drift", "--all-nodes", "--dsn", multi_host(standby))
    assert result.exit_code == 1 and "0 primaries among 1 hosts" in result.stderr
