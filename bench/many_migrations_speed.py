"""Issue #9 figures: a project with hundreds of migrations. 200 small generated migrations
(tables, indexes, views, rows; every tenth with a rollback file) are applied after the 7
shipped ones, 209 in all, and timed as whole processes in one run on one server:

* `watoto-schema migrate` of all 209 on a fresh database, against `psql -X -f` of the
  same SQL in one transaction (the non-transactional migrations outside it; the same
  `schema_migrations` rows), and against `psql -X -f` of it with
  each migration in its own transaction (the atomicity `migrate` gives, one commit each);
* `status`, `status --json` and `verify` with all 209 applied, and `migrate` with nothing
  pending, against the floor: a Python process that imports the stack and runs one query.

Targets: migrate of 209 within 2x of psql; migrate with nothing pending under 300 ms.

    make bench            # or: .venv/bin/python bench/many_migrations_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import BIN, cluster, fresh_db, median_ms, psql_script, row, timed

from watoto_schema import sources

COUNT = 200
FIRST = 1001  # versions 1001_... sort after the shipped 0001..0007


def generate(folder: Path, count: int = COUNT) -> None:
    """Write ``count`` small migrations, each depending on the one before (as `new` does)."""
    previous = "0007_views"
    for n in range(count):
        version = f"{FIRST + n:04d}_bench_{n:03d}"
        table = f"bench_t{n // 4:03d}"
        kind = n % 4
        if kind == 0:  # a table
            body = (f"CREATE TABLE {table} (\n    id BIGINT GENERATED ALWAYS AS IDENTITY "
                    "PRIMARY KEY,\n    name TEXT NOT NULL,\n    score INTEGER NOT NULL "
                    "DEFAULT 0,\n    created_at TIMESTAMPTZ NOT NULL DEFAULT now()\n);\n"
                    f"COMMENT ON TABLE {table} IS 'bench table {n // 4}';\n")
            rollback = f"DROP TABLE {table};\n"
        elif kind == 1:  # indexes
            body = (f"CREATE INDEX {table}_name_idx ON {table} (name);\n"
                    f"CREATE INDEX {table}_score_idx ON {table} (score DESC, id);\n")
            rollback = f"DROP INDEX {table}_score_idx;\nDROP INDEX {table}_name_idx;\n"
        elif kind == 2:  # some data
            values = ",\n    ".join(f"('row {n}-{i}', {i * 7 % 100})" for i in range(20))
            body = (f"INSERT INTO {table} (name, score) VALUES\n    {values};\n"
                    f"ALTER TABLE {table} ADD COLUMN note TEXT;\n")
            rollback = f"ALTER TABLE {table} DROP COLUMN note;\nDELETE FROM {table};\n"
        else:  # a view
            body = (f"CREATE VIEW {table}_top AS\n    SELECT id, name, score FROM {table}\n"
                    "     WHERE score > 50\n     ORDER BY score DESC;\n")
            rollback = f"DROP VIEW {table}_top;\n"
        (folder / f"{version}.sql").write_text(
            f"-- bench migration {n}\n-- depends: {previous}\n{body}")
        if n % 10 == 9:
            (folder / f"{version}.rollback.sql").write_text(rollback)
        previous = version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds

    folder = Path(tempfile.mkdtemp(prefix="watoto-bench-many-"))
    generate(folder)
    script = folder.with_name(folder.name + ".sql")
    total = psql_script(sources.read(sources.migration_dirs([folder])), script)
    script_each = folder.with_name(folder.name + "-each.sql")
    psql_script(sources.read(sources.migration_dirs([folder])), script_each, each=True)
    ws = [str(BIN / "watoto-schema")]
    samples: dict[str, list[float]] = {k: [] for k in (
        "psql", "psql_each", "migrate", "status", "status_json", "verify", "noop", "pass",
        "imports",
        "floor")}
    imports = "import click, psycopg, yoyo"
    with cluster() as pg:
        psql = str(Path(pg._state().bindir) / "psql")  # type: ignore[union-attr]
        for i in range(rounds):
            url = fresh_db(pg, f"bench_psql_{i}")
            samples["psql"].append(timed([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                          "-f", str(script), url]))
            url = fresh_db(pg, f"bench_psql_each_{i}")
            samples["psql_each"].append(timed([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                               "-f", str(script_each), url]))
            url = fresh_db(pg, f"bench_ours_{i}")
            here = [*ws, "--dsn", url, "--migrations", str(folder)]
            # --no-premake: the same SQL as psql's (migrate then premakes partitions by default).
            # --allow-unsafe: lint finds the generated plain index builds on tables of earlier
            # migrations unsafe; the run still lints all 209 files (part of the time).
            samples["migrate"].append(timed([*here, "migrate", "--no-premake",
                                             "--allow-unsafe"]))
            samples["status"].append(timed([*here, "status"]))
            samples["status_json"].append(timed([*here, "--json", "status"]))
            samples["verify"].append(timed([*here, "verify"]))
            samples["noop"].append(timed([*here, "migrate"]))
            samples["pass"].append(timed([sys.executable, "-c", "pass"]))
            samples["imports"].append(timed([sys.executable, "-c", imports]))
            samples["floor"].append(timed([
                sys.executable, "-c", "import sys, click, psycopg; "
                "psycopg.connect(sys.argv[1]).execute('SELECT 1').fetchall()", url]))

    ms = {k: median_ms(v) for k, v in samples.items()}

    def paired(key: str, reference: str) -> float:
        """The reference a row's ratio is taken against: the median of per-round ratios
        (each round times both back to back), steadier than a ratio of medians when other
        work shares the machine."""
        ratio = statistics.median(a / b for a, b in zip(samples[key], samples[reference],
                                                         strict=True))
        return ms[key] / ratio

    print(f"migrate a fresh database: {total} migrations ({COUNT} generated), "
          f"median of {rounds} rounds (ratio against psql -f in one transaction, median of "
          "per-round ratios)")
    print(row("psql -X -f, one transaction (same SQL)", ms["psql"], ms["psql"], "reference"))
    print(row("psql -X -f, one transaction per migration", ms["psql_each"],
              paired("psql_each", "psql"), "migrate's atomicity, no bookkeeping"))
    print(row(f"watoto-schema migrate --no-premake ({total})", ms["migrate"],
              paired("migrate", "psql"),
              "target <= 2.00x"))
    each = ms["migrate"] / paired("migrate", "psql_each")
    print(f"  watoto-schema migrate / psql one transaction per migration: {each:.2f}x")
    print(f"with all {total} applied (ratio against the floor: python, imports, one query)")
    floor = ms["floor"]
    print(row("python -c pass", ms["pass"], paired("pass", "floor")))
    print(row(f"python -c '{imports}'", ms["imports"], paired("imports", "floor")))
    print(row("python: import psycopg, connect, SELECT 1", floor, floor, "reference (floor)"))
    print(row("watoto-schema migrate (nothing pending)", ms["noop"], paired("noop", "floor"),
              "target < 300 ms"))
    print(row("watoto-schema status", ms["status"], paired("status", "floor")))
    print(row("watoto-schema --json status", ms["status_json"], paired("status_json", "floor")))
    print(row("watoto-schema verify", ms["verify"], paired("verify", "floor")))

if __name__ == "__main__":
    main()
