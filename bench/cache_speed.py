"""Issues #15 and #21 figures: invalidating a family of 1,000,000 keys among 3,000,000 with
`watoto-schema cache invalidate`'s function (SCAN + UNLINK in paced batches), against the
naive `KEYS user:*` + `DEL`, measured in the same run on one throwaway redis-server: the
time, and what a client reading other keys meanwhile sees (p99 of its GETs against the same
client on the idle server; the target is at most 2x).

Phases, repeated --rounds times and interleaved (the machine is shared): the idle server
(the reference of the round); `invalidate` as before #21 (batch 200, 2 ms pauses, no rate
limit: --no-pacing's settings); `invalidate` with the policy's pacing (or --batch /
--pause / --max-rate); the naive way once. Medians over the rounds.

The reader runs in a process of its own on a fixed schedule (one GET every --interval ms)
and measures each GET from the moment it was due, not from when it could be sent: a server
stalled for 500 ms then counts as the 500 GETs that waited, not as one slow GET (a reader
that only sends after each reply hides a stall, "coordinated omission").

    make bench            # or: .venv/bin/python bench/cache_speed.py [--keys N] [--rounds N]
                          #       [--batch N] [--pause MS] [--max-rate KEYS/S]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import redis
from common import load_average

from watoto_schema.cache import invalidate, load_policy

FAMILIES = ("user", "course", "session")  # user is invalidated; the others stay


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reader(port: int, keys: int, interval: float, ready: Event, stop: Event,
            out: Any) -> None:
    """GET session keys on a fixed schedule; latency counted from each GET's due time."""
    conn = redis.Redis(port=port)
    conn.ping()
    latencies: list[float] = []
    ready.set()
    due = time.perf_counter()
    i = 0
    while not stop.is_set():
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        conn.get(f"session:{(i * 7919) % keys}")
        latencies.append(time.perf_counter() - due)
        due += interval
        i += 1
    out.send(latencies)


def _measured(port: int, keys: int, interval: float,
              work: Callable[[], None]) -> tuple[float, list[float]]:
    """Seconds of ``work`` and the reader's latencies while it ran."""
    ready, stop = mp.Event(), mp.Event()
    receive, send = mp.Pipe(duplex=False)
    reader = mp.Process(target=_reader, args=(port, keys, interval, ready, stop, send))
    reader.start()
    ready.wait(30)
    time.sleep(0.3)  # the reader settles into its schedule
    began = time.perf_counter()
    work()
    seconds = time.perf_counter() - began
    stop.set()
    latencies: list[float] = receive.recv()
    reader.join()
    return seconds, sorted(latencies)


def _pct(latencies: list[float], p: float) -> float:
    return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000


def _fill(conn: redis.Redis, family: str, keys: int, debug: bool) -> None:
    """``keys`` keys ``family:0`` .. (existing ones are kept): DEBUG POPULATE when allowed."""
    if debug:
        conn.execute_command("DEBUG", "POPULATE", keys, family, 40)
        return
    for first in range(0, keys, 10_000):
        pipe = conn.pipeline(transaction=False)
        for i in range(first, min(first + 10_000, keys)):
            pipe.set(f"{family}:{i}", b"v" * 40)
        pipe.execute()


def describe(settings: dict[str, float]) -> str:
    rate = f", max {settings['max_rate']:g} keys/s" if settings["max_rate"] else ""
    return f"batch {settings['batch']:g}, pause {settings['pause'] * 1000:g} ms{rate}"


def show(row: tuple[str, int, str, float, list[float], list[float], str]) -> None:
    label, round_no, load, seconds, lat, idle, note = row
    ratio = _pct(lat, 0.99) / _pct(idle, 0.99)
    print(f"  {label:<34} {round_no:>5} {load:>5} {seconds:8.2f} {len(lat):7d} "
          f"{_pct(lat, 0.5):8.2f} {_pct(lat, 0.99):8.2f} {lat[-1] * 1000:8.1f} "
          f"{ratio:11.2f}x  {note}", flush=True)


