"""The alert rules against a real Prometheus (#23, its Prometheus part): `promtool check
rules`, the rule unit tests in deploy/prometheus/tests/, and Debian's `prometheus` scraping
`health serve` of a real database, the metrics read back through its HTTP API.

`.ci/run` installs the `prometheus` package (prometheus and promtool); where it cannot be
installed these tests skip, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from watoto_schema.local import free_port
from watoto_schema.target import Target

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
CLI = str(Path(sys.executable).parent / "watoto-schema")

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed "
                                    "(Debian: apt-get install prometheus; .ci/run does)")


@needs_promtool
def test_the_alert_rules_pass_promtool_check() -> None:
    done = subprocess.run([str(PROMTOOL), "check", "rules", str(RULES / "watoto-alerts.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


@needs_promtool
def test_each_alert_fires_and_resolves_in_the_rule_unit_tests() -> None:
    tests = sorted(str(p) for p in (RULES / "tests").glob("*.yml"))
    assert tests
    done = subprocess.run([str(PROMTOOL), "test", "rules", *tests], capture_output=True,
                          text=True, cwd=RULES / "tests")
    assert done.returncode == 0, done.stdout + done.stderr
    # every alert of the rules file has a test that fires it
    rules = (RULES / "watoto-alerts.yml").read_text()
    alerts = [line.split(":", 1)[1].strip() for line in rules.splitlines()
              if line.strip().startswith("- alert:")]
    tested = "".join(Path(t).read_text() for t in tests)
    assert alerts and all(f"alertname: {a}" in tested for a in alerts)


@needs_promtool
def test_a_wrong_expectation_fails_the_rule_tests(tmp_path: Path) -> None:
    broken = (RULES / "tests" / "watoto-alerts.test.yml").read_text().replace(
        "values: '1 0 0 0 0 1 1'", "values: '1 1 1 1 1 1 1'")
    (tmp_path / "broken.test.yml").write_text(broken.replace(
        "../watoto-alerts.yml", str(RULES / "watoto-alerts.yml")))
    done = subprocess.run([str(PROMTOOL), "test", "rules", "broken.test.yml"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0  # the database-down alert no longer fires: caught


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def serving(db: Target, tmp_path: Path) -> Iterator[int]:
    """`watoto-schema health serve` of a real database on a free port, stopped by pid."""
    port = free_port()
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen([CLI, "--dsn", db.conninfo, "health", "serve", "--port",
                                    str(port)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).close()
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian: apt-get "
                    "install prometheus; .ci/run does)")
def test_prometheus_scrapes_health_serve_and_loads_the_rules(serving: int,
                                                            tmp_path: Path) -> None:
    port = free_port()
    shutil.copy(RULES / "watoto-alerts.yml", tmp_path / "watoto-alerts.yml")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [watoto-alerts.yml]\n"
        "scrape_configs:\n"
        "  - job_name: watoto\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{serving}']}}]\n")
    with open(tmp_path / "prometheus.log", "wb") as log:
        process = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        up: list[Any] = []
        deadline = time.monotonic() + 60
        while not up and time.monotonic() < deadline:
            time.sleep(1)
            try:
                query = urllib.parse.quote('watoto_up{job="watoto"}')
                up = _get(f"{api}/query?query={query}")["data"]["result"]
            except OSError:
                continue
        assert up and up[0]["value"][1] == "1", (tmp_path / "prometheus.log").read_text()[-2000:]
        checks = _get(f"{api}/query?query=" + urllib.parse.quote(
            "count(watoto_check_status)"))["data"]["result"]
        assert checks and int(checks[0]["value"][1]) >= 10  # every health check, by label
        target = _get(f"{api}/targets")["data"]["activeTargets"][0]
        assert target["health"] == "up", target.get("lastError")
        groups = _get(f"{api}/rules")["data"]["groups"]
        assert {r["name"] for g in groups for r in g["rules"]} >= {
            "WatotoDatabaseDown", "WatotoCheckCritical", "WatotoReplicaLagging"}
    finally:
        process.terminate()
        process.wait(timeout=30)


DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "watoto-health.json"


def _metric_names(exposition: str) -> set[str]:
    return {line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")}


def test_every_grafana_query_uses_only_metrics_health_serve_exports(
        serving: int, primary_and_standby: tuple[Target, Target, Any]) -> None:
    """The dashboard's metric names against live scrapes: `health serve` of a migrated
    database; a primary with a streaming standby and a replication slot, and the standby
    (the replication metrics exist only there); a cluster with pg_stat_statements loaded,
    WAL archived and enough block reads (the slowest statements, the last archived segment
    and the hit ratio exist only then)."""
    import psycopg

    from watoto_schema import health
    from watoto_schema.health.exposition import prometheus_text

    from .test_health import cluster_with

    with urllib.request.urlopen(f"http://127.0.0.1:{serving}/metrics", timeout=30) as r:
        exported = _metric_names(r.read().decode())
    primary, standby, _ = primary_and_standby
    with psycopg.connect(primary.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_create_physical_replication_slot('grafana_test_slot')")
    try:
        for node in (primary, standby):
            exported |= _metric_names(prometheus_text(health.collect(node)))
    finally:
        with psycopg.connect(primary.conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_drop_replication_slot('grafana_test_slot')")
    with cluster_with("watoto-grafana-", shared_preload_libraries="pg_stat_statements",
                      archive_mode="on", archive_command="/bin/true") as busy:
        with psycopg.connect(busy.conninfo, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("CREATE TABLE reads AS SELECT g FROM generate_series(1, 200000) g")
            for _ in range(5):
                conn.execute("SELECT count(*) FROM reads")
            conn.execute("SELECT pg_switch_wal()")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and conn.execute(
                    "SELECT last_archived_time IS NULL FROM pg_stat_archiver").fetchone() \
                    == (True,):
                time.sleep(0.2)
        exported |= _metric_names(prometheus_text(health.collect(busy)))
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [v["query"] for v in dashboard["templating"]["list"]]
    used = {m for q in queries for m in re.findall(r"\bwatoto_[a-z_]+\b", q)}
    assert len(used) >= 20  # the dashboard shows most of what is exported
    assert used <= exported, f"not exported: {sorted(used - exported)}"
