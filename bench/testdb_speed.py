"""Issue #22 figures ("Test databases in milliseconds"): the pytest plugin's `watoto_conn` and
`watoto_db` against pytest-postgresql's fixtures, on the same tests, in the same run, on one
throwaway server with fsync off (as a test server runs: the plugin's embedded cluster's
settings), with 2 xdist workers and with none (`-n 0`).

The suite: N tests (default 200), each inserting a teacher into `users` (its trigger adds the
`user_email_keys` row) and a course into `courses` of the migrated schema, then reading them
back with a join. Three variants of the same test, each its own temporary pytest project
(the watoto_db one run twice: with the default pool, and with `--watoto-pool-warm` and a
pool of every worker's share of the tests):

* `watoto_conn`: the plugin's connection fixture (`--watoto-dsn` of the server);
* `watoto_db`: the plugin's database fixture, `connect()`, insert, read, close; with
  `--watoto-pool 2` when the plugin accepts it (found in `pytest --help`);
* `pytest-postgresql`: `postgresql_noproc` on the same server, its template loaded the way
  its users do (`load=[<one .sql file>]`: the migrations concatenated), and
  `factories.postgresql`. It is installed beside the venv and put on PYTHONPATH for its own
  runs only (as bench/provision_speed.py does): its pytest11 plugin imports psycopg in every
  pytest run, which the project's plugin must not (tests/test_pytest_plugin.py).

What is measured (each project's conftest records, per xdist worker, the start and end of each
test's setup, call and teardown phases and of each fixture's setup, to a JSONL file):

* wall: the whole `python -m pytest` process;
* first test's wait: the setup phase of a worker's first test, which holds the session's
  set-up (server, template found or built, pool started) and the first hand-out; the
  run's figure is the longest among the workers;
* beyond the session's set-up: per worker, from the end of its first test's setup to the end
  of its last test's teardown (so every test's hand-out, body and give-back, the first
  test's body and the session's tear-down in the last teardown); the run's figure is the
  longest among the workers. Not in it: interpreter start-up, collection, starting the
  workers, and the first test's wait;
* hand-out latency: the setup phase of each test but each worker's first (median and p95
  of all of them, over all rounds); give-back: the teardown phase, but each worker's last;
* session fixtures: the sum of the session-scoped fixtures' own set-up times (exclusive of
  the fixtures they ask for), the longest among the workers.

Targets (the issue): `watoto_conn` beyond the session's set-up <= 1.5 s; `watoto_db` <= 10x
the `watoto_conn` figure; both printed against pytest-postgresql. Round 0 (untimed) runs a
couple of tests of the `watoto_conn` project on a server without a template, once with each
worker count, for the cold first wait (the template built by the run); the timed rounds find
the template there (a developer's machine, a CI job after the first one). When the CLI has a
`testdb take` command its whole-process latency is timed too.

`--plugin-from REV` measures the package of a git revision instead of the venv's (built into
a folder put ahead of the venv on PYTHONPATH for the pytest runs and `testdb take`), e.g.
`--plugin-from f126f69^` for the figures before the rewrite of #22.

    make bench            # or: .venv/bin/python bench/testdb_speed.py [--tests N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from common import BIN, median_ms, row
from provision_speed import PGPG_SITE, drop_templates, ensure_pytest_postgresql
from psycopg import sql

from watoto_schema.local import LocalCluster

PYTHON = str(BIN / "python")
CLI = str(BIN / "watoto-schema")
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
WORKERS = ("2", "0")
TARGET_CONN_MS = 1500.0
POOL = "2"
WARM = "watoto_db, warm pool"
# what is timed -> its project (the warm pool runs the watoto_db project)
RUNS = {"watoto_conn": "watoto_conn", "watoto_db": "watoto_db", WARM: "watoto_db",
        "pytest-postgresql": "pytest-postgresql"}

# -- the temporary pytest projects ------------------------------------------------------------

RECORDER = '''"""Times each test's phases and each fixture's set-up, one JSONL file per process."""
import json
import os
import time

import pytest

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_PATH = os.path.join(os.environ["TESTDB_BENCH_EVENTS"], f"{_WORKER}-{os.getpid()}.jsonl")


def _record(**event):
    with open(_PATH, "a") as out:
        out.write(json.dumps({"worker": _WORKER, **event}) + "\\n")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    start = time.time()
    try:
        return (yield)
    finally:
        _record(kind="fixture", name=fixturedef.argname, scope=fixturedef.scope,
                start=start, end=time.time())


def _phase(kind, item):
    start = time.time()
    try:
        yield
    finally:
        _record(kind=kind, test=item.nodeid, start=start, end=time.time())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _phase("setup", item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _phase("call", item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _phase("teardown", item))
'''

TESTS = '''import pytest


def insert_and_read(conn, n):
    """A teacher (its trigger adds the email key) and a course, read back with a join."""
    email = f"teacher{{n}}@example.org"
    (uid,) = conn.execute(
        "INSERT INTO users (email, password_hash, role, grade) "
        "VALUES (%s, 'x', 'teacher', 8) RETURNING id", (email,)).fetchone()
    conn.execute("INSERT INTO courses (title, instructor_id, grade, category) "
                 "VALUES (%s, %s, 8, 'mathematics')", (f"course {{n}}", uid))
    rows = conn.execute(
        "SELECT u.email, k.email_key, c.title FROM courses c "
        "JOIN users u ON u.id = c.instructor_id JOIN user_email_keys k ON k.user_id = u.id"
    ).fetchall()
    assert rows == [(email, email, f"course {{n}}")]


@pytest.mark.parametrize("n", range({tests}))
def test_rows(n, {fixture}):
{body}
'''

VARIANTS = {
    "watoto_conn": ("watoto_conn", "    insert_and_read(watoto_conn, n)", ""),
    "watoto_db": ("watoto_db", "    with watoto_db.connect() as conn:\n"
                  "        insert_and_read(conn, n)", ""),
    "pytest-postgresql": ("postgresql", "    insert_and_read(postgresql, n)", '''
from pathlib import Path

from pytest_postgresql import factories

postgresql_noproc = factories.postgresql_noproc(
    host={host!r}, port={port!r}, user="postgres", dbname="bench_pgpg",
    load=[Path(__file__).parent / "schema.sql"])
postgresql = factories.postgresql("postgresql_noproc")
'''),
}


def schema_sql() -> str:
    """The migrations as one .sql file, as a pytest-postgresql user loads them.

    pytest-postgresql runs the file in one `execute` (one transaction). The two migrations
    marked `-- transactional: false` (0008, 0009) build an index CONCURRENTLY, which cannot
    run in a transaction: on the template's empty tables a plain CREATE INDEX makes the same
    index, so that one word is dropped (the only change made to the files).
    """
    parts = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name.endswith(".rollback.sql"):
            continue
        parts.append(f"-- {path.name}\n" + re.sub(r"\bINDEX\s+CONCURRENTLY\b", "INDEX",
                                                   path.read_text(), flags=re.IGNORECASE))
    text = "\n".join(parts)
    if re.search(r"\bCONCURRENTLY\b", re.sub(r"--[^\n]*", "", text), re.IGNORECASE):
        raise SystemExit("a migration does something else CONCURRENTLY: adapt schema_sql()")
    return text


def check_schema_loads(pg: LocalCluster, text: str) -> None:
    """Load the concatenated file into a scratch database as pytest-postgresql does."""
    admin = pg.url("postgres")
    ident = sql.Identifier("bench_pgpg_check")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        with psycopg.connect(pg.url("bench_pgpg_check")) as conn:
            conn.execute(text.encode())
            found = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname IN "
                                 "('idx_courses_search_vector', 'idx_courses_listing')"
                                 ).fetchone()
            if found != (2,):
                raise SystemExit(f"the concatenated migrations did not load whole: {found}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))


def write_projects(root: Path, pg: LocalCluster, tests: int) -> dict[str, Path]:
    state = pg._state()
    assert state is not None
    folders = {}
    for variant, (fixture, body, conftest) in VARIANTS.items():
        folder = root / variant.replace("-", "_")
        folder.mkdir()
        (folder / "pytest.ini").write_text("[pytest]\n")
        (folder / "conftest.py").write_text(
            RECORDER + conftest.format(host=state.socket_dir, port=state.port))
        (folder / "test_rows.py").write_text(TESTS.format(tests=tests, fixture=fixture,
                                                          body=body))
        folders[variant] = folder
    (folders["pytest-postgresql"] / "schema.sql").write_text(schema_sql())
    return folders


# -- runs and their figures ----------------------------------------------------------------

@dataclass
class Run:
    """One pytest process's figures, in seconds (see the module's docstring)."""

    wall: float
    first_wait: float
    beyond: float
    session_fixtures: float
    startup: float
    first_waits: list[float]
    handouts: list[float] = field(default_factory=list)
    givebacks: list[float] = field(default_factory=list)
    last_teardowns: list[float] = field(default_factory=list)


def span(event: dict[str, Any]) -> float:
    return float(event["end"]) - float(event["start"])


def figures(events_dir: Path, started: float, wall: float, expected: int) -> Run:
    """One run's figures from its recorded events; ``started`` is the epoch it started at."""
    workers: dict[str, list[dict[str, Any]]] = {}
    for path in events_dir.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            workers.setdefault(str(event["worker"]), []).append(event)
    per_worker = []
    handouts, givebacks, last_teardowns = [], [], []
    setups_seen = 0
    for events in workers.values():
        setups = sorted((e for e in events if e["kind"] == "setup"), key=lambda e: e["start"])
        teardowns = sorted((e for e in events if e["kind"] == "teardown"),
                           key=lambda e: e["start"])
        if not setups:
            continue
        setups_seen += len(setups)
        first = setups[0]
        session = sum(span(e) for e in events
                      if e["kind"] == "fixture" and e["scope"] == "session")
        end = max(float(e["end"]) for e in teardowns)
        per_worker.append((span(first), end - float(first["end"]), session,
                           float(first["start"]) - started))
        handouts += [span(e) for e in setups[1:]]
        givebacks += [span(e) for e in teardowns[:-1]]
        last_teardowns.append(span(teardowns[-1]))
    if setups_seen != expected:
        raise SystemExit(f"recorded {setups_seen} test set-ups, expected {expected}")
    return Run(wall=wall, first_wait=max(w[0] for w in per_worker),
               beyond=max(w[1] for w in per_worker),
               session_fixtures=max(w[2] for w in per_worker),
               startup=min(w[3] for w in per_worker),
               first_waits=[w[0] for w in per_worker], handouts=handouts,
               givebacks=givebacks, last_teardowns=last_teardowns)


