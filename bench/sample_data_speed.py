"""Issue #2 figure: `watoto-schema sample-data --students 100000` must load in under a minute.

Reference measured in the same run: COPY of exactly the same rows into bare copies of the
tables (no indexes, constraints or triggers), i.e. the cost of moving the bytes alone. The
ratio shows what the schema's guarantees (key tables, foreign keys, indexes) cost.

    make bench            # or: .venv/bin/python bench/sample_data_speed.py [--students N]
"""

from __future__ import annotations

import argparse
import io
import time

import psycopg
from common import BIN, cluster, fresh_db, timed
from psycopg import sql

from watoto_schema.sample_data import TABLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=100_000)
    students = parser.parse_args().students
    with cluster() as pg:
        url = fresh_db(pg, "bench_sample")
        timed([str(BIN / "watoto-schema"), "--dsn", url, "migrate"])
        ours = timed([str(BIN / "watoto-schema"), "--dsn", url, "sample-data",
                       "--students", str(students)])
        with psycopg.connect(url, autocommit=True) as conn:
            counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(t))).fetchone()[0] for t in TABLES}  # type: ignore[index]
            dumps = {}
            for table in TABLES:
                buffer = io.BytesIO()
                with conn.cursor().copy(sql.SQL("COPY (SELECT * FROM {}) TO STDOUT").format(
                        sql.Identifier(table))) as copy:
                    for chunk in copy:
                        buffer.write(chunk)
                dumps[table] = buffer.getvalue()
            started = time.perf_counter()
            with conn.transaction():
                for table in TABLES:
                    bare = sql.Identifier(f"bare_{table}")
                    conn.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(
                        bare, sql.Identifier(table)))
                    with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(bare)) as copy:
                        copy.write(dumps[table])
            bare_seconds = time.perf_counter() - started
    total = sum(counts.values())
    print(f"sample-data --students {students:,}: {total:,} rows "
          + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print(f"  COPY of the same rows into bare tables   {bare_seconds:7.1f} s    1.00x  reference")
    print(f"  watoto-schema sample-data (whole process) {ours:7.1f} s  {ours / bare_seconds:6.2f}x"
          f"  target < 60 s ({'met' if ours < 60 else 'MISSED'})")


if __name__ == "__main__":
    main()
