"""The command line: thin wrappers that parse options, build configs and call library functions.

Library code raises `Mt5BridgeError` subclasses with user-facing messages; `main` prints them without a traceback
and exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import Mt5BridgeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="mt5bridge: MetaTrader 5 closed candles -> OpenCL recurrent autoencoder -> ZeroMQ.",
)


@app.callback()
def _root() -> None:
    """Always a command group, even while only one command exists."""


def main() -> None:
    """Entry point: user-facing errors become one red line and exit status 2, never a traceback."""
    try:
        app()
    except Mt5BridgeError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


DEVICE_HELP = "auto (GPU, else CPU, else numpy), cpu, gpu, numpy, or PLATFORM:DEVICE such as 0:1. " \
              "Default: $MT5BRIDGE_DEVICE, else auto."


@app.command()
def devices(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    device: str = typer.Option(None, "--device", help=DEVICE_HELP),
) -> None:
    """List OpenCL platforms and devices, and the one that would be chosen."""
    import json
    import warnings
    from dataclasses import asdict

    from .engine import choose_device
    from .errors import DeviceError
    from .opencl.runtime import list_devices

    try:
        found, problem = list_devices(), None
    except DeviceError as exc:
        found, problem = [], str(exc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback warning is shown as `problem` below
        choice = choose_device(device)
    selected = "numpy" if choice.is_numpy else choice.device.index
    if as_json:
        typer.echo(json.dumps({"devices": [asdict(d) | {"index": d.index} for d in found], "selected": selected,
                               "reason": choice.reason, "problem": problem}, indent=2))
        return
    if problem:
        typer.secho(problem, fg=typer.colors.YELLOW)
    for d in found:
        mark = "   <- selected" if d.index == selected else ""
        typer.echo(f"{d.index}  {d.name} [{d.kind}] on {d.platform}{mark}")
        typer.echo(f"     {d.version}; {d.compute_units} compute units; {d.global_memory / 2**30:.1f} GiB; "
                   f"local {d.local_memory // 1024} KiB; max work-group {d.max_work_group}; "
                   f"float64 {'yes' if d.float64 else 'no'}")
    typer.echo(f"selected: {choice.label} ({choice.reason})")


@app.command()
def demo(device: str = typer.Option(None, "--device", help=DEVICE_HELP)) -> None:
    """Show the devices and train a tiny model for a few seconds (the engine demo; see README)."""
    typer.echo("mt5bridge demo: OpenCL devices, then a tiny training run on a synthetic series.")
    typer.echo("(The full demo, bundled bars replayed through the daemon to a subscriber, comes with the daemon.)\n")
    devices(as_json=False, device=device)
    typer.echo("")
    from .demo import run_engine_demo

    ratio = run_engine_demo(device, echo=typer.echo)
    if not ratio < 1.0:
        raise typer.Exit(1)


@app.command()
def history(
    symbol: str = typer.Argument(..., help="Symbol as the terminal spells it, e.g. EURUSD."),
    timeframe: str = typer.Argument(..., help="M1, M5, ..., H1, H4, D1, W1, MN1."),
    source: str = typer.Option(..., "--source", help="mt5 | mt5rpyc://HOST:PORT | a bar file (CSV, MT4/MT5 export, "
                               "Parquet; .gz too) to convert."),
    out: Path = typer.Option(..., "--out", help="Parquet file to create, or to extend with newer closed bars."),
    date_from: Optional[str] = typer.Option(None, "--from", help="First bar open time, server time (YYYY-MM-DD[ HH:MM])."),
    date_to: Optional[str] = typer.Option(None, "--to", help="Only bars opening before this server time."),
    file_format: Optional[str] = typer.Option(None, "--format", help="File source format: mt5, mt4, csv, parquet "
                                              "(default: sniffed)."),
    on_bad: str = typer.Option("raise", "--on-bad", help="Bad bars: raise (stop, listing them) or drop (skip, count)."),
    mt5_path: Optional[str] = typer.Option(None, "--mt5-path", help="mt5: terminal64.exe to start or attach to."),
    login: Optional[int] = typer.Option(None, "--login", help="mt5: account number (password from "
                                        "$MT5BRIDGE_MT5_PASSWORD)."),
    server: Optional[str] = typer.Option(None, "--server", help="mt5: trade server name."),
    portable: bool = typer.Option(False, "--portable", help="mt5: start the terminal in portable mode."),
    timeout_ms: int = typer.Option(60_000, "--timeout-ms", help="mt5: initialize / request timeout."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Pull closed bars into a Parquet file; a re-run appends only newer closed bars."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .data.bars import format_time, parse_time
    from .data.history import pull_history
    from .data.mt5 import Mt5Settings
    from .data.sources import open_source

    settings = Mt5Settings(path=mt5_path, login=login, server=server, portable=portable, timeout_ms=timeout_ms)
    start = parse_time(date_from) if date_from else None
    end = parse_time(date_to) if date_to else None
    bar_source = open_source(source, symbol, timeframe, settings=settings, format=file_format, policy=on_bad)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[bars]} bars"),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True) as bar:
            task = bar.add_task(f"{symbol} {timeframe}", total=1.0, bars=0)

            def report(bars: int, fraction: Optional[float]) -> None:
                bar.update(task, completed=fraction if fraction is not None else 0.0, bars=bars)

            result = pull_history(bar_source, out, start=start, end=end, progress=report)
    finally:
        bar_source.close()
    span = f"{format_time(result.bars['time'][0])} .. {format_time(result.bars['time'][-1])}" if result.total else "-"
    typer.echo(f"{out}: {result.existing} bars before, {result.added} added, {result.total} now ({span})")
    if result.dropped:
        typer.echo(f"dropped {result.dropped} bad bar(s) (--on-bad drop)")
    typer.echo(f"gaps: {result.gaps.summary()}")
