"""A pool of ready clones of one template, filled and drained by background threads.

The ``watoto_db`` fixture's engine (docs/testing.md, decision 0022). One thread keeps
``size`` clones made ahead of demand; a test takes one from memory (no SQL at all), and
gives it back when it ends, to a second thread that drops it, so neither the clone nor
the drop is on a test's path while the pool keeps up. When tests outrun it, ``take`` waits
for the clone being made: the wait is at most one clone's time, never a drop's.

Each thread has its own connection to the maintenance database. Clones are made and
labelled as every clone is (``clones.add_clone``, bound to this process), so a killed run's
ready clones are collected by the next run's ``gc`` like any other.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from .clones import Clone

Connect = Callable[[], "psycopg.Connection[Any]"]
_STOP = ""
QUIET = 0.2  # seconds without a take before a drop runs
BACKLOG = 64  # drops waiting that run anyway


class ClonePool:
    """``size`` ready clones made by ``make(conn)``; ``drop(conn, name)`` removes one."""

    def __init__(self, connect: Connect, make: Callable[[psycopg.Connection[Any]], Clone],
                 drop: Callable[[psycopg.Connection[Any], str], None], size: int) -> None:
        self.size = size
        self._connect = connect
        self._make = make
        self._drop = drop
        self._ready: deque[Clone] = deque()
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._stopping = False
        self._last_take = 0.0
        self._drops: queue.Queue[str] = queue.Queue()
        self.waits: list[float] = []  # seconds each take() waited for a clone
        self._maker = threading.Thread(target=self._fill, name="watoto-pool-maker",
                                       daemon=True)
        self._dropper = threading.Thread(target=self._drain, name="watoto-pool-dropper",
                                         daemon=True)
        self._maker.start()
        self._dropper.start()

    def take(self) -> Clone:
        """A ready clone (waiting for the one being made when none is ready)."""
        began = time.perf_counter()
        with self._cond:
            while not self._ready:
                if self._error is not None:
                    raise self._error
                if self._stopping:
                    raise RuntimeError("the clone pool is closed")
                self._cond.wait()
            clone = self._ready.popleft()
            self._cond.notify_all()  # the maker makes the next one
        self.waits.append(time.perf_counter() - began)
        self._last_take = time.monotonic()
        return clone

    def give_back(self, name: str) -> None:
        """Drop this clone in the background."""
        self._drops.put(name)

    def wait_full(self, then: int | None = None) -> None:
        """Wait until ``size`` clones are ready (a warm pool before the first test); then
        keep only ``then`` ready, so a warm pool is not made again behind the tests."""
        with self._cond:
            while len(self._ready) < self.size:
                if self._error is not None:
                    raise self._error
                self._cond.wait()
            if then is not None:
                self.size = then

    def close(self, leftovers: Callable[[list[str]], None] | None = None) -> None:
        """Stop making clones and hand what is left to drop (the ready clones and the
        drops not started yet) to ``leftovers``, or drop them here when it is None."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._maker.join()
        names = [clone.name for clone in self._ready]
        self._ready.clear()
        while True:
            try:
                names.append(self._drops.get_nowait())
            except queue.Empty:
                break
        if leftovers is None:
            for name in names:
                self._drops.put(name)
        self._drops.put(_STOP)
        self._dropper.join()  # the drop under way, or every one when there is no taker
        if leftovers is not None and names:
            leftovers(names)

    def _until_quiet(self) -> None:
        """Let tests that take clones quickly run first: a drop waits until no clone was
        taken for ``QUIET`` seconds, unless ``BACKLOG`` drops are waiting (disk space) or
        the pool is closing (then the reaper takes what is left)."""
        while (time.monotonic() - self._last_take < QUIET
               and self._drops.qsize() < BACKLOG and not self._stopping):
            time.sleep(QUIET / 2)

    def _fill(self) -> None:
        try:
            with self._connect() as conn:
                while True:
                    with self._cond:
                        while len(self._ready) >= self.size and not self._stopping:
                            self._cond.wait()
                        if self._stopping:
                            return
                    clone = self._make(conn)
                    with self._cond:
                        self._ready.append(clone)
                        self._cond.notify_all()
        except BaseException as exc:  # handed to the next take(), never lost in a thread
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _drain(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        try:
            while (name := self._drops.get()) != _STOP:
                self._until_quiet()
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    self._drop(conn, name)
                except Exception:  # noqa: S112 - the next run's gc collects what is left
                    continue
        finally:
            if conn is not None:
                conn.close()
