"""The one error hierarchy of watoto-schema; the CLI maps it to exit codes in one place."""

from __future__ import annotations

# Exit statuses, documented in the README.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DIFFERENCES = 2
EXIT_REFUSED = 3


class WatotoError(Exception):
    """Base of every error the tool reports to a user as one line."""

    exit_code = EXIT_ERROR


class BadConfig(WatotoError):
    """The user's options or environment do not describe a usable target."""


class ConnectionFailed(WatotoError):
    """The database could not be reached or refused the login."""


class UnknownVersion(WatotoError):
    """A version named on the command line matches no migration file."""

    def __init__(self, version: str, known: list[str]) -> None:
        self.version = version
        self.known = known
        hint = f" (known: {known[0]} .. {known[-1]})" if known else " (no migrations found)"
        super().__init__(f"unknown migration version {version!r}{hint}")


class MigrationFailed(WatotoError):
    """A migration's SQL failed (a transactional one was rolled back entirely)."""

    def __init__(self, version: str, direction: str, cause: str,
                 transactional: bool = True) -> None:
        self.version = version
        self.direction = direction
        self.cause = cause
        verb = "applying" if direction == "apply" else "rolling back"
        kept = ", nothing of it was kept" if transactional else ""
        super().__init__(f"{verb} {version} failed{kept}: {cause}")


class ConnectionLost(WatotoError):
    """The server went away in the middle of a migration (a failover, a restart, a crash)."""

    def __init__(self, version: str, direction: str, cause: str, transactional: bool) -> None:
        self.version = version
        verb = "applying" if direction == "apply" else "rolling back"
        kept = ("its transaction committed entirely or not at all" if transactional else
                "the statements it had finished stay applied and are recorded")
        super().__init__(
            f"the connection to the server was lost while {verb} {version} ({cause}): {kept}; "
            "run the same command again through the writer URL (after a failover it "
            "reaches the new primary) and it carries on from what the database recorded")


class MigrationEdited(WatotoError):
    """An applied migration's file changed since it was applied."""

    exit_code = EXIT_REFUSED

    def __init__(self, version: str, path: str, expected: str, actual: str) -> None:
        self.version = version
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"applied migration {version} was edited since it was applied ({path}); "
            "nothing was run: review the change, then `watoto-schema repair` to accept it")


class MigrationMissing(WatotoError):
    """The database records a migration that no migration folder has."""

    exit_code = EXIT_REFUSED

    def __init__(self, version: str) -> None:
        self.version = version
        super().__init__(
            f"applied migration {version} has no file in the migration folders; nothing was "
            "run (pass its folder with --migrations DIR)")


class MigrationBlocked(WatotoError):
    """A migration's locks were not granted within lock_timeout on any attempt."""

    exit_code = EXIT_REFUSED

    def __init__(self, version: str, attempts: int, statement: str, blocker: str) -> None:
        self.version = version
        self.attempts = attempts
        self.blocker = blocker
        super().__init__(
            f"{version} not applied: its locks were not granted within lock_timeout in "
            f"{attempts} attempts; blocked by {blocker}")


class LockNotAcquired(WatotoError):
    """Another run holds the migration lock on this database."""

    exit_code = EXIT_REFUSED

    def __init__(self, waited: float, holder: str) -> None:
        self.waited = waited
        self.holder = holder
        super().__init__(
            f"another watoto-schema run holds the migration lock ({holder}); "
            f"gave up after {waited:g}s"
        )


class NotMigrated(WatotoError):
    """The database has no applied migrations: there is nothing to compare with."""

    def __init__(self, target: str) -> None:
        self.target = target
        super().__init__(f"{target} has no applied migrations: run `migrate` (or `baseline` "
                         "for a database built by hand) before checking drift")


class LocalClusterError(WatotoError):
    """The embedded local PostgreSQL cluster could not be set up, started or reached."""


class Refused(WatotoError):
    """The operation is unsafe or impossible as asked and was not attempted."""

    exit_code = EXIT_REFUSED


