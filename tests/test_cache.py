"""The Redis cache layer (#15) against a real redis-server and real PostgreSQL: the policy,
`cache check`, `cache invalidate`, invalidation after each migration commits, health."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg
import pytest
import redis

from watoto_schema import sources
from watoto_schema.cache import invalidate, load_policy
from watoto_schema.cache.tables import changed_tables, from_files
from watoto_schema.errors import BadConfig
from watoto_schema.local import free_port
from watoto_schema.target import Target

from .fix_redis import RedisServer
from .test_cli import assert_one_line_error, run

POLICY = load_policy()
SECRET = "r3d1s-Pa55"


def key_of(family: str, i: int) -> str:
    return {"user": f"user:{i}", "course": f"course:{i}", "enrollment": f"enrollment:{i}",
            "progress": f"progress:{i}:{i % 7}", "session": f"session:tok{i:08x}",
            "rate_limit": f"rate_limit:{i}"}[family]


def fill(url: str, per_family: int = 50) -> None:
    """Keys of every family of the design, each with its policy's TTL."""
    with redis.Redis.from_url(url) as conn:
        pipe = conn.pipeline(transaction=False)
        for family in POLICY.families:
            for i in range(per_family):
                pipe.set(key_of(family.name, i), b"x" * 40, ex=int(family.ttl))
        pipe.execute()


def counts(url: str) -> dict[str, int]:
    found = {f.name: 0 for f in POLICY.families}
    with redis.Redis.from_url(url) as conn:
        for key in conn.scan_iter(count=1000):
            family = POLICY.classify(key.decode())
            assert family is not None, key
            found[family.name] += 1
    return found


def migration(folder: Path, name: str, sql: str, depends: str = "0007_views") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.sql").write_text(f"-- depends: {depends}\n{sql}\n")
    return folder


# -- the policy and the parser --------------------------------------------------------------

def test_the_shipped_policy_is_the_designs() -> None:
    by_name = {f.name: f for f in POLICY.families}
    assert {n: (f.pattern, f.ttl) for n, f in by_name.items()} == {
        "user": ("user:{id}", 3600), "course": ("course:{id}", 1800),
        "enrollment": ("enrollment:{user_id}", 900),
        "progress": ("progress:{user_id}:{course_id}", 900),
        "session": ("session:{token}", 86400), "rate_limit": ("rate_limit:{user_id}", 3600)}
    assert by_name["course"].tables == ("courses", "course_modules")
    assert by_name["progress"].tables == ("module_progress", "course_modules")
    assert not by_name["session"].tables and not by_name["rate_limit"].tables
    assert [f.name for f in POLICY.families_for(["course_modules"])] == ["course", "progress"]
    assert by_name["progress"].glob("", ("42",)) == "progress:42:*"
    assert by_name["user"].glob("app[1]:") == "app\\[1\\]:user:*"
    assert (POLICY.batch, POLICY.pause, POLICY.max_rate) == (200, 0.002, 10_000)


