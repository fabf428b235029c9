"""The last ``loadtest`` result per database, kept in the user's cache folder so the
dashboard can show it: ``<cache>/loadtest/<host-port-database>.json``."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..resources import cache_dir
from ..target import Target


def last_result_path(target: Target) -> Path:
    """Where the last result for ``target``'s database is kept (host, port, database and
    user name it; the password never does)."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(target.conninfo) if target.conninfo else {}
    key = "|".join(str(params.get(k) or os.environ.get(env, ""))
                   for k, env in (("host", "PGHOST"), ("port", "PGPORT"),
                                  ("dbname", "PGDATABASE"), ("user", "PGUSER")))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "loadtest" / f"{digest}.json"


def save_last_result(target: Target, document: dict[str, Any]) -> Path:
    """Write ``document`` atomically as the last result for ``target``."""
    path = last_result_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".last-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(document, out, default=str, indent=1)
    os.replace(temporary, path)
    return path
