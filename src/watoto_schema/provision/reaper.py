"""Drop a finished test run's leftover clones in a process of its own, so that pytest
exits without waiting for them (``DROP DATABASE`` costs tens of milliseconds each).

``spawn`` starts ``python -m watoto_schema.provision.reaper FILE`` detached (a new session,
its parent a shell that exits at once) and hands it the connection string and the names in
a file only this user can read (never on the command line, where ``ps`` would show a
password); the reaper deletes the file first. If it dies, the clones stay labelled with the
test run's (now dead) process, and the next run's ``gc`` collects them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_DETACH = '"$0" -m watoto_schema.provision.reaper "$1" </dev/null >/dev/null 2>&1 &'


def spawn(conninfo: str, names: list[str]) -> None:
    """Start the reaper for ``names`` and return at once."""
    fd, path = tempfile.mkstemp(prefix="watoto-reaper-", suffix=".json")
    with os.fdopen(fd, "w") as out:  # mkstemp: mode 0600
        json.dump({"conninfo": conninfo, "names": names}, out)
    subprocess.run(["sh", "-c", _DETACH, sys.executable, path], check=True,
                   start_new_session=True)


def main() -> None:
    import psycopg

    from .template import drop_database

    path = Path(sys.argv[1])
    job: dict[str, Any] = json.loads(path.read_text())
    path.unlink()
    with psycopg.connect(job["conninfo"], autocommit=True,
                         application_name="watoto pytest reaper") as conn:
        for name in job["names"]:
            try:
                drop_database(conn, name, may_be_template=False)
            except psycopg.Error:  # noqa: PERF203 - gone already, or the next gc's
                continue


if __name__ == "__main__":
    main()
