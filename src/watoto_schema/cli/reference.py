"""Render the CLI reference (docs/cli.md) from the commands' own --help texts.

``python -m watoto_schema.cli.reference > docs/cli.md`` regenerates it; a test fails when
the file and the commands disagree.
"""

from __future__ import annotations

import click

from . import cli

HEADER = """# CLI reference

Generated from `watoto-schema --help` by `make docs`; `tests/test_docs.py` keeps it in sync.
Global options (`--dsn`, `--local`, `--migrations`, `--json`, `--debug`) go before the command:
`watoto-schema --json status`.
"""


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found.extend(_walk(command.commands[name], [*path, name]))
    return found


def render() -> str:
    """Return the Markdown reference of every command."""
    parts = [HEADER]
    for path, command in _walk(cli, ["watoto-schema"]):
        with click.Context(command, info_name=" ".join(path), terminal_width=100,
                           max_content_width=100) as ctx:
            text = command.get_help(ctx)
        parts.append(f"## `{' '.join(path)}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
