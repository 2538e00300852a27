"""Running mt5bridge's real entry point in the test process (so monkeypatches apply), as a user would."""

from __future__ import annotations

import sys


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `mt5bridge ARGV` through cli.main() (typer exits through SystemExit)."""
    from mt5bridge import cli

    old, sys.argv = sys.argv, ["mt5bridge", *argv]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out, captured.err
