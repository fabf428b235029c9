"""Issue #10 figures: `watoto-schema testdb` (template + clones) and its pytest plugin against
what one would do without them, each measured in the same run on one throwaway server.

1. 20 clones with `testdb provision --count 20` (whole process) of a warm template, against
   a raw loop of 20 `CREATE DATABASE .. TEMPLATE` in one psql session. Target <= 1.3x.
2. A cold `testdb provision --count 1` (it builds the template), against `createdb` +
   `watoto-schema migrate` of an empty database (whole processes). Target <= 1.3x.
3. A 50-test pytest run on the plugin's `watoto_db`, against the same tests each migrating
   their own database, and against pytest-postgresql's `postgresql_noproc` + `postgresql`
   loading the same schema (installed into this venv at run time if missing). Ours must be
   the fastest.
4. WAL_LOG vs FILE_COPY clone times for the empty template and a 5,000-student one.

    make bench            # or: .venv/bin/python bench/provision_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from common import BIN, cluster, median_ms, row, timed
from psycopg import sql

from watoto_schema.local import LocalCluster

CLI = str(BIN / "watoto-schema")
CLONES = 20
TESTS = 50


def run_json(cmd: Sequence[str]) -> tuple[float, dict[str, Any]]:
    """Wall-clock seconds of one whole process and its JSON document."""
    started = time.perf_counter()
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd[3:])}: "
                         f"{proc.stderr.strip()[-400:]}")
    return elapsed, json.loads(proc.stdout)


def provision(url: str, *args: str) -> tuple[float, dict[str, Any]]:
    return run_json([CLI, "--dsn", url, "--json", "testdb", "provision", *args])


def drop_databases(url: str, like: str) -> None:
    """Drop every database whose name matches ``like`` (untimed clean-up between rounds)."""
    with psycopg.connect(url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s AND NOT datistemplate",
            (like,)).fetchall()]
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def drop_templates(url: str) -> None:
    """Drop every sealed template with `testdb drop` (untimed), so the next build is cold."""
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datistemplate "
            "AND datname LIKE 'watoto\\_tpl\\_%'").fetchall()]
    if names:
        timed([CLI, "--dsn", url, "testdb", "drop", *names])


def checkpoint(url: str) -> None:
    """Start each timed step from clean buffers, so one step does not pay for the last."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


# -- 1. warm clones --------------------------------------------------------------------------

def template_label(url: str, template: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                             "WHERE datname = %s", (template,)).fetchone()
    return json.loads(found[0]) if found and found[0] else {}


def warm_clones(pg: LocalCluster, psql: str, rounds: int) -> None:
    url = pg.url("postgres")
    # Build the template and let its first three clones time both strategies (what any
    # earlier CI job on this server would have done), so the timed runs see it warm.
    _, doc = provision(url, "--count", "3", "--prefix", "bench_warmup")
    template = doc["template"]
    drop_databases(url, "bench_warmup_%")
    label = template_label(url, template)
    chosen = label.get("strategy")
    script = Path(tempfile.mkdtemp(prefix="watoto-bench-sql-")) / "clones.sql"
    try:
        _warm_rounds(url, psql, rounds, template, chosen, label, script)
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)


