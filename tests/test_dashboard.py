"""The dashboard (#23, docs/dashboard.md) in a real headless Chromium, against a real
primary with a streaming standby, pg_stat_statements loaded, sample data and a real load
test: every section renders with data and no script error; an active online migration and
a drifted database show as such; a hostile name is text; a phone-width page does not
overflow; the page survives the database going away and coming back; a token is needed
beyond loopback; bad input is one line with its exit code."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from watoto_schema import migrate, sample_data
from watoto_schema.dashboard import Dashboard, Endpoint, Options, Renderer, start
from watoto_schema.dashboard.collect import HIDDEN_QUERY, read_only
from watoto_schema.dashboard.schedule import next_run
from watoto_schema.errors import Refused
from watoto_schema.health import Thresholds
from watoto_schema.loadtest.last import last_result_path
from watoto_schema.local import LocalCluster
from watoto_schema.migrate import RunOptions
from watoto_schema.resources import migrations_dir
from watoto_schema.target import Target

from .browser import Browser
from .test_cli import assert_one_line_error, run
from .test_online import write_migration

QUIET = Thresholds(archive_required=False)
SHIPPED = len([p for p in migrations_dir().glob("*.sql") if not p.stem.endswith(".rollback")])
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "dashboard.png"
HOSTILE = "<script>alert('x')</script>"
HOSTILE_TABLE = '<img src=x onerror="alert(1)">'


@dataclass
class Site:
    target: Target  # the loaded database on the primary
    cluster: LocalCluster
    url: str  # its dashboard


@contextlib.contextmanager
def serving(target: Target, *, address: str = "127.0.0.1", token: str | None = None,
            refresh: float = 2.0, **options: Any) -> Iterator[str]:
    """A dashboard for ``target`` on a free port (the server ``watoto-schema dashboard``
    runs); its base URL."""
    chosen = Options(thresholds=QUIET, maintain_schedule="15 2 * * *",
                     loadtest_file=last_result_path(target), **options)
    endpoint = Endpoint(Dashboard(target, chosen, refresh=refresh, slow_every=refresh),
                        Renderer(target.display, refresh=refresh, slow_every=refresh,
                                 show_queries=chosen.show_queries), token=token)
    server, _thread = start(endpoint, address, 0)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


def loaded_view(browser: Browser, url: str, **size: int) -> str:
    """Open the page and wait until every section has been read; the page's text."""
    browser.open(url, wait_for="#migrations", **size)
    assert browser.until("return document.querySelector('main[data-pending]') === null "
                         "&& document.querySelectorAll('section.card').length === 8",
                         timeout=60), browser.text()
    return browser.text()


