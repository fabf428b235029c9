"""Issue #23 figures: the dashboard's first render and what one refresh costs the database.

On sample data (default 1,000,000 students) in a cluster with pg_stat_statements loaded:

* **first render**: ``watoto-schema dashboard`` runs as a process; headless Chromium opens
  the page and we time, from navigation start, the page's first paint of data
  (``DOMContentLoaded``) and the moment every section has been read (no section pending).
  Cold: the first visit right after the server started (it reads everything, drift's
  expected schema comes from the cache); warm: a new visit to the running server.
  Target: under 1 s.
* **refresh cost**: pg_stat_statements is reset, one refresh of the live sections runs
  (what an open page costs every ``--refresh`` seconds), and the database's statements are
  summed: count and execution time. Then the same for one read of the slow sections (every
  ``--slow-refresh`` seconds). Target: under 50 ms per refresh.
* **reference** (same run): the five commands an operator runs instead (``status``,
  ``drift``, ``partitions list``, ``maintain plan``, ``health``), each a process, their
  database time summed the same way, and their wall time.

    .venv/bin/python bench/dashboard_speed.py [--students N] [--screenshot FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from common import BIN, cluster, fresh_db

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from watoto_schema.dashboard import Dashboard, Options  # noqa: E402
from watoto_schema.health import Thresholds  # noqa: E402
from watoto_schema.local import free_port  # noqa: E402
from watoto_schema.target import Target  # noqa: E402

CLI = str(BIN / "watoto-schema")
FIRST_RENDER_MS, REFRESH_MS = 1000.0, 50.0
COMMANDS = [["status"], ["drift"], ["partitions", "list"], ["maintain", "plan"], ["health"]]


def statements_cost(url: str) -> tuple[int, float]:
    """Statements run in the database since the last reset, and their execution time."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time + total_plan_time), 0)"
            " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
            "WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'"
        ).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"),
                            options=options)


def render(driver: Any, url: str) -> tuple[float, float]:
    """(ms to DOMContentLoaded, ms until no section is pending), from navigation start."""
    driver.get("about:blank")
    driver.get(url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = driver.execute_script(
            "return document.querySelector('main') !== null && "
            "document.querySelector('main[data-pending]') === null")
        if done:
            break
        time.sleep(0.02)
    complete = time.monotonic()
    timing = driver.execute_script(
        "const t = performance.getEntriesByType('navigation')[0];"
        "return [t.domContentLoadedEventEnd, performance.now()];")
    # the poll's own delay is within 20 ms; performance.now() is read right after it
    return float(timing[0]), float(timing[1]) - (time.monotonic() - complete) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1_000_000)
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the page here")
    args = parser.parse_args()
    with cluster() as pg:
        with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        pg.stop()
        pg.start(dbname="postgres")
        url = fresh_db(pg, "watoto")
        began = time.perf_counter()
        subprocess.run([CLI, "--dsn", url, "migrate"], check=True, capture_output=True)
        subprocess.run([CLI, "--dsn", url, "sample-data", "--students", str(args.students)],
                       check=True, capture_output=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        subprocess.run([CLI, "--dsn", url, "loadtest", "--duration", "10", "--clients", "8"],
                       capture_output=True)
        subprocess.run([CLI, "--dsn", url, "drift"], capture_output=True)  # cache the expected
        print(f"dashboard on {args.students:,} students (set up in "
              f"{time.perf_counter() - began:.0f} s), load "
              f"{os.getloadavg()[0]:.2f}")

        # refresh cost, in this process (the same code the server runs)
        target = Target(url, "bench")
        board = Dashboard(target, Options(thresholds=Thresholds(archive_required=False)))
        board.collect_now()  # imports and caches, as a running server has them
        live, slow = [], []
        for _ in range(5):
            reset(url)
            board._collect(slow=False)
            live.append(statements_cost(url))
            reset(url)
            started = time.perf_counter()
            board._collect(slow=True)
            wall = time.perf_counter() - started
            calls, ms = statements_cost(url)
            slow.append((calls - live[-1][0], ms - live[-1][1], wall))
        live_ms = sorted(ms for _, ms in live)[len(live) // 2]
        live_calls = sorted(c for c, _ in live)[len(live) // 2]
        slow_ms = sorted(ms for _, ms, _ in slow)[len(slow) // 2]
        slow_calls = sorted(c for c, _, _ in slow)[len(slow) // 2]
        per_refresh = live_ms + slow_ms * 10 / 300  # defaults: --refresh 10, --slow-refresh 300

        reset(url)
        started = time.perf_counter()
        for command in COMMANDS:
            subprocess.run([CLI, "--dsn", url, *command], capture_output=True)
        commands_wall = (time.perf_counter() - started) * 1000
        commands_calls, commands_ms = statements_cost(url)

        port = free_port()
        server = subprocess.Popen([CLI, "--dsn", url, "dashboard", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stderr is not None
            server.stderr.readline()  # "serving ..." once it listens
            driver = browser()
            try:
                cold = render(driver, f"http://127.0.0.1:{port}/")
                warm = [render(driver, f"http://127.0.0.1:{port}/") for _ in range(5)]
                if args.screenshot:
                    height = driver.execute_script("return document.body.scrollHeight")
                    driver.set_window_size(1280, min(height + 100, 8000))
                    driver.save_screenshot(str(args.screenshot))
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait(10)
        warm_paint = sorted(w[0] for w in warm)[2]
        warm_done = sorted(w[1] for w in warm)[2]

        print("  first render (target 1 s)                        ms    x target")
        print(f"  cold: first paint                          {cold[0]:9.1f}  "
              f"{cold[0] / FIRST_RENDER_MS:6.2f}x")
        print(f"  cold: every section read                   {cold[1]:9.1f}  "
              f"{cold[1] / FIRST_RENDER_MS:6.2f}x")
        print(f"  warm: first paint (median of 5)            {warm_paint:9.1f}  "
              f"{warm_paint / FIRST_RENDER_MS:6.2f}x")
        print(f"  warm: every section read (median of 5)     {warm_done:9.1f}  "
              f"{warm_done / FIRST_RENDER_MS:6.2f}x")
        print("  database cost (pg_stat_statements)     statements      ms    x target")
        print(f"  one live refresh (every 10 s)              {live_calls:6d}  {live_ms:9.1f}  "
              f"{live_ms / REFRESH_MS:6.2f}x")
        print(f"  one slow read (every 300 s)                {slow_calls:6d}  {slow_ms:9.1f}")
        print(f"  per refresh, slow read amortised                   {per_refresh:9.1f}  "
              f"{per_refresh / REFRESH_MS:6.2f}x")
        print(f"  reference: the 5 commands, once            {commands_calls:6d}  "
              f"{commands_ms:9.1f}  (wall {commands_wall:.0f} ms for the processes)")
        print(f"  per refresh / the 5 commands' database time: "
              f"{per_refresh / commands_ms:.2f}x")


if __name__ == "__main__":
    main()
