"""Render the CLI reference (docs/cli.md) from the commands' own --help texts.

``python -m watoto_schema.cli.reference > docs/cli.md`` regenerates it; a test fails when
the file and the commands disagree.
"""

from __future__ import annotations

import click

from . import cli

HEADER = """# CLI reference

Generated from `watoto-schema --help` by `make docs`; `tests/test_docs.py` keeps it in sync.
Global options (`--dsn`, `--local`, `--migrations`, `--config`, `--json`, `--debug`) go
before or after the command, at any depth: `watoto-schema --json status` and
`watoto-schema status --json` mean the same.
"""


def _walk(command: click.Command, name: str,
          parent: click.Context | None) -> list[tuple[str, str]]:
    """(command path, help text) of ``command`` and every command below it."""
    ctx = click.Context(command, info_name=name, parent=parent, terminal_width=100,
                        **command.context_settings)
    found = [(ctx.command_path, command.get_help(ctx))]
    if isinstance(command, click.Group):
        for sub in sorted(command.list_commands(ctx)):  # the root loads them on demand
            found.extend(_walk(_must(command.get_command(ctx, sub)), sub, ctx))
    return found


def _must(command: click.Command | None) -> click.Command:
    assert command is not None
    return command


def render() -> str:
    """Return the Markdown reference of every command."""
    parts = [HEADER]
    for path, text in _walk(cli, "watoto-schema", None):
        parts.append(f"## `{path}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