def _warm_rounds(url: str, psql: str, rounds: int, template: str, chosen: str | None,
                 label: dict[str, Any], script: Path) -> None:
    # The plain raw loop (server default strategy, WAL_LOG on 15+), and the same loop
    # with the strategy testdb chose, which separates the tool's own cost from its choice.
    raws = {"raw": ""} | ({"raw_same": f" STRATEGY {chosen}"} if chosen and chosen != "wal_log"
                                   else {})
    times: dict[str, list[float]] = {"ours": []} | {k: [] for k in raws}
    per_clone, outside, strategies = [], [], set()
    for i in range(rounds):
        order = list(times)
        for variant in order if i % 2 == 0 else order[::-1]:
            checkpoint(url)
            if variant == "ours":
                seconds, doc = provision(url, "--count", str(CLONES), "--prefix", f"bench_ours_{i}")
                times[variant].append(seconds)
                clone_ms = [c["milliseconds"] for c in doc["databases"]]
                per_clone.extend(clone_ms)
                outside.append(seconds * 1000 - sum(clone_ms))
                strategies.update(c["strategy"] for c in doc["databases"])
            else:
                script.write_text("".join(
                    f'CREATE DATABASE bench_{variant}_{i}_{n} TEMPLATE "{template}"'
                    f"{raws[variant]};\n" for n in range(1, CLONES + 1)))
                times[variant].append(timed([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                                             str(script), url]))
        drop_databases(url, "bench_ours_%")
        drop_databases(url, "bench_raw_%")
    reference = median_ms(times["raw"])
    print(f"1. {CLONES} clones of a warm template ({template}), median of {rounds} rounds "
          "(ratio against the raw loop)")
    print(row(f"psql -f: {CLONES} x CREATE DATABASE .. TEMPLATE", reference, reference,
              "reference (server default: WAL_LOG)"))
    print(row(f"testdb provision --count {CLONES}", median_ms(times["ours"]), reference,
              "target <= 1.30x"))
    if "raw_same" in times:
        print(row(f"psql -f: the same with STRATEGY {chosen}", median_ms(times["raw_same"]),
                  reference, "what testdb's choice costs by itself"))
    print(f"  per clone as the JSON reports it: median {statistics.median(per_clone):.1f} ms "
          f"(min {min(per_clone):.1f}, max {max(per_clone):.1f}); outside CREATE DATABASE "
          f"(start-up, key, labels): {statistics.median(outside):.0f} ms per run")
    print(f"  strategy chosen: {', '.join(sorted(strategies))} (from the template's first three "
          f"clones: {json.dumps(label.get('clone_ms'))})")


# -- 2. cold provision -----------------------------------------------------------------------

def cold_provision(pg: LocalCluster, createdb: str, rounds: int) -> None:
    url = pg.url("postgres")
    state = pg._state()
    assert state is not None
    ours, reference, builds = [], [], []
    for i in range(rounds):
        for first in ("ours", "ref") if i % 2 == 0 else ("ref", "ours"):
            if first == "ours":
                drop_templates(url)
                checkpoint(url)
                seconds, doc = provision(url, "--count", "1", "--prefix", f"bench_cold_{i}")
                if not doc["template_built"]:
                    raise SystemExit("the cold provision found a template: it was not cold")
                ours.append(seconds)
                builds.append(doc["seconds"])
            else:
                checkpoint(url)
                name = f"bench_plain_{i}"
                seconds = timed([createdb, "-h", state.socket_dir, "-p", str(state.port),
                                 "-U", "postgres", name])
                seconds += timed([CLI, "--dsn", pg.url(name), "migrate"])
                reference.append(seconds)
        drop_databases(url, "bench_cold_%")
        drop_databases(url, "bench_plain_%")
    ref_ms = median_ms(reference)
    print(f"2. a cold provision (no template yet), median of {rounds} rounds (ratio against "
          "createdb + migrate)")
    print(row("createdb + watoto-schema migrate", ref_ms, ref_ms, "reference"))
    print(row("testdb provision --count 1 (builds it)", median_ms(ours), ref_ms,
              "target <= 1.30x"))
    print(f"  of which the library reports {statistics.median(builds) * 1000:.0f} ms "
          "(build, seal, first clone)")


# -- 3. a 50-test pytest run -----------------------------------------------------------------

TEST_BODY = '''

@pytest.mark.parametrize("n", range({tests}))
def test_uses_the_schema(n, {fixture}):
    conn = {conn}
    assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
'''

