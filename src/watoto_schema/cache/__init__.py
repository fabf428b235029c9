"""The Redis cache layer in front of PostgreSQL (the design's key scheme, issue #15).

``policy`` reads the key families, TTLs and the tables behind them (``sql/cache.toml``,
``[cache]`` of ``watoto-schema.toml``); ``connection`` resolves and opens the Redis
(``--redis``, ``WATOTO_REDIS_URL``) and keeps its password out of output; ``check`` judges
the server and a SCAN sample of keys; ``invalidate`` removes families with SCAN + UNLINK in
paced batches; ``tables`` finds which tables a migration changes (pglast);
``after_migrate`` is ``migrate``'s hook that invalidates after each commit; ``health`` is
the cache section of ``health``.
"""

from .check import CacheReport, Finding, check
from .connection import CacheTarget, resolve
from .invalidate import Invalidation, invalidate
from .policy import CachePolicy, Family, load_policy

__all__ = ["CachePolicy", "CacheReport", "CacheTarget", "Family", "Finding", "Invalidation",
           "check", "invalidate", "load_policy", "resolve"]
