"""Issue #21 figures: 10,000 concurrent users through PgBouncer, on this machine.

* `loadtest --users 10000 --think-time 1000` through `local start --pgbouncer`'s pooler
  (transaction pooling, sized by it): connection failures, the time to connect everyone,
  tps and p50/p95/p99 per class against the design's targets (10 / 50 / 500 ms);
* the same tps with 50 direct clients (`loadtest --clients 50 --rate <that tps>`), side
  by side, and the ratios users / direct;
* the same at each further think time of WATOTO_BENCH_THINK_MS (default 1000,5000: a think
  time this machine holds, when one second asks more than its capacity).

    .venv/bin/python bench/users_speed.py
    WATOTO_BENCH_SECONDS=60          # seconds per load-test run (default 30)
    WATOTO_BENCH_USERS=10000         # the users (default 10000)
    WATOTO_BENCH_THINK_MS=1000,5000  # think times (ms) to run
    WATOTO_BENCH_1M=1                # 1,000,000 students instead of 100,000 (minutes more)
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from common import BIN, cluster, cpu_seconds, sample_db

from watoto_schema.local import pgbouncer

SECONDS = int(os.environ.get("WATOTO_BENCH_SECONDS", "30"))
USERS = int(os.environ.get("WATOTO_BENCH_USERS", "10000"))
THINK_MS = [int(v) for v in os.environ.get("WATOTO_BENCH_THINK_MS", "1000,5000").split(",")]
STUDENTS = 1_000_000 if os.environ.get("WATOTO_BENCH_1M") else 100_000


def loadtest(url: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run([str(BIN / "watoto-schema"), "--dsn", url, "loadtest", "--duration",
                           str(SECONDS), "--against", "design", "--json", *args],
                          capture_output=True, text=True)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"loadtest {' '.join(args)} failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def side_by_side(users: dict[str, Any], direct: dict[str, Any]) -> None:
    print(f"    {'':<8} {'users p50/p95/p99 ms':>26}  {'direct p50/p95/p99 ms':>26}  "
          f"{'p95 ratio':>9}  design p95")
    for mine, theirs in zip(users["classes"], direct["classes"], strict=True):
        a, b = mine["stats"], theirs["stats"]
        ratio = (f"{a['p95_ms'] / b['p95_ms']:8.2f}x" if a["p95_ms"] and b["p95_ms"]
                 else "       -")
        print(f"    {mine['kind']:<8} {a['p50_ms']:8.1f} {a['p95_ms']:8.1f} {a['p99_ms']:8.1f}  "
              f"{b['p50_ms']:8.1f} {b['p95_ms']:8.1f} {b['p99_ms']:8.1f}  {ratio}  "
              f"{mine['design_target_ms']:g} ms: users "
              f"{'met' if mine['meets_design'] else 'MISSED'}, direct "
              f"{'met' if theirs['meets_design'] else 'MISSED'}")


def main() -> None:
    print(f"loadtest --users, {SECONDS} s per run, {os.cpu_count()} cores, "
          f"{STUDENTS:,} students; load average {load_average()}")
    with cluster() as pg:
        url, seconds = sample_db(pg, "bench_users", STUDENTS)
        print(f"sample-data --students {STUDENTS:,}: {seconds:.1f} s")
        pooler = pgbouncer.start(pg)
        try:
            assert pooler.url is not None
            via = pooler.url.replace("/watoto?", "/bench_users?")
            print(f"PgBouncer: transaction pooling, {pooler.pool_size} server connections, "
                  f"max_client_conn {pooler.max_client_conn:,}")
            for think in THINK_MS:
                spent = cpu_seconds(pooler.pid)
                users = loadtest(via, "--users", str(USERS), "--think-time", str(think))
                pooler_cpu = (cpu_seconds(pooler.pid) - spent) / users["seconds"]["pgbench"]
                part = users["users"]
                tps = users["total"]["tps"]
                print(f"  {USERS:,} users, think {think} ms: connected in "
                      f"{part['connect_seconds']:.2f} s, {part['connection_failures']} "
                      f"connection failures, {users['aborted_clients']} aborted, "
                      f"{users['total']['transactions']:,} transactions, {tps:,.0f} tps "
                      f"(PgBouncer {pooler_cpu:.0%} of a core; load average "
                      f"{load_average()})")
                direct = loadtest(url, "--clients", "50", "--rate", f"{max(tps, 1):.0f}")
                print(f"  50 direct clients at --rate {tps:,.0f}: "
                      f"{direct['total']['tps']:,.0f} tps "
                      f"({direct['total']['tps'] / max(tps, 1):.2f}x), "
                      f"{direct['aborted_clients']} aborted (load average {load_average()})")
                side_by_side(users, direct)
                print(f"    design targets, {USERS:,} users: "
                      + ("all met" if not users["missed"] else "; ".join(users["missed"])))
        finally:
            pgbouncer.stop(pg)


if __name__ == "__main__":
    main()
