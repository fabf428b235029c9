"""Issue #21 figures: each load-test script's cost, today's SQL and schema against the new.

For every script of ``sql/loadtest/`` the bench draws the same parameters as pgbench would
(``\\set name random(lo, hi)`` over the ranges ``loadtest`` reads from the data) and runs
its statements under ``EXPLAIN (ANALYZE, BUFFERS)``, writes inside a rolled-back
transaction, so the database is left as it was. It reports per script the median execution
time, the median shared buffers touched (hit + read: the evidence that does not depend on
how busy the machine is) and the plan's shape, for:

* **before**: the SQL as shipped before #21 (held below in ``BEFORE``), on the schema at the
  migration head before #21 (``BEFORE_HEAD``: the newer migrations rolled back);
* **after**: the shipped SQL on the schema at the shipped head;

and the ratios. The same parameter draws are used for both, in the same run. With each
schema, the whole weighted mix as `loadtest --clients 8 --jobs 2 --rate 250` runs it: p50
and p95 per script. Then each script whose text changed, alone under pgbench (one client,
unthrottled, simple and prepared protocol), the old and the new text in turn on the head
schema: the latency a client sees, parsing and planning included; and the same for the
rewrites measured and not shipped (``KEY_TABLE_ROUTE``, docs/decisions/0026).

    .venv/bin/python bench/queries_speed.py                  # a throwaway 100,000-student sample
    WATOTO_BENCH_STUDENTS=1000000 ...                        # national scale (minutes to load)
    WATOTO_BENCH_DSN=postgresql://... ...                    # an existing sample-data database
                                                             # (migrated to the head; left so)
    WATOTO_BENCH_DRAWS=200                                   # parameter draws per script
    WATOTO_BENCH_SECONDS=5 WATOTO_BENCH_ROUNDS=4             # the old/new text in turn: seconds
                                                             # a run (0: none), rounds
    WATOTO_BENCH_MIX_SECONDS=30 WATOTO_BENCH_MIX_RATE=250    # the whole weighted mix at a
                                                             # fixed rate (0 s: none)
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from common import cluster, sample_db

from watoto_schema import migrate
from watoto_schema.loadtest.pgbench import connection_environment, find_pgbench
from watoto_schema.loadtest.scripts import SCRIPTS, parameters
from watoto_schema.resources import data_dir
from watoto_schema.target import Target

DRAWS = int(os.environ.get("WATOTO_BENCH_DRAWS", "200"))
STUDENTS = int(os.environ.get("WATOTO_BENCH_STUDENTS", "100000"))
PGBENCH_SECONDS = int(os.environ.get("WATOTO_BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("WATOTO_BENCH_ROUNDS", "4"))
MIX_SECONDS = int(os.environ.get("WATOTO_BENCH_MIX_SECONDS", "30"))
MIX_RATE = float(os.environ.get("WATOTO_BENCH_MIX_RATE", "250"))

# The last migration before #21's; rolled back to for the "before" figures.
BEFORE_HEAD = "0009_courses_listing_index"

# The scripts #21 rewrote, as they were shipped before it.
BEFORE: dict[str, str] = {
    "enroll": """\
\\set student_id random(:student_min, :student_max)
\\set course_id random(:course_min, :course_max)
INSERT INTO enrollments (student_id, course_id, status)
SELECT :student_id, :course_id, 'enrolled'
 WHERE EXISTS (SELECT 1 FROM users WHERE id = :student_id AND role = 'student')
   AND NOT EXISTS (SELECT 1 FROM enrollment_keys
                    WHERE student_id = :student_id AND course_id = :course_id);
""",
    "course_search": """\
\\set word random(1, {{ words | length }})
SELECT c.id, c.title, c.grade, c.category, ts_rank(c.search_vector, query) AS rank
FROM courses c,
     websearch_to_tsquery('english', ({{ words | sql_array }})[:word]) AS query
