"""The command line: thin wrappers that parse options, build configs and call library functions.

Library code raises `Mt5BridgeError` subclasses with user-facing messages; `main` prints them without a traceback
and exits with status 2.
"""

from __future__ import annotations

import sys

import typer

from .errors import Mt5BridgeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="mt5bridge: MetaTrader 5 closed candles -> OpenCL recurrent autoencoder -> ZeroMQ.",
)


def main() -> None:
    try:
        app(standalone_mode=False)
    except Mt5BridgeError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors (bad option) carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
