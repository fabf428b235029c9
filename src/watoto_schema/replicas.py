"""Standbys seen from the primary: wait until they have replayed what the primary wrote.

Big DDL and index builds make asynchronous standbys fall behind, and reads routed to a
standby that has not replayed a migration see the old schema. ``wait_for_standbys`` holds
a run until every connected standby has replayed the primary's current WAL position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import BadConfig, Refused
from .target import Target, connect

if TYPE_CHECKING:
    import psycopg


class StandbyBehind(Refused):
    """A standby did not replay the primary's position within the wait."""


def wait_for_standbys(conn: psycopg.Connection[Any], timeout: float,
                      after: str | None = None) -> list[str]:
    """Wait until every standby connected to the primary has replayed its current LSN.

    A physical replication slot that no standby streams from counts as a standby that is
    down. Returns the standbys waited for (none: returns at once). Raises
    ``StandbyBehind`` (exit 3) naming the ones still behind when ``timeout`` runs out; what
    was committed stays committed.
    """
    # The insert position, not pg_current_wal_lsn() (the write position): with
    # synchronous_commit off, a commit that has returned may still sit in the WAL buffers,
    # before the write position, and "replayed the write position" would not include it.
    row = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
    assert row is not None
    lsn = row[0]
    deadline = time.monotonic() + timeout
    while True:
        rows = conn.execute(
            "SELECT coalesce(nullif(application_name, ''), client_addr::text, 'standby'), "
            "coalesce(replay_lsn >= %s::pg_lsn, false), "
            "pg_wal_lsn_diff(%s::pg_lsn, replay_lsn), state FROM pg_stat_replication",
            (lsn, lsn)).fetchall()
        behind = [(name, lag, state) for name, caught, lag, state in rows if not caught]
        # A physical slot nobody streams from is a standby that is down (or a WAL
        # consumer gone): it has not replayed anything since, so it is waited for too.
        behind += [(f"slot {slot}", lag, "not connected") for slot, lag in conn.execute(
            "SELECT slot_name, pg_wal_lsn_diff(%s::pg_lsn, restart_lsn) "
            "FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT active "
            "AND restart_lsn IS NOT NULL AND restart_lsn < %s::pg_lsn",
            (lsn, lsn)).fetchall()]
        if not behind:
            return [r[0] for r in rows]
        if time.monotonic() >= deadline:
            where = f" after {after}" if after else ""
            names = "; ".join(f"{name} ({state}, {int(lag or 0)} bytes behind)"
                              for name, lag, state in behind)
            raise StandbyBehind(
                f"standbys did not replay the primary's position {lsn}{where} within "
                f"{timeout:g}s: {names}; what was applied stays applied (re-run when they "
                "catch up)")
        time.sleep(0.1)


def wait_while_lagging(conn: psycopg.Connection[Any], *, max_bytes: float | None,
                       max_seconds: float | None, timeout: float, before: str = "",
                       on_wait: Any = None) -> None:
    """Wait while any standby's replay lag is above ``max_bytes`` or ``max_seconds``.

    Raises ``StandbyBehind`` (exit 3) naming them when ``timeout`` runs out. ``on_wait``
    is told once, when the wait begins.
    """
    deadline = time.monotonic() + timeout
    told = False
    while True:
        rows = conn.execute(
            "SELECT coalesce(nullif(application_name, ''), client_addr::text, 'standby'), "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), "
            "extract(epoch FROM replay_lag) FROM pg_stat_replication").fetchall()
        lagging = [(name, float(lag_bytes or 0), float(lag_seconds or 0))
                   for name, lag_bytes, lag_seconds in rows
                   if (max_bytes is not None and float(lag_bytes or 0) > max_bytes)
                   or (max_seconds is not None and float(lag_seconds or 0) > max_seconds)]
        if not lagging:
            return
        names = "; ".join(f"{n} ({int(b)} bytes, {s:.1f}s behind)" for n, b, s in lagging)
        if time.monotonic() >= deadline:
            raise StandbyBehind(f"standbys lag more than --max-replica-lag{before} after "
                                f"waiting {timeout:g}s: {names}; nothing more was run (re-run "
                                "when they have caught up: it carries on from there)")
        if not told and on_wait is not None:
            on_wait(f"waiting{before}: {names}")
            told = True
        time.sleep(0.2)


def parse_seconds(value: str, option: str) -> float:
    """Seconds of a duration like 30, 30s, 2min, 1h."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|min|h)?\s*", value)
    if not match:
        raise BadConfig(f"{option} {value!r}: use e.g. 30s, 2min, 1h")
    return float(match.group(1)) * {"s": 1, None: 1, "min": 60, "h": 3600}[match.group(2)]


def parse_lag_limit(value: str) -> tuple[float | None, float | None]:
    """``--max-replica-lag``: (bytes, None) for 64MB / 512kB / 1GB, (None, seconds) for 30s."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(B|kB|MB|GB)\s*", value)
    if match:
        unit = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3}[match.group(2)]
        return float(match.group(1)) * unit, None
    try:
        return None, parse_seconds(value, "--max-replica-lag")
    except BadConfig:
        raise BadConfig(f"--max-replica-lag {value!r}: use bytes (64MB, 512kB) or seconds "
                        "(30s, 2min)") from None


@dataclass
class Node:
    """One server of a multi-host DSN."""

    target: Target
    standby: bool
    replay_lsn: str | None  # a standby's last replayed position


def nodes(target: Target) -> list[Node]:
    """Every host of ``target``'s (multi-host) connection string, each asked its role."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(target.conninfo) if target.conninfo else {}
    hosts = str(params.get("host") or "").split(",")
    ports = str(params.get("port") or "").split(",")
    if len(ports) not in (1, len(hosts)):
        raise BadConfig(f"{target.display}: {len(hosts)} hosts but {len(ports)} ports")
    found = []
    for i, host in enumerate(hosts):
        single = {k: v for k, v in params.items() if k != "target_session_attrs"}
        single.update(host=host, port=ports[i if len(ports) > 1 else 0])
        node = Target(make_conninfo("", **{k: v for k, v in single.items() if v not in ("",
                                                                                       None)}),
                      f"{target.source} host {i + 1}")
        with connect(node) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"
                               ).fetchone()
        assert row is not None
        found.append(Node(node, bool(row[0]), str(row[1]) if row[1] is not None else None))
    return found


def bytes_behind(primary: Target, replay_lsn: str) -> float:
    """How far a standby's replay position is behind the primary's current one."""
    with connect(primary) as conn:
        # the insert position: a commit not yet written out still counts as ahead
        row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)",
                           (replay_lsn,)).fetchone()
    return float(str(row[0])) if row and row[0] is not None else 0.0