WHERE c.search_vector @@ query
ORDER BY rank DESC, c.id
LIMIT 20;
""",
}

# Rewrites measured and not shipped (docs/decisions/0026): the partitioned table reached
# through its key table, so that one partition is read instead of all of them.
KEY_TABLE_ROUTE: dict[str, str] = {
    "user_by_email": """\
\\set email random(1, {{ emails | length }})
SELECT u.id, u.password_hash, u.role, u.grade, u.is_active
FROM users u
WHERE u.id = (SELECT k.user_id FROM user_email_keys k
               WHERE k.email_key = lower(({{ emails | sql_array }})[:email]))
  AND u.email = ({{ emails | sql_array }})[:email];
""",
    "progress_update": """\
\\set enrollment_id random(:enrollment_min, :enrollment_max)
\\set minutes random(5, 40)
BEGIN;
UPDATE module_progress
   SET status = 'completed', completed_at = CURRENT_TIMESTAMP,
       time_spent_minutes = time_spent_minutes + :minutes
 WHERE enrollment_id = :enrollment_id AND status = 'in_progress';
UPDATE enrollments
   SET progress_percentage = least(100, progress_percentage + 10)
 WHERE id = :enrollment_id
   AND enrolled_at = (SELECT k.enrolled_at FROM enrollment_keys k WHERE k.id = :enrollment_id)
   AND status IN ('enrolled', 'in_progress');
END;
""",
}


@dataclass(frozen=True)
class Script:
    """One pgbench script made runnable by psycopg: its draws and its statements."""

    name: str
    draws: list[tuple[str, str, str]]  # (variable, low, high) of each \set random(...)
    statements: list[str]  # psycopg text, %(variable)s parameters


SET = re.compile(r"\\set\s+(\w+)\s+random\(\s*([^,]+?)\s*,\s*([^)]+?)\s*\)")
VARIABLE = re.compile(r"(?<![:\w]):(\w+)")


def render(text: str, lists: dict[str, Any]) -> str:
    """The script's Jinja template filled in as ``loadtest`` does."""
    import jinja2

    from watoto_schema.loadtest import scripts as shipped

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["sql_array"] = shipped._sql_array
    env.filters["sql_literal"] = shipped._sql_literal
    return env.from_string(text).render(**lists)


def parse(name: str, text: str) -> Script:
    """pgbench syntax to psycopg: ``\\set`` lines become draws, ``:x`` becomes ``%(x)s``."""
    draws = [m.groups() for m in SET.finditer(text)]
    body = "\n".join(line for line in text.splitlines()
                     if not line.lstrip().startswith(("\\", "--")))
    statements = []
    for part in body.split(";"):
        statement = part.strip()
        if statement and statement.upper() not in ("BEGIN", "END", "COMMIT"):
            statements.append(VARIABLE.sub(r"%(\1)s", statement.replace("%", "%%")))
    return Script(name, [(v, lo, hi) for v, lo, hi in draws], statements)


def draw(script: Script, ranges: dict[str, int], rng: random.Random) -> dict[str, int]:
    values: dict[str, int] = {}

    def bound(text: str) -> int:
        return ranges[text[1:]] if text.startswith(":") else int(text)

    for variable, low, high in script.draws:
        values[variable] = rng.randint(bound(low), bound(high))
    return values


def buffers(node: dict[str, Any]) -> int:
    return int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))


def shape(node: dict[str, Any], depth: int = 0) -> list[str]:
    """The plan tree as short lines: node type, relation or index, loops."""
    label = node["Node Type"]
    target = node.get("Index Name") or node.get("Relation Name")
    if target:
        label += f" {target}"
    if node.get("Subplans Removed"):
        label += f" (pruned {node['Subplans Removed']})"
    loops = node.get("Actual Loops", 1)
    lines = [f"{'  ' * depth}{label}" + (f" x{loops}" if loops != 1 else "")
             + ("" if loops else " (never executed)")]
    for child in node.get("Plans", []):
        lines.extend(shape(child, depth + 1))
    return lines


