"""The ``watoto-schema`` command: a thin Click layer over the library.

Each command parses options, calls one library function and renders its result through
the one output sink (``output.Output``). Errors are turned into one line and an exit
status in exactly one place, ``main()``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click

from ..errors import EXIT_ERROR, WatotoError
from .context import AppContext


class ReportedError(click.ClickException):
    """A failure already turned into one line and an exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a class attribute

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", err=True, file=file)


class WatotoGroup(click.Group):
    """The root group: the one place where errors become a line and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except WatotoError as exc:
            raise _report(ctx, str(exc), exc.exit_code) from exc
        except KeyboardInterrupt as exc:
            raise _report(ctx, "interrupted", 130) from exc
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):  # the server said no: its message, one line
                raise _report(ctx, f"database error: {exc}", EXIT_ERROR) from exc
            # a bug: still one line unless --debug
            raise _report(ctx, f"internal error: {type(exc).__name__}: {exc}", EXIT_ERROR) from exc


def _report(ctx: click.Context, message: str, code: int) -> ReportedError:
    from ..target import one_line, redact
    from .context import known_secrets

    secrets = known_secrets()
    if isinstance(ctx.obj, AppContext) and ctx.obj.debug:
        import traceback

        sys.stderr.write(redact(traceback.format_exc(), secrets))
    return ReportedError(redact(one_line(message), secrets), code)


@click.group(cls=WatotoGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--dsn", metavar="URL", help="Target database (libpq URL or key=value string). "
              "Default: $WATOTO_DATABASE_URL, then libpq's PG* environment / service file.")
@click.option("--local", "use_local", is_flag=True,
              help="Target the embedded cluster in ./.watoto (see `local start`).")
@click.option("--migrations", "extra_dirs", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="An extra migration folder, applied after the shipped ones and those of the "
              "config file (repeatable).")
@click.option("--config", "config_file", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Configuration file (default: $WATOTO_CONFIG, else ./watoto-schema.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document on stdout.")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(package_name="watoto-schema")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, use_local: bool, extra_dirs: tuple[Path, ...],
        config_file: Path | None, as_json: bool, debug: bool) -> None:
    """Schema migrations, embedded PostgreSQL and sample data for the Watoto LMS database.

    Exit status: 0 ok, 1 error, 2 a check found differences, 3 refused (lock held, unsafe
    without a flag).
    """
    ctx.obj = AppContext(dsn=dsn, use_local=use_local, cli_dirs=extra_dirs,
                         as_json=as_json, debug=debug, config_file=config_file)


def _register() -> None:
    from . import data, drift, local, maintain, migrations, partitions

    for command in (migrations.migrate, migrations.rollback, migrations.status,
                    migrations.verify, migrations.repair, migrations.baseline, migrations.new):
        cli.add_command(command)
    cli.add_command(drift.drift)
    cli.add_command(local.local)
    cli.add_command(maintain.maintain)
    cli.add_command(partitions.partitions)
    cli.add_command(data.sample_data)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="watoto-schema")
