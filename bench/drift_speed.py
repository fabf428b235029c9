"""Issue #5 figure: whole-process time of `watoto-schema drift` on the full schema with at
least 40 partitions, against `pg_dump --schema-only` of the same database, in one run.

Target: no slower than pg_dump. Two drift figures: warm (the expected schema is cached by
the applied migrations' checksums, the usual case for a scheduled check) and cold
(`--no-cache`: the expected schema is built in a scratch database first).

Issue #24 figure: side by side with migra (PyPI `migra`, on schemainspect) on the pairs of
schemas of the convergence scenarios (tests/convergence/<case>/: A = migrated [+ base.sql],
B = A + change.sql). For each pair, each tool writes the script that turns A into B (ours:
`compare_databases(B, A)` then `fix_sql(..., destructive=True)`; migra: `Migration(A, B)`,
`set_safety(False)`, `add_all_changes()`, what `migra --unsafe A B` prints), the script runs
on its own fresh copy of A with `psql -v ON_ERROR_STOP=1`, and our `compare_databases(B, A)`
judges whether it converged. Printed per pair: the differences we see / the statements migra
writes, converged or not (or the psql error), and the time each tool takes to compare and
write the script, in process (migra runs in a process of its own, its imports not counted).
migra and its dependencies (SQLAlchemy, psycopg2-binary) are installed with `pip install
--target` into a folder of their own (MIGRA_SITE), never into the project's venv; when that
fails (no package index), the comparison is skipped and says so.

    make bench            # or: .venv/bin/python bench/drift_speed.py [--rounds N]
                          #     [--cases GLOB] [--no-compare]
"""

from __future__ import annotations

import argparse
import fnmatch
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from common import BIN, cluster, fresh_db, median_ms, row, timed
from psycopg import sql

from watoto_schema.local import LocalCluster

EXTRA_YEARS = range(2028, 2064)  # 36 more yearly partitions: 41 on enrollments, 4 on users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", default="*",
                        help="only the convergence scenarios matching this glob")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the side by side with migra")
    args = parser.parse_args()
    rounds = args.rounds
    folder = Path(tempfile.mkdtemp(prefix="watoto-bench-migrations-"))
    (folder / "1001_more_partitions.sql").write_text(
        "-- depends: 0007_views\n" + "".join(
            f"CREATE TABLE enrollments_{y} PARTITION OF enrollments "
            f"FOR VALUES FROM ('{y}-01-01') TO ('{y + 1}-01-01');\n" for y in EXTRA_YEARS))
    cache = tempfile.mkdtemp(prefix="watoto-bench-cache-")
    env = {"WATOTO_CACHE_DIR": cache}
    ws = [str(BIN / "watoto-schema")]
    with cluster() as pg:
        url = fresh_db(pg, "bench_drift")
        timed([*ws, "--dsn", url, "--migrations", str(folder), "migrate"])
        pg_dump = str(Path(pg._state().bindir) / "pg_dump")  # type: ignore[union-attr]
        partitions = 4 + 5 + len(EXTRA_YEARS)
        dump, warm, cold, floor = [], [], [], []
        timed([*ws, "--dsn", url, "--migrations", str(folder), "drift"], env)  # fill cache
        for _ in range(rounds):
            dump.append(timed([pg_dump, "--schema-only", "-f", os.devnull, url]))
            warm.append(timed([*ws, "--dsn", url, "--migrations", str(folder), "drift"], env))
            cold.append(timed([*ws, "--dsn", url, "--migrations", str(folder), "drift",
                               "--no-cache"], env))
            floor.append(timed([sys.executable, "-c", "import click, psycopg"]))
    reference = median_ms(dump)
    print(f"drift of the full schema with {partitions} partitions, median of {rounds} rounds "
          "(ratio against pg_dump --schema-only)")
    print(row("pg_dump --schema-only", reference, reference, "reference"))
    print(row("watoto-schema drift (expected schema cached)", median_ms(warm), reference))
    print(row("python -c 'import click, psycopg'", median_ms(floor), reference,
              "floor: the stack's imports alone"))
    print(row("  drift cached, beyond the floor", median_ms(warm) - median_ms(floor), reference,
              "target <= 1.00x"))
    print(row("watoto-schema drift --no-cache (scratch build)", median_ms(cold), reference))
    if not args.no_compare:
        compare_with_migra(args.cases)