@dataclass
class Figures:
    execution_ms: list[float]
    buffers: list[int]
    plans: list[str]
    planning_ms: list[float] = field(default_factory=list)
    mix_ms: dict[str, float] = field(default_factory=dict)  # "p50", "p95" in the mix

    def median_ms(self) -> float:
        return statistics.median(self.execution_ms)

    def median_planning_ms(self) -> float:
        return statistics.median(self.planning_ms)

    def median_buffers(self) -> float:
        return statistics.median(self.buffers)


def measure(conn: psycopg.Connection[Any], script: Script,
            draws: list[dict[str, int]]) -> Figures:
    """Every draw's statements under EXPLAIN (ANALYZE, BUFFERS), each draw rolled back."""
    figures = Figures([], [], [])
    for values in draws:
        total_ms, total_buffers, planning_ms = 0.0, 0, 0.0
        plan_lines: list[str] = []
        with conn.transaction(force_rollback=True):
            for statement in script.statements:
                row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement,
                                   values).fetchone()
                assert row is not None
                doc = row[0][0]
                total_ms += doc["Execution Time"]
                planning_ms += doc["Planning Time"]
                total_buffers += buffers(doc["Plan"]) + sum(
                    int(t.get("Shared Hit Blocks", 0)) for t in doc.get("Triggers", []))
                plan_lines.extend(shape(doc["Plan"]))
        figures.execution_ms.append(total_ms)
        figures.planning_ms.append(planning_ms)
        figures.buffers.append(total_buffers)
        figures.plans.append("\n".join(plan_lines))
    return figures


def texts(lists: dict[str, Any], before: bool,
          instead: dict[str, str] | None = None) -> dict[str, str]:
    """Every script rendered: the shipped text, or with ``before`` the text before #21, or
    the texts of ``instead`` where it has one."""
    source = data_dir("sql") / "loadtest"
    chosen = {s.name: (source / f"{s.name}.sql").read_text() for s in SCRIPTS}
    chosen.update(BEFORE if before else {})
    chosen.update(instead or {})
    return {name: render(text, lists) for name, text in chosen.items()}


def pgbench_latency(url: str, text: str, ranges: dict[str, int], mode: str,
                    folder: Path) -> float:
    """Mean latency (ms) of one script run alone by one pgbench client for PGBENCH_SECONDS,
    unthrottled, in ``mode`` (simple: parsed and planned each time; prepared: once)."""
    script = folder / "script.sql"
    script.write_text(text)
    defines = [arg for key, value in ranges.items() for arg in ("-D", f"{key}={value}")]
    proc = subprocess.run([str(find_pgbench()), "-n", "-M", mode, "-c", "1", "-T",
                           str(PGBENCH_SECONDS), *defines, "-f", str(script)],
                          env=connection_environment(url), capture_output=True, text=True)
    found = re.search(r"latency average = ([0-9.]+) ms", proc.stdout)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"pgbench failed: {proc.stderr.strip()[-400:]}")
    return float(found.group(1))


def mix(url: str, rendered: dict[str, str], ranges: dict[str, int],
        folder: Path) -> dict[str, dict[str, float]]:
    """The whole weighted mix at a fixed rate, as `loadtest --clients 8 --jobs 2 --rate
    MIX_RATE` runs it: p50 and p95 (ms, nearest rank) per script, and failures."""
    from watoto_schema.loadtest import LoadtestOptions, pgbench_command
    from watoto_schema.loadtest.pgbench import run as run_pgbench
    from watoto_schema.loadtest.scripts import weights

    chosen = weights({})
    paths: dict[str, Path] = {}
    for name in chosen:
        paths[name] = folder / f"{name}.sql"
        paths[name].write_text(rendered[name])
    log_dir = folder / "log"
    log_dir.mkdir()
    options = LoadtestOptions(clients=8, jobs=2, duration=MIX_SECONDS, rate=MIX_RATE)
    command = pgbench_command(options, paths, chosen, ranges, log_dir)
    outcome = run_pgbench(command, connection_environment(url), log_dir)
    names = list(chosen)
    latencies: dict[str, list[int]] = {name: [] for name in names}
    failures = dict.fromkeys(names, 0)
    for tx in outcome.transactions:
        if tx.latency_us is None:
            failures[names[tx.script]] += 1
        else:
            latencies[names[tx.script]].append(tx.latency_us)

    def rank(values: list[int], share: float) -> float:
        values = sorted(values)
        return values[max(0, math.ceil(len(values) * share) - 1)] / 1000 if values else 0.0

    return {name: {"p50": rank(values, 0.5), "p95": rank(values, 0.95),
                   "failures": float(failures[name]), "n": float(len(values))}
            for name, values in latencies.items()}


