"""Issue #11 figure: `watoto-schema health` (whole process) on the 100,000-student sample with
about 50 partitions, against `psql -c 'select 1'` (the cost of asking the server anything
from a new process), measured in the same run on one throwaway server (fsync on).

    make bench            # or: .venv/bin/python bench/health_speed.py [--rounds N] [--students N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

from common import BIN, cluster, fresh_db, median_ms, row, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--students", type=int, default=100_000)
    args = parser.parse_args()
    cli = str(BIN / "watoto-schema")
    with cluster() as pg:
        url = fresh_db(pg, "bench_health")
        began = time.perf_counter()
        for step in (["migrate"], ["sample-data", "--students", str(args.students)],
                     # monthly partitions for 2030-2033: about 50 partitioned children in all
                     ["partitions", "create", "--table", "enrollments", "--from", "2030-01-01",
                      "--to", "2033-07-01", "--interval", "monthly"]):
            subprocess.run([cli, "--dsn", url, *step], check=True, capture_output=True)
        setup = time.perf_counter() - began
        state = pg._state()
        assert state is not None
        psql = str(Path(state.bindir) / "psql")
        env: dict[str, str] = {}
        ours, plain, nagios, prom = [], [], [], []
        for _ in range(args.rounds):
            plain.append(timed([psql, "-X", "-q", "-c", "select 1", url]))
            ours.append(_timed_any([cli, "--dsn", url, "--json", "health"], env))
            nagios.append(_timed_any([cli, "--dsn", url, "health", "--nagios"], env))
            prom.append(_timed_any([cli, "--dsn", url, "health", "--format", "prometheus"],
                                   env))
    reference = median_ms(plain)
    print(f"health on {args.students:,} students, ~50 partitions (setup {setup:.0f} s), "
          f"median of {args.rounds} rounds (ratio against psql -c 'select 1')")
    print(row("psql -c 'select 1'", reference, reference, "reference"))
    print(row("watoto-schema health --json", median_ms(ours), reference))
    print(row("watoto-schema health --nagios", median_ms(nagios), reference))
    print(row("watoto-schema health --format prometheus", median_ms(prom), reference))


def _timed_any(cmd: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of a health run; exit 2 (a warning, e.g. archiving off) is fine."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, **env})
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"benchmark command failed: {proc.stderr.strip()[-400:]}")
    return elapsed


if __name__ == "__main__":
    main()
