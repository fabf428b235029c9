"""Issue #5 figure: whole-process time of `watoto-schema drift` on the full schema with at
least 40 partitions, against `pg_dump --schema-only` of the same database, in one run.

Target: no slower than pg_dump. Two drift figures: warm (the expected schema is cached by
the applied migrations' checksums, the usual case for a scheduled check) and cold
(`--no-cache`: the expected schema is built in a scratch database first).

    make bench            # or: .venv/bin/python bench/drift_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import BIN, cluster, fresh_db, median_ms, row, timed

EXTRA_YEARS = range(2028, 2064)  # 36 more yearly partitions: 41 on enrollments, 4 on users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
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
        dump, warm, cold = [], [], []
        timed([*ws, "--dsn", url, "--migrations", str(folder), "drift"], env)  # fill cache
        for _ in range(rounds):
            dump.append(timed([pg_dump, "--schema-only", "-f", os.devnull, url]))
            warm.append(timed([*ws, "--dsn", url, "--migrations", str(folder), "drift"], env))
            cold.append(timed([*ws, "--dsn", url, "--migrations", str(folder), "drift",
                               "--no-cache"], env))
    reference = median_ms(dump)
    print(f"drift of the full schema with {partitions} partitions, median of {rounds} rounds "
          "(ratio against pg_dump --schema-only)")
    print(row("pg_dump --schema-only", reference, reference, "reference"))
    print(row("watoto-schema drift (expected schema cached)", median_ms(warm), reference,
              "target <= 1.00x"))
    print(row("watoto-schema drift --no-cache (scratch build)", median_ms(cold), reference))


if __name__ == "__main__":
    main()
