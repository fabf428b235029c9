"""The output sink prints styled lines without rich when rich would print no style (#24:
a piped `drift` pays no rich import): what it prints is what rich prints."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.markup import escape

from watoto_schema.cli.output import _unstyled
from watoto_schema.cli.output import escape as our_escape

LINES = [
    "[bold]db[/]: [green]in sync[/] (expected schema of 9 applied migrations, from cache)",
    "  [bold]" + escape('public.[weird] "Größe"') + "[/]",
    "    missing    column public.t.c",
    "a \\[b] c",
    "[red]1 difference(s)[/]",
    f"{escape('x[bold]y')}",
    "\\\\[bold]x[/bold]",
    "[1] a stray bracket",
    "a\ttab",
    ":smile: an emoji code",
    f"      expected: {escape('CHECK ((grade = ANY (ARRAY[7, 8])))')}",
    "[yellow]behind[/] by 1,024 bytes of WAL",
]


@pytest.mark.parametrize("text", LINES)
def test_a_line_without_rich_is_what_rich_prints(text: str) -> None:
    buffer = io.StringIO()
    Console(file=buffer, highlight=False, soft_wrap=True, width=132,
            color_system=None).print(text)
    mine = _unstyled(text)
    if mine is not None:  # None: left to rich
        assert mine + "\n" == buffer.getvalue()


def test_most_drift_lines_need_no_rich() -> None:
    assert sum(_unstyled(t) is not None for t in LINES) >= 8


@pytest.mark.parametrize("text", ['public.[weird]', "x[bold]y", "ends\\", "a\\[b] c",
                                  "plain", "[1] not a tag", "two\\\\"])
def test_escape_is_richs(text: str) -> None:
    assert our_escape(text) == escape(text)