CONFTESTS = {
    "watoto": ("watoto_conn", "watoto_conn", ""),
    "own": ("own_conn", "own_conn", '''
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from watoto_schema import migrate, partitions
from watoto_schema.target import Target

ADMIN = {admin!r}


@pytest.fixture
def own_conn():
    name = f"bench_own_{{uuid.uuid4().hex[:12]}}"
    ident = sql.Identifier(name)
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {{}}").format(ident))
    target = Target(make_conninfo(ADMIN, dbname=name), "bench")
    migrate.migrate(target)
    partitions.ensure(target)
    with psycopg.connect(target.conninfo) as conn:
        yield conn
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {{}} WITH (FORCE)").format(ident))
'''),
    "pytest-postgresql": ("postgresql", "postgresql", '''
from psycopg.conninfo import make_conninfo
from pytest_postgresql import factories

from watoto_schema import migrate, partitions
from watoto_schema.target import Target


def load_schema(host, port, user, dbname, password, **_):
    """pytest-postgresql's way to load a schema: a callable run once on its template."""
    target = Target(make_conninfo(host=host, port=port, user=user, dbname=dbname,
                                  password=password), "bench")
    migrate.migrate(target)
    partitions.ensure(target)


postgresql_noproc = factories.postgresql_noproc(
    host={host!r}, port={port!r}, user="postgres", dbname="bench_pgpg", load=[load_schema])
postgresql = factories.postgresql("postgresql_noproc")
'''),
}


# pytest-postgresql goes into a folder of its own, put on PYTHONPATH for its run only: in the
# project's venv its pytest plugin would load (and import psycopg) in every pytest run.
PGPG_SITE = Path(tempfile.gettempdir()) / "watoto-bench-pytest-postgresql"


def ensure_pytest_postgresql() -> str:
    """Install pytest-postgresql (and what it needs beyond our venv) into ``PGPG_SITE``."""
    if not (PGPG_SITE / "pytest_postgresql").is_dir():
        print(f"  (installing pytest-postgresql into {PGPG_SITE} for the comparison)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(PGPG_SITE), "pytest-postgresql", "port-for", "mirakuru", "psutil"],
                       check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", "import importlib.metadata as m; "
                          "print(m.version('pytest-postgresql'))"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(PGPG_SITE)})
    return out.stdout.strip()


def write_suite(root: Path, variant: str, pg: LocalCluster) -> Path:
    state = pg._state()
    assert state is not None
    fixture, conn, conftest = CONFTESTS[variant]
    folder = root / variant.replace("-", "_")
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -q -p no:cacheprovider\n")
    (folder / "conftest.py").write_text(conftest.format(
        admin=pg.url("postgres"), host=state.socket_dir, port=state.port))
    (folder / "test_bench.py").write_text(
        "import pytest\n" + TEST_BODY.format(tests=TESTS, fixture=fixture, conn=conn))
    return folder


def run_suite(folder: Path, *args: str) -> float:
    extra = {"PYTHONPATH": str(PGPG_SITE)} if folder.name == "pytest_postgresql" else {}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=folder,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **extra})
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or f"{TESTS} passed" not in proc.stdout:
        raise SystemExit(f"pytest run in {folder.name} failed:\n{proc.stdout[-1500:]}"
                         f"{proc.stderr[-500:]}")
    return elapsed


def plugin_strategy(url: str) -> str:
    """The clone strategy recorded on the schema-only template (after a cold plugin run)."""
    with psycopg.connect(url) as conn:
        for (comment,) in conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datistemplate AND datname LIKE 'watoto\\_tpl\\_%'").fetchall():
            label = json.loads(comment or "{}")
            if label.get("students") == 0:
                return f"{label.get('strategy')} {json.dumps(label.get('clone_ms'))}"
    return "?"


