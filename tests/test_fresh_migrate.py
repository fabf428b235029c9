"""A fresh `migrate` at the speed of psql (#22): what it imports, what it reads without a
parser, how it prints and how many round trips premaking the partitions takes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema import concurrent, sources
from watoto_schema.cli.output import _plain
from watoto_schema.partitions import ensure
from watoto_schema.partitions.render import _template
from watoto_schema.resources import data_dir, migrations_dir
from watoto_schema.target import Target

HEADS = [
    "CREATE INDEX CONCURRENTLY idx_a ON courses (grade, category)",
    "create unique index concurrently if not exists \"Idx B\" on only public.\"Courses\" (a)",
    "CREATE INDEX ON courses USING gin (search_vector)",
    "CREATE INDEX CONCURRENTLY idx_c ON s.t USING btree (a) WHERE a > 0",
    "-- a comment first\nCREATE INDEX idx_d ON t(a)",
    "CREATE INDEX if ON t (a)",
    "ALTER TABLE courses ADD COLUMN x int",
    "ALTER INDEX p_idx ATTACH PARTITION c_idx",
    "DROP INDEX CONCURRENTLY IF EXISTS idx_a",
    "DROP TABLE t",
    "REINDEX INDEX CONCURRENTLY idx_a",
    "CREATE TABLE t (a int)",
    "INSERT INTO t VALUES (1)",
    "CREATE INDEX /* odd */ idx_e ON t (a)",
]


def shipped_statements() -> list[str]:
    return [s for m in sources.read([migrations_dir()]) if not m.transactional
            for s in m.statements]


@pytest.mark.parametrize("statement", HEADS + shipped_statements())
def test_the_head_of_a_statement_says_what_pglast_says(statement: str) -> None:
    """Read without pglast, a statement is what pglast makes of it, or pglast decides."""
    light = concurrent._light(statement)
    node = concurrent._parse(statement)
    kind = type(node).__name__
    if isinstance(light, concurrent._Plain):
        assert kind not in ("IndexStmt", "ReindexStmt") and not (
            kind == "DropStmt" and node.concurrent) and not (
            kind == "AlterTableStmt" and concurrent._is_index_attach(node))
    elif light is not None:
        assert kind == "IndexStmt"
        assert (light.concurrent, light.idxname, light.relation.schemaname,
                light.relation.relname, light.relation.inh) == (
            node.concurrent, node.idxname, node.relation.schemaname, node.relation.relname,
            node.relation.inh)


def test_the_shipped_statements_need_no_parser() -> None:
    assert all(concurrent._light(s) is not None for s in shipped_statements())


def test_a_fresh_migrate_imports_no_parser_templates_or_rich(empty_db: Target,
                                                             tmp_path: Path) -> None:
    """The release record's verdicts, plain lines and one-line templates: no pglast, no
    jinja2, no rich, no cache layer, no online engine."""
    script = (
        "import sys\n"
        "from watoto_schema.cli import main\n"
        "try:\n"
        f"    main(['--dsn', {empty_db.conninfo!r}, 'migrate'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "loaded = {m.split('.')[0] for m in sys.modules} | set(sys.modules)\n"
        "print(sorted(m for m in ('pglast', 'jinja2', 'rich', 'watoto_schema.cache', "
        "'watoto_schema.migrate.online', 'watoto_schema.lint.rules') if m in loaded))\n")
    env = {**os.environ, "WATOTO_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("WATOTO_REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, check=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr
    assert "migration(s) applied" in done.stdout


def test_the_one_line_templates_are_filled_in_as_jinja2_would() -> None:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    folder = data_dir("sql") / "templates" / "partitions"
    env = Environment(loader=FileSystemLoader(folder), undefined=StrictUndefined,
                      keep_trailing_newline=True)
    values: dict[str, Any] = {
        "parent": '"enrollments"', "partition": '"enrollments_2030"', "modulus": 4,
        "remainder": 1, "lower": "'2030-01-01'", "upper": "'2031-01-01'",
        "bound": "FOR VALUES FROM ('2030-01-01') TO ('2031-01-01')"}
    for path in sorted(folder.iterdir()):
        assert _template(path.name, **values) == \
            env.get_template(path.name).render(**values).strip()
    with pytest.raises(KeyError):
        _template("attach.sql.j2", parent="p")


def test_plain_lines_are_those_rich_prints_as_they_are() -> None:
    from rich.console import Console

    for text in ["applied 0001_schema_migrations", "9 migration(s) applied in 0.37s",
                 "premade 1 partition(s) up to the policy's horizon: enrollments_2028",
                 "[green]x[/green]", "a :smile: b", "tab\there", "üñí code ü"]:
        console = Console(highlight=False, soft_wrap=True, width=132, record=True,
                          file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(text)
        printed = console.export_text()
        console.file.close()
        if _plain(text):
            assert printed == text + "\n"


def test_premaking_takes_a_round_trip_per_partition(empty_db: Target,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from watoto_schema.migrate.pipeline import MigrateSettings
    from watoto_schema.migrate.pipeline import run as run_migrate

    run_migrate(empty_db, MigrateSettings(premake=False, known_verdicts=False))
    calls: list[str] = []
    original = psycopg.Connection.execute

    def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(query)[:60])
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", counting)
    run = ensure(empty_db)
    made = [a for a in run.actions if a.what == "create"]
    analyzed = [a for a in run.actions if a.what == "analyze"]
    assert made and analyzed
    # the state (pipelined: one round trip), one script per partition, the ANALYZEs at once
    assert len(calls) == 3 + len(made) + 1, calls
    assert ensure(empty_db).actions == []  # idempotent
