"""``local drill failover``: kill the primary of the local formation under writes, and
measure what the application would have seen.

A writer inserts sequence-numbered rows, one autocommit INSERT each, through the writer
URL (every node, ``target_session_attrs=read-write``), the way an application reconnects.
A row counts as *acknowledged* when its INSERT returned. After a warm-up the primary is
killed with SIGKILL (its keeper too: the machine is gone). The drill reports the time from
the kill to the first write that succeeds again (the recovery time the application sees),
then reads back every row from the new primary: an acknowledged row that is missing was
lost by the failover (asynchronous replication can lose the last ones). A write that
failed with the connection (its commit may or may not have happened) is *in doubt*, and
the drill says how many of those did reach the new primary. The killed node is started
again afterwards and rejoins as a standby.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import LocalClusterError, Refused
from .cluster import LocalCluster
from .topology import Topology, writer_url

DRILL_TABLE = "watoto_failover_drill"


@dataclass
class DrillReport:
    """What one failover drill saw."""

    old_primary: str
    new_primary: str | None
    detection: str
    replication: str
    writes_per_second: float
    acknowledged: int = 0
    acknowledged_before_kill: int = 0
    lost: list[int] = field(default_factory=list)  # acknowledged, missing after promotion
    in_doubt: int = 0  # failed with the connection: committed or not, nobody knows
    in_doubt_present: int = 0  # ... of which the new primary has the row
    recovery_seconds: float | None = None  # kill -> first successful write
    rejoin_seconds: float | None = None  # restart of the killed node -> formation settled
    rejoin_error: str | None = None  # the killed node did not rejoin as a standby
    errors: list[str] = field(default_factory=list)  # distinct errors the writer saw


def failover_drill(cluster: LocalCluster, *, writes_per_second: float = 50,
                   warmup: float = 2.0, timeout: float = 120, after: float = 1.0,
                   rejoin: bool = True, on_event: Any = None) -> DrillReport:
    """Run the drill on the local ``--ha`` formation (refused on anything else)."""
    import psycopg
    from psycopg import sql

    from .autofailover import _primary_name, kill_node, start_formation

    topology = Topology.load(cluster.root)
    if topology.mode != "ha":
        raise Refused("the failover drill kills the primary: it runs only on a local "
                      "pg_auto_failover formation (`local start --ha`)")
    if writes_per_second <= 0:
        raise LocalClusterError("--writes-per-second must be above 0")
    # The drill starts from the whole formation: a node still down (an earlier drill's
    # victim) is started and has rejoined before anything is killed.
    start_formation(cluster, None, detection=None, replication=None, timeout=timeout)
    old = _primary_name(topology, settled=True)
    if old is None:
        raise Refused("the formation has no settled primary now: `local status`, then retry")
    url = writer_url(cluster, "postgres") + "&connect_timeout=2"
    table = sql.Identifier(DRILL_TABLE)
    insert = sql.SQL("INSERT INTO {} (seq) VALUES (%s)").format(table)

    def say(text: str) -> None:
        if on_event is not None:
            on_event(text)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} (seq bigint PRIMARY KEY, written_at timestamptz "
                             "NOT NULL DEFAULT clock_timestamp())").format(table))
    report = DrillReport(old, None, topology.detection, topology.replication,
                         writes_per_second)
    acked: list[int] = []
    doubt: list[int] = []
    interval = 1.0 / writes_per_second
    conn_w: psycopg.Connection[Any] | None = None
    seq = 0
    started = time.monotonic()
    killed_at: float | None = None
    recovered_at: float | None = None
    next_tick = started
    try:
        while True:
            now = time.monotonic()
            if killed_at is None and now - started >= warmup:
                report.acknowledged_before_kill = len(acked)
                kill_node(cluster, topology, old)
                killed_at = time.monotonic()
                say(f"killed {old} (SIGKILL) after {len(acked)} acknowledged writes")
            if recovered_at is not None and now - recovered_at >= after:
                break
            if killed_at is not None and recovered_at is None and now - killed_at > timeout:
                break
            sent = False
            try:
                if conn_w is None:
                    conn_w = psycopg.connect(url, autocommit=True)
                seq += 1
                sent = True
                conn_w.execute(insert, (seq,))
                acked.append(seq)
                if killed_at is not None and recovered_at is None:
                    recovered_at = time.monotonic()
                    report.recovery_seconds = recovered_at - killed_at
                    report.new_primary = next((n.name for n in topology.nodes
                                               if n.port == conn_w.info.port), None)
                    say(f"writes succeed again after {report.recovery_seconds:.1f}s")
            except psycopg.Error as exc:
                if sent:
                    doubt.append(seq)
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else \
                    type(exc).__name__
                if message not in report.errors and len(report.errors) < 5:
                    report.errors.append(message)
                if conn_w is not None:
                    conn_w.close()
                conn_w = None
            next_tick += interval
            time.sleep(max(0.0, next_tick - time.monotonic()))
    finally:
        if conn_w is not None:
            conn_w.close()
    report.acknowledged = len(acked)
    report.in_doubt = len(doubt)
    if recovered_at is not None:
        with psycopg.connect(url, autocommit=True) as conn:
            present = {row[0] for row in conn.execute(
                sql.SQL("SELECT seq FROM {}").format(table))}
            conn.execute(sql.SQL("DROP TABLE {}").format(table))
        report.lost = sorted(set(acked) - present)
        report.in_doubt_present = len(set(doubt) & present)
    if rejoin:
        say(f"starting {old} again: it rejoins as a standby")
        began = time.monotonic()
        try:
            start_formation(cluster, None, detection=None, replication=None, timeout=timeout)
            report.rejoin_seconds = time.monotonic() - began
        except LocalClusterError as exc:  # what was measured stands; this is a finding too
            report.rejoin_error = str(exc)
    return report
