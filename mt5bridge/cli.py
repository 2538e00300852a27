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