# -- side by side with migra on the convergence scenarios (#24) ---------------------------------

CONVERGENCE = Path(__file__).resolve().parent.parent / "tests" / "convergence"
MIGRA_SITE = Path(tempfile.gettempdir()) / "watoto-bench-migra"
# One process for all pairs: reads [from_url, to_url] lines, answers {"ms", "sql", "n"}.
MIGRA_RUNNER = """
import json, sys, time
from migra import Migration
from sqlbag import S
for line in sys.stdin:
    a, b = json.loads(line)
    started = time.perf_counter()
    try:
        with S(a) as sa, S(b) as sb:
            m = Migration(sa, sb)
            m.set_safety(False)
            m.add_all_changes()
            out = {"sql": m.sql, "n": len(m.statements)}
    except Exception as e:
        out = {"error": (type(e).__name__ + ": " + str(e)).splitlines()[0][:200]}
    out["ms"] = (time.perf_counter() - started) * 1000
    print(json.dumps(out), flush=True)
"""


def ensure_migra() -> str | None:
    """migra's version, installed into MIGRA_SITE if missing; None when it cannot be."""
    if not (MIGRA_SITE / "migra").is_dir():
        print(f"  (installing migra into {MIGRA_SITE} for the comparison)")
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target",
                               str(MIGRA_SITE), "migra", "psycopg2-binary"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"  migra could not be installed ({last[:160]}): comparison skipped")
            return None
    proc = subprocess.run([sys.executable, "-c", "import importlib.metadata as m; "
                           "print(m.version('migra'), m.version('schemainspect'), "
                           "m.version('sqlalchemy'))"],
                          capture_output=True, text=True, env=_migra_env())
    if proc.returncode != 0:
        print(f"  migra is not usable from {MIGRA_SITE}: comparison skipped")
        return None
    migra, inspect_version, sqlalchemy = proc.stdout.split()
    return f"migra {migra} (schemainspect {inspect_version}, SQLAlchemy {sqlalchemy})"


def _migra_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(MIGRA_SITE)}


@dataclass
class Outcome:
    seen: int | None = None  # our differences, or migra's statements
    converged: str = "?"  # "yes", "no (N left)", or the error
    ms: float | None = None


