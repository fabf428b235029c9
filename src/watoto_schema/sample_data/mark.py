"""The mark that says sample-data filled a database: its ``COMMENT ON DATABASE``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

# The COMMENT ON DATABASE document that says sample-data filled this database.
MARK_KIND = "watoto-sample-data"


def _mark(cur: psycopg.Cursor[Any], students: int, seed: int) -> bool:
    """Say in the database's comment that sample-data filled it (needs its ownership)."""
    row = cur.execute("SELECT current_database(), pg_has_role(datdba, 'USAGE') "
                      "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
                      "FROM pg_database WHERE datname = current_database()").fetchone()
    if row is None or not row[1]:
        return False
    document = {"kind": MARK_KIND, "students": students, "seed": seed,
                "loaded_at": datetime.now().astimezone().isoformat(timespec="seconds")}
    cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        sql.Identifier(str(row[0])), sql.Literal(json.dumps(document))))
    return True


def read_mark(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The sample-data mark of the connected database (its JSON comment), or None."""
    row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                       "WHERE datname = current_database()").fetchone()
    if row is None or not row[0]:
        return None
    try:
        document = json.loads(row[0])
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("kind") == MARK_KIND:
        return document
    return None