UNPACED = {"batch": 200, "pause": 0.002, "max_rate": 0.0}  # cache invalidate before #21


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys per family (x3)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="MS",
                        help="the reader's schedule: one GET every MS")
    parser.add_argument("--batch", type=int, help="paced: --batch (the policy's default)")
    parser.add_argument("--pause", type=float, help="paced: --pause MS (the policy's)")
    parser.add_argument("--max-rate", type=float, help="paced: --max-rate (the policy's)")
    parser.add_argument("--idle", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-naive", action="store_true", help="skip KEYS + DEL")
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (Debian: apt-get install redis-server)")
    workdir = Path(tempfile.mkdtemp(prefix="watoto-bench-redis-"))
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--daemonize", "no", "--dir", str(workdir), "--enable-debug-command", "local",
         "--logfile", str(workdir / "redis.log")], stdout=subprocess.DEVNULL)
    policy = load_policy()
    paced = {"batch": args.batch or policy.batch,
             "pause": policy.pause if args.pause is None else args.pause / 1000,
             "max_rate": policy.max_rate if args.max_rate is None else args.max_rate}
    rows: list[tuple[str, int, str, float, list[float], list[float], str]] = []
    try:
        conn = redis.Redis(port=port, socket_timeout=300)  # KEYS blocks long
        for _ in range(100):
            try:
                conn.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        try:
            conn.execute_command("DEBUG", "POPULATE", 1, "probe", 1)
            conn.delete("probe:0")
            debug = True
        except redis.ResponseError:
            debug = False
        began = time.perf_counter()
        for family in FAMILIES:
            _fill(conn, family, args.keys, debug)
        fill = time.perf_counter() - began
        total = int(conn.dbsize())
        interval = args.interval / 1000
        print(f"invalidate 1 family of {args.keys:,} keys among {total:,} (filled in "
              f"{fill:.1f} s with {'DEBUG POPULATE' if debug else 'pipelines'}); a reader "
              f"GETs another family every {args.interval:g} ms, latency from each GET's due "
              f"time")
        print(f"  unpaced: {describe(UNPACED)}; paced: {describe(paced)}")
        print(f"  {'':<34} {'round':>5} {'load':>5} {'seconds':>8} {'GETs':>7} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8} {'p99 vs idle':>12}", flush=True)
        # In this process, imported and connected beforehand like the naive way below: a new
        # Python process starting meanwhile would compete with the reader for the CPU.
        ours_conn = redis.Redis(port=port)
        ours_conn.ping()
        notes: dict[str, str] = {}

        def ours(label: str, settings: dict[str, float]) -> Callable[[], None]:
            def work() -> None:
                result = invalidate(ours_conn, policy, [policy.family("user")],
                                    batch=int(settings["batch"]), pause=settings["pause"],
                                    max_rate=settings["max_rate"])
                notes[label] = (f"{result.batches} batches, {result.paused_seconds:.1f}s "
                                "pausing")
            return work

        def naive() -> None:
            found = conn.keys("user:*")
            for first in range(0, len(found), 10_000):
                conn.delete(*found[first:first + 10_000])

        for round_no in range(1, args.rounds + 1):
            load = load_average()
            _, idle = _measured(port, args.keys, interval, lambda: time.sleep(args.idle))
            rows.append(("idle server (reference)", round_no, load, args.idle, idle, idle, ""))
            show(rows[-1])
            phases: list[tuple[str, Callable[[], None]]] = [
                ("invalidate, unpaced (before #21)", ours("unpaced", UNPACED)),
                ("invalidate, paced", ours("paced", paced))]
            if round_no == 1 and not args.no_naive:
                phases.append(("KEYS user:* + DEL (naive)", naive))
            for label, work in phases:
                load = load_average()
                seconds, during = _measured(port, args.keys, interval, work)
                assert conn.exists("user:0", "user:999") == 0
                assert conn.dbsize() == total - args.keys
                note = notes.get("unpaced" if "unpaced" in label else "paced", "") \
                    if "naive" not in label else ""
                rows.append((label, round_no, load, seconds, during, idle, note))
                show(rows[-1])
                _fill(conn, "user", args.keys, debug)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)

    ratios: dict[str, list[float]] = {}
    took: dict[str, list[float]] = {}
    for label, _, _, seconds, lat, idle, _ in rows:
        ratios.setdefault(label, []).append(_pct(lat, 0.99) / _pct(idle, 0.99))
        took.setdefault(label, []).append(seconds)
    print("medians over the rounds:")
    for label, values in ratios.items():
        if label.startswith("idle"):
            continue
        print(f"  {label:<34} p99 {statistics.median(values):.2f}x idle in "
              f"{statistics.median(took[label]):.1f}s"
              + ("" if "naive" in label else
                 f"  target <= 2x: {'met' if statistics.median(values) <= 2 else 'NOT met'}"))


if __name__ == "__main__":
    main()