def test_the_config_file_overrides_the_policy(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "watoto-schema.toml"
    config.write_text('[cache]\nprefix = "lms:"\n[cache.families.progress]\nttl = "5min"\n'
                      '[cache.families.badge]\npattern = "badge:{id}"\nttl = "2h"\n'
                      'tables = ["users"]\n')
    with redis.Redis.from_url(redis_url) as conn:
        conn.set("lms:user:1", "x", ex=60)
        conn.set("lms:badge:1", "x", ex=60)
        conn.set("user:1", "x", ex=60)  # no prefix: not this application's key
    result = run("cache", "invalidate", "--table", "users", "--json", "--config", str(config),
                 "--redis", redis_url)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {f["family"]: f["keys"] for f in doc["families"]} == {"user": 1, "badge": 1}
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.exists("user:1") == 1
    config.write_text('[cache.families.user]\nttl = "soon"\n')
    assert "ttl" in assert_one_line_error(run("cache", "check", "--config", str(config),
                                              "--redis", redis_url))


def test_the_tables_a_migration_changes() -> None:
    known = from_files(sources.read(sources.migration_dirs(())))
    assert changed_tables("ALTER TABLE users ADD COLUMN nickname text", known) == ({"users"}, [])
    # a partition counts for its table; creating an index changes no cached row
    assert changed_tables("ALTER TABLE users_2 ALTER COLUMN grade SET DEFAULT 7; "
                          "CREATE INDEX i ON courses (title)", known) == ({"users"}, [])
    # a view change counts for the tables it reads (the definition is in 0007_views.sql)
    assert changed_tables("DROP VIEW student_progress", known)[0] == {
        "users", "enrollments", "courses"}
    tables, opaque = changed_tables(
        "CREATE OR REPLACE VIEW course_stats AS SELECT c.id FROM courses c "
        "JOIN course_modules m ON m.course_id = c.id; "
        "UPDATE module_progress SET attempts = 0; DO $$ BEGIN END $$", known)
    assert tables == {"courses", "enrollments", "course_modules", "module_progress"}
    assert opaque == ["a DO block"]
    assert changed_tables("CREATE TABLE badges (id int)", known) == (set(), [])


# -- migrate with a Redis -------------------------------------------------------------------

def test_a_migration_of_users_invalidates_exactly_the_user_keys(
        db: Target, redis_url: str, tmp_path: Path) -> None:
    fill(redis_url)
    folder = migration(tmp_path / "m", "0008_nickname",
                       "ALTER TABLE users ADD COLUMN nickname varchar(50);")
    result = run("migrate", "--json", "--dsn", db.conninfo, "--migrations", str(folder),
                 "--redis", redis_url)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["versions"] == ["0008_nickname"]
    [entry] = doc["cache_invalidation"]
    assert entry["tables"] == ["users"] and entry["families"] == ["user"]
    assert entry["removed"] == {"user": 50} and entry["invalidated"]
    assert doc["cache_not_invalidated"] == []
    assert counts(redis_url) == {"user": 0, "course": 50, "enrollment": 50, "progress": 50,
                                 "session": 50, "rate_limit": 50}
    with psycopg.connect(db.conninfo) as conn:
        conn.execute("SELECT nickname FROM users LIMIT 0")


def test_course_modules_and_view_changes_reach_their_families(
        db: Target, redis_url: str, tmp_path: Path) -> None:
    fill(redis_url)
    folder = migration(tmp_path / "m", "0008_module_minutes",
                       "ALTER TABLE course_modules ADD COLUMN minutes integer;")
    migration(folder, "0009_stats", "CREATE OR REPLACE VIEW course_stats AS "
              "SELECT c.id, c.title, c.grade, c.category, COUNT(e.id) AS enrolled_students, "
              "AVG(e.progress_percentage) AS avg_progress, COUNT(CASE WHEN e.status = "
              "'completed' THEN 1 END) AS completed_students FROM courses c "
              "LEFT JOIN enrollments e ON c.id = e.course_id "
              "GROUP BY c.id, c.title, c.grade, c.category;", depends="0008_module_minutes")
    dry = run("migrate", "--dry-run", "--dsn", db.conninfo, "--migrations", str(folder),
              "--redis", redis_url)
    assert dry.exit_code == 0, dry.output
    assert "after 0008_module_minutes commits, invalidate course, progress" in dry.stdout
    assert "after 0009_stats commits, invalidate course, enrollment" in dry.stdout
    assert counts(redis_url)["course"] == 50  # a dry run sends nothing to Redis
    result = run("migrate", "--dsn", db.conninfo, "--migrations", str(folder),
                 "--redis", redis_url)
    assert result.exit_code == 0, result.output
    assert counts(redis_url) == {"user": 50, "course": 0, "enrollment": 0, "progress": 0,
                                 "session": 50, "rate_limit": 50}


def test_an_unreachable_redis_leaves_the_migration_applied(
        db: Target, tmp_path: Path) -> None:
    nowhere = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    folder = migration(tmp_path / "m", "0008_nickname",
                       "ALTER TABLE users ADD COLUMN nickname varchar(50);")
    result = run("migrate", "--dsn", db.conninfo, "--migrations", str(folder),
                 env={"WATOTO_REDIS_URL": nowhere})
    assert result.exit_code == 0, result.output
    assert "applied 0008_nickname" in result.stdout
    assert "warning" in result.stderr and "cache invalidate --table users" in result.stderr
    assert SECRET not in result.output

    migration(folder, "0009_motto", "ALTER TABLE users ADD COLUMN motto text;",
              depends="0008_nickname")
    strict = run("migrate", "--dsn", db.conninfo, "--migrations", str(folder),
                 "--redis", nowhere, "--require-cache-invalidation")
    line = assert_one_line_error(strict)
    assert "0009_motto is applied" in line and "user" in line and SECRET not in line
    status = json.loads(run("status", "--json", "--dsn", db.conninfo, "--migrations",
                            str(folder)).stdout)
    assert {v["version"]: v["state"] for v in status["versions"]}["0009_motto"] == "applied"


def test_require_cache_invalidation_needs_a_redis(db: Target) -> None:
    line = assert_one_line_error(run("migrate", "--dsn", db.conninfo,
                                     "--require-cache-invalidation"))
    assert "--redis" in line


@pytest.mark.parametrize("url", [f"http://:{SECRET}@127.0.0.1:6379/0",
                                 f"redis://:{SECRET}@127.0.0.1:notaport/0"])
def test_a_bad_url_is_one_line_without_the_password(url: str, db: Target) -> None:
    for argv in (["cache", "check", "--redis", url], ["--json", "health", "--redis", url,
                                                      "--dsn", db.conninfo]):
        result = run(*argv)
        if argv[0] == "cache":
            line = assert_one_line_error(result)
            assert SECRET not in line and ("Redis URL" in line or "Redis" in line)
        assert SECRET not in result.output
    before = run("status", "--json", "--dsn", db.conninfo).stdout
    migrated = run("migrate", "--dsn", db.conninfo, "--redis", url)
    assert SECRET not in assert_one_line_error(migrated)
    assert run("status", "--json", "--dsn", db.conninfo).stdout == before


def test_a_password_is_never_shown(redis_server: RedisServer, db: Target) -> None:
    with redis_server.client() as admin:
        admin.config_set("requirepass", SECRET)
    try:
        url = redis_server.url(password=SECRET)
        fill(url, 5)
        checked = run("cache", "check", "--json", "--redis", url)
        assert checked.exit_code == 2 and SECRET not in checked.output
        assert json.loads(checked.stdout)["target"].startswith("redis://:***@")
        wrong = run("cache", "invalidate", "--family", "user", "--redis",
                    redis_server.url(password=SECRET + "x"))
        assert SECRET not in assert_one_line_error(wrong)
        health = run("health", "--json", "--dsn", db.conninfo, "--redis", url)
        assert SECRET not in health.output
        assert {"redis_hit_ratio", "redis_memory", "redis_evictions", "redis_clients"} <= {
            c["name"] for c in json.loads(health.stdout)["checks"]}
    finally:
        with redis_server.client(SECRET) as admin:
            admin.config_set("requirepass", "")


# -- cache invalidate ------------------------------------------------------------------------

def test_invalidate_by_family_id_and_table(redis_url: str) -> None:
    fill(redis_url, 20)
    one = run("cache", "invalidate", "--family", "progress", "--id", "3", "--redis", redis_url)
    assert one.exit_code == 0, one.output
    two = run("--json", "cache", "invalidate", "--family", "user", "--id", "4", "--id", "5",
              "--redis", redis_url)
    assert json.loads(two.stdout)["keys"] == 2
    with redis.Redis.from_url(redis_url) as conn:
        assert not conn.exists("progress:3:3", "user:4", "user:5")
        assert conn.exists("progress:13:6", "user:14") == 2
    dry = run("--json", "cache", "invalidate", "--table", "course_modules", "--dry-run",
              "--redis", redis_url)
    assert {f["family"]: f["keys"] for f in json.loads(dry.stdout)["families"]} == {
        "course": 20, "progress": 19}
    assert counts(redis_url)["course"] == 20
    gone = run("cache", "invalidate", "--table", "course_modules", "--redis", redis_url)
    assert gone.exit_code == 0
    assert counts(redis_url) == {"user": 18, "course": 0, "enrollment": 20, "progress": 0,
                                 "session": 20, "rate_limit": 20}
    assert "nosuch" in assert_one_line_error(run("cache", "invalidate", "--table", "nosuch",
                                                 "--redis", redis_url))
    assert "nosuch" in assert_one_line_error(run("cache", "invalidate", "--family", "nosuch",
                                                 "--redis", redis_url))
    assert run("cache", "invalidate", "--redis", redis_url).exit_code == 1
    assert "--redis" in assert_one_line_error(run("cache", "invalidate", "--family", "user"))


def test_a_large_family_goes_while_a_client_keeps_reading(
        redis_url: str, record_property: pytest.RecordProperty) -> None:
    with redis.Redis.from_url(redis_url) as conn:
        for first in range(0, 200_000, 10_000):
            pipe = conn.pipeline(transaction=False)
            for i in range(first, first + 10_000):
                pipe.set(f"user:{i}", b"u" * 40, ex=3600)
                if i % 4 == 0:
                    pipe.set(f"session:tok{i}", b"s" * 40, ex=86400)
            pipe.execute()
    latencies: list[float] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        with redis.Redis.from_url(redis_url) as reader:
            i = 0
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    value = reader.get(f"session:tok{(i * 4) % 200_000}")
                except redis.RedisError as exc:
                    failures.append(exc)
                    return
                latencies.append(time.perf_counter() - began)
                assert value == b"s" * 40
                i += 1

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)
    served_before = len(latencies)
    try:
        with redis.Redis.from_url(redis_url) as conn:
            # full speed (no rate limit): at the policy's 10,000 keys/s this would take 20 s
            result = invalidate(conn, POLICY, [POLICY.family("user")], max_rate=0)
    finally:
        stop.set()
        reader.join(30)
    assert result.counts() == {"user": 200_000}
    during = latencies[served_before:]
    assert not failures and len(during) > 100  # it kept being served throughout
    during.sort()
    record_property("invalidation_seconds", round(result.seconds, 3))
    record_property("get_p99_ms_during", round(during[int(len(during) * 0.99)] * 1000, 3))
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.dbsize() == 50_000  # the sessions



