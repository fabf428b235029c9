"""Partition lifecycle without an extension: generate, premake, fill, list, retire.

Partitioned tables are declared once, in ``sql/partitions.toml``; DDL comes from the jinja2
templates in ``sql/templates/partitions/`` with identifiers quoted by psycopg.

Locks (the failures pg_partman users report most):

* a new range partition is made as a plain table and then ``ATTACH``ed: the parent takes
  SHARE UPDATE EXCLUSIVE (reads and writes go on), the DEFAULT partition ACCESS EXCLUSIVE
  while it is checked; each attempt runs under ``lock_timeout`` and is retried;
* rows sitting in DEFAULT inside the new range are moved in the same transaction as the
  attach, with DEFAULT locked so no new row can slip in; the move is a move, not a delete:
  triggers and foreign-key actions are suspended for it (``session_replication_role =
  replica``, which needs a superuser), and the moved rows' count and checksum are verified
  before commit;
* retirement detaches ``CONCURRENTLY`` where PostgreSQL allows it (not while a DEFAULT
  partition exists), finishes an interrupted detach (``FINALIZE``), and never drops
  without ``--yes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports

if TYPE_CHECKING:  # the names below load on first use (``__getattr__``)
    from .catalog import PartitionInfo, TableInfo, read_tables
    from .listing import TableReport, list_partitions
    from .policy import (
        INTERVALS,
        TablePolicy,
        load_policy,
        next_period,
        period_start,
        periods,
        policy_path,
    )
    from .premake import Action, PartitionRun, RunSettings, create, ensure
    from .render import render_initial
    from .retention import older_than, retire

_LAZY = {
    "PartitionInfo": ".catalog",
    "TableInfo": ".catalog",
    "read_tables": ".catalog",
    "TableReport": ".listing",
    "list_partitions": ".listing",
    "INTERVALS": ".policy",
    "TablePolicy": ".policy",
    "load_policy": ".policy",
    "next_period": ".policy",
    "period_start": ".policy",
    "periods": ".policy",
    "policy_path": ".policy",
    "Action": ".premake",
    "PartitionRun": ".premake",
    "RunSettings": ".premake",
    "create": ".premake",
    "ensure": ".premake",
    "render_initial": ".render",
    "older_than": ".retention",
    "retire": ".retention",
}

__all__ = [
    "INTERVALS", "Action", "PartitionInfo", "PartitionRun", "RunSettings", "TableInfo",
    "TablePolicy", "TableReport", "create", "ensure", "list_partitions", "load_policy",
    "next_period", "older_than", "period_start", "periods", "policy_path", "read_tables",
    "render_initial", "retire",
]


__getattr__ = exports(__name__, _LAZY, globals())
