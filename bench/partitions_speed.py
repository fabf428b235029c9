"""Issue #4 figure: time to create 10 years of monthly partitions (120 + DEFAULT) for one
table, with `watoto-schema partitions ensure` and with pg_partman 4.7's `create_parent`,
side by side in one run (whole commands: our process, `psql -c` for pg_partman).

Needs the pg_partman extension (Debian: postgresql-15-partman).

    make bench            # or: .venv/bin/python bench/partitions_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date
from pathlib import Path

import psycopg
from common import BIN, cluster, fresh_db, median_ms, row, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    today = date.today()
    months = today.year * 12 + today.month - 1 - 118  # 120 months: 118 back, this, 1 ahead
    start = date(months // 12, months % 12 + 1, 1)
    policy = Path(tempfile.mkdtemp(prefix="watoto-bench-policy-")) / "partitions.toml"
    policy.write_text(f'[events]\nstrategy = "range"\nkey = "ts"\ninterval = "monthly"\n'
                      f'start = "{start}"\npremake = 1\nnaming = "{{table}}_p{{year}}_'
                      '{month:02d}"\ndefault = true\n')
    create = "CREATE TABLE events (id bigint, ts timestamp NOT NULL) PARTITION BY RANGE (ts)"
    ours, theirs, counts = [], [], set()
    with cluster() as pg:
        psql = str(Path(pg._state().bindir) / "psql")  # type: ignore[union-attr]
        for i in range(rounds):
            url = fresh_db(pg, f"bench_ours_{i}")
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(create)
            ours.append(timed([str(BIN / "watoto-schema"), "--dsn", url, "partitions",
                               "ensure", "--policy", str(policy)]))
            url_pm = fresh_db(pg, f"bench_partman_{i}")
            with psycopg.connect(url_pm, autocommit=True) as conn:
                if conn.execute("SELECT 1 FROM pg_available_extensions "
                                "WHERE name = 'pg_partman'").fetchone() is None:
                    raise SystemExit("pg_partman is not installed: apt-get install "
                                     "postgresql-15-partman")
                conn.execute("CREATE SCHEMA partman")
                conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
                conn.execute(create)
            theirs.append(timed([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", url_pm, "-c",
                                 "SELECT partman.create_parent(p_parent_table := 'public.events',"
                                 " p_control := 'ts', p_type := 'native', p_interval := "
                                 f"'monthly', p_premake := 1, p_start_partition := '{start}')"]))
            for target in (url, url_pm):
                with psycopg.connect(target) as conn:
                    counts.add(conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent "
                                            "= 'events'::regclass").fetchone()[0])  # type: ignore[index]
    reference = median_ms(theirs)
    print(f"10 years of monthly partitions for one table (partitions per tool: "
          f"{sorted(counts)}), median of {rounds} rounds (ratio against pg_partman)")
    print(row("pg_partman 4.7 create_parent (psql -c)", reference, reference, "reference"))
    print(row("watoto-schema partitions ensure", median_ms(ours), reference))


if __name__ == "__main__":
    main()
