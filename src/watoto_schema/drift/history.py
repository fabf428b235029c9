"""The migration history as drift: versions applied without a file, half-applied, or
applied with another checksum."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import sources
from .model import Difference


def read_history(conn: Any, files: Sequence[sources.FileSummary]) -> tuple[list[str],
                                                                       list[Difference]]:
    from ..migrate import read_applied

    applied = read_applied(conn)
    by_version = {f.version: f for f in files}
    diffs: list[Difference] = []
    versions = []
    for version, record in applied.items():
        f = by_version.get(version)
        if f is None:
            diffs.append(Difference("migration history", "migration", version, "unexpected",
                                    None, "applied, but no migration file has this version"))
            continue
        if record.state == "running":
            diffs.append(Difference("migration history", "migration", version, "different",
                                    "applied", "partially applied"))
            continue
        versions.append(version)
        if record.checksum and record.checksum != f.checksum:
            diffs.append(Difference("migration history", "migration", version, "different",
                                    f"file checksum {f.checksum[:12]}",
                                    f"applied checksum {record.checksum[:12]}"))
    return versions, diffs