@pytest.fixture(scope="module")
def site(primary_and_standby: tuple[Target, Target, LocalCluster],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    primary, _standby, cluster = primary_and_standby
    with psycopg.connect(primary.conninfo, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        conn.execute("CREATE DATABASE watoto_dash")
    cluster.stop()
    cluster.start(dbname=None)
    target = Target(cluster.url("watoto_dash"), "tests")
    migrate.migrate(target)
    with psycopg.connect(target.conninfo) as conn:
        sample_data.load(conn, 150)
        conn.execute("COMMENT ON DATABASE watoto_dash IS "
                     "'{\"kind\": \"watoto-sample-data\", \"students\": 150, \"seed\": 7}'")
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    loadtest = run("loadtest", "--dsn", target.conninfo, "--clients", "2", "--jobs", "1",
                   "--duration", "2", "--json")
    assert loadtest.exit_code in (0, 2), loadtest.output
    assert last_result_path(target).is_file()
    with serving(target) as url:
        yield Site(target, cluster, url)


def test_every_section_renders_with_data_and_no_script_error(site: Site, browser: Browser,
                                                             tmp_path: Path) -> None:
    text = loaded_view(browser, site.url)
    assert browser.errors() == []
    sections = browser.js("""
        const out = {};
        for (const s of document.querySelectorAll('section.card')) {
          out[s.id] = {pill: s.querySelector('h2 .pill').textContent,
                       rows: s.querySelectorAll('tbody tr').length,
                       svg: s.querySelectorAll('svg rect, svg polyline, svg circle').length,
                       errors: [...s.querySelectorAll('.error-line')].map(e => e.textContent)};
        }
        return out;""")
    assert set(sections) == {"migrations", "drift", "partitions", "maintenance", "health",
                             "activity", "statements", "loadtest"}
    assert all(s["pill"] != "error" for s in sections.values()), sections
    assert sections["migrations"]["rows"] >= min(SHIPPED, 12)
    assert f"{SHIPPED} applied, 0 pending" in text
    # the one drift: the monitoring extension this fixture created by hand
    drift = browser.text("#drift")
    assert f"1 difference(s) from what the {SHIPPED} applied migrations build" in drift
    assert "pg_stat_statements extension pg_stat_statements unexpected" in drift
    assert sections["partitions"]["svg"] >= 3  # the horizon timeline's segments
    assert "enrollments" in text and "Next scheduled run (15 2 * * *)" in text
    assert sections["maintenance"]["rows"] >= 5  # last vacuum / analyze per table
    assert sections["health"]["rows"] >= 10 and sections["health"]["svg"] >= 2
    assert browser.until("return document.querySelector('#health svg[aria-label=\"replica lag "
                         "over time\"]') !== null", timeout=30)  # the standby's lag
    assert sections["statements"]["rows"] >= 3 and sections["statements"]["svg"] >= 3
    assert sections["loadtest"]["svg"] >= 3 and "tps" in browser.text("#loadtest")
    assert "Traceback" not in text
    # the page refreshes itself: the live sections are read again while it is open
    first = browser.text("#migrations .meta")
    assert browser.until(f"return document.querySelector('#migrations .meta').textContent "
                         f"!== {json.dumps(first)}", timeout=20)
    shot = browser.screenshot(tmp_path / "dashboard.png")
    if os.environ.get("WATOTO_UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(shot.read_bytes())


def test_a_phone_width_page_does_not_overflow(site: Site, browser: Browser) -> None:
    loaded_view(browser, site.url, width=390, height=844)
    widths = browser.js("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    assert browser.errors() == []


def test_json_and_read_only_endpoints(site: Site) -> None:
    status, body, headers = get(site.url + "dashboard.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["sections"]["migrations"]["data"]["applied"] == SHIPPED
    for method in ("POST", "PUT", "DELETE"):
        request = urllib.request.Request(site.url, method=method, data=b"")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 405
    page_status, page, page_headers = get(site.url)
    assert page_status == 200 and "script-src 'nonce-" in page_headers["Content-Security-Policy"]
    # a password in the connection string is never shown (the local socket trusts us)
    secret = "hunter2-not-to-be-shown"
    with_password = Target(psycopg.conninfo.make_conninfo(site.target.conninfo,
                                                           password=secret), "tests")
    with serving(with_password) as url:
        for path in ("", "sections", "dashboard.json"):
            status, body, _ = get(url + path)
            assert status == 200 and secret not in body
            assert path == "sections" or "watoto_dash" in body  # the target, redacted
    # the dashboard's own sessions cannot write
    with psycopg.connect(read_only(site.target, 5).conninfo) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE nope (id int)")


def test_other_roles_statements_are_hidden_unless_asked(site: Site) -> None:
    with psycopg.connect(site.target.conninfo, autocommit=True) as admin:
        admin.execute("CREATE ROLE dash_other LOGIN")
    other = psycopg.conninfo.make_conninfo(site.target.conninfo, user="dash_other")
    try:
        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute("SELECT 'secret-marker' AS x, pg_sleep(0)")
            for show, expect_secret in ((False, False), (True, True)):
                with serving(site.target, show_queries=show) as url:
                    _status, body, _ = get(url + "dashboard.json")
                    sessions = json.loads(body)["sections"]["activity"]["data"]["sessions"]
                    mine = [s for s in sessions if s["user"] == "dash_other"]
                    assert mine, sessions
                    assert ("secret-marker" in mine[0]["query"]) is expect_secret
                    if not expect_secret:
                        assert mine[0]["query"] == HIDDEN_QUERY
            conn.execute("ROLLBACK")
    finally:
        with psycopg.connect(site.target.conninfo, autocommit=True) as admin:
            admin.execute("DROP ROLE dash_other")


def clone(site: Site, name: str) -> Target:
    with psycopg.connect(site.cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE watoto_dash").format(
            sql.Identifier(name)))
    return Target(site.cluster.url(name), "tests")


def test_drift_and_a_hostile_name_are_shown_as_text(site: Site, browser: Browser) -> None:
    target = clone(site, "watoto_dash_drift")
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE courses ADD COLUMN {} text").format(
            sql.Identifier(HOSTILE)))
        conn.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(HOSTILE_TABLE)))
        conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 10)").format(
            sql.Identifier(HOSTILE_TABLE)))
        conn.execute("DROP INDEX idx_courses_grade")
    with serving(target) as url:
        loaded_view(browser, url)
        drift = browser.text("#drift")
        quoted = HOSTILE_TABLE.replace('"', '""')  # drift quotes identifiers, as SQL does
        assert HOSTILE in drift and quoted in drift and "idx_courses_grade" in drift
        assert "difference(s)" in drift
        assert browser.js("return document.querySelector('#drift .pill').textContent") == \
            "critical"
        # the names are text: our one script, no image, no alert, no CSP violation
        assert browser.js("return document.scripts.length") == 1
        assert browser.js("return document.images.length") == 0
        assert browser.errors() == []
        assert HOSTILE_TABLE in browser.text("#maintenance")  # its vacuum and analyze row
        status, body, _ = get(url + "sections")
        assert status == 200 and "<script>alert" not in body and "&lt;script&gt;" in body