class Databases:
    """Clones of the migrated template on the comparison cluster, made and dropped."""

    def __init__(self, pg: LocalCluster, template: str) -> None:
        self.pg, self.template = pg, template
        self.admin = psycopg.connect(pg.url("postgres"), autocommit=True)
        self.count = 0

    def clone(self) -> str:
        self.count += 1
        name = f"cmp_{self.count}"
        self.admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(self.template)))
        return name

    def drop(self, *names: str) -> None:
        for name in names:
            self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def psql_file(psql: str, url: str, script: str) -> str | None:
    """Run ``script`` with psql -v ON_ERROR_STOP=1 -f; the first error line, or None."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        proc = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f",
                               f.name], capture_output=True, text=True,
                              env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})
    finally:
        os.unlink(f.name)
    if proc.returncode == 0:
        return None
    errors = [line for line in proc.stderr.splitlines() if "ERROR:" in line]
    return (errors[0].split("ERROR:", 1)[1].strip() if errors else proc.stderr.strip())[:70]


def converged(expected_url: str, live_url: str) -> str:
    from watoto_schema.drift import compare_databases
    from watoto_schema.target import Target

    left = compare_databases(Target(expected_url, "B"), Target(live_url, "A")).differences
    return "yes" if not left else f"no ({len(left)} left)"


def ours(expected_url: str, live_url: str) -> tuple[Any, str, float]:
    from watoto_schema.drift import compare_databases, fix_sql
    from watoto_schema.target import Target

    started = time.perf_counter()
    report = compare_databases(Target(expected_url, "B"), Target(live_url, "A"))
    script = (fix_sql(report, destructive=True)  # type: ignore[call-arg]
              if "destructive" in inspect.signature(fix_sql).parameters else fix_sql(report))
    return report, script, (time.perf_counter() - started) * 1000


def compare_with_migra(pattern: str) -> None:
    from watoto_schema import migrate
    from watoto_schema.target import Target

    cases = sorted(p.name for p in CONVERGENCE.iterdir()
                   if (p / "change.sql").is_file() and fnmatch.fnmatch(p.name, pattern))
    print(f"\nthe fix scripts of {len(cases)} convergence scenarios (tests/convergence), "
          "ours and migra's, each run on a fresh A with psql -v ON_ERROR_STOP=1")
    version = ensure_migra()
    if version is None:
        return
    print(f"  against {version}")
    runner = subprocess.Popen([sys.executable, "-c", MIGRA_RUNNER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=_migra_env())
    assert runner.stdin is not None and runner.stdout is not None
    rows: list[tuple[str, Outcome, Outcome]] = []
    with cluster(fsync=False) as pg:
        psql = str(Path(pg._state().bindir) / "psql")  # type: ignore[union-attr]
        template = "cmp_template"
        migrate.migrate(Target(fresh_db(pg, template), "bench"))
        dbs = Databases(pg, template)
        try:
            for case in cases:
                folder = CONVERGENCE / case
                a_ours, a_migra, b = dbs.clone(), dbs.clone(), dbs.clone()
                url = {n: pg.url(n) for n in (a_ours, a_migra, b)}
                base = folder / "base.sql"
                for name in (a_ours, a_migra, b):
                    if base.is_file() and (error := psql_file(psql, url[name], base.read_text())):
                        raise SystemExit(f"{case}: base.sql failed: {error}")
                if error := psql_file(psql, url[b], (folder / "change.sql").read_text()):
                    raise SystemExit(f"{case}: change.sql failed: {error}")
                mine, theirs = Outcome(), Outcome()
                report, script, mine.ms = ours(url[b], url[a_ours])
                mine.seen = len(report.differences)
                mine.converged = (psql_file(psql, url[a_ours], script)
                                  or converged(url[b], url[a_ours]))
                runner.stdin.write(json.dumps([url[a_migra], url[b]]) + "\n")
                runner.stdin.flush()
                answer = json.loads(runner.stdout.readline())
                theirs.ms = answer["ms"]
                if "error" in answer:
                    theirs.converged = "migra: " + answer["error"][:62]
                else:
                    theirs.seen = answer["n"]
                    theirs.converged = (psql_file(psql, url[a_migra], answer["sql"])
                                        or converged(url[b], url[a_migra]))
                rows.append((case, mine, theirs))
                dbs.drop(a_ours, a_migra, b)
        finally:
            runner.stdin.close()
            runner.wait()
            dbs.admin.close()
    print_comparison(rows)


def print_comparison(rows: list[tuple[str, Any, Any]]) -> None:
    def seen(o: Any) -> str:
        return "-" if o.seen is None else str(o.seen)

    print(f"  {'pair (A -> B = A + change.sql)':<46} {'seen':>9}  {'ms':>13}  converged "
          "(ours | migra)")
    print(f"  {'':<46} {'ours/mig':>9}  {'ours/migra':>13}")
    for case, mine, theirs in rows:
        print(f"  {case:<46} {seen(mine):>4}/{seen(theirs):<4}  {mine.ms:6.0f}/{theirs.ms:<6.0f}"
              f"  {mine.converged} | {theirs.converged}")
    ok_ours = sum(m.converged == "yes" for _, m, _ in rows)
    ok_migra = sum(t.converged == "yes" for _, _, t in rows)
    total_ours = sum(m.ms for _, m, _ in rows)
    total_migra = sum(t.ms for _, _, t in rows)
    print(f"  {len(rows)} pairs: converged ours {ok_ours}, migra {ok_migra}; "
          f"both {sum(m.converged == t.converged == 'yes' for _, m, t in rows)}, "
          f"ours only {sum(m.converged == 'yes' != t.converged for _, m, t in rows)}, "
          f"migra only {sum(t.converged == 'yes' != m.converged for _, m, t in rows)}")
    if rows:
        print(f"  time to compare and write the script: ours {total_ours:.0f} ms in all "
              f"(median {statistics.median(m.ms for _, m, _ in rows):.0f} ms a pair), migra "
              f"{total_migra:.0f} ms (median {statistics.median(t.ms for _, _, t in rows):.0f}"
              " ms a pair)")


if __name__ == "__main__":
    main()
