"""`watoto-schema local ...`: the embedded cluster's whole life, through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from .test_cli import assert_one_line_error, run


def test_local_cluster_lifecycle(workdir: Path) -> None:
    assert json.loads(run("--json", "local", "status").stdout)["initialized"] is False
    assert_one_line_error(run("--local", "status"))  # nothing to connect to yet

    started = run("--json", "local", "start")
    assert started.exit_code == 0, started.output
    info = json.loads(started.stdout)
    assert info["running"] and info["port"] and (workdir / ".watoto" / "pgdata").is_dir()

    url = run("local", "url").stdout.strip()
    assert url == info["url"]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("watoto",)

    migrated = run("--local", "migrate")
    assert migrated.exit_code == 0, migrated.output
    assert json.loads(run("--local", "--json", "status").stdout)["pending"] == 0

    assert run("local", "start").exit_code == 0  # idempotent
    stopped = json.loads(run("--json", "local", "stop").stdout)
    assert stopped["running"] is False
    line = assert_one_line_error(run("--local", "status"))
    assert "stopped" in line and "local start" in line

    restarted = json.loads(run("--json", "local", "start").stdout)
    assert restarted["running"]
    assert json.loads(run("--local", "--json", "status").stdout)["pending"] == 0  # data kept

    assert run("local", "destroy", "--yes").exit_code == 0
    assert not (workdir / ".watoto").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_unreachable_folder_for_the_server_user_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    closed = Path(tempfile.mkdtemp(prefix="watoto-closed-"))  # mode 0700, owned by root
    inner = closed / "project"
    inner.mkdir()
    monkeypatch.chdir(inner)
    try:
        line = assert_one_line_error(run("local", "start"))
        assert "cannot reach" in line and "postgres" in line
    finally:
        shutil.rmtree(closed, ignore_errors=True)
