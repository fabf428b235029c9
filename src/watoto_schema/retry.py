"""What every lock-aware operation shares: the SQLSTATE of a lock not granted in time, and
the backoff before trying again."""

from __future__ import annotations

LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired
MAX_DELAY = 10.0


def backoff_delay(base: float, attempt: int) -> float:
    """Seconds to wait before retry number ``attempt + 1``: ``base`` doubling, capped at 10 s."""
    return float(min(base * 2.0 ** attempt, MAX_DELAY))