def pytest_runs(pg: LocalCluster, rounds: int) -> None:
    version = ensure_pytest_postgresql()
    root = Path(tempfile.mkdtemp(prefix="watoto-bench-pytest-"))
    try:
        times, chosen = _pytest_rounds(pg, root, rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    _report_pytest(times, chosen, rounds, version)


def _pytest_rounds(pg: LocalCluster, root: Path,
                   rounds: int) -> tuple[dict[str, list[float]], list[str]]:
    url = pg.url("postgres")
    folders = {variant: write_suite(root, variant, pg) for variant in CONFTESTS}
    dsn = ["--watoto-dsn", url]
    times: dict[str, list[float]] = {"cold": [], "warm": [], "own": [], "pytest-postgresql": []}
    chosen: list[str] = []
    for i in range(rounds):
        order = ["cold", "warm", "pytest-postgresql", "own"]
        for variant in order if i % 2 == 0 else order[::-1]:
            checkpoint(url)
            if variant == "cold":  # no template on the server, as in a fresh CI job
                drop_templates(url)
                checkpoint(url)
                times[variant].append(run_suite(folders["watoto"], *dsn))
                chosen.append(plugin_strategy(url))
            elif variant == "warm":  # the template is there from an earlier run
                provision(url, "--count", "1", "--prefix", "bench_tpl")
                drop_databases(url, "bench_tpl_%")
                checkpoint(url)
                times[variant].append(run_suite(folders["watoto"], *dsn))
            else:
                times[variant].append(run_suite(folders[variant]))
    return times, chosen


def _report_pytest(times: dict[str, list[float]], chosen: list[str], rounds: int,
                   version: str) -> None:
    own = median_ms(times["own"])
    pgpg = median_ms(times["pytest-postgresql"])
    cold, warm = median_ms(times["cold"]), median_ms(times["warm"])
    print(f"3. pytest, {TESTS} tests each with a fresh migrated database, whole run, median of "
          f"{rounds} rounds (ratio against each test migrating its own database)")
    print(row("own fixture: createdb + migrate + drop", own, own, "reference"))
    print(row(f"pytest-postgresql {version} (template/session)", pgpg, own))
    print(row("watoto_db, template built by the run", cold, own, "as in a fresh CI job"))
    print(row("watoto_db, template already there", warm, own, "as on a developer's machine"))
    print(f"  watoto_db / own migrate: {cold / own:.2f}x cold, {warm / own:.2f}x warm; "
          f"watoto_db / pytest-postgresql: {cold / pgpg:.2f}x cold, {warm / pgpg:.2f}x warm")
    print(f"  strategy the plugin's runs settled on, by round: {', '.join(chosen)}")
    for case, ours in (("cold", cold), ("warm", warm)):
        others = min(pgpg, own)
        verdict = "the fastest" if ours <= others else "NOT the fastest"
        print(f"  watoto_db {case}: {verdict} ({ours:.0f} ms; best other {others:.0f} ms, "
              f"{ours / others:.2f}x)")


# -- 4. clone strategies ---------------------------------------------------------------------

def strategies(pg: LocalCluster, rounds: int) -> None:
    url = pg.url("postgres")
    samples = max(3, rounds)
    print(f"4. clone time by strategy (CREATE DATABASE as the JSON reports it), median of "
          f"{samples} clones each (ratio against WAL_LOG)")
    for students in (0, 5000):
        _, doc = provision(url, "--count", "1", "--students", str(students), "--prefix",
                           "bench_strategy_build")
        template = doc["template"]
        with psycopg.connect(url) as conn:
            size = conn.execute("SELECT pg_database_size(%s)", (template,)).fetchone()
        assert size is not None
        times: dict[str, list[float]] = {"wal_log": [], "file_copy": []}
        for i in range(samples):
            for strategy in ("wal_log", "file_copy") if i % 2 == 0 else ("file_copy", "wal_log"):
                checkpoint(url)
                _, doc = provision(url, "--count", "1", "--students", str(students),
                                   "--strategy", strategy, "--prefix",
                                   f"bench_strategy_{strategy}_{i}")
                times[strategy].append(doc["databases"][0]["milliseconds"])
        drop_databases(url, "bench_strategy_%")
        wal = statistics.median(times["wal_log"])
        label = f"{students:,} students ({size[0] / 1e6:.1f} MB)" if students else \
            f"empty schema ({size[0] / 1e6:.1f} MB)"
        print(row(f"{label}: WAL_LOG", wal, wal, "reference"))
        print(row(f"{label}: FILE_COPY", statistics.median(times["file_copy"]), wal))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pytest-rounds", type=int, default=None,
                        help="rounds of figure 3, the slow one (default: half of --rounds, "
                        "at least 1)")
    args = parser.parse_args()
    rounds = args.rounds
    pytest_rounds = args.pytest_rounds or max(1, rounds // 2)
    with cluster() as pg:
        state = pg._state()
        assert state is not None
        psql = str(Path(state.bindir) / "psql")
        createdb = str(Path(state.bindir) / "createdb")
        warm_clones(pg, psql, rounds)
        cold_provision(pg, createdb, rounds)
        pytest_runs(pg, pytest_rounds)
        strategies(pg, rounds)


if __name__ == "__main__":
    main()
