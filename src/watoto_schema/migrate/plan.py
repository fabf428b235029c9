"""Which migrations a run selects, and the exact script a dry run prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import sources
from ..errors import (
    MigrationEdited,
    MigrationMissing,
)
from ..sources import MigrationFile
from ..target import Target
from .model import (
    LOCK_CLASS,
    LOCK_MIGRATE,
    AppliedState,
    RunOptions,
    _literal,
)

if TYPE_CHECKING:
    import psycopg

# -- planning ------------------------------------------------------------------------------

def _check_history(files: Sequence[MigrationFile | sources.FileSummary],
                   applied: dict[str, AppliedState]) -> None:
    """Refuse to run when an applied migration was edited or its file is gone."""
    by_version = {f.version: f for f in files}
    for version, record in applied.items():
        f = by_version.get(version)
        if f is None:
            raise MigrationMissing(version)
        if record.state == "applied" and record.checksum and record.checksum != f.checksum:
            raise MigrationEdited(version, str(f.path), record.checksum, f.checksum)


def _to_apply(files: Sequence[MigrationFile], applied: dict[str, AppliedState],
              to: str | None) -> list[MigrationFile]:
    wanted = None if to is None else sources.ancestors(files, sources.find(files, to))
    return [f for f in files
            if (f.version not in applied or applied[f.version].state == "running")
            and (wanted is None or f.version in wanted)]


def _to_rollback(files: Sequence[MigrationFile], applied: dict[str, AppliedState],
                 to: str | None, steps: int | None) -> list[MigrationFile]:
    keep = set() if to is None else sources.ancestors(files, sources.find(files, to))
    todo = [f for f in reversed(files) if f.version in applied and f.version not in keep]
    return todo if steps is None else todo[:steps]


def _script(target: Target, files: Sequence[MigrationFile], direction: str,
            options: RunOptions, conn: psycopg.Connection[Any],
            applied: dict[str, AppliedState]) -> str:
    """The exact SQL a run would execute, with transaction boundaries and settings."""
    from .. import concurrent

    out = [f"-- watoto-schema {'migrate' if direction == 'apply' else 'rollback'} --dry-run",
           f"-- target: {target.display}", "-- the run holds a session-level advisory lock "
           f"pg_advisory_lock({LOCK_CLASS}, {LOCK_MIGRATE}) throughout", ""]
    for m in files:
        if m.online and options.online and direction == "apply":
            out.extend(_online_script(conn, m, files, applied))
            break  # later migrations wait until it is completed
        settings = options.settings_for(m)
        statements = m.statements if direction == "apply" else m.rollback_statements
        ledger = ("INSERT INTO schema_migrations (version) VALUES ({v});" if direction == "apply"
                  else "DELETE FROM schema_migrations WHERE version = {v};")
        ledger = ledger.format(v=_literal(m.version))
        out.append(f"-- {m.version} ({'transactional' if m.transactional else 'non-transactional'}"
                   f", {direction})")
        if m.transactional:
            out.append("BEGIN;")
            out.extend(f"SET LOCAL {k} = {_literal(v)};" for k, v in settings.items())
            out.extend(s.rstrip(";") + ";" for s in statements)
            out.append(ledger)
            out.append("-- + yoyo's _yoyo_migration/_yoyo_log rows and watoto_migration_history")
            out.append("COMMIT;")
        else:
            out.extend(f"SET {k} = {_literal(v)};" for k, v in settings.items())
            start = applied[m.version].statements_done if (
                direction == "apply" and m.version in applied) else 0
            if start:
                out.append(f"-- resuming after statement {start}")
            for statement in statements[start:]:
                for expanded in concurrent.expand(conn, statement):
                    prepared = concurrent.prepare(conn, expanded)
                    if prepared.skip:
                        out.append(f"-- skipped ({prepared.skip}): {expanded};")
                        continue
                    out.extend(c + ";" for c in prepared.cleanup)
                    out.append(expanded.rstrip(";") + ";")
            out.append("BEGIN;")
            out.append(ledger)
            out.append("-- + yoyo's _yoyo_migration/_yoyo_log rows and watoto_migration_history")
            out.append("COMMIT;")
            out.extend(f"RESET {k};" for k in settings)
        out.append("")
    if not files:
        out.append("-- nothing to do")
    return "\n".join(out) + "\n"


def _online_script(conn: psycopg.Connection[Any], m: MigrationFile,
                   files: Sequence[MigrationFile], applied: dict[str, AppliedState]) -> list[str]:
    """The expand and contract steps an online migration would run (docs/online.md)."""
    from .online.plan import plan as online_plan

    before = list(applied)  # in the order they were applied
    planned = online_plan(conn, m, before[-1] if before else "base")
    out = [f"-- {m.version} (online: expand now, contract at `migrate --complete`)"]
    out.extend(f"-- {line}" for line in planned.operations)
    for phase, steps in (("expand", planned.expand), ("contract", planned.contract),
                         ("abort (rollback)", planned.abort)):
        out.append(f"-- {phase}:")
        for step in steps:
            if step.kind == "backfill":
                spec = planned.backfills[int(step.sql)]
                sets = ", ".join(f"{c} = {v}" for c, v in spec["sets"])
                out.append(f"-- backfill {spec['table']} in batches by "
                           f"({', '.join(spec['key'])}): SET {sets}")
            else:
                out.append(f"{step.sql};  -- {step.kind}: {step.what}")
    out.append("")
    return out

