"""The command line: thin wrappers that parse options, build configs and call library functions.

Library code raises `Mt5BridgeError` subclasses with user-facing messages; `main` prints them without a traceback
and exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .cli_guards import refuse_input_as_output, refuse_replacing
from .errors import ConfigError, Mt5BridgeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # main() is the error boundary: plain tracebacks for bugs, one line otherwise
    help="mt5bridge: MetaTrader 5 closed candles -> OpenCL recurrent autoencoder -> ZeroMQ.",
)


@app.callback()
def _root() -> None:
    """Always a command group, even while only one command exists."""


def main() -> None:
    """Entry point, the CLI's one error boundary: every expected failure (our errors, an OS error on a named path)
    becomes one red line and exit status 2, never a traceback; Ctrl-C exits 130; anything else is a bug, shown with
    its traceback and how to report it (exit 1)."""
    try:
        app()
    except Mt5BridgeError as exc:
        _fail(str(exc))
    except OSError as exc:  # a path we were told to read or write: name it and say what the OS said
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        _fail(f"{where}: {exc.strerror or exc}" if where else f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # noqa: BLE001 - the boundary: a bug, reported as such
        import traceback

        from . import __version__

        traceback.print_exc()
        typer.secho(f"internal error in mt5bridge {__version__}: this is a bug. Please report it with the command "
                    "line you ran, the traceback above and `mt5bridge devices --json`.", fg=typer.colors.RED,
                    err=True)
        sys.exit(1)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
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
def demo(
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    bars: int = typer.Option(48, "--bars", min=1, help="Stop after this many published bars."),
    rate: float = typer.Option(8.0, "--rate", min=0.01, help="Closed bars per second in the replay (> 0)."),
) -> None:
    """The whole pipeline on this machine: train a tiny model, replay bundled bars through the daemon, subscribe."""
    from .demo import run_demo

    result = run_demo(device, bars=bars, bars_per_second=rate, echo=typer.echo)
    if result["received"] < result["published"]:
        raise typer.Exit(1)


@app.command()
def history(
    symbol: str = typer.Argument(..., help="Symbol as the terminal spells it, e.g. EURUSD."),
    timeframe: str = typer.Argument(..., help="M1, M5, ..., H1, H4, D1, W1, MN1."),
    source: str = typer.Option(..., "--source", help="mt5 | mt5rpyc://HOST:PORT | a bar file (CSV, MT4/MT5 export, "
                               "Parquet; .gz too) to convert."),
    out: Path = typer.Option(..., "--out", help="Parquet file to create, or to extend with newer closed bars."),
    date_from: Optional[str] = typer.Option(None, "--from",
                                            help="First bar open time, server time (YYYY-MM-DD[ HH:MM])."),
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


ON_BAD_HELP = "Bad bars in the files: raise (stop, listing them) or drop (skip them, counted)."


def _resume_setup(out: Path, preset_name: Optional[str], config_file: Optional[Path], epochs: Optional[int]):
    """The checkpoint's own settings (a resume needs no --preset); a --preset or --config given anyway must agree
    with them, except the keys a resume may change."""
    from dataclasses import replace

    from .config import Preset, TrainConfig
    from .modelfile import load_model
    from .training.trainer import RESUMABLE, config_differences

    checkpoint = load_model(out)
    meta = checkpoint.metadata.get("training") or {}
    if "train_config" not in meta:
        raise ConfigError(f"cannot resume: {out} holds no training progress")
    chosen = Preset(checkpoint.config, TrainConfig.from_dict(meta["train_config"], where=f"{out}: train config"))
    if preset_name or config_file:
        given = _training_setup(preset_name, config_file, None)
        differences = config_differences(chosen.model, chosen.train, given.model, given.train)
        if differences:
            raise ConfigError(f"cannot resume {out} with these settings: {'; '.join(differences)}; leave out "
                              f"--preset/--config to use the checkpoint's (only {', '.join(RESUMABLE)} may change)")
        chosen = replace(chosen, train=replace(chosen.train, **{k: getattr(given.train, k) for k in RESUMABLE}))
    if epochs is not None:
        chosen = replace(chosen, train=replace(chosen.train, epochs=epochs))
        chosen.train.validate()
    return chosen, checkpoint.metadata.get("preset")


def _training_setup(preset_name: Optional[str], config_file: Optional[Path], epochs: Optional[int]):
    from dataclasses import replace

    from .config import get_preset, load_config_file
    from .errors import ConfigError

    if preset_name and config_file:
        raise ConfigError("give --preset or --config, not both")
    chosen = load_config_file(config_file) if config_file else get_preset(preset_name or "default")
    if epochs is not None:
        chosen = replace(chosen, train=replace(chosen.train, epochs=epochs))
        chosen.train.validate()
    return chosen


@app.command()
def train(
    data: list[Path] = typer.Option(..., "--data", help="Bar file(s): MT5/MT4 CSV exports, CSV, Parquet (.gz too); "
                                    "several symbols train one model: --data A B C (or --data A --data B)."),
    more_data: Optional[list[Path]] = typer.Argument(None, hidden=True, metavar="MORE_DATA_FILES"),
    out: Path = typer.Option(..., "--out", help="Model file to write (also the checkpoint)."),
    preset_name: Optional[str] = typer.Option(None, "--preset", help="Named preset: default, fast, article, tiny."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML: preset = \"...\", \\[model], \\[train]."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override the preset's epoch budget."),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue the run checkpointed in --out exactly, with its own "
                                "settings (--epochs may raise the budget)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out model file (training anew)."),
    date_from: Optional[str] = typer.Option(None, "--from", help="Train on bars from this server time on."),
    date_to: Optional[str] = typer.Option(None, "--to", help="Train on bars before this server time."),
    on_bad: str = typer.Option("raise", "--on-bad", help=ON_BAD_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    checkpoint_every: Optional[float] = typer.Option(None, "--checkpoint-every", min=0.0, help="Seconds: write a "
                                                     "checkpoint at an epoch's end when the last is this old (0: "
                                                     "every epoch; default train.checkpoint_every, 60). Ctrl-C and "
                                                     "the end always write."),
) -> None:
    """Backfill training: B streams over the history, truncated BPTT, checkpoints, early stopping."""
    from dataclasses import replace

    from .data.bars import parse_time
    from .training.series import load_series
    from .training.trainer import Trainer

    data = [*data, *(more_data or [])]  # click options take one value each: `--data A B C` leaves B, C here
    refuse_input_as_output(out, "--out", [("--data", p) for p in data])
    if resume:
        chosen, label = _resume_setup(out, preset_name, config_file, epochs)
    else:
        if not force:
            refuse_replacing([out], what="model file", hint="--resume continues its training, or ")
        chosen = _training_setup(preset_name, config_file, epochs)
        label = preset_name or (f"{config_file.name} (config file)" if config_file else "default")
    if checkpoint_every is not None:  # not part of the numbers: a resume may change it too
        chosen = replace(chosen, train=replace(chosen.train, checkpoint_every=checkpoint_every))
    start = parse_time(date_from) if date_from else None
    end = parse_time(date_to) if date_to else None
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"--from {date_from} is not before --to {date_to}")
    series = [load_series(p, chosen.train.feature_set, warmup_bars=chosen.train.warmup_bars, start=start, end=end,
                          policy=on_bad) for p in data]
    result = Trainer(series, chosen.model, chosen.train, out, device=device, resume=resume, progress=progress,
                     echo=typer.echo, preset_name=label).run()
    if not result.finished:
        raise typer.Exit(130)


TIMEFRAME_MISMATCH_HELP = "Use the model on bars of another timeframe than it was trained on (its memory counts " \
                          "bars, so its numbers then mean something else)."


def _model_and_series(model_path: Path, data: Path, allow_timeframe_mismatch: bool, on_bad: str = "raise"):
    """The model and the data's features, refusing bars of another timeframe than the model's unless allowed."""
    from .modelfile import load_model
    from .training.provenance import check_timeframe
    from .training.series import load_series

    model = load_model(model_path)
    series = load_series(data, model.feature_set, policy=on_bad)
    warning = check_timeframe(model, series.timeframe, what=str(data), allow=allow_timeframe_mismatch,
                              option="--allow-timeframe-mismatch")
    if warning:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    return model, series


@app.command()
def evaluate(
    model_path: Path = typer.Option(..., "--model", help="Model file."),
    data: Path = typer.Option(..., "--data", help="Bar file to evaluate on."),
    date_from: Optional[str] = typer.Option(None, "--from", help="First evaluated bar (server time); the burn-in "
                                            "starts here."),
    burn_in: int = typer.Option(200, "--burn-in", min=0, help="Bars that warm the state and are not scored."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every metric as JSON."),
    plot_out: Optional[Path] = typer.Option(None, "--plot", help="Write the per-lag R² plot (PNG)."),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    allow_timeframe_mismatch: bool = typer.Option(False, "--allow-timeframe-mismatch",
                                                  help=TIMEFRAME_MISMATCH_HELP),
    on_bad: str = typer.Option("raise", "--on-bad", help=ON_BAD_HELP),
) -> None:
    """Honest metrics: NMSE, per-lag R² against a no-memory baseline and a state-reset control, memory horizon, and
    how far the data's inputs drift from the model's training data."""
    from .data.bars import parse_time
    from .training.evaluate import evaluate as run_evaluation
    from .training.evaluate import plot, write_json

    inputs = [("--model", model_path), ("--data", data)]
    refuse_input_as_output(json_out, "--json", inputs)
    refuse_input_as_output(plot_out, "--plot", inputs + [("--json", json_out)])
    model, series = _model_and_series(model_path, data, allow_timeframe_mismatch, on_bad)
    result = run_evaluation(model, series, start_time=parse_time(date_from) if date_from else None,
                            burn_in=burn_in, device=device)
    result.update(model=str(model_path), data=str(data))
    if json_out:
        write_json(result, json_out)
    if plot_out:
        plot(result, plot_out)
    lags = [model.config.window, 20, 30, model.config.target_bars - 1]
    lags = [k for k in lags if k < model.config.target_bars]
    typer.echo(f"{result['bars']} bars scored (burn-in {burn_in})")
    typer.echo(f"nmse {result['nmse']:.4f} (baseline {result['baseline_nmse']:.4f}, state reset "
               f"{result['state_reset_nmse']:.4f}); rmse_std {result['rmse_std']:.4f}")
    typer.echo("price R² at lags " + "/".join(map(str, lags)) + ": model "
               + " / ".join(f"{result['per_lag_r2_price'][k]:.2f}" for k in lags) + ", baseline "
               + " / ".join(f"{result['baseline_per_lag_r2_price'][k]:.2f}" for k in lags))
    typer.echo(f"memory_horizon {result['memory_horizon']}, memory_lags {result['memory_lags']}, "
               f"latent_active_units {result['latent_active_units']}")
    drift = result["input_drift"]
    if not drift["available"]:
        typer.echo(f"input drift: not available ({drift['why']})")
    else:
        worst = max(drift["per_feature_share_outside"].items(), key=lambda kv: kv[1])
        typer.echo(f"input drift: {100 * drift['share_outside']:.2f}% of inputs outside the training range "
                   f"(threshold {100 * drift['threshold']:.0f}%; most: {worst[0]} {100 * worst[1]:.1f}%)")
        if drift["drifted"]:
            typer.secho("warning: these inputs do not look like the training data; the numbers above are not "
                        "comparable to the training results", fg=typer.colors.YELLOW, err=True)


@app.command()
def encode(
    model_path: Path = typer.Option(..., "--model", help="Model file."),
    data: Path = typer.Option(..., "--data", help="Bar file to encode."),
    out: Optional[Path] = typer.Option(None, "--out", help="File to write. parquet: required; mt5: default "
                                       "<SYMBOL>_<TF>.mt5b here, the name the EA opens (docs/LATENTFILE.md)."),
    file_format: str = typer.Option("parquet", "--format", help="parquet: one row per bar, every column; mt5: the "
                                    "latent file MetaTrader 5's Strategy Tester reads (docs/LATENTFILE.md)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="mt5: the symbol as the terminal names it "
                                         "(default: the data's Parquet metadata; a file name is not a symbol)."),
    warmup_bars: Optional[int] = typer.Option(None, "--warmup-bars", min=1, help="mt5: bars fed before WARM is "
                                              "set, as the daemon's daemon.warmup_bars (default 500)."),
    drift_threshold: Optional[float] = typer.Option(None, "--drift-threshold", min=0.0, max=1.0, help="mt5: "
                                                    "input-drift score over which DRIFT is set (default 0.075)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    with_reconstruction: bool = typer.Option(False, "--with-reconstruction", help="Add the reconstruction and "
                                             "target stacks (D*F values each; parquet only)."),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    allow_timeframe_mismatch: bool = typer.Option(False, "--allow-timeframe-mismatch",
                                                  help=TIMEFRAME_MISMATCH_HELP),
    on_bad: str = typer.Option("raise", "--on-bad", help=ON_BAD_HELP),
) -> None:
    """Backfill the latent, reconstruction error, anomaly percentile and input-drift score of every historical bar."""
    from rich.progress import Progress

    from .modelfile import file_sha256
    from .training.encode import encode_series, write_table

    mt5_options = [name for name, value in (("--symbol", symbol), ("--warmup-bars", warmup_bars),
                                            ("--drift-threshold", drift_threshold)) if value is not None]
    if file_format not in ("parquet", "mt5"):
        raise ConfigError(f"--format {file_format!r}: parquet or mt5")
    if file_format == "parquet" and (out is None or mt5_options):
        raise ConfigError("--format parquet needs --out" if out is None else
                          f"{', '.join(mt5_options)} only apply to --format mt5")
    if file_format == "mt5" and with_reconstruction:
        raise ConfigError("--with-reconstruction only applies to --format parquet")
    inputs = [("--model", model_path), ("--data", data)]
    refuse_input_as_output(out, "--out", inputs)
    model, series = _model_and_series(model_path, data, allow_timeframe_mismatch, on_bad)
    if file_format == "mt5":
        from .latentfile import latent_file_name, resolve_stream
        from .training.provenance import trained_timeframe

        symbol, tf_name, warnings = resolve_stream(symbol, series.symbol, series.timeframe, trained_timeframe(model),
                                                   str(data))
        for warning in warnings:
            typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
        out = out or Path(latent_file_name(symbol, tf_name))
        refuse_input_as_output(out, "--out", inputs)
    if not force:
        refuse_replacing([out], what="output file")
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("encoding", total=len(series))
        table = encode_series(model, series, device=device, with_reconstruction=with_reconstruction,
                              progress=lambda n: bar.update(task, advance=n))
    if file_format == "mt5":
        from .latentfile import write_from_table

        typer.echo(write_from_table(table, out, model, file_sha256(model_path), symbol, tf_name, warmup_bars,
                                    drift_threshold))
        return
    write_table(table, out, {"model": str(model_path), "model_sha256": file_sha256(model_path),
                             "data": str(data), "feature_set": model.feature_set})
    typer.echo(f"{out}: {table.num_rows} bars, latent size {model.config.latent}")


@app.command()
def info(
    model_path: Path = typer.Argument(..., help="Model file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """What a model file is: preset, sizes, feature set, what it was trained on, epochs, validation, checksum."""
    import json

    from .model_info import describe, format_info

    summary = describe(model_path)
    typer.echo(json.dumps(summary, indent=2) if as_json else format_info(summary))


@app.command()
def export(
    model_path: Path = typer.Option(..., "--model", help="Model file."),
    out: Path = typer.Option(..., "--out", help="ONNX file: one step of the model, for MQL5's OnnxRun."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
    verify: Optional[Path] = typer.Option(None, "--verify", help="Bar file: step the graph with onnxruntime over "
                                          "its first --bars usable bars and compare with encode."),
    bars: int = typer.Option(1000, "--bars", min=1, help="Bars --verify steps."),
) -> None:
    """Export the model as an ONNX graph (opset 13, float32, state in and out) for in-EA inference (docs/MQL5.md)."""
    from .modelfile import file_sha256, load_model
    from .onnx_export import export_onnx

    refuse_input_as_output(out, "--out", [("--model", model_path), ("--verify", verify)])
    if not force:
        refuse_replacing([out], what="ONNX file")
    model = load_model(model_path)
    summary = export_onnx(model, out, model_sha256=file_sha256(model_path))
    typer.echo(f"{out}: {summary['bytes']:,} bytes, opset {summary['opset']}, D={summary['target_bars']} "
               f"F={summary['features']} Z={summary['latent']} S={summary['state']}, sha256 {summary['sha256']}")
    if verify is not None:
        from .onnx_check import verify_against_encode

        report = verify_against_encode(model, out, verify, bars)
        typer.echo(report.text)
        if not report.passed:
            raise ConfigError(f"{out} does not reproduce encode on {verify} (tolerance {report.tolerance:g})")


@app.command()
def run(
    config: Optional[Path] = typer.Option(None, "--config", help="TOML config (docs/DAEMON.md); "
                                          "MT5BRIDGE__SECTION__KEY environment variables override it."),
    insecure_bind: bool = typer.Option(False, "--insecure-bind", help="Allow a non-loopback endpoint without "
                                       "CurveZMQ (anyone who can reach the port reads the stream)."),
    metrics_port: Optional[int] = typer.Option(None, "--metrics-port", help="Serve Prometheus metrics on "
                                               "127.0.0.1:PORT/metrics."),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
) -> None:
    """The live daemon: every closed candle of every configured stream -> latent + error on ZeroMQ."""
    from dataclasses import replace

    from .daemon.config import load_run_config
    from .daemon.service import run_service, setup_logging

    setup_logging(log_level.upper())
    cfg = load_run_config(config)
    if insecure_bind:
        cfg = replace(cfg, publisher=replace(cfg.publisher, insecure_bind=True))
    if metrics_port is not None:
        cfg = replace(cfg, metrics=replace(cfg.metrics, port=metrics_port))
        cfg.validate()
    run_service(cfg)


@app.command()
def subscribe(
    endpoint: str = typer.Option("tcp://127.0.0.1:5556", "--endpoint"),
    topic: list[str] = typer.Option(["mt5bridge/"], "--topic", help="Topic prefix (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    check: bool = typer.Option(False, "--check", help="Exit with status 3 at the first protocol violation."),
    count: int = typer.Option(0, "--count", help="Stop after this many latent messages (0: never)."),
    timeout: float = typer.Option(0.0, "--timeout", help="Stop after this many seconds without a message (0: never)."),
    curve_client: Optional[Path] = typer.Option(None, "--curve-client", help="Our key pair (.key_secret)."),
    curve_server: Optional[Path] = typer.Option(None, "--curve-server", help="The daemon's public key (.key)."),
) -> None:
    """The reference subscriber: one line per message, in order, exactly once; reports gaps and staleness."""
    from .subscribe_cli import run_subscriber

    code = run_subscriber(endpoint, topic, as_json=as_json, check=check, count=count, timeout=timeout,
                          curve_client=curve_client, curve_server=curve_server, echo=typer.echo)
    raise typer.Exit(code)


@app.command()
def keys(
    out: Path = typer.Option(Path("keys"), "--out", help="Folder for the key files."),
    name: str = typer.Option("daemon", "--name", help="Writes NAME.key (public) and NAME.key_secret (private)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing key pair of that name."),
) -> None:
    """Write a CurveZMQ key pair (daemon or subscriber); the secret key readable by its owner only."""
    from .zmq_io import write_keypair

    if not name or Path(name).name != name or name in (".", ".."):  # "../x" or "a/b" would write elsewhere
        raise ConfigError(f"--name {name!r} must be a plain file name, without folders (use --out for the folder)")
    if not force:
        refuse_replacing([out / f"{name}.key", out / f"{name}.key_secret"], what="key file",
                         hint="subscribers hold the public key, so a new pair locks them out; ")
    public, secret = write_keypair(out, name)
    typer.echo(f"public key: {public}\nsecret key: {secret} (keep it private)")
