"""The dashboard's memory: the latest sections, collected on demand and never twice at once,
and the short history the charts draw (replica lag, connections by state).

A page asks for the sections; if the live ones are older than half the refresh interval a
collection starts in the background and the page gets what is there now (the next refresh
shows the new data), so a page never waits on the database except for its very first
view. Nobody looking means no collection: an idle dashboard costs the database nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..target import Target
from .collect import LIVE, SLOW, Options, Section, collect_section


@dataclass
class View:
    """What one page render shows."""

    sections: dict[str, Section]
    history: dict[str, dict[str, list[tuple[float, float]]]]
    down_since: datetime | None
    down_reason: str | None
    collecting: bool
    refreshed_at: datetime | None


@dataclass
class Dashboard:
    target: Target
    options: Options
    refresh: float = 10.0  # seconds between the page's refreshes
    slow_every: float = 300.0  # seconds between collections of the slow sections
    points: int = 360  # history kept per series (an hour at the default refresh)
    collect: Callable[[str, Target, Options], Section] = collect_section
    sections: dict[str, Section] = field(default_factory=dict)
    down_since: datetime | None = None
    down_reason: str | None = None
    collections: int = 0  # how many times the live sections were read (for tests)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _running: threading.Event = field(default_factory=threading.Event, repr=False)
    _done: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _live_at: float = 0.0
    _slow_at: float = 0.0
    _history: dict[str, dict[str, deque[tuple[float, float]]]] = field(
        default_factory=lambda: {"lag": {}, "connections": {}}, repr=False)

    def view(self, wait: float = 0.0) -> View:
        """The sections now; starts a background collection when they are stale. With
        ``wait``, waits up to that many seconds for the live sections when they have never
        been read (a first visit); the slow ones follow on the page's next refresh."""
        self._maybe_collect()
        if wait and not all(name in self.sections for name in LIVE):
            with self._done:
                self._done.wait_for(lambda: all(name in self.sections for name in LIVE),
                                    timeout=wait)
        with self._lock:
            sections = dict(self.sections)
            history = {kind: {name: list(points) for name, points in series.items()}
                       for kind, series in self._history.items()}
            refreshed = max((s.collected_at for s in sections.values() if s.collected_at),
                            default=None)
            return View(sections, history, self.down_since, self.down_reason,
                        self._running.is_set(), refreshed)

    def collect_now(self) -> None:
        """Collect every section in this thread (for the first render and for tests)."""
        self._collect(slow=True)

    def _maybe_collect(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._running.is_set() or now - self._live_at < self.refresh / 2:
                return
            slow = now - self._slow_at >= self.slow_every
            self._running.set()
        threading.Thread(target=self._collect, kwargs={"slow": slow, "claimed": True},
                         name="watoto-dashboard-collect", daemon=True).start()

    def _collect(self, slow: bool, claimed: bool = False) -> None:
        if not claimed:
            self._running.set()
        try:
            names = list(LIVE) + (list(SLOW) if slow else []) + ["loadtest"]
            for name in names:
                if name in SLOW and self.down_since is not None:
                    continue  # the database is gone: do not wait on it once per section
                section = self.collect(name, self.target, self.options)
                self._store(section)
                with self._done:
                    self._done.notify_all()
            with self._lock:
                self._live_at = time.monotonic()
                if slow and self.down_since is None:
                    self._slow_at = self._live_at
                self.collections += 1
        finally:
            self._running.clear()
            with self._done:
                self._done.notify_all()

    def _store(self, section: Section) -> None:
        with self._lock:
            previous = self.sections.get(section.name)
            if section.unreachable:
                if self.down_since is None:
                    self.down_since = section.collected_at or datetime.now(UTC)
                self.down_reason = section.error
            elif section.name in LIVE and section.error is None:
                self.down_since = self.down_reason = None
            if section.error is not None and previous is not None and previous.data:
                # keep what was shown, marked stale, with the reason
                section.data, section.stale = previous.data, True
                section.status, section.data_at = previous.status, previous.data_at
            self.sections[section.name] = section
            if section.name == "health" and section.error is None:
                self._remember(section)

    def _remember(self, section: Section) -> None:
        moment = (section.collected_at or datetime.now(UTC)).timestamp()
        for kind in ("lag", "connections"):
            series = self._history[kind]
            values: dict[str, Any] = section.data.get(kind, {})
            for name in set(series) | set(values):
                points = series.setdefault(name, deque(maxlen=self.points))
                points.append((moment, float(values.get(name, 0.0))))