def test_small_batches_at_a_bounded_rate_remove_every_key(redis_url: str) -> None:
    """--batch and --max-rate (#21): every key goes, in the batches reported, no faster than
    the rate (so the time is about keys / rate, and bounded by it)."""
    with redis.Redis.from_url(redis_url) as conn:
        pipe = conn.pipeline(transaction=False)
        for i in range(600):
            pipe.set(f"course:{i}", b"c", ex=600)
        pipe.set("session:keep", b"s", ex=600)
        pipe.execute()
    ran = run("--json", "cache", "invalidate", "--family", "course", "--batch", "50",
              "--max-rate", "2000", "--redis", redis_url)
    assert ran.exit_code == 0, ran.output
    doc = json.loads(ran.stdout)
    assert doc["keys"] == 600 and doc["batch"] == 50 and doc["max_rate"] == 2000
    assert doc["batches"] >= 600 // 50 and doc["families"][0]["batches"] == doc["batches"]
    assert 600 / 2000 * 0.8 <= doc["seconds"] < 600 / 2000 + 5  # the rate held it back
    assert doc["paused_seconds"] > 0
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.dbsize() == 1 and conn.exists("session:keep")
    human = run("cache", "invalidate", "--family", "course", "--max-rate", "100",
                "--redis", redis_url)
    assert human.exit_code == 0 and "at most 100 keys/s" in human.stdout
    # the library: the policy's max_rate unless given; by name with ids, paced the same way
    with redis.Redis.from_url(redis_url) as conn:
        conn.mset({f"user:{i}": b"u" for i in range(30)})
        policy = load_policy({"invalidation": {"max_rate": 100}})
        result = invalidate(conn, policy, [policy.family("user")],
                            ids=[str(i) for i in range(30)], batch=10)
        assert result.keys == 30 and result.batches == 3 and result.max_rate == 100
        assert result.seconds >= 0.15  # 20 keys at 100/s before the last batch
        assert conn.dbsize() == 1