def interleaved(url: str, old: dict[str, str], new: dict[str, str],
                names: list[str]) -> dict[str, dict[str, list[float]]]:
    """Two texts of each named script in turn on the same schema, ROUNDS times, each alone
    under pgbench in both protocols: the mean latency of each run, keyed "old simple", "new
    simple", "old prepared", "new prepared". Taking them in turn spreads the other load of
    a shared machine over both."""
    with psycopg.connect(url, autocommit=True) as conn:
        ranges, _ = parameters(conn)
    out: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            runs: dict[str, list[float]] = {}
            for _ in range(ROUNDS):
                for mode in ("simple", "prepared"):
                    for label, text in (("old", old[name]), ("new", new[name])):
                        runs.setdefault(f"{label} {mode}", []).append(
                            pgbench_latency(url, text, ranges, mode, Path(folder)))
            out[name] = runs
    return out


def run(url: str, at: str | None) -> dict[str, Figures]:
    """Every script measured at one schema: ``at`` a version (rolled back to), else the head."""
    target = Target(url, "bench")
    if at is not None:
        migrate.rollback(target, to=at)
    else:
        migrate.migrate(target)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE courses")
        ranges, lists = parameters(conn)
        rendered = texts(lists, before=at is not None)
        rng = random.Random(21)
        out: dict[str, Figures] = {}
        with tempfile.TemporaryDirectory() as folder:
            for name, text in rendered.items():
                script = parse(name, text)
                draws = [draw(script, ranges, rng) for _ in range(DRAWS)]
                measure(conn, script, draws[:20])  # warm the cache the same way for both
                out[name] = measure(conn, script, draws)
            if MIX_SECONDS:
                for name, figures in mix(url, rendered, ranges, Path(folder)).items():
                    out[name].mix_ms = figures
    return out


@contextmanager
def database() -> Iterator[str]:
    if os.environ.get("WATOTO_BENCH_DSN"):
        yield os.environ["WATOTO_BENCH_DSN"]
        return
    with cluster() as pg:
        url, seconds = sample_db(pg, "bench_queries", STUDENTS)
        print(f"sample-data --students {STUDENTS:,}: {seconds:.1f} s")
        yield url


