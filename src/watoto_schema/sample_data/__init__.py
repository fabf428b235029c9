"""Deterministic, realistic sample data for a junior-secondary (grades 7-9) LMS database.

``load(conn, students)`` fills a freshly migrated, empty database in one transaction:
users (admins, teachers, students), courses per grade and category, their modules,
assessments, enrollments, module progress and assessment submissions. Everything is
derived from ``random.Random(seed)`` and fixed reference dates (module progress and
submissions from the plan it makes and hashes of the seed), so the same seed and the same
number of students give byte-identical data, ids included.

It is a bulk load, which it may be because the database is empty (it refuses otherwise)
and everything happens in one transaction that holds ACCESS EXCLUSIVE locks on the tables:

1. the keys (primary, unique, foreign) and secondary indexes of the loaded tables and of
   the key tables are recorded from the catalog and dropped, the tables' row triggers are
   disabled and the unpartitioned tables truncated (so COPY may FREEZE them);
2. rows go in with COPY, table by table, with explicit ids, made on a thread ahead of it:
   the first five tables by the generator, module progress and submissions by a second
   session on the server from the generator's plan (``server``);
3. right after each table's COPY, while the next table's rows are being made: its keys
   and indexes are re-created exactly as recorded, in creation order, and it is
   ANALYZEd; the trigger-maintained key table it feeds (``user_email_keys`` from users,
   ``enrollment_keys`` from enrollments) is filled set-based with the triggers' own
   expressions, keyed and ANALYZEd; every foreign key whose two ends are now in is
   re-added (a key or foreign key re-added is validated over every row: uniqueness of
   emails and of enrollments per student and course, every reference);
4. triggers are re-enabled and ``sql/sample_data/guarantees.sql`` checks what
   constraints cannot say;
5. sequences move past the largest ids and the database is marked (``COMMENT ON
   DATABASE``, a JSON document of kind ``watoto-sample-data``).

A failure anywhere rolls all of it back: the schema comes back as it was.

Modules: ``dates`` and ``vocabulary`` (the shape of the data), ``generator`` (the rows),
``producer`` (the generator on a thread), ``server`` (the second session), ``tables``
(what is loaded), ``bulk`` (keys, indexes and triggers set aside and put back),
``guarantees`` (the refusals and the checks), ``mark`` (the database's comment) and
``loader`` (``load``, the steps in order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports

if TYPE_CHECKING:  # the names below load on first use (``__getattr__``)
    from .generator import _Generator as _Generator
    from .guarantees import GuaranteeBroken, is_empty
    from .loader import SampleDataResult, load
    from .mark import MARK_KIND, read_mark
    from .tables import _FILL_KEYS as _FILL_KEYS
    from .tables import KEY_TABLES, SEQUENCES, TABLES

_LAZY = {
    "SampleDataResult": ".loader",
    "load": ".loader",
    "GuaranteeBroken": ".guarantees",
    "is_empty": ".guarantees",
    "MARK_KIND": ".mark",
    "read_mark": ".mark",
    "KEY_TABLES": ".tables",
    "SEQUENCES": ".tables",
    "TABLES": ".tables",
    # Package-private, used by the tests: the generator, and the statements that fill the
    # key tables (``load`` reads them here, so a test may replace them).
    "_Generator": ".generator",
    "_FILL_KEYS": ".tables",
}

__all__ = ["SampleDataResult", "load", "is_empty", "read_mark", "TABLES", "SEQUENCES",
           "KEY_TABLES", "MARK_KIND", "GuaranteeBroken"]


__getattr__ = exports(__name__, _LAZY, globals())
