"""The thresholds of ``health``: documented defaults, overridden by ``[health]`` in
``watoto-schema.toml``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..errors import BadConfig


@dataclass(frozen=True)
class Thresholds:
    """Warning and critical levels of each check (seconds, bytes, ratios 0-1)."""

    # connections: share of the slots non-superusers may use
    connections_warning: float = 0.80
    connections_critical: float = 0.95
    # buffer cache hit ratio (database; tables with at least cache_min_reads block reads)
    cache_hit_warning: float = 0.95
    cache_hit_critical: float = 0.90
    cache_min_reads: int = 10_000
    # statements: mean execution time (pg_stat_statements), running now
    statement_mean_warning: float = 0.5
    statement_mean_critical: float = 2.0
    running_query_warning: float = 60.0
    running_query_critical: float = 300.0
    statements_reported: int = 5  # the slowest N, by mean and by total (cardinality)
    # transactions
    transaction_warning: float = 300.0
    transaction_critical: float = 1800.0
    idle_in_transaction_warning: float = 60.0
    idle_in_transaction_critical: float = 600.0
    # sessions waiting on a lock for at least this long
    lock_wait_warning: float = 10.0
    lock_wait_critical: float = 60.0
    # replication
    replica_lag_bytes_warning: int = 64 * 1024**2
    replica_lag_bytes_critical: int = 1024**3
    replica_lag_seconds_warning: float = 30.0
    replica_lag_seconds_critical: float = 300.0
    slot_retained_warning: int = 1024**3
    slot_retained_critical: int = 10 * 1024**3
    receiver_silence_critical: float = 60.0
    expected_standbys: int = 0
    # bloat (estimate; --exact confirms with pgstattuple), as `maintain plan`
    bloat_ratio: float = 0.4
    bloat_min_bytes: int = 8 * 1024**2
    # transaction-ID age (check_postgres' txn_wraparound defaults)
    wraparound_warning: int = 1_300_000_000
    wraparound_critical: int = 1_400_000_000
    # partitions: days of runway left
    runway_warning_days: int = 60
    runway_critical_days: int = 7
    # WAL archiving
    archive_required: bool = True
    archive_age_warning: float = 600.0
    archive_age_critical: float = 3600.0

    @classmethod
    def from_config(cls, values: dict[str, Any], source: str = "[health]") -> Thresholds:
        """Defaults with the ``[health]`` table's values; unknown keys and bad types fail."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise BadConfig(f"{source}: unknown threshold(s) {', '.join(sorted(unknown))}")
        settings: dict[str, Any] = {}
        for name, value in values.items():
            default = getattr(cls, name)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                raise BadConfig(f"{source}: {name} must be a {type(default).__name__}")
            settings[name] = value
        return cls(**settings)
