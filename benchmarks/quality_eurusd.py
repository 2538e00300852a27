"""Train a preset on EURUSD H1 and evaluate it: on the last 20% of EURUSD (the training issue's split) and on other
markets the model never saw (XAUUSD, all years, by default).

    python benchmarks/quality_eurusd.py --preset default --out results/ [--full] [--set KEY=VALUE ...]
        [--config FILE] [--epochs N] [--device D] [--eval FILE ...] [--time-limit SECONDS]

Without --full the model trains on the first 80% of EURUSD 2000-2021 (to 2017-08-01 14:00) and is evaluated on the
rest; with --full it trains on all of it. Reads ../shared/data (EURUSD has no license: never copied into the
repository; override with --data / --eval). --set overrides [train] keys (e.g. lr_schedule=cosine). With
--time-limit the run is stopped like Ctrl-C after that many seconds and the best epoch so far is evaluated.
Writes <out>/<name>.npz (the model, without its Adam moments), <name>.json (training time, device, history, every
evaluate metric per evaluated file) and <name>-<file>.png (per-lag R^2 plots).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEFAULT_DATA = SHARED / "EURUSD_H1_2000_2021.csv.gz"
DEFAULT_EVAL = [SHARED / "XAUUSD_H1_2014_2025.csv.gz"]
SPLIT = "2017-08-01 14:00"  # bar 109,134 of 136,418: the first 80% train, the last 20% evaluate


def parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text  # a bare word such as cosine
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--eval", type=Path, nargs="*", default=DEFAULT_EVAL)
    parser.add_argument("--full", action="store_true", help="Train on all of --data (no held-out EURUSD years).")
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--name")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--time-limit", type=float, default=0.0)
    args = parser.parse_args()

    from mt5bridge.config import TrainConfig, get_preset, load_config_file
    from mt5bridge.data.bars import parse_time
    from mt5bridge.modelfile import load_model, save_model
    from mt5bridge.training.evaluate import evaluate, plot
    from mt5bridge.training.series import load_series
    from mt5bridge.training.trainer import BEST_PREFIX, Trainer

    chosen = load_config_file(args.config) if args.config else get_preset(args.preset)
    if args.epochs:
        chosen = replace(chosen, train=replace(chosen.train, epochs=args.epochs))
    if args.overrides:
        chosen = replace(chosen, train=TrainConfig.from_dict({**chosen.train.to_dict(),
                                                              **parse_overrides(args.overrides)}))
    name = args.name or (args.config.stem if args.config else args.preset)
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / f"{name}.npz"
    split = None if args.full else parse_time(SPLIT)
    series = load_series(args.data, chosen.train.feature_set, end=split)
    started = time.perf_counter()
    deadline = started + args.time_limit if args.time_limit else None

    def stop_at_deadline(trainer: Trainer) -> None:
        if deadline and time.perf_counter() > deadline:
            trainer.request_stop()

    result = Trainer([series], chosen.model, chosen.train, model_path, device=args.device, resume=args.resume,
                     progress=False, on_chunk=stop_at_deadline, preset_name=args.preset).run()
    train_seconds = time.perf_counter() - started
    model = load_model(model_path)
    if not result.finished:  # stopped at the time limit: evaluate the best epoch so far
        best = {k[len(BEST_PREFIX):]: v for k, v in model.extras.items() if k.startswith(BEST_PREFIX)}
        model.params.update(best)
    model.extras = {k: v for k, v in model.extras.items() if not k.startswith(BEST_PREFIX) and
                    not k.startswith("train.")}
    save_model(model_path, replace(model, adam_m=None, adam_v=None))  # the weights alone: a third of the size

    targets = ([] if args.full else [(args.data, split)]) + [(path, None) for path in args.eval]
    evaluations = {}
    for path, start in targets:
        metrics = evaluate(model, load_series(path, model.feature_set), start_time=start, device=args.device)
        stem = path.name.split("_")[0].lower()
        evaluations[path.name] = metrics
        plot(metrics, args.out / f"{name}-{stem}.png", title=f"{name} on {path.name}: nmse {metrics['nmse']:.3f} "
             f"(ridge {metrics['baseline_nmse']:.3f}), horizon {metrics['memory_horizon']}, "
             f"{metrics['memory_lags']} lags")
        lags = [k for k in (10, 20, 30, 39) if k < model.config.target_bars]
        print(f"{name} on {path.name}: nmse {metrics['nmse']:.4f} vs ridge {metrics['baseline_nmse']:.4f} "
              f"(ratio {metrics['nmse'] / metrics['baseline_nmse']:.2f}); price R2 "
              f"{[round(metrics['per_lag_r2_price'][k], 2) for k in lags]}; horizon {metrics['memory_horizon']}, "
              f"lags {metrics['memory_lags']}; drift {metrics['input_drift'].get('share_outside')}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    training = model.metadata.get("training", {})
    report = {"name": name, "date": date.today().isoformat(), "commit": commit.stdout.strip(),
              "host": platform.node(), "processor": platform.processor(), "device": args.device,
              "finished": result.finished, "epochs": result.epochs, "train_seconds": train_seconds,
              "epoch_seconds": sum(h["seconds"] for h in result.history), "full": args.full,
              "best_epoch": training.get("convergence", {}).get("best_epoch"),
              "model": chosen.model.to_dict(), "train": chosen.train.to_dict(), "history": result.history,
              "evaluations": evaluations}
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=1))
    print(f"{name}: {train_seconds:.0f} s wall, {report['epoch_seconds']:.0f} s in {result.epochs} epochs, best "
          f"epoch {report['best_epoch']}, finished {result.finished}", flush=True)


if __name__ == "__main__":
    main()
