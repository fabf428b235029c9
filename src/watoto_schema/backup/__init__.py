"""Backups (#11): ``pg_dump`` plus a manifest, verified by restoring, restored atomically.

One backup is one folder under the backup directory, named by its UTC time and database:
the dump (``dump.pgdump`` for the custom format, ``dump/`` for the directory format), a
``manifest.json`` (versions, applied migrations, exact row counts, sha256 of every file)
and, once verified, a ``verified.json``.
"""

from __future__ import annotations

from .create import create
from .manifest import BackupInfo, Pruned, list_backups, load_manifest, prune
from .restore import restore
from .verify import VerifyResult, verify

__all__ = ["BackupInfo", "Pruned", "VerifyResult", "create", "list_backups", "load_manifest",
           "prune", "restore", "verify"]
