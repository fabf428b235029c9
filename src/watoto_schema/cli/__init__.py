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
    """The root group: the one place where errors become a line and an exit status.

    Usage errors (an unknown option, a missing value) are one line and exit 1 like every
    other error: Click's own status for them, 2, means "a check found differences" here.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A command, its module imported on first use (``_COMMANDS``)."""
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in _COMMANDS:
            from importlib import import_module

            module, attribute = _COMMANDS[cmd_name]
            command = getattr(import_module(f"{__package__}.{module}"), attribute)
            assert isinstance(command, click.Command)
            add_global_options(command)
            self.add_command(command, cmd_name)
        return command

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # the root's own options
            raise _usage(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's options, or raised by a command
            raise _usage(exc) from exc
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except WatotoError as exc:
            raise _report(ctx, str(exc), exc.exit_code) from exc
        except KeyboardInterrupt as exc:
            raise _report(ctx, "interrupted", 130) from exc
        except BrokenPipeError as exc:
            if not _stdout_closed():
                raise _report(ctx, f"internal error: {type(exc).__name__}: {exc}",
                              EXIT_ERROR) from exc
            # The reader of our output went away (`... | head`): nothing to tell it. Exit 1
            # quietly, with stdout pointed at /dev/null so that the interpreter's own last
            # flush does not print a traceback either.
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise click.exceptions.Exit(EXIT_ERROR) from exc
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):  # the server said no: its message, one line
                raise _report(ctx, f"database error: {exc}", EXIT_ERROR) from exc
            # a bug: still one line unless --debug
            raise _report(ctx, f"internal error: {type(exc).__name__}: {exc}", EXIT_ERROR) from exc


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (poll says POLLERR)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no fileno (captured output), no poll
        return False


def _usage(exc: click.UsageError) -> ReportedError:
    """A usage error as one line, like every other error, and exit 1."""
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return ReportedError(exc.format_message().rstrip(".") + where, EXIT_ERROR)


def _report(ctx: click.Context, message: str, code: int) -> ReportedError:
    from ..target import one_line, redact
    from .context import known_secrets

    secrets = known_secrets()
    if isinstance(ctx.obj, AppContext) and ctx.obj.debug:
        import traceback

        sys.stderr.write(redact(traceback.format_exc(), secrets))
    return ReportedError(redact(one_line(message), secrets), code)


# The global options: accepted before the command (`watoto-schema --json status`) and after
# it at any depth (`watoto-schema partitions list --json`), with the same meaning.
GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--dsn", "dsn"), {"metavar": "URL", "help": "Target database (libpq URL or key=value "
                        "string). Default: $WATOTO_DATABASE_URL, then libpq's PG* environment "
                        "/ service file."}),
    (("--local", "use_local"), {"is_flag": True, "help": "Target the embedded cluster in "
                                "./.watoto (see `local start`)."}),
    (("--migrations", "cli_dirs"), {
        "multiple": True, "metavar": "DIR",
        "type": click.Path(exists=True, file_okay=False, path_type=Path),
        "help": "An extra migration folder, applied after the shipped ones and those of the "
        "config file (repeatable)."}),
    (("--config", "config_file"), {
        "metavar": "FILE", "type": click.Path(exists=True, dir_okay=False, path_type=Path),
        "help": "Configuration file (default: $WATOTO_CONFIG, else ./watoto-schema.toml)."}),
    (("--redis", "redis"), {"metavar": "URL", "help": "The Redis cache (redis://[:password@]"
                            "host:port/db). Default: $WATOTO_REDIS_URL. With one, `migrate` "
                            "invalidates the cached families of the tables a migration "
                            "changed."}),
    (("--json", "as_json"), {"is_flag": True, "help": "Print a JSON document on stdout."}),
    (("--debug", "debug"), {"is_flag": True, "help": "Show tracebacks of errors."}),
)


def _set_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Record a global option given after a command on the run's AppContext."""
    app = ctx.find_object(AppContext)
    if app is None or param.name is None or value in (None, False, ()):
        return  # not given here: what was given before the command stands
    if param.name == "cli_dirs":
        app.cli_dirs = (*app.cli_dirs, *value)
    else:
        setattr(app, param.name, value)


class GlobalOption(click.Option):
    """A global option repeated on a subcommand; listed under its own help heading."""


def _global_options(*, on_subcommand: bool) -> list[click.Option]:
    if on_subcommand:
        return [GlobalOption(list(decls), expose_value=False, callback=_set_global, **settings)
                for decls, settings in GLOBAL_OPTIONS]
    return [click.Option(list(decls), **settings) for decls, settings in GLOBAL_OPTIONS]


def _format_options(command: click.Command, ctx: click.Context,
                    formatter: click.HelpFormatter) -> None:
    """The command's own options, then the global ones under a heading of their own."""
    own: list[tuple[str, str]] = []
    common: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            (common if isinstance(param, GlobalOption) else own).append(record)
    if own:
        with formatter.section("Options"):
            formatter.write_dl(own)
    if common:
        with formatter.section("Global options (also accepted before the command)"):
            formatter.write_dl(common)


class _WithGlobals:
    """Mixed into every command below the root: the global options, shown apart."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _format_options(self, ctx, formatter)  # type: ignore[arg-type]
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)


def add_global_options(command: click.Command) -> None:
    """Give ``command`` and every command below it the global options (idempotent)."""
    names = {opt for p in command.params for opt in getattr(p, "opts", [])}
    if not any(isinstance(p, GlobalOption) for p in command.params):
        for option in _global_options(on_subcommand=True):
            if names.isdisjoint(option.opts):  # a command's own option of that name wins
                command.params.append(option)
        base = type(command)
        if not issubclass(base, _WithGlobals):
            command.__class__ = type(f"{base.__name__}WithGlobals", (_WithGlobals, base), {})
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_global_options(sub)


@click.group(cls=WatotoGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="watoto-schema")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, use_local: bool, cli_dirs: tuple[Path, ...],
        config_file: Path | None, redis: str | None, as_json: bool, debug: bool) -> None:
    """Schema migrations, embedded PostgreSQL and sample data for the Watoto LMS database.

    Global options may be given before or after the command (`watoto-schema --json status`
    or `watoto-schema status --json`).

    Exit status: 0 ok, 1 error (usage errors included), 2 a check found differences, 3
    refused (lock held, unsafe without a flag).
    """
    ctx.obj = AppContext(dsn=dsn, use_local=use_local, cli_dirs=cli_dirs,
                         as_json=as_json, debug=debug, config_file=config_file, redis=redis)


cli.params[:0] = _global_options(on_subcommand=False)


# Each command, and where it lives: a module is imported when its command runs (or is
# listed by --help), so `watoto-schema drift` does not pay for `backup` or `loadtest`.
_COMMANDS = {
    "migrate": ("migrations", "migrate"), "rollback": ("migrations", "rollback"),
    "status": ("migrations", "status"), "verify": ("migrations", "verify"),
    "repair": ("migrations", "repair"), "baseline": ("migrations", "baseline"),
    "new": ("migrations", "new"), "lint": ("lint", "lint"), "drift": ("drift", "drift"),
    "local": ("local", "local"), "maintain": ("maintain", "maintain"),
    "partitions": ("partitions", "partitions"), "sample-data": ("data", "sample_data"),
    "loadtest": ("loadtest", "loadtest"), "testdb": ("testdb", "testdb"),
    "health": ("health", "health"), "pitr": ("pitr", "pitr"), "backup": ("backup", "backup"),
    "cache": ("cache", "cache"), "dashboard": ("dashboard", "dashboard"),
}


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="watoto-schema")
