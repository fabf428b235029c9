"""The one output sink: rich for people, a JSON document for machines."""

from __future__ import annotations

import json
import re
import sys
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# Text that rich would print exactly as it is, with a newline: no markup ("[" starts a tag),
# no emoji code (":name:"), no tab (expanded), no control character. Such a line is written
# without rich, which costs ~50 ms to import: a fresh `migrate` prints only lines like these.
_RICH_NEEDED = re.compile(r"[\[\t\x00-\x08\x0b-\x1f\x7f]|:[^\s:]+:")


def _default(value: Any) -> Any:
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Output:
    """Human output on stdout via rich, or (with ``--json``) one JSON document on stdout.

    Progress and notes go to stderr so stdout stays parseable.
    """

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    # rich is imported on first use: a --json run that prints no note never pays for it.
    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        # Piped output (CI logs, cron mail) gets room for a table instead of rich's 80 columns.
        width = None if sys.stdout.isatty() else 132
        return Console(highlight=False, soft_wrap=True, width=width)

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False, soft_wrap=True)

    def document(self, doc: dict[str, Any]) -> None:
        """Emit the command's JSON document (only in --json mode)."""
        if self.as_json:
            sys.stdout.write(json.dumps(doc, default=_default, indent=2, sort_keys=False) + "\n")

    def line(self, text: str) -> None:
        if self.as_json:
            return
        if "console" not in self.__dict__:
            plain = text if _plain(text) else _unstyled(text) if _no_color() else None
            if plain is not None:
                sys.stdout.write(plain + "\n")
                sys.stdout.flush()
                return
        self.console.print(text)

    def raw(self, text: str) -> None:
        """Text printed exactly as it is (generated SQL), never through rich markup."""
        if not self.as_json:
            sys.stdout.write(text)

    def note(self, text: str) -> None:
        """A remark for a person, on stderr (also in --json mode)."""
        if "err" not in self.__dict__ and _plain(text.replace("[", "")):  # no markup here
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        else:
            self.err.print(text, markup=False)

    def table(self, title: str | None, columns: list[str], rows: list[list[str]]) -> None:
        if self.as_json:
            return
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for index, column in enumerate(columns):
            table.add_column(column, no_wrap=index == 0)
        for row in rows:
            table.add_row(*row)
        self.console.print(table)


def _plain(text: str) -> bool:
    """Whether rich would print ``text`` exactly as it is (see ``_RICH_NEEDED``)."""
    return _RICH_NEEDED.search(text) is None


# rich's markup tags (rich.markup.RE_TAGS); a tag preceded by an odd number of backslashes
# is escaped text.
_TAG = re.compile(r"(\\*)\[([a-z#/@][^[]*?)]")


_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def escape(text: str) -> str:
    """``rich.markup.escape`` without importing rich: ``text`` printed as it is."""
    escaped = _ESCAPE.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped


def _no_color() -> bool:
    """Whether rich would print no style at all: stdout is not a terminal and nothing
    forces colour."""
    import os

    return not sys.stdout.isatty() and not any(
        os.environ.get(v) for v in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"))


def _unstyled(text: str) -> str | None:
    """What rich prints for ``text`` when it prints no style (tags removed, escapes
    resolved, soft wrap), or None when only rich can say (emoji codes, tabs, a stray
    bracket): a piped `drift` or `status` line then costs no rich import."""
    out: list[str] = []
    position = 0
    for match in _TAG.finditer(text):
        between = text[position:match.start()]
        if not _plain(between):
            return None
        backslashes, escaped = divmod(len(match.group(1)), 2)
        out += [between, "\\" * backslashes, f"[{match.group(2)}]" if escaped else ""]
        position = match.end()
    rest = text[position:]
    return "".join(out) + rest if _plain(rest) else None
