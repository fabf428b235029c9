"""The open-file limit (RLIMIT_NOFILE) of this process and the processes it starts.

Every client session of pgbench, and every client and server connection of PgBouncer, is
one file descriptor. A Linux login usually starts with a soft limit of 1,024 under a hard
limit of 2^19 or more: the soft limit may be raised up to the hard one without privilege,
and a child process inherits both. ``loadtest --users`` and ``local start --pgbouncer``
raise the soft limit of their own process before starting pgbench or PgBouncer; only the
hard limit can stop them, and then they say how to raise it.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from .errors import Refused

# Descriptors a process needs beside its connections: stdio, logs, scripts, libraries.
SPARE = 64



def how_to_raise(needed: int) -> str:
    return (f"raise the hard limit: `ulimit -Hn {needed} && ulimit -n {needed}` in a root "
            f"shell before starting it, `LimitNOFILE={needed}` in a systemd unit, or a "
            "`nofile` line in /etc/security/limits.conf")


@dataclass(frozen=True)
class OpenFiles:
    soft: int
    hard: int  # resource.RLIM_INFINITY when unlimited

    def allows(self, needed: int) -> bool:
        return self.hard == resource.RLIM_INFINITY or self.hard >= needed


def open_files() -> OpenFiles:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return OpenFiles(soft, hard)


def raise_open_files(needed: int = 0) -> OpenFiles:
    """Raise this process's soft open-file limit to its hard limit (inherited by the
    processes it starts); returns the limits now in force.

    An unlimited hard limit is not a valid soft one for RLIMIT_NOFILE: the soft limit is
    then raised to ``needed`` only. Raising never lowers anything and needs no privilege.
    """
    current = open_files()
    wanted = needed if current.hard == resource.RLIM_INFINITY else current.hard
    if wanted > current.soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, current.hard))
        except (ValueError, OSError):
            if current.soft < needed <= current.hard:
                resource.setrlimit(resource.RLIMIT_NOFILE, (needed, current.hard))
    return open_files()


def require_open_files(needed: int, what: str) -> OpenFiles:
    """Refuse (exit 3) when the hard limit is below ``needed``, else raise the soft one."""
    current = open_files()
    if not current.allows(needed):
        raise Refused(f"{what} needs {needed:,} open files but this process's hard limit "
                      f"(RLIMIT_NOFILE, `ulimit -Hn`) is {current.hard:,}; nothing was run: "
                      + how_to_raise(needed))
    return raise_open_files(needed)
