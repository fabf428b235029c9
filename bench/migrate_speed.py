"""Issue #3 figures: whole-process time of `watoto-schema migrate` on a fresh database,
against `psql -f` of the same SQL in one transaction (the non-transactional
migrations outside it) and the plain `yoyo apply` command on the same files,
measured in one run on one server; and CLI start-up times.

Targets: migrate within 2x of psql and faster than yoyo; `--help` under 150 ms and
`status` under 300 ms.

    make bench            # or: .venv/bin/python bench/migrate_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import BIN, cluster, fresh_db, median_ms, psql_script, row, timed

from watoto_schema import sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds

    files = sources.read(sources.migration_dirs())
    script = Path(tempfile.mkdtemp(prefix="watoto-bench-sql-")) / "all.sql"
    psql_script(files, script)
    psql = str(Path(sys.executable).parent / "psql")
    psql = psql if Path(psql).exists() else "psql"
    ours, plain_psql, yoyo, help_times, status_times, python_times, floor = ([] for _ in range(7))
    imports = "import click, psycopg, yoyo"
    with cluster() as pg:
        bindir = Path(pg._state().bindir)  # type: ignore[union-attr]
        psql = str(bindir / "psql")
        for i in range(rounds):
            url = fresh_db(pg, f"bench_ours_{i}")
            # --no-premake: the psql and yoyo references create no partitions beyond the files
            ours.append(timed([str(BIN / "watoto-schema"), "--dsn", url, "migrate",
                               "--no-premake"]))
            status_times.append(timed([str(BIN / "watoto-schema"), "--dsn", url, "status"]))
            url = fresh_db(pg, f"bench_psql_{i}")
            plain_psql.append(timed([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                                     str(script), url]))
            url = fresh_db(pg, f"bench_yoyo_{i}")
            yoyo_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
            yoyo.append(timed([str(BIN / "yoyo"), "apply", "--batch", "--no-config-file",
                               "--database", yoyo_url, str(sources.migration_dirs()[0])]))
            help_times.append(timed([str(BIN / "watoto-schema"), "--help"]))
            python_times.append(timed([sys.executable, "-c", "pass"]))
            floor.append(timed([sys.executable, "-c", imports]))

    psql_ms = median_ms(plain_psql)
    ours_ms = median_ms(ours)
    yoyo_ms = median_ms(yoyo)
    print(f"migrate a fresh database: {len(files)} migrations, median of {rounds} rounds "
          "(ratio against psql -f, one transaction)")
    print(row("psql -f, one transaction (same SQL)", psql_ms, psql_ms, "reference"))
    print(row("watoto-schema migrate", ours_ms, psql_ms, "target <= 2.00x"))
    print(row("yoyo apply (same files)", yoyo_ms, psql_ms))
    print(f"  watoto-schema / yoyo: {ours_ms / yoyo_ms:.2f}x (target < 1.00x)")
    print(row(f"python -c '{imports}'", median_ms(floor), psql_ms,
              "floor: the stack's imports alone"))
    python_ms = median_ms(python_times)
    print("start-up (ratio against `python -c pass`)")
    print(row("python -c pass", python_ms, python_ms, "reference"))
    print(row("watoto-schema --help", median_ms(help_times), python_ms, "target < 150 ms"))
    print(row("watoto-schema status (7 applied)", median_ms(status_times), python_ms,
              "target < 300 ms"))


if __name__ == "__main__":
    main()
