"""Issue #15 figure: invalidating a family of 1,000,000 keys among 3,000,000 with
`watoto-schema cache invalidate`'s function (SCAN + UNLINK in paced batches, the policy's
batch and pause), against the naive
`KEYS user:*` + `DEL`, measured in the same run on one throwaway redis-server: the time, and
what a client reading other keys meanwhile sees (p99 of its GETs against the same client on
the idle server; the target is at most 2x).

The reader runs in a process of its own on a fixed schedule (one GET every --interval ms)
and measures each GET from the moment it was due, not from when it could be sent: a server
stalled for 500 ms then counts as the 500 GETs that waited, not as one slow GET (a reader
that only sends after each reply hides a stall, "coordinated omission").

    make bench            # or: .venv/bin/python bench/cache_speed.py [--keys N] [--batch N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import redis

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys per family (x3)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="MS",
                        help="the reader's schedule: one GET every MS")
    parser.add_argument("--batch", type=int, help="cache invalidate --batch (policy's default)")
    parser.add_argument("--pause", type=float, help="cache invalidate --pause MS")
    parser.add_argument("--idle", type=float, default=5.0, metavar="SECONDS")
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
    try:
        conn = redis.Redis(port=port)
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
        policy = load_policy()
        # In this process, imported and connected beforehand like the naive way below: a new
        # Python process starting meanwhile would compete with the reader for the CPU.
        ours_conn = redis.Redis(port=port)
        ours_conn.ping()

        def ours() -> None:
            invalidate(ours_conn, policy, [policy.family("user")], batch=args.batch,
                       pause=None if args.pause is None else args.pause / 1000)

        def naive() -> None:
            found = conn.keys("user:*")
            for first in range(0, len(found), 10_000):
                conn.delete(*found[first:first + 10_000])

        _, idle = _measured(port, args.keys, interval, lambda: time.sleep(args.idle))
        ours_s, during_ours = _measured(port, args.keys, interval, ours)
        assert conn.exists("user:0", "user:999") == 0 and conn.dbsize() == total - args.keys
        _fill(conn, "user", args.keys, debug)
        naive_s, during_naive = _measured(port, args.keys, interval, naive)
        assert conn.dbsize() == total - args.keys
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"invalidate 1 family of {args.keys:,} keys among {total:,} (filled in {fill:.1f} s "
          f"with {'DEBUG POPULATE' if debug else 'pipelines'}); a reader GETs another family "
          f"every {args.interval:g} ms, latency from each GET's due time")
    print(f"  {'':<40} {'seconds':>8} {'GETs':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'p99 vs idle':>12}")
    reference = _pct(idle, 0.99)
    for label, seconds, lat in (
            ("idle server (reference)", args.idle, idle),
            ("cache invalidate (SCAN + UNLINK)", ours_s, during_ours),
            ("KEYS user:* + DEL (naive)", naive_s, during_naive)):
        print(f"  {label:<40} {seconds:8.2f} {len(lat):7d} {_pct(lat, 0.5):8.2f} "
              f"{_pct(lat, 0.99):8.2f} {lat[-1] * 1000:8.1f} "
              f"{_pct(lat, 0.99) / reference:11.2f}x")


if __name__ == "__main__":
    main()
