"""The ``watoto-schema`` command: a thin Click layer over the library.

Each command parses options, calls one library function and renders its result through
the one output sink (``output.Output``). Errors are turned into one line and an exit
status in exactly one place, ``main()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import EXIT_ERROR, WatotoError
from .context import AppContext


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--dsn", metavar="URL", help="Target database (libpq URL or key=value string). "
              "Default: $WATOTO_DATABASE_URL, then libpq's PG* environment / service file.")
@click.option("--local", "use_local", is_flag=True,
              help="Target the embedded cluster in ./.watoto (see `local start`).")
@click.option("--migrations", "extra_dirs", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="An extra migration folder, applied after the shipped ones (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document on stdout.")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(package_name="watoto-schema")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, use_local: bool, extra_dirs: tuple[Path, ...],
        as_json: bool, debug: bool) -> None:
    """Schema migrations, embedded PostgreSQL and sample data for the Watoto LMS database.

    Exit status: 0 ok, 1 error, 2 a check found differences, 3 refused (lock held, unsafe
    without a flag).
    """
    ctx.obj = AppContext(dsn=dsn, use_local=use_local, extra_dirs=extra_dirs,
                         as_json=as_json, debug=debug)


def _register() -> None:
    from . import data, local, migrations

    cli.add_command(migrations.migrate)
    cli.add_command(migrations.rollback)
    cli.add_command(migrations.status)
    cli.add_command(local.local)
    cli.add_command(data.sample_data)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map errors to exit statuses."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="watoto-schema", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except WatotoError as exc:
        _fail(str(exc), exc.exit_code, debug)
    except KeyboardInterrupt:
        _fail("interrupted", 130, debug)
    except Exception as exc:  # a bug: still one line unless --debug
        _fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_ERROR, debug)
    sys.exit(0)


def _fail(message: str, code: int, debug: bool) -> None:
    from ..target import one_line, redact
    from .context import known_secrets

    if debug:
        import traceback

        sys.stderr.write(redact("".join(traceback.format_exc()), known_secrets()))
    click.echo(f"error: {redact(one_line(message), known_secrets())}", err=True)
    sys.exit(code)
