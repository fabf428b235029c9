"""Issue #3 and #22 figures: whole-process time of `watoto-schema migrate` on a fresh
database against `psql -f` of the same SQL in one transaction (the non-transactional
migrations outside it) and the plain `yoyo apply` command on the same files, measured in one
run on one server, with fsync on (a real server) and off (a test server); and CLI start-up
times.

"Beyond the floor" is what migrate costs past the Python imports every tool of this stack
pays (`python -c "import click, psycopg, yoyo"`): (migrate - floor) / psql. Targets: within
2x of psql beyond the floor, fsync on and off, for the default `migrate` (partitions premade
up to the policy's horizon, which psql and yoyo do not do) and for `migrate --no-premake`
(the same work as psql); faster than yoyo; `--help` under 150 ms and `status` under 300 ms.

    make bench            # or: .venv/bin/python bench/migrate_speed.py [--rounds N]
    .venv/bin/python bench/migrate_speed.py --before REV   # + the figures of git revision REV

With ``--before REV`` the package as it was at REV (``git archive``) is timed in the same
rounds, from a temporary folder on PYTHONPATH: the figure before a change, on the same
server and under the same load as the figure after it.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from common import BIN, cluster, fresh_db, median_ms, psql_script, row, timed

from watoto_schema import sources

IMPORTS = "import click, psycopg, yoyo"
WATOTO = str(BIN / "watoto-schema")


def package_at(revision: str) -> Path:
    """A folder holding ``watoto_schema`` as it was at git ``revision``, laid out like the
    wheel (migrations and sql inside the package), for PYTHONPATH."""
    archive = subprocess.run(["git", "archive", revision, "src/watoto_schema", "migrations",
                              "sql"], check=True, capture_output=True,
                             cwd=Path(__file__).resolve().parents[1]).stdout
    root = Path(tempfile.mkdtemp(prefix="watoto-bench-before-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root / "checkout", filter="data")
    package = root / "watoto_schema"
    shutil.move(root / "checkout" / "src" / "watoto_schema", package)
    for name in ("migrations", "sql"):
        shutil.move(root / "checkout" / name, package / name)
    shutil.rmtree(root / "checkout")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    return root


def fresh_migrate(fsync: bool, rounds: int, script: Path, count: int,
                  before: tuple[str, Path] | None = None) -> None:
    """The fresh-database figures on one cluster: psql, ours (with and without premaking),
    yoyo, the floor and, with ``before``, the same migrate from an earlier package,
    interleaved round by round."""
    ours, bare, plain_psql, yoyo, floor, old, old_bare = ([] for _ in range(7))
    with cluster(fsync=fsync) as pg:
        psql = str(Path(pg._state().bindir) / "psql")  # type: ignore[union-attr]
        for i in range(rounds):
            url = fresh_db(pg, f"bench_ours_{i}")
            ours.append(timed([WATOTO, "--dsn", url, "migrate"]))
            url = fresh_db(pg, f"bench_bare_{i}")
            bare.append(timed([WATOTO, "--dsn", url, "migrate", "--no-premake"]))
            url = fresh_db(pg, f"bench_psql_{i}")
            plain_psql.append(timed([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                                     str(script), url]))
            url = fresh_db(pg, f"bench_yoyo_{i}")
            yoyo_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
            yoyo.append(timed([str(BIN / "yoyo"), "apply", "--batch", "--no-config-file",
                               "--database", yoyo_url, str(sources.migration_dirs()[0])]))
            floor.append(timed([sys.executable, "-c", IMPORTS]))
            if before is not None:
                env = {"PYTHONPATH": str(before[1])}
                url = fresh_db(pg, f"bench_before_{i}")
                old.append(timed([WATOTO, "--dsn", url, "migrate"], env=env))
                url = fresh_db(pg, f"bench_before_bare_{i}")
                old_bare.append(timed([WATOTO, "--dsn", url, "migrate", "--no-premake"],
                                      env=env))
    psql_ms, ours_ms, bare_ms = median_ms(plain_psql), median_ms(ours), median_ms(bare)
    yoyo_ms, floor_ms = median_ms(yoyo), median_ms(floor)
    setting = "on (a real server)" if fsync else "off (a test server)"
    print(f"migrate a fresh database, fsync {setting}: {count} migrations, median of {rounds} "
          "rounds (ratio against psql -f, one transaction)")
    print(row("psql -f, one transaction (same SQL)", psql_ms, psql_ms, "reference"))
    print(row("watoto-schema migrate (premakes partitions)", ours_ms, psql_ms))
    print(row("watoto-schema migrate --no-premake", bare_ms, psql_ms))
    print(row("yoyo apply (same files)", yoyo_ms, psql_ms))
    print(f"  watoto-schema / yoyo: {bare_ms / yoyo_ms:.2f}x --no-premake, "
          f"{ours_ms / yoyo_ms:.2f}x premaking (target < 1.00x)")
    print(row(f"python -c '{IMPORTS}'", floor_ms, psql_ms,
              "floor: the stack's imports alone"))
    figures = [("migrate", ours_ms), ("migrate --no-premake", bare_ms)]
    if before is not None:
        old_ms, old_bare_ms = median_ms(old), median_ms(old_bare)
        print(row(f"migrate at {before[0]} (before)", old_ms, psql_ms))
        print(row(f"migrate --no-premake at {before[0]} (before)", old_bare_ms, psql_ms))
        figures += [("before, migrate", old_ms), ("before, --no-premake", old_bare_ms)]
    for label, ms in figures:
        print(f"  beyond the floor, {label + ':':<22} ({ms:.1f} - {floor_ms:.1f}) / "
              f"{psql_ms:.1f} = {(ms - floor_ms) / psql_ms:.2f}x psql (target <= 2.00x)")


def start_up(rounds: int) -> None:
    help_times, status_times, python_times = [], [], []
    with cluster() as pg:
        url = fresh_db(pg, "bench_status")
        timed([WATOTO, "--dsn", url, "migrate", "--no-premake"])
        for _ in range(rounds):
            status_times.append(timed([WATOTO, "--dsn", url, "status"]))
            help_times.append(timed([WATOTO, "--help"]))
            python_times.append(timed([sys.executable, "-c", "pass"]))
    python_ms = median_ms(python_times)
    print("start-up (ratio against `python -c pass`)")
    print(row("python -c pass", python_ms, python_ms, "reference"))
    print(row("watoto-schema --help", median_ms(help_times), python_ms, "target < 150 ms"))
    print(row("watoto-schema status (all applied)", median_ms(status_times), python_ms,
              "target < 300 ms"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", metavar="REV",
                        help="also time migrate as it was at git revision REV")
    args = parser.parse_args()
    rounds = args.rounds
    before = (args.before, package_at(args.before)) if args.before else None

    files = sources.read(sources.migration_dirs())
    script = Path(tempfile.mkdtemp(prefix="watoto-bench-sql-")) / "all.sql"
    psql_script(files, script)
    for fsync in (True, False):
        fresh_migrate(fsync, rounds, script, len(files), before)
    start_up(rounds)
    if before is not None:
        shutil.rmtree(before[1])


if __name__ == "__main__":
    main()
