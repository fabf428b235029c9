"""State shared by all commands: the target database and the output sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cache import CachePolicy, CacheTarget
    from ..target import Target
    from .output import Output

# Passwords seen while resolving the target; every error line is scrubbed of them.
_SECRETS: list[str] = []


def known_secrets() -> tuple[str, ...]:
    return tuple(_SECRETS)


@dataclass
class AppContext:
    dsn: str | None
    use_local: bool
    cli_dirs: tuple[Path, ...]
    as_json: bool
    debug: bool
    config_file: Path | None = None
    redis: str | None = None
    _output: Output | None = field(default=None, repr=False)
    _dirs: tuple[Path, ...] | None = field(default=None, repr=False)

    @property
    def extra_dirs(self) -> tuple[Path, ...]:
        """Extra migration folders: the config file's, then each --migrations."""
        if self._dirs is None:
            from ..config import load

            self._dirs = (*load(self.config_file).migrations, *self.cli_dirs)
        return self._dirs

    @property
    def out(self) -> Output:
        if self._output is None:
            from .output import Output

            self._output = Output(as_json=self.as_json)
        return self._output

    def target(self) -> Target:
        """The database to work on, by precedence --local / --dsn / env / libpq env."""
        from ..target import Target, resolve

        if self.use_local:
            from ..local import default_cluster, require_writer

            return Target(require_writer(default_cluster()), "--local")
        return self._remember(resolve(self.dsn))

    def writable_target(self, dry_run: bool = False) -> Target:
        """The target of a command that writes: a read-only standby is refused (exit 3)
        before any work. A dry run reads only and may look at a standby."""
        target = self.target()
        if not dry_run:
            from ..target import require_primary

            require_primary(target)
        return target

    def other_target(self, dsn: str, source: str) -> Target:
        """A further database named on the command line (e.g. ``drift --against``)."""
        from ..target import Target

        return self._remember(Target(dsn, source))

    def _remember(self, target: Target) -> Target:
        from ..target import password_of

        secret = password_of(target.conninfo)
        if secret:
            _SECRETS.append(secret)
        return target

    def cache_target(self) -> CacheTarget | None:
        """The Redis cache, by precedence --redis / $WATOTO_REDIS_URL; None: none configured."""
        import os

        if not self.redis and not os.environ.get("WATOTO_REDIS_URL"):  # cache.connection.ENV_URL
            return None  # no Redis: the cache layer is not even imported
        from ..cache.connection import passwords_of, resolve

        target = resolve(self.redis)
        if target is not None:
            _SECRETS.extend(passwords_of(target.url))
        return target

    def cache_policy(self) -> CachePolicy:
        """``sql/cache.toml`` with ``[cache]`` of the configuration file over it."""
        from ..cache.policy import load_policy
        from ..config import load

        return load_policy(load(self.config_file).cache)
