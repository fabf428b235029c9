"""Issue #21 figures: the capacity of the LMS mix, `loadtest --find-capacity`, on this machine.

Builds a sample database (fsync on, a throwaway cluster), then searches the highest fixed
arrival rate whose p95 meets every class's target, against ours (1 / 5 / 50 ms) and the
design's (10 / 50 / 500 ms), printing each curve (rate -> p50/p95/p99 per class) and what
missed first. Also loadtest's own overhead against raw pgbench with the same scripts and
protocol (target <= 1.1x). The machine's load average is printed with every figure: other
work on a shared machine moves them.

    .venv/bin/python bench/capacity_speed.py                 # 100,000 students (make bench)
    WATOTO_BENCH_1M=1 .venv/bin/python bench/capacity_speed.py   # 1,000,000 (+ ~4 min load)
    .venv/bin/python bench/capacity_speed.py --students 300000 --max-minutes 10 --report cap

Before and after a change, on the same database: ``--before-bin DIR`` is the ``bin`` folder
of a virtualenv with the release before it (``git worktree add /tmp/base <commit>``, then
``python3 -m venv /tmp/base/.venv && /tmp/base/.venv/bin/pip install /tmp/base``). The
design's search then runs ``--repeat`` times with each, alternated, and the medians and
their ratio are printed. One search's answer moves with the stalls its steps happen to
catch, so only medians of alternated runs compare (docs/loadtest.md).

    .venv/bin/python bench/capacity_speed.py --url URL --before-bin /tmp/base/.venv/bin \
        --repeat 3 --overhead-seconds 0

``--generic-plans`` runs the searches with ``loadtest --plans generic``
(``plan_cache_mode = force_generic_plan`` in every session, as an application role may set
it: docs/decisions/0034); ``--prewarm`` and ``--ramp-seconds N`` pass on to loadtest
(docs/decisions/0035); ``--against ours|design`` runs one of the two searches, and
``--repeat N`` runs each N times and prints the median. None of these combine with
``--before-bin``, whose release may not have them. The figures of decision 0035:

    .venv/bin/python bench/capacity_speed.py --url URL --generic-plans --prewarm \
        --against ours --start-rate 100 --max-minutes 5 --repeat 3 --overhead-seconds 0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from typing import Any

from common import BIN, cluster, sample_db


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} / {five:.1f} (1 / 5 min) on {os.cpu_count()} cores"


def find_capacity(url: str, against: str, args: argparse.Namespace,
                  bin_dir: Any = BIN, label: str = "") -> dict[str, Any]:
    command = [str(bin_dir / "watoto-schema"), "--dsn", url, "loadtest", "--find-capacity",
               "--against", against, "--clients", str(args.clients), "--jobs", "4",
               "--start-rate", str(args.start_rate), "--step-seconds", str(args.step_seconds),
               "--max-minutes", str(args.max_minutes), "--json"]
    if args.generic_plans:
        command += ["--plans", "generic"]
    if args.prewarm:
        command += ["--prewarm"]
    if args.ramp_seconds is not None:
        command += ["--ramp-seconds", str(args.ramp_seconds)]
    if args.report:
        command += ["--report", f"{args.report}-{against}.html"]
    before = load_average()
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"loadtest --find-capacity failed: {proc.stderr.strip()[-400:]}")
    doc: dict[str, Any] = json.loads(proc.stdout)
    print(f"\n{label}capacity against {against} targets ({before} at the start, "
          f"{load_average()} at the end; {doc['protocol']['mode']} protocol, "
          f"{doc.get('plans', {}).get('mode', 'auto')} plans)")
    for step in doc["curve"]:
        cells = "  ".join(
            f"{kind} {c['p50_ms'] or 0:6.2f}/{c['p95_ms'] or 0:7.2f}/{c['p99_ms'] or 0:7.2f}"
            for kind, c in step["classes"].items())
        server = step["server"] or {}
        cpu = (f"cpu server {server.get('server_cores')} pgbench {server.get('pgbench_cores')}"
               if server.get("server_cores") is not None else "")
        print(f"  {step['rate']:>7g} tps asked, {step['achieved_tps']:>7.1f} ran: {cells} "
              f"ms (p50/p95/p99)  {'met' if step['met'] else 'missed'}  {cpu}")
    failing = doc["first_failing"]
    print(f"  capacity: {doc['capacity_tps']} tps ({doc['stopped']}, {doc['seconds']:.0f} s)"
          + (f"; first missed at {failing['rate']:g} tps by {failing['class']} "
             f"({failing['script']}): {'; '.join(failing['missed'])}" if failing else ""))
    if failing and failing["server"]:
        waits = ", ".join(f"{w['wait_event_type']}/{w['wait_event']} {w['sessions']}"
                          for w in failing["server"]["waits"][:5])
        print(f"  waits there: {waits or 'none seen'}")
    return doc


def overhead(url: str, seconds: int) -> None:
    """The whole `loadtest` process against raw pgbench, same scripts, protocol, length."""
    import loadtest_speed

    loadtest_speed.SECONDS = seconds
    doc, ours = loadtest_speed.run_loadtest(url, 50)
    raw, raw_tx = loadtest_speed.raw_pgbench(url, 50, protocol=doc["protocol"]["mode"])
    print(f"\noverhead ({load_average()}): loadtest {ours:.1f} s "
          f"({doc['total']['transactions']:,} tx) vs raw pgbench {raw:.1f} s ({raw_tx:,} tx), "
          f"{doc['protocol']['mode']} protocol: {ours / raw:.2f}x (target <= 1.1x "
          f"{'met' if ours / raw <= 1.1 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int,
                        default=1_000_000 if os.environ.get("WATOTO_BENCH_1M") else 100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--start-rate", type=float, default=50)
    parser.add_argument("--step-seconds", type=int, default=10)
    parser.add_argument("--max-minutes", type=float, default=6,
                        help="bound on each of the two searches")
    parser.add_argument("--overhead-seconds", type=int, default=30,
                        help="length of the overhead comparison runs; 0 skips it")
    parser.add_argument("--report", help="write FILE-ours.html and FILE-design.html")
    parser.add_argument("--url", help="use this sample-data database instead of building one")
    parser.add_argument("--before-bin", help="bin folder of a virtualenv with the release "
                        "before the change: alternate the design's search with it")
    parser.add_argument("--generic-plans", action="store_true",
                        help="the searches' sessions use plan_cache_mode=force_generic_plan "
                        "(docs/decisions/0034), as an application role may")
    parser.add_argument("--prewarm", action="store_true",
                        help="loadtest --prewarm: the database read into memory first")
    parser.add_argument("--ramp-seconds", type=int,
                        help="loadtest --ramp-seconds (default: loadtest's, 2 s)")
    parser.add_argument("--against", choices=["ours", "design", "both"], default="both")
    parser.add_argument("--repeat", type=int,
                        help="searches with each release (--before-bin), else of each target; "
                        "the median is printed [default: 3 with --before-bin, else 1]")
    args = parser.parse_args()
    if args.before_bin and (args.generic_plans or args.prewarm
                            or args.ramp_seconds is not None):
        parser.error("--generic-plans, --prewarm and --ramp-seconds do not combine with "
                     "--before-bin (its release may not have them)")
    if args.url:
        run(args.url, args)
        return
    with cluster() as pg:
        began = time.perf_counter()
        print(f"migrate and sample-data --students {args.students:,} ({load_average()})",
              flush=True)
        url, seconds = sample_db(pg, "bench_capacity", args.students)
        print(f"  loaded in {seconds:.1f} s ({time.perf_counter() - began:.1f} s with the "
              f"process; {load_average()})", flush=True)
        run(url, args)


def run(url: str, args: argparse.Namespace) -> None:
    if args.before_bin:
        before_and_after(url, args)
    else:
        repeat = args.repeat or 1
        for against in (("ours", "design") if args.against == "both" else (args.against,)):
            found = [float(find_capacity(url, against, args)["capacity_tps"] or 0)
                     for _ in range(repeat)]
            if repeat > 1:
                print(f"\ncapacity within {against} targets, median of {repeat} searches: "
                      f"{statistics.median(found):,.0f} tps {found}")
    if args.overhead_seconds:
        overhead(url, args.overhead_seconds)


def before_and_after(url: str, args: argparse.Namespace) -> None:
    """The design's search with the release before and the shipped one, alternated."""
    from pathlib import Path

    found: dict[str, list[float]] = {"before": [], "after": []}
    repeat = args.repeat or 3
    for round_ in range(1, repeat + 1):
        for label, bin_dir in (("before", Path(args.before_bin)), ("after", BIN)):
            doc = find_capacity(url, "design", args, bin_dir, f"[{label} {round_}] ")
            found[label].append(float(doc["capacity_tps"] or 0))
    before, after = (statistics.median(found[k]) for k in ("before", "after"))
    print(f"\ncapacity within the design's targets, median of {repeat} alternated "
          f"searches: before {before:,.0f} tps {found['before']}, after {after:,.0f} tps "
          f"{found['after']}: " + (f"{after / before:.2f}x" if before else "before found none"))


if __name__ == "__main__":
    main()