class UnsafeMigration(WatotoError):
    """Pending migrations have error-level lint findings and --allow-unsafe was not given."""

    exit_code = EXIT_REFUSED

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        super().__init__(
            f"nothing was applied: lint found {len(problems)} error-level problem(s) in the "
            f"pending migrations: {'; '.join(problems[:3])}{more} (see `watoto-schema lint`; "
            "fix them, allow them with `-- lint: allow RULE (reason)`, or pass --allow-unsafe)")


class MaintenanceLockHeld(LockNotAcquired):
    """Another maintenance run holds the maintenance lock on this database."""

    def __init__(self, waited: float, holder: str) -> None:
        self.waited = waited
        self.holder = holder
        WatotoError.__init__(
            self, f"another `watoto-schema maintain` run holds the maintenance lock "
            f"({holder}); nothing was run (gave up after {waited:g}s; --wait waits for it)")


class MaintenanceFailed(WatotoError):
    """At least one maintenance operation failed."""

    exit_code = EXIT_ERROR

    def __init__(self, failed: list[str], total: int) -> None:
        self.failed = failed
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        super().__init__(f"{len(failed)} of {total} maintenance operations failed: "
                         + "; ".join(failed[:3]) + more)


class MaintenanceBlocked(WatotoError):
    """Some operations never got their locks within lock_timeout; nothing else failed."""

    exit_code = EXIT_REFUSED

    def __init__(self, blocked: list[str], total: int) -> None:
        self.blocked = blocked
        more = f" and {len(blocked) - 3} more" if len(blocked) > 3 else ""
        super().__init__(f"{len(blocked)} of {total} maintenance operations not run: their "
                         "locks were not granted within lock_timeout on any attempt ("
                         + "; ".join(blocked[:3]) + more + ")")


class PitrError(WatotoError):
    """A point-in-time recovery step (setup, base backup, drill) could not be done as asked."""


class RecoveryFailed(WatotoError):
    """A recovery drill ran and recovery did not reach its target (e.g. a missing WAL segment):
    a finding about the backups, so exit 2 like any check that found a problem."""

    exit_code = EXIT_DIFFERENCES


class FailoverFinding(WatotoError):
    """A failover drill ran and found a problem: acknowledged writes lost, or writes that
    never came back within the wait. A finding about the cluster, so exit 2."""

    exit_code = EXIT_DIFFERENCES


class BackupError(WatotoError):
    """A backup could not be made, read, verified or restored."""


class BackupRefused(BackupError):
    """A backup operation would overwrite something and was not attempted."""

    exit_code = EXIT_REFUSED


class BackupDamaged(BackupError):
    """A backup's files do not match the hashes in its manifest."""

    exit_code = EXIT_DIFFERENCES


class CacheError(WatotoError):
    """The Redis cache layer could not do what was asked."""


class CacheUnreachable(CacheError):
    """Redis could not be reached, refused the login, or failed a command."""


class CacheInvalidationFailed(CacheError):
    """Migrations were applied but the cached families their tables feed were not invalidated
    (``migrate --require-cache-invalidation``); the migrations stay applied."""


class BadMigration(WatotoError):
    """A migration's text cannot be run as written (an expression that does not parse)."""


class NotOnline(Refused):
    """A statement of an ``-- online: true`` migration cannot be run online."""

    def __init__(self, version: str, statement: str, why: str) -> None:
        self.version = version
        self.statement = statement
        self.why = why
        super().__init__(
            f"{version}: cannot run online: {statement}: {why}; nothing was run (make it a "
            "plain migration, or run it as one transaction with --allow-unsafe)")


class OnlineActive(Refused):
    """An online migration is active: later migrations wait until it is completed."""


class BackfillFailed(WatotoError):
    """An online migration's backfill stopped on a row (its ``up`` expression failed)."""

    def __init__(self, version: str, relation: str, key: str, cause: str) -> None:
        self.version = version
        self.relation = relation
        self.key = key
        super().__init__(
            f"{version}: the backfill of {relation} stopped at the row with key {key}: {cause}; "
            "nothing is lost (the old columns are untouched): fix that row and run `migrate` "
            "again to carry on, or `rollback --steps 1` to abort the online migration")