def load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main() -> None:
    print(f"load-test scripts under EXPLAIN (ANALYZE, BUFFERS), {DRAWS} draws each, "
          f"{os.cpu_count()} cores")
    with database() as url:
        started = time.perf_counter()
        load_before = load()
        before = run(url, BEFORE_HEAD)
        after = run(url, None)
        print(f"measured in {time.perf_counter() - started:.0f} s; load average "
              f"{load_before} before, {load()} after")
        print("  median per draw: execution ms, planning ms, shared buffers (hit + read)")
        print(f"  {'script':<22} {'exec before':>11} {'after':>7} {'ratio':>6}   "
              f"{'plan before':>11} {'after':>7}   {'buf before':>10} {'after':>6} {'ratio':>6}")
        doc: dict[str, Any] = {}
        for name in after:
            b, a = before[name], after[name]
            ms_ratio = a.median_ms() / b.median_ms()
            buf_ratio = a.median_buffers() / b.median_buffers() if b.median_buffers() else 1.0
            print(f"  {name:<22} {b.median_ms():11.3f} {a.median_ms():7.3f} {ms_ratio:5.2f}x   "
                  f"{b.median_planning_ms():11.3f} {a.median_planning_ms():7.3f}   "
                  f"{b.median_buffers():10.0f} {a.median_buffers():6.0f} {buf_ratio:5.2f}x")
            doc[name] = {"before_ms": b.median_ms(), "after_ms": a.median_ms(),
                         "before_planning_ms": b.median_planning_ms(),
                         "after_planning_ms": a.median_planning_ms(),
                         "before_buffers": b.median_buffers(),
                         "after_buffers": a.median_buffers(),
                         "before_mix": b.mix_ms, "after_mix": a.mix_ms}
        if MIX_SECONDS:
            print(f"\n  the whole mix, 8 clients, --rate {MIX_RATE:g}, {MIX_SECONDS} s: "
                  f"p50 / p95 ms per script (simple protocol)")
            for name in after:
                b, a = before[name].mix_ms, after[name].mix_ms
                print(f"  {name:<22} {b['p50']:7.2f} / {b['p95']:7.2f}  ->  {a['p50']:7.2f} / "
                      f"{a['p95']:7.2f}   p50 {a['p50'] / b['p50']:5.2f}x  p95 "
                      f"{a['p95'] / b['p95']:5.2f}x  failures {b['failures']:.0f} -> "
                      f"{a['failures']:.0f}")
        if PGBENCH_SECONDS:
            with psycopg.connect(url, autocommit=True) as conn:
                _, lists = parameters(conn)
            shipped = texts(lists, before=False)
            pairs = [("the text before #21 -> the shipped text", texts(lists, before=True),
                      shipped, list(BEFORE)),
                     ("the shipped text -> through the key table (not shipped, decision 0026)",
                      shipped, texts(lists, before=False, instead=KEY_TABLE_ROUTE),
                      list(KEY_TABLE_ROUTE))]
            for title, old, new, names in pairs:
                print(f"\n  {title}: each script alone, the two texts in turn on the head "
                      f"schema, {ROUNDS} rounds of {PGBENCH_SECONDS} s, one pgbench client, "
                      f"median of the rounds' mean latency (ms); load average {load()}")
                for name, runs in interleaved(url, old, new, names).items():
                    line = f"  {name:<22}"
                    for mode in ("simple", "prepared"):
                        was = statistics.median(runs[f"old {mode}"])
                        now = statistics.median(runs[f"new {mode}"])
                        line += f" {mode} {was:7.3f} -> {now:7.3f} {now / was:5.2f}x  "
                        doc.setdefault(f"{name} ({title})", {})[f"pgbench_{mode}_ms"] = {
                            "old": was, "new": now}
                    print(line)
            print(f"  load average {load()}")
            print("\n  through the key table (not shipped), EXPLAIN at the head:")
            with psycopg.connect(url, autocommit=True) as conn:
                ranges, lists = parameters(conn)
                routed = texts(lists, before=False, instead=KEY_TABLE_ROUTE)
                rng = random.Random(26)
                for name in KEY_TABLE_ROUTE:
                    plain, keyed = parse(name, shipped[name]), parse(name, routed[name])
                    draws = [draw(plain, ranges, rng) for _ in range(DRAWS)]
                    a, b = measure(conn, plain, draws), measure(conn, keyed, draws)
                    print(f"  {name:<22} execution {a.median_ms():.3f} -> {b.median_ms():.3f} "
                          f"ms, planning {a.median_planning_ms():.3f} -> "
                          f"{b.median_planning_ms():.3f} ms, buffers {a.median_buffers():.0f} "
                          f"-> {b.median_buffers():.0f}")
        for name in after:
            if before[name].plans[0] != after[name].plans[0]:
                print(f"\n  {name}: plan before\n" + indent(before[name].plans[0])
                      + "\n  after\n" + indent(after[name].plans[0]))
        if os.environ.get("WATOTO_BENCH_JSON"):
            Path(os.environ["WATOTO_BENCH_JSON"]).write_text(json.dumps(doc, indent=2))


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


if __name__ == "__main__":
    main()