def test_bad_pacing_input_of_invalidate_is_one_line(redis_url: str) -> None:
    family = ["cache", "invalidate", "--family", "user", "--redis", redis_url]
    for args in (["--batch", "0"], ["--max-rate", "-5"], ["--pause", "-1"]):
        line = assert_one_line_error(run(*family, *args))
        assert args[0] in line, line
    with pytest.raises(BadConfig, match="max_rate"):
        load_policy({"invalidation": {"max_rate": -1}})
    with redis.Redis.from_url(redis_url) as conn, pytest.raises(BadConfig, match="--batch"):
        invalidate(conn, POLICY, [POLICY.family("user")], batch=0)

# -- cache check -------------------------------------------------------------------------------

def test_check_a_well_set_redis_then_its_findings(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as conn:
        conn.config_set("maxmemory", 64 * 1024**2)
        conn.config_set("maxmemory-policy", "volatile-ttl")
        conn.config_set("appendonly", "yes")
    fill(redis_url, 30)
    good = run("cache", "check", "--redis", redis_url)
    assert good.exit_code == 0, good.output
    assert "No findings." in good.stdout
    doc = json.loads(run("cache", "check", "--json", "--redis", redis_url).stdout)
    assert doc["status"] == "ok" and doc["version"].startswith("7")
    families = {f["family"]: f for f in doc["families"]}
    assert families["user"]["estimated_keys"] == 30 and families["user"]["average_bytes"] > 0

    with redis.Redis.from_url(redis_url) as conn:
        conn.set("user:999", "forever")
        conn.set("course:999", "long", ex=7200)
        conn.config_set("maxmemory-policy", "allkeys-lru")
        conn.config_set("appendonly", "no")
    bad = run("cache", "check", "--json", "--redis", redis_url)
    assert bad.exit_code == 2, bad.output
    found = {(f["check"], f["family"]) for f in json.loads(bad.stdout)["findings"]}
    assert found == {("ttl", "user"), ("ttl", "course"), ("eviction", None),
                     ("persistence", None)}
    text = run("cache", "check", "--redis", redis_url).stdout
    assert "allkeys-lru" in text and "volatile-ttl" in text and "user:999" in text


def test_health_without_a_redis_has_no_cache_section(db: Target) -> None:
    doc = json.loads(run("health", "--json", "--dsn", db.conninfo).stdout)
    assert not any(c["name"].startswith("redis") for c in doc["checks"])


def test_health_reports_an_unreachable_redis(db: Target) -> None:
    result = run("health", "--json", "--dsn", db.conninfo, "--redis",
                 f"redis://127.0.0.1:{free_port()}/0")
    assert result.exit_code == 2
    [check] = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "redis"]
    assert check["status"] == "critical"
    prometheus = run("health", "--format", "prometheus", "--dsn", db.conninfo, "--redis",
                     f"redis://127.0.0.1:{free_port()}/0")
    assert "watoto_redis_up 0.0" in prometheus.stdout