def pytest_env(folder: Path, events: Path, site: Path | None) -> dict[str, str]:
    """The environment of a project's pytest runs: pytest-postgresql for its own project
    only; the plugin of ``--plugin-from`` (ahead of the venv's) for all of them."""
    paths = [str(p) for p in (site, PGPG_SITE if folder.name == "pytest_postgresql" else None)
             if p is not None]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TESTDB_BENCH_EVENTS": str(events)}
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_pytest(folder: Path, workers: str, args: Sequence[str], expected: int,
               site: Path | None) -> Run:
    events = Path(tempfile.mkdtemp(prefix="watoto-bench-events-"))
    env = pytest_env(folder, events, site)
    try:
        started_wall = time.time()
        started = time.perf_counter()
        proc = subprocess.run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n",
                               workers, *args], cwd=folder, capture_output=True, text=True,
                              env=env)
        wall = time.perf_counter() - started
        if proc.returncode != 0 or f"{expected} passed" not in proc.stdout:
            raise SystemExit(f"pytest run in {folder.name} (-n {workers}) failed:\n"
                             f"{proc.stdout[-2000:]}{proc.stderr[-800:]}")
        return figures(events, started_wall, wall, expected)
    finally:
        shutil.rmtree(events, ignore_errors=True)


def accepts_pool(folder: Path, site: Path | None) -> bool:
    proc = subprocess.run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "--help"],
                          cwd=folder, capture_output=True, text=True,
                          env=pytest_env(folder, Path(tempfile.gettempdir()), site))
    return "--watoto-pool" in proc.stdout


