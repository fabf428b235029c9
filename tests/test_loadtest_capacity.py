"""loadtest --find-capacity, the protocol choice and the HTML report (#21), on a few hundred
students: the curve and its JSON, a search bounded in time, the exit status by verdict, the
page in a real headless Chromium, and the bad input that is refused before any load."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import Result

from watoto_schema import loadtest
from watoto_schema.loadtest import capacity, report_html
from watoto_schema.loadtest.protocol import Pooler, for_pooler, parse_version
from watoto_schema.target import Target

from .browser import Browser
from .test_cli import assert_one_line_error, run
from .test_loadtest import sample  # noqa: F401  (the fixture)

SMALL = ["--clients", "3", "--jobs", "1"]


def one_error_line(result: Result, code: int) -> str:
    """The run's one error line, the last on stderr (the search's progress notes precede it)."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output + result.stderr
    return errors[0]


def _submissions(target: Target) -> int:
    with psycopg.connect(target.conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM assessment_submissions").fetchone()
    assert row is not None
    return int(row[0])


def test_the_capacity_curve_its_json_and_its_page(sample: Target, tmp_path: Path,  # noqa: F811
                                                  browser: Browser) -> None:
    page = tmp_path / "capacity.html"
    began = time.monotonic()
    result = run("loadtest", "--dsn", sample.conninfo, *SMALL, "--find-capacity",
                 "--against", "design", "--start-rate", "40", "--step-seconds", "3",
                 "--max-minutes", "0.3", "--report", str(page), "--json")
    elapsed = time.monotonic() - began
    # Bounded: no step starts that would end after 18 s (setup and the last analysis aside).
    assert elapsed < 18 + 8, elapsed
    doc = json.loads(result.stdout)
    assert doc["mode"] == "capacity" and doc["against"] == "design"
    assert doc["protocol"]["mode"] == "prepared" and "direct" in doc["protocol"]["reason"]
    assert doc["settings"]["step_seconds"] == 3 and doc["settings"]["start_rate"] == 40
    curve = doc["curve"]
    # A first step that met goes on to a second; one that missed (a machine busy enough to
    # miss the design's targets at 40 tps on 300 students) ends the search alone.
    assert len(curve) >= 2 if curve[0]["met"] else len(curve) == 1, curve
    rates = [step["rate"] for step in curve]
    assert rates == sorted(rates) and rates[0] == 40
    for step in curve:
        assert set(step["classes"]) == {"read", "write", "report"}
        assert step["transactions"] > 0 and step["achieved_tps"] > 0
        for stats in step["classes"].values():
            if stats["transactions"]:
                assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
        assert step["scripts"]["student_dashboard"]["class"] == "read"
        # The verdict of a step is its p95s against the design's targets, failures, keeping up.
        over = [kind for kind, stats in step["classes"].items() if stats["p95_ms"] is not None
                and stats["p95_ms"] > loadtest.DESIGN_TARGET_MS[kind]
                and stats["transactions"] >= capacity.MIN_TRANSACTIONS]
        assert all(f"fewer than {capacity.MIN_TRANSACTIONS}" in why for why in step["unjudged"])
        assert step["met"] == (not step["missed"])
        assert all(any(kind in why for why in step["missed"]) for kind in over)
        server = step["server"]
        assert server["cpu"] == "local" and server["server_cores"] is not None
        assert server["pgbench_cores"] is not None and server["samples"] >= 1
        assert server["statements"] or server["statements_skipped"]
    met = [step["rate"] for step in curve if step["met"]]
    # Exit status by verdict: 0 when some rate met the targets (the capacity), else 2.
    assert result.exit_code == (0 if met else 2), result.output
    assert doc["capacity_tps"] == (max(met) if met else None)
    assert doc["verdict"] == ("found" if met else "lowest rate missed")
    failing = doc["first_failing"]
    if failing is not None:
        assert failing["rate"] == min(s["rate"] for s in curve if not s["met"]
                                      and s["rate"] > (doc["capacity_tps"] or 0))
        assert failing["missed"] and failing["server"] is not None

    # The page: self-contained, its charts drawn, no script error.
    text = page.read_text()
    assert "<script" not in text and "http://" not in text and "https://" not in text
    browser.open(page.as_uri(), wait_for="svg")
    assert browser.errors() == []
    counts = browser.js("""return {
        curves: document.querySelectorAll('svg.line-chart').length,
        curvePoints: [...document.querySelectorAll('svg.line-chart')].map(
            s => s.querySelectorAll('circle.point').length),
        targets: document.querySelectorAll('line.target.ours').length
                 + document.querySelectorAll('line.target.design').length,
        scriptRows: document.querySelectorAll('svg.script-chart g.script-row').length,
        scriptPoints: document.querySelectorAll('svg.script-chart circle.point').length,
        drawn: [...document.querySelectorAll('svg')].every(
            s => s.getBoundingClientRect().width > 100)}""")
    # Three curve charts (rate -> p95 per class) and three over time, each with points.
    assert counts["curves"] >= 6 and all(n > 0 for n in counts["curvePoints"]), counts
    assert counts["targets"] >= 12 and counts["drawn"], counts  # two target lines a chart
    assert counts["scriptRows"] == len(loadtest.SCRIPTS) and counts["scriptPoints"] > 0
    body = browser.text()
    assert "Capacity curve" in body and "prepared" in body
    assert "after 2 s of ramp" in body and "Cache: as the server had it" in body


def test_even_the_lowest_rate_misses(sample: Target, tmp_path: Path) -> None:  # noqa: F811
    # One client cannot start 100,000 transactions a second: an honest miss, exit 2. The
    # password (the suite's server trusts local logins and ignores it) shows nowhere.
    secret = "s3cret-capacity"
    page = tmp_path / "missed.html"
    result = run("loadtest", "--dsn", f"{sample.conninfo} password={secret}", "--clients", "1",
                 "--jobs", "1", "--find-capacity", "--start-rate", "100000", "--step-seconds",
                 "1", "--max-minutes", "0.2", "--json", "--report", str(page))
    assert secret not in result.output + result.stderr + page.read_text()
    line = one_error_line(result, code=2)
    assert "even the lowest rate, 100000 tps, misses the ours targets" in line
    assert "kept up with" in line
    doc = json.loads(result.stdout)
    assert doc["capacity_tps"] is None and doc["verdict"] == "lowest rate missed"
    assert [s["rate"] for s in doc["curve"]] == [100000]
    assert doc["first_failing"]["rate"] == 100000


def test_a_normal_run_says_its_protocol_and_writes_its_page(
        sample: Target, tmp_path: Path, browser: Browser) -> None:  # noqa: F811
    page = tmp_path / "run.html"
    result = run("loadtest", "--dsn", sample.conninfo, *SMALL, "--duration", "3", "--rate",
                 "60", "--protocol", "simple", "--plans", "generic", "--report", str(page))
    assert result.exit_code in (0, 2), result.output
    assert "protocol: simple (--protocol simple (direct))" in result.stdout
    assert "plans: generic (plan_cache_mode = force_generic_plan" in result.stdout
    browser.open(page.as_uri(), wait_for="svg")
    assert browser.errors() == []
    points = browser.js("return [...document.querySelectorAll('svg.line-chart')].map("
                        "s => s.querySelectorAll('circle.point').length)")
    assert len(points) == 3 and all(n >= 2 for n in points), points  # a point a second
    assert "simple" in browser.text("p.meta")


def test_the_page_escapes_what_it_shows(sample: Target) -> None:  # noqa: F811
    report = loadtest.run(sample, loadtest.LoadtestOptions(clients=2, jobs=1, duration=1))
    assert report.protocol == "prepared" and report.timeline
    report.protocol_reason = "<script>alert(1)</script> & more"
    page = report_html.render_run(report)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


@pytest.mark.parametrize("argv", [
    ["--find-capacity", "--rate", "10"],
    ["--find-capacity", "--duration", "5"],
    ["--start-rate", "10"],
    ["--max-minutes", "1"],
    ["--step-seconds", "2"],
    ["--find-capacity", "--max-minutes", "0"],
    ["--protocol", "binary"],
    ["--plans", "custom"],
])
def test_conflicting_options_are_usage_errors(argv: list[str]) -> None:
    assert_one_line_error(run("loadtest", "--dsn", "postgresql:///nowhere", *argv))


@pytest.mark.parametrize("where", ["missing-folder/report.html", "."])
def test_an_unwritable_report_is_refused_before_the_load(
        sample: Target, tmp_path: Path, where: str) -> None:  # noqa: F811
    before = _submissions(sample)
    for mode in (["--duration", "1"],
                 ["--find-capacity", "--step-seconds", "1", "--max-minutes", "0.1"]):
        line = assert_one_line_error(run("loadtest", "--dsn", sample.conninfo, *SMALL, *mode,
                                         "--report", str(tmp_path / where)))
        assert "cannot write the report" in line
    assert _submissions(sample) == before  # nothing ran


def test_too_short_a_budget_for_one_step(sample: Target) -> None:  # noqa: F811
    line = one_error_line(run("loadtest", "--dsn", sample.conninfo, *SMALL, "--find-capacity",
                              "--step-seconds", "30", "--max-minutes", "0.1"), code=1)
    assert "--max-minutes" in line


def test_generic_plans_reach_every_session(sample: Target) -> None:  # noqa: F811
    """--plans generic goes to pgbench as libpq's PGOPTIONS, beside the DSN's own options:
    a libpq session started with that environment (psql here) runs with both."""
    import subprocess

    from watoto_schema.local.cluster import find_bindir

    psql = find_bindir() / "psql"
    dsn = psycopg.conninfo.make_conninfo(sample.conninfo, options="-c work_mem=7MB")
    seen = {}
    for plans in ("auto", "generic"):
        env = loadtest.pgbench_environment(dsn, plans)
        shown = subprocess.run(
            [str(psql), "-X", "-At", "-c", "SELECT current_setting('plan_cache_mode'), "
             "current_setting('work_mem')"], env=env, capture_output=True, text=True,
            check=True).stdout.strip()
        seen[plans] = shown
    assert seen == {"auto": "auto|7MB", "generic": "force_generic_plan|7MB"}


def test_the_protocol_through_each_pgbouncer() -> None:
    assert parse_version("PgBouncer 1.18.0") == (1, 18, 0)
    assert parse_version("PgBouncer 1.21.0 libevent ...") == (1, 21, 0)
    assert parse_version("nothing") is None
    old = for_pooler(Pooler((1, 18, 0), "transaction", None))
    assert old.protocol == "extended" and "before 1.21" in old.reason
    tracked = for_pooler(Pooler((1, 21, 0), "transaction", 200))
    assert tracked.protocol == "prepared" and "max_prepared_statements = 200" in tracked.reason
    assert for_pooler(Pooler((1, 22, 1), "transaction", 0)).protocol == "extended"
    assert for_pooler(Pooler((1, 18, 0), "session", None)).protocol == "prepared"
    unknown = for_pooler(Pooler(None, None, None, "its admin console: access denied"))
    assert unknown.protocol == "extended" and "access denied" in unknown.reason


def test_the_search_steps_up_then_bisects() -> None:
    """The search order on a server whose capacity is 300 tps (the judged steps stand in for
    pgbench runs: the order of rates is the search's own logic)."""
    asked: list[float] = []

    def step(rate: float) -> capacity.Step | None:
        asked.append(rate)
        if len(asked) > 20:
            return None
        return capacity.Step(rate, None, [] if rate <= 300 else ["too slow"], 0.0)  # type: ignore[arg-type]

    stopped = capacity._search(capacity.CapacityOptions(start_rate=50), step)
    assert asked[:4] == [50, 100, 200, 400]
    assert stopped == "bisected to within 5%"
    met = max(r for r in asked if r <= 300)
    missed = min(r for r in asked if r > 300)
    assert (missed - met) / met <= 0.05 and 285 <= met <= 300


def test_a_step_too_thin_to_judge_misses_and_says_why(sample: Target) -> None:  # noqa: F811
    # Five transactions a second over 50 fresh sessions: nearly every one is a session's
    # first of its script, left out as cold, so no class has a p95 worth judging.
    result = run("loadtest", "--dsn", sample.conninfo, "--clients", "50", "--jobs", "2",
                 "--find-capacity", "--start-rate", "5", "--step-seconds", "2",
                 "--max-minutes", "0.2", "--json")
    line = one_error_line(result, code=2)
    assert "too few warm transactions to judge any class" in line
    step = json.loads(result.stdout)["curve"][0]
    assert step["cold_skipped"] > 0 and step["transactions"] < capacity.MIN_TRANSACTIONS
