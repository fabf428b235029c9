"""A real Redis for the cache tests: ``redis-server`` started on a free port (no persistence,
in the foreground, stopped by its pid), else testcontainers' Redis when a Docker engine
answers, else the tests that need one skip."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from watoto_schema.local import free_port


@dataclass
class RedisServer:
    host: str
    port: int
    kind: str  # "redis-server" | "testcontainers"

    def url(self, db: int = 0, password: str | None = None) -> str:
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    def client(self, password: str | None = None) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, password=password)


def _wait_ready(server: RedisServer, proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            with server.client() as conn:
                conn.ping()
                return
        except redis.ConnectionError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _start_binary(binary: str, workdir: Path) -> tuple[RedisServer, subprocess.Popen[bytes]]:
    for _attempt in range(5):  # another xdist worker may take the free port first
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(workdir),
             "--logfile", str(workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = RedisServer("127.0.0.1", port, "redis-server")
        try:
            _wait_ready(server, proc)
            return server, proc
        except (RuntimeError, redis.ConnectionError):
            proc.kill()
            proc.wait()
    raise RuntimeError("could not start redis-server on a free port")


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary:
        server, proc = _start_binary(binary, tmp_path_factory.mktemp("redis"))
        try:
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return
    if not _docker_answers():
        pytest.skip("no redis-server binary and no Docker engine for testcontainers' Redis")
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7") as container:
        server = RedisServer(container.get_container_host_ip(),
                             int(container.get_exposed_port(6379)), "testcontainers")
        _wait_ready(server, None)
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The test Redis, emptied and back to its defaults (the test's own server)."""
    with redis_server.client() as conn:
        _reset(conn)
    yield redis_server.url()


def _reset(conn: Any) -> None:
    conn.flushall()
    conn.config_set("maxmemory", 0)
    conn.config_set("maxmemory-policy", "noeviction")
    conn.config_set("appendonly", "no")
    conn.config_resetstat()