def plugin_site(rev: str, work: Path) -> Path:
    """The package as of git revision ``rev``, installed into a folder of its own."""
    source, site = work / "plugin-src", work / "plugin-site"
    source.mkdir()
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev], capture_output=True,
                             check=True)
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                    str(source)], check=True, capture_output=True)
    return site


def wait_for_reaper(url: str, timeout: float = 600.0) -> float:
    """Seconds until the run's clones are all gone (the plugin hands the last ones to a
    detached reaper), so the next run does not share the server with its drops."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        while time.perf_counter() - started < timeout:
            row = conn.execute("SELECT count(*) FROM pg_database "
                               "WHERE datname LIKE 'watoto\\_test\\_%'").fetchone()
            if row is not None and row[0] == 0:
                break
            time.sleep(0.1)
    return time.perf_counter() - started


def checkpoint(url: str) -> None:
    """Start each run from clean buffers, so one run does not pay for the last."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def testdb_take(url: str, samples: int,
                site: Path | None) -> tuple[list[float], list[float]] | str:
    """Seconds of `watoto-schema testdb take` from a pool filled beforehand (`testdb pool
    --size samples`): whole process, and inside the command (its JSON's milliseconds); or
    why there are none (the CLI of ``--plugin-from`` when given)."""
    cli = [CLI]
    env = dict(os.environ)
    if site is not None:
        cli = [PYTHON, "-c", "from watoto_schema.cli import main; main()"]
        env["PYTHONPATH"] = str(site)
    probe = subprocess.run([*cli, "testdb", "take", "--help"], capture_output=True, text=True,
                           env=env)
    if probe.returncode != 0:
        return "not in this build"
    filled = subprocess.run([*cli, "--dsn", url, "testdb", "pool", "--size", str(samples)],
                            capture_output=True, text=True, env=env)
    if filled.returncode != 0:
        return f"pool failed: {filled.stderr.strip()[-300:]}"
    times, inside, names = [], [], []
    for _ in range(samples):
        started = time.perf_counter()
        proc = subprocess.run([*cli, "--json", "--dsn", url, "testdb", "take"],
                              capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            return f"failed: {proc.stderr.strip()[-300:]}"
        taken = json.loads(proc.stdout)
        if not taken["from_pool"]:
            return "a take found the pool empty"
        inside.append(taken["milliseconds"] / 1000)
        names.append(taken["name"])
    subprocess.run([*cli, "--dsn", url, "testdb", "give-back", *names], check=True,
                   capture_output=True, env=env)
    return times, inside


# -- the report ------------------------------------------------------------------------------

def p95_ms(samples: Sequence[float]) -> float:
    if len(samples) < 2:
        return samples[0] * 1000 if samples else float("nan")
    return statistics.quantiles(samples, n=20, method="inclusive")[-1] * 1000


def report(runs: dict[tuple[str, str], list[Run]], cold: dict[str, Run], tests: int,
           rounds: int, version: str, pool: bool,
           take: tuple[list[float], list[float]] | str) -> None:
    print(f"{tests} tests inserting two rows and reading them back, fsync off, median of "
          f"{rounds} round(s); pytest-postgresql {version}; watoto_db "
          + (f"with --watoto-pool {POOL}" if pool else "without a pool (no --watoto-pool)"))
    print("  beyond the session's set-up = per worker, end of its first test's setup to the "
          "end of its last test's teardown, longest worker")
    print("  first test's wait = the setup phase of a worker's first test (session set-up + "
          "first hand-out), longest worker; hand-out = each other test's setup phase")
    for workers in WORKERS:
        def med(variant: str, attr: str, workers: str = workers) -> float:
            return median_ms([getattr(r, attr) for r in runs[(variant, workers)]])

        label = "2 xdist workers (-n 2)" if workers == "2" else "one process (-n 0)"
        conn, db, ref = (med(v, "beyond") for v in VARIANTS)
        print(f"{label}: beyond the session's set-up (ratio against pytest-postgresql)")
        print(row("pytest-postgresql: postgresql", ref, ref, "reference"))
        print(row("watoto_conn", conn, ref))
        print(row("watoto_db", db, ref))
        warm = med(WARM, "beyond") if (WARM, workers) in runs else 0.0
        if warm:
            print(row(WARM, warm, ref))
        print(row("watoto_conn against the 1.5 s target", conn, TARGET_CONN_MS,
                  "target <= 1.00x"))
        print(row("watoto_db against 10x watoto_conn", db, 10 * conn, "pool of 2"))
        if warm:
            print(row(f"{WARM} against 10x watoto_conn", warm, 10 * conn,
                      "target <= 1.00x"))
        print(f"{label}: whole pytest process (ratio against pytest-postgresql)")
        wall_ref = med("pytest-postgresql", "wall")
        for variant in [v for v in RUNS if (v, workers) in runs]:
            r = runs[(variant, workers)]
            print(row(f"{variant}: wall", med(variant, "wall"), wall_ref,
                      f"start-up to 1st test {med(variant, 'startup'):.0f} ms, session "
                      f"fixtures {med(variant, 'session_fixtures'):.0f} ms"))
            print(row("  first test's wait", med(variant, "first_wait"),
                      wall_ref, "per worker: " + ", ".join(
                          f"{w * 1000:.0f}" for w in r[len(r) // 2].first_waits) + " ms"))
        print(f"{label}: hand-out latency (setup phase, each worker's first test left out), "
              "and give-back (teardown phase, each worker's last left out)")
        for variant in [v for v in RUNS if (v, workers) in runs]:
            hand = [h for r in runs[(variant, workers)] for h in r.handouts]
            back = [g for r in runs[(variant, workers)] for g in r.givebacks]
            last = [t for r in runs[(variant, workers)] for t in r.last_teardowns]
            print(f"  {variant:<20} hand-out median {median_ms(hand):8.2f} ms  p95 "
                  f"{p95_ms(hand):8.2f} ms | give-back median {median_ms(back):8.2f} ms  p95 "
                  f"{p95_ms(back):8.2f} ms | last teardown {median_ms(last):7.0f} ms")
    print("cold first test's wait (watoto_conn, no template on the server: built by the run)")
    for workers, run in cold.items():
        print(f"  -n {workers}: {run.first_wait * 1000:.0f} ms (per worker: "
              + ", ".join(f"{w * 1000:.0f}" for w in run.first_waits) + " ms)")
    if isinstance(take, str):
        print(f"testdb take: {take}")
    else:
        whole, inside = take
        print(f"testdb take from a filled pool ({len(whole)} samples): whole process median "
              f"{median_ms(whole):.1f} ms, p95 {p95_ms(whole):.1f} ms; inside the command "
              f"(template check + claim) median {median_ms(inside):.1f} ms, p95 "
              f"{p95_ms(inside):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--take-samples", type=int, default=20)
    parser.add_argument("--plugin-from", metavar="REV", default=None,
                        help="measure the pytest plugin as of this git revision (e.g. HEAD, "
                        "for before/after figures while the venv has newer code); default: "
                        "the one installed in the venv")
    args = parser.parse_args()
    version = ensure_pytest_postgresql()
    work = Path(tempfile.mkdtemp(prefix="watoto-bench-testdb-"))
    os.chmod(work, 0o755)
    # the plugin's embedded test server's settings (fsync, synchronous_commit and
    # full_page_writes off); every variant reaches it on its Unix socket
    pg = LocalCluster(work / "cluster", fsync=False, tcp=True)
    try:
        pg.start(dbname="postgres")
        url = pg.url("postgres")
        folders = write_projects(work, pg, args.tests)
        check_schema_loads(pg, (folders["pytest-postgresql"] / "schema.sql").read_text())
        site = plugin_site(args.plugin_from, work) if args.plugin_from else None
        pool = accepts_pool(folders["watoto_db"], site)
        extra = {"watoto_conn": ["--watoto-dsn", url],
                 "watoto_db": ["--watoto-dsn", url] + (["--watoto-pool", POOL] if pool else []),
                 "pytest-postgresql": []}
        runs_of = dict(RUNS) if pool else {k: v for k, v in RUNS.items() if k != WARM}
        cold = {}
        for workers in WORKERS:  # round 0: a few tests on a server with no template
            drop_templates(url)
            checkpoint(url)
            few = int(workers) * 2 or 2
            ids = [f"test_rows.py::test_rows[{n}]" for n in range(few)]
            cold[workers] = run_pytest(folders["watoto_conn"], workers,
                                       [*extra["watoto_conn"], *ids], few, site)
        runs: dict[tuple[str, str], list[Run]] = {(v, w): [] for v in runs_of
                                                  for w in WORKERS}
        order = [(v, w) for w in WORKERS for v in runs_of]
        for i in range(args.rounds):
            for variant, workers in order if i % 2 == 0 else order[::-1]:
                project = runs_of[variant]
                args_of = extra[project]
                if variant == WARM:  # every worker's share of the tests ready beforehand
                    # (xdist's load scheduling does not split them evenly: 60% each of 2)
                    share = args.tests if workers == "0" else -(-args.tests * 6 // 10)
                    args_of = ["--watoto-dsn", url, "--watoto-pool", str(share),
                               "--watoto-pool-warm"]
                checkpoint(url)
                runs[(variant, workers)].append(run_pytest(
                    folders[project], workers, args_of, args.tests, site))
                leftovers = wait_for_reaper(url)
                print(f"  (round {i + 1}: {variant} -n {workers}: "
                      f"{runs[(variant, workers)][-1].wall:.1f} s; the reaper dropped the "
                      f"run's leftovers {leftovers:.1f} s after it)", flush=True)
        take = testdb_take(url, args.take_samples, site)
    finally:
        pg.destroy()
        shutil.rmtree(work, ignore_errors=True)
    print(f"pytest plugin: {'git ' + args.plugin_from if args.plugin_from else 'the venv'}'s")
    report(runs, cold, args.tests, args.rounds, version, pool, take)


if __name__ == "__main__":
    main()