def test_the_hook_runs_after_the_existing_one(db: Target, redis_url: str,
                                              tmp_path: Path) -> None:
    """Chained after `--wait-replicas`' hook: that one sees the migration committed and the
    keys still there; then the user keys go."""
    from watoto_schema import migrate
    from watoto_schema.cache.after_migrate import Invalidator, chain
    from watoto_schema.cache.connection import resolve

    fill(redis_url, 10)
    folder = migration(tmp_path / "m", "0008_nickname",
                       "ALTER TABLE users ADD COLUMN nickname varchar(50);")
    seen: list[tuple[str, int, bool]] = []

    def before(conn: psycopg.Connection[object], version: str) -> None:
        committed = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = %s)",
            (version,)).fetchone()
        seen.append((version, counts(redis_url)["user"], bool(committed and committed[0])))

    options = migrate.RunOptions(after_each=before)
    target = resolve(redis_url)
    assert target is not None
    invalidator = Invalidator(target, POLICY, [folder])
    chain(options, invalidator)
    try:
        migrate.migrate(db, extra_dirs=[folder], options=options)
    finally:
        invalidator.close()
    assert seen == [("0008_nickname", 10, True)]
    assert counts(redis_url)["user"] == 0
    assert [m.families for m in invalidator.run.migrations] == [["user"]]
