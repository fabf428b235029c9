"""The generator on a thread, ahead of the COPY that sends its rows; then the second
session's binary COPY stream for the tables the server makes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from .generator import _Generator
from .server import _ServerRows
from .tables import _MADE_IN_PYTHON, _MADE_ON_SERVER

_CHUNK = 10_000  # rows per hand-over from the generating thread
_AHEAD = 100  # chunks (or 1 MB pieces of a COPY stream) the thread may run ahead of COPY


class _Producer:
    """Makes every table's rows on a thread, in chunks, ahead of the COPY that sends them.

    The point is overlap: while the connection waits on the server (an index build, an
    ANALYZE, the server's side of COPY) the GIL is free and the next rows get made. The
    first tables' chunks are lists of rows from the ``_Generator``; the last tables' are
    pieces of a binary COPY stream from a second session (``server``), which ``connect``
    opens once the generator has planned everything. The ``_Generator`` and that session
    are used from this one thread only; an exception in either is handed over and raised
    by ``chunks``.
    """

    _END = object()

    def __init__(self, generator: _Generator, seed: int,
                 connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self.generator = generator
        self.seed = seed
        self.connect = connect
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_AHEAD)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sample-data", daemon=True)

    def __enter__(self) -> _Producer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for table in _MADE_IN_PYTHON:
                chunk: list[tuple[Any, ...]] = []
                for row in self.generator.rows(table):
                    chunk.append(row)
                    if len(chunk) >= _CHUNK:
                        if not self._put((table, chunk)):
                            return
                        chunk = []
                if not (self._put((table, chunk)) and self._put((table, self._END))):
                    return
            with self.connect() as conn:
                try:
                    server = _ServerRows(conn, self.generator)
                    server.ship_plan(self.seed)
                    for table in _MADE_ON_SERVER:
                        for piece in server.pieces(table):
                            if not self._put((table, piece)):
                                return
                        if not self._put((table, self._END)):
                            return
                finally:
                    conn.rollback()  # its temporary tables and functions, nothing else
        except BaseException as exc:  # handed to the loading thread, which raises it
            self._put(("", exc))

    def chunks(self, table: str) -> Iterator[list[tuple[Any, ...]] | tuple[bytes, int]]:
        """The rows of ``table`` (the tables come in TABLES order), chunk by chunk: a list
        of rows, or a piece of a binary COPY stream and its messages (about one a row)."""
        while True:
            name, item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            if item is self._END:
                return
            assert name == table, (name, table)
            yield item


