"""Collect every check into one report, each under a deadline, none able to sink the rest."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..target import Target, connect, one_line
from . import checks as c
from .thresholds import Thresholds

APPLICATION = "watoto-schema health"


@dataclass
class HealthReport:
    target: str
    checks: list[c.Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        """The worst status; ``unknown`` (a skipped check) never hides a warning."""
        worst = max((ch.status for ch in self.checks), key=c.ORDER.__getitem__, default=c.OK)
        return c.OK if worst == c.UNKNOWN else worst

    @property
    def skipped(self) -> list[c.Check]:
        return [ch for ch in self.checks if ch.status == c.UNKNOWN]


def _skipped(name: str, exc: BaseException) -> c.Check:
    import psycopg

    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        why = ("skipped: permission denied (grant the pg_monitor role; the DEFAULT-row count "
               "also needs SELECT on the tables)")
    elif isinstance(exc, psycopg.errors.QueryCanceled):
        why = "skipped: it ran past the deadline"
    else:
        why = f"skipped: {one_line(exc)}"
    return c.Check(name, c.UNKNOWN, why, "", "")


def collect(target: Target, thresholds: Thresholds | None = None, *, exact: bool = False,
            deadline: float = 10.0, which: str = "all") -> HealthReport:
    """Run every check against ``target``; read-only.

    ``which``: ``all``; ``sessions`` (the checks of one connection's cheap reads: connections,
    statements, transactions, replication...); ``relations`` (bloat and partition runway,
    which read every table's statistics: the dashboard reads them less often).
    Each check's statements run under ``statement_timeout`` = ``deadline``; a check that
    fails (no privilege, an extension missing, the deadline) becomes ``unknown`` with the
    reason and the others still run. Connection failures raise ``ConnectionFailed``.
    """
    import psycopg

    th = thresholds or Thresholds()
    began = time.perf_counter()
    report = HealthReport(target.display)
    if which not in ("all", "sessions", "relations"):
        raise ValueError(which)
    if which != "relations":
        with connect(target, application_name=APPLICATION) as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)",
                         (f"{int(deadline * 1000)}ms",))
            for name, check in c.CONNECTION_CHECKS:
                try:
                    report.checks.extend(check(conn, th))
                except psycopg.Error as exc:
                    report.checks.append(_skipped(name, exc))
    options = f"-c statement_timeout={int(deadline * 1000)}"
    timed = Target(_with_options(target.conninfo, options), target.source)
    def bloat() -> list[c.Check]:
        return c.bloat(timed, th, exact)

    def partitions() -> list[c.Check]:
        return c.partition_runway(timed, th)

    relation_checks = (("bloat", bloat), ("partitions", partitions))
    for name, run in relation_checks if which != "sessions" else ():
        try:
            report.checks.extend(run())
        except psycopg.Error as exc:
            report.checks.append(_skipped(name, exc))
        except Exception as exc:  # a WatotoError from the reused capability
            report.checks.append(_skipped(name, exc))
    report.seconds = time.perf_counter() - began
    return report


def _with_options(conninfo: str, options: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params: dict[str, Any] = conninfo_to_dict(conninfo) if conninfo else {}
    existing = str(params.get("options", ""))
    return make_conninfo(conninfo, options=f"{existing} {options}".strip())