def test_an_active_online_migration_is_shown_with_its_backfill(site: Site, browser: Browser,
                                                               tmp_path: Path) -> None:
    target = clone(site, "watoto_dash_online")
    folder = tmp_path / "migrations"
    write_migration(folder, "1001_widen", "ALTER TABLE courses ALTER COLUMN max_students "
                    "TYPE bigint;\n")
    result = migrate.migrate(target, extra_dirs=[folder], options=RunOptions(batch_rows=50))
    assert result.online is not None and result.online.phase == "active"
    with serving(target, extra_dirs=[folder]) as url:
        loaded_view(browser, url)
        box = browser.text("#migrations")
        assert "Online migration 1001_widen: active" in box
        assert "Backfill" in box and "(100.0%)" in box
        assert browser.js("return document.querySelector('[data-backfill]')"
                          ".getAttribute('data-backfill')") == "100.0"
        assert browser.errors() == []


def test_the_page_says_the_database_went_away_and_recovers(site: Site,
                                                           browser: Browser) -> None:
    loaded_view(browser, site.url)
    site.cluster.stop()
    try:
        assert browser.until("const b = document.querySelector('[data-down]'); "
                             "return b && b.textContent", timeout=30)
        banner = browser.text("[data-down]")
        assert "unreachable" in banner and "Traceback" not in browser.text()
        # the last data is still shown, marked stale
        assert f"{SHIPPED} applied" in browser.text("#migrations")
        assert browser.until("return document.querySelector('#migrations .stale') !== null")
        assert "Showing the data read" in browser.text("#migrations .stale")
    finally:
        site.cluster.start(dbname=None)
    assert browser.until("return document.querySelector('[data-down]') === null", timeout=30)
    assert browser.errors() == []


def test_the_page_says_when_its_server_is_gone(site: Site, browser: Browser) -> None:
    target = site.target
    with serving(target) as url:
        loaded_view(browser, url)
    # the server stopped: the page keeps its data and says so
    assert browser.until("const b = document.getElementById('offline'); "
                         "return !b.hidden && b.textContent", timeout=20)
    assert "not answering" in browser.text("#offline")
    assert f"{SHIPPED} applied" in browser.text("#migrations")


def test_a_token_is_needed_beyond_loopback(site: Site, browser: Browser) -> None:
    token = "t0ken-for-the-wall-screen"
    with serving(site.target, address="0.0.0.0", token=token) as url:
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-length"}):
            status, body, answer = get(url, headers)
            assert status == 401 and body.count("\n") == 1
            assert answer["WWW-Authenticate"].startswith("Bearer")
        assert get(url + "dashboard.json")[0] == 401
        assert get(url, {"Authorization": f"Bearer {token}"})[0] == 200
        status, _, answer = get(url + f"?token={token}")
        assert status == 303 and "HttpOnly" in answer["Set-Cookie"]
        assert answer["Location"] == "/"
        # a browser opens it once with the token, then refreshes with the cookie
        loaded_view(browser, url + f"?token={token}")
        assert token not in browser.driver.current_url
        assert browser.until("return document.querySelector('#migrations .meta') !== null")
        time.sleep(2.5)  # at least one refresh
        assert browser.js("return document.getElementById('offline').hidden")
        assert browser.errors() == []
    with pytest.raises(Refused, match="needs --token"), serving(site.target, address="0.0.0.0"):
        pass


def test_bad_input_is_one_line_with_its_exit_code(site: Site, tmp_path: Path) -> None:
    dsn = site.target.conninfo
    beyond = run("dashboard", "--dsn", dsn, "--listen", "0.0.0.0")
    assert_one_line_error(beyond, 3)
    assert "needs --token" in beyond.output
    token_file = tmp_path / "token"
    token_file.write_text("a-token-long-enough-to-use\n")
    token_file.chmod(0o644)
    readable = run("dashboard", "--dsn", dsn, "--token-file", str(token_file))
    assert_one_line_error(readable, 3)
    assert "chmod 600" in readable.output
    assert_one_line_error(run("dashboard", "--dsn", dsn, "--token", "short"), 1)
    assert_one_line_error(run("dashboard", "--dsn", dsn, "--maintain-schedule", "every day"), 1)
    assert_one_line_error(run("dashboard", "--dsn", dsn, "--token", "x" * 20,
                              "--token-file", str(token_file)), 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = run("dashboard", "--dsn", dsn, "--port", str(port))
        assert_one_line_error(in_use, 1)
        assert "cannot listen" in in_use.output
        assert_one_line_error(run("health", "serve", "--dsn", dsn, "--port", str(port)), 1)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o644  # untouched


def test_the_next_cron_run() -> None:
    at = datetime(2026, 12, 7, 19, 30)
    assert next_run("15 2 * * *", at) == datetime(2026, 12, 8, 2, 15)
    assert next_run("*/20 * * * *", at) == datetime(2026, 12, 7, 19, 40)
    assert next_run("0 3 * * 0", at) == datetime(2026, 12, 13, 3, 0)  # Sunday
    assert next_run("0 0 1 1 *", at) == datetime(2027, 1, 1, 0, 0)
    assert next_run("@hourly", at) == datetime(2026, 12, 7, 20, 0)
    assert next_run("0 12 31 * 1", at) == datetime(2026, 12, 14, 12, 0)  # 31st or Monday
