"""Drift detection: how a live database differs from what its migrations say.

The expected schema is built for real: the migrations the target has applied (shipped and
``--migrations`` folders) run into a scratch database on the same server (or, when the
server refuses ``CREATE DATABASE``, e.g. a read replica, into a throwaway embedded
cluster); then both sides are read from the catalog (``catalog.snapshot``) and compared.
A built expected schema is cached by the applied migrations' checksums and the server
version, so the next check of a database at the same version only reads the catalog.

One module per capability: ``expected`` (building and caching the expected schema),
``compare`` (two snapshots to differences), ``policy`` (partitions judged by the partition
policy), ``history`` (the migration ledger), ``online`` (what an online migration in progress
explains), ``run`` (the operation), ``fix`` (the script that brings a database back).
"""

from typing import TYPE_CHECKING

from ..lazy import exports
from ..resources import CACHE_ENV as CACHE_ENV  # tests point it at a folder of their own

# ``compare`` is also a submodule's name: importing it eagerly keeps the function bound.
from .compare import compare

if TYPE_CHECKING:  # the names below load on first use (``__getattr__``)
    from .expected import expected_schema
    from .fix import fix_sql
    from .model import Difference, DriftReport
    from .run import compare_databases, drift, drift_all_nodes

_LAZY = {
    "expected_schema": ".expected",
    "fix_sql": ".fix",
    "Difference": ".model",
    "DriftReport": ".model",
    "compare_databases": ".run",
    "drift": ".run",
    "drift_all_nodes": ".run",
}

__all__ = ["CACHE_ENV", "Difference", "DriftReport", "compare", "compare_databases", "drift",
           "drift_all_nodes", "expected_schema", "fix_sql"]


__getattr__ = exports(__name__, _LAZY, globals())
