"""The documentation says what the code does."""

from __future__ import annotations

from pathlib import Path

from watoto_schema.cli.reference import render

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_matches_the_commands() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == render(), (
        "docs/cli.md is stale: run `make docs`")


def test_readme_gives_the_two_commands_first() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make demo") < readme.index("make test") < readme.index("## Using it")
