"""Which Redis the cache commands talk to, a client for it, and its password kept out of output."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ..errors import BadConfig, CacheUnreachable
from ..target import one_line

if TYPE_CHECKING:
    import redis

ENV_URL = "WATOTO_REDIS_URL"
_URL_PASSWORD = re.compile(r"((?:rediss?|unix)://[^:/@\s]*:)([^@\s]*)(@)")
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&\s]*)", re.IGNORECASE)


@dataclass(frozen=True)
class CacheTarget:
    """A Redis server: its URL and where it came from (``--redis``, ``WATOTO_REDIS_URL``)."""

    url: str
    source: str

    @property
    def display(self) -> str:
        """The URL with any password masked."""
        return redact_url(self.url)


def resolve(cli_url: str | None, environ: dict[str, str] | None = None) -> CacheTarget | None:
    """``--redis`` > ``WATOTO_REDIS_URL`` > none (the cache layer is then off)."""
    env = os.environ if environ is None else environ
    if cli_url:
        return CacheTarget(cli_url, "--redis")
    if env.get(ENV_URL):
        return CacheTarget(env[ENV_URL], ENV_URL)
    return None


def require(target: CacheTarget | None) -> CacheTarget:
    if target is None:
        raise BadConfig(f"no Redis to work on: pass --redis URL or set {ENV_URL} "
                        "(redis://host:port/db)")
    return target


def redact_url(text: str) -> str:
    """Mask the password of every Redis URL in ``text``."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***\3", text))


def passwords_of(url: str) -> list[str]:
    """The password a Redis URL carries, as written and decoded (used only to scrub output)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = [password, unquote(password)] if password else []
    match = _QUERY_PASSWORD.search(url)
    if match and match.group(2):
        found += [match.group(2), unquote(match.group(2))]
    return found


def client(target: CacheTarget, *, timeout: float = 10.0) -> redis.Redis:
    """A client for ``target``, its connection proven with PING.

    A malformed URL is ``BadConfig``; an unreachable server or a refused login is
    ``CacheUnreachable``; neither message carries the password.
    """
    import redis

    conn = _from_url(target, timeout)
    try:
        conn.ping()
    except redis.RedisError as exc:
        conn.close()
        raise CacheUnreachable(f"cannot reach Redis at {target.display} ({target.source}): "
                               f"{clean_message(exc, target)}") from None
    return conn


def check_url(target: CacheTarget) -> None:
    """Refuse a malformed URL (``BadConfig``) without connecting."""
    _from_url(target, 1.0).close()


def _from_url(target: CacheTarget, timeout: float) -> redis.Redis:
    import redis

    try:
        return redis.Redis.from_url(target.url, socket_connect_timeout=min(timeout, 5.0),
                                    socket_timeout=timeout)
    except (ValueError, TypeError) as exc:
        raise BadConfig(f"invalid Redis URL from {target.source}: {clean_message(exc, target)} "
                        "(use redis://host:port/db, rediss:// for TLS, or "
                        "unix:///path/redis.sock)") from None


@contextmanager
def connected(target: CacheTarget, *, timeout: float = 10.0) -> Iterator[redis.Redis]:
    """``client()`` closed afterwards; a Redis error on the way is ``CacheUnreachable``."""
    import redis

    conn = client(target, timeout=timeout)
    try:
        yield conn
    except redis.RedisError as exc:
        raise CacheUnreachable(f"Redis at {target.display}: {clean_message(exc, target)}") from None
    finally:
        conn.close()


def clean_message(exc: BaseException, target: CacheTarget) -> str:
    text = redact_url(one_line(exc))
    for secret in passwords_of(target.url):
        text = text.replace(secret, "***")
    return text
