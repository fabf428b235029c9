"""The expected schema: the applied migrations run into a scratch database (on the
target's server, or a throwaway embedded cluster when it refuses ``CREATE DATABASE``) and
read from the catalog; cached by the migrations' checksums and the server version."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__, sources
from ..catalog import OPTIONAL_QUERIES, QUERIES, SchemaObject, snapshot
from ..resources import cache_dir, sql_text
from ..target import Target, drop_database


def _cache_key(server_version: int, files: Sequence[sources.FileSummary],
               privileges: bool, comments: bool = False) -> str:
    material = json.dumps({
        "tool": __version__, "server": server_version, "privileges": privileges,
        "comments": comments,
        "queries": [sql_text(query) for query in (*QUERIES, *OPTIONAL_QUERIES)],
        "migrations": [(f.version, f.checksum) for f in files],
    })
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _scratch_on_server(conn: Any, target: Target, versions: Sequence[str],
                       extra_dirs: Sequence[Path], privileges: bool,
                       comments: bool = False) -> list[SchemaObject]:
    """Build the expected schema in a temporary database on the target's server."""
    import secrets

    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from ..migrate import apply_versions

    name = f"watoto_drift_{os.getpid()}_{secrets.token_hex(4)}"
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        scratch = Target(make_conninfo(target.conninfo, dbname=name), "scratch")
        apply_versions(scratch, versions, extra_dirs)
        with psycopg.connect(scratch.conninfo, autocommit=True) as scratch_conn:
            return snapshot(scratch_conn, privileges=privileges, comments=comments)
    finally:
        drop_database(conn, name)


def _scratch_in_local_cluster(versions: Sequence[str], extra_dirs: Sequence[Path],
                              privileges: bool, comments: bool = False
                              ) -> list[SchemaObject]:
    """Build the expected schema in a throwaway embedded cluster (slower, ~2 s)."""
    import tempfile

    import psycopg

    from ..local import LocalCluster
    from ..migrate import apply_versions

    root = Path(tempfile.mkdtemp(prefix="watoto-drift-"))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root / "cluster", fsync=False)
    try:
        cluster.start(dbname="expected")
        scratch = Target(cluster.url("expected"), "embedded scratch cluster")
        apply_versions(scratch, versions, extra_dirs)
        with psycopg.connect(scratch.conninfo, autocommit=True) as conn:
            return snapshot(conn, privileges=privileges, comments=comments)
    finally:
        cluster.destroy()
        os.rmdir(root)


def expected_schema(target: Target, conn: Any, files: Sequence[sources.FileSummary],
                    versions: Sequence[str], extra_dirs: Sequence[Path], *,
                    privileges: bool = False, comments: bool = False,
                    use_cache: bool = True) -> tuple[list[SchemaObject], str]:
    """The schema ``versions`` build, and how it was obtained (cache, server, local)."""
    import psycopg

    built = [f for f in files if f.version in set(versions)]
    row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    key = _cache_key(int(row[0]), built, privileges, comments)
    cached = cache_dir() / f"expected-{key}.json"
    if use_cache and cached.is_file():
        return [SchemaObject(*r) for r in json.loads(cached.read_text())], f"cache ({cached})"
    try:
        rows = _scratch_on_server(conn, target, versions, extra_dirs, privileges, comments)
        source = "a scratch database on the target's server"
    except psycopg.errors.InsufficientPrivilege:
        rows = _scratch_in_local_cluster(versions, extra_dirs, privileges, comments)
        source = "a throwaway embedded cluster (CREATE DATABASE not allowed on the server)"
    except psycopg.errors.ReadOnlySqlTransaction:
        rows = _scratch_in_local_cluster(versions, extra_dirs, privileges, comments)
        source = "a throwaway embedded cluster (the server is read-only)"
    if use_cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps([list(r) for r in rows]))
            temporary.replace(cached)
        except OSError:
            pass  # a cache we cannot write is only slower
    return rows, source
