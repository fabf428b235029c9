"""``health``: the design's monitoring (query time, connections, cache hit ratio, replication
lag, bloat) and what a DBA adds to it (wraparound, long and idle transactions, lock waits,
invalid indexes, partition runway, WAL archiving), for people (a table), scripts (JSON),
Prometheus (text exposition, a scrape endpoint) and Nagios.

``checks`` measures, ``report`` collects under a deadline, ``exposition`` renders for
machines, ``serve`` answers scrapes.
"""

from .checks import CRITICAL, OK, UNKNOWN, WARNING, Check, Metric
from .report import HealthReport, collect
from .thresholds import Thresholds

__all__ = ["CRITICAL", "OK", "UNKNOWN", "WARNING", "Check", "HealthReport", "Metric",
           "Thresholds", "collect"]
