"""Wall time of `mt5bridge train` against the sum of its epochs' seconds, with where the rest goes.

    python benchmarks/train_wall.py --device gpu --preset default --epochs 10 \
        --data ../shared/data/EURUSD_H1_2000_2021.csv.gz
    python benchmarks/train_wall.py --device 0:0 --preset fast --epochs 3 --streams 8     # PoCL, the bundled sample
    python benchmarks/train_wall.py --device numpy --preset tiny

Runs the real `Trainer` as the train command does (load_series per file, Trainer(...).run() into a fresh model file
in a temporary folder, no progress bar) and prints one JSON line: `wall_s` from the start of this script (imports
included) to the finished model file, `epochs_s` the sum of the history's per-epoch `seconds`, `ratio` = wall /
epochs (issue 14's target: <= 1.3), and the breakdown: `imports_s`, `features_s` (reading the bars and computing
features), `prepare_s` (split, standardisation, streams), `setup_s` (from run() to the first training step: the
ridge baseline, the engine and its OpenCL programs), `validation_s` and `checkpoint_s` (summed over the epochs,
with their counts), `final_s` (after the last epoch: best weights, the training-error quantiles, the final file; of
which `quantiles_s`), and `other_s` (what none of these covers: epoch bookkeeping, the log). Also the device, date,
commit (`+dirty` with uncommitted changes), host, `cpu_s` (the process's CPU seconds) and `load_avg` (a shared
machine shows in both), and the validation's streams and steps. `--checkpoint-every S` sets train.checkpoint_every.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the heavy imports: they are part of a train command's wall time

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mt5bridge.config import get_preset  # noqa: E402
from mt5bridge.data import sample_path  # noqa: E402
from mt5bridge.training.series import load_series  # noqa: E402
from mt5bridge.training.trainer import Trainer  # noqa: E402

IMPORTED = time.perf_counter()


class TimedTrainer(Trainer):
    """The real trainer with stopwatches around the parts outside the epochs; the numbers it trains are unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spent = {"validation_s": 0.0, "checkpoint_s": 0.0, "quantiles_s": 0.0, "final_save_s": 0.0}
        self.counts = {"validations": 0, "checkpoints": 0}
        self.marks: dict[str, float] = {}

    def _timed(self, key: str, count: str | None, call, *args, **kwargs):
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.spent[key] += time.perf_counter() - started
            if count:
                self.counts[count] += 1

    def _validate(self, *args):
        return self._timed("validation_s", "validations", super()._validate, *args)

    def _save(self, finished, quantiles=None):
        if finished:
            return self._timed("final_save_s", None, super()._save, finished, quantiles)
        return self._timed("checkpoint_s", "checkpoints", super()._save, finished, quantiles)

    def _training_error_quantiles(self):
        return self._timed("quantiles_s", None, super()._training_error_quantiles)

    def _end_epoch(self, bars_per_epoch):
        super()._end_epoch(bars_per_epoch)
        self.marks["last_epoch_end"] = time.perf_counter()  # final_s runs from here

    def run(self):
        self.marks["run"] = time.perf_counter()
        return super().run()


def commit() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no")
                                                   else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", help="article, default, fast or tiny")
    parser.add_argument("--device", default=None, help="numpy, cpu, gpu, P:D (default: MT5BRIDGE_DEVICE or auto)")
    parser.add_argument("--data", type=Path, nargs="+", default=[sample_path()], help="bar file(s)")
    parser.add_argument("--epochs", type=int, default=None, help="the epoch budget (default: the preset's)")
    parser.add_argument("--streams", type=int, default=None, help="B (default: the preset's)")
    parser.add_argument("--checkpoint-every", type=float, default=None,
                        help="train.checkpoint_every in seconds (default: the preset's)")
    args = parser.parse_args()

    chosen = get_preset(args.preset)
    changes = {k: v for k, v in (("epochs", args.epochs), ("streams", args.streams),
                                 ("checkpoint_every", args.checkpoint_every)) if v is not None}
    tcfg = replace(chosen.train, **changes)
    tcfg.validate()
    marks = {"imported": IMPORTED}
    series = [load_series(p, tcfg.feature_set, warmup_bars=tcfg.warmup_bars) for p in args.data]
    marks["features"] = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "model.npz"
        trainer = TimedTrainer(series, chosen.model, tcfg, out, device=args.device, progress=False,
                               echo=lambda s: lines.append((time.perf_counter(), s)), preset_name=args.preset)
        marks["prepared"] = time.perf_counter()
        result = trainer.run()
        marks["done"] = time.perf_counter()
        model_bytes = out.stat().st_size
    first_step = next(t for t, s in lines if s.startswith("training on"))  # echoed just before the first step
    history = result.history
    epochs_s = sum(h["seconds"] for h in history)
    report = {
        "preset": args.preset, "device": trainer.engine.device_label, "epochs": len(history),
        "epoch_budget": tcfg.epochs, "stopped_early": trainer.convergence.stopped_early, "streams": tcfg.streams,
        "train_bars": trainer.prep.train_bars, "validation_bars": history[-1].get("val_bars", 0) if history else 0,
        "data": [str(p) for p in args.data], "checkpoint_every": getattr(tcfg, "checkpoint_every", 0.0),
        "wall_s": marks["done"] - STARTED, "epochs_s": epochs_s,
        "imports_s": IMPORTED - STARTED, "features_s": marks["features"] - IMPORTED,
        "prepare_s": marks["prepared"] - marks["features"], "setup_s": first_step - trainer.marks["run"],
        **trainer.spent, **trainer.counts,
        "final_s": marks["done"] - trainer.marks.get("last_epoch_end", marks["done"]),
        "model_mib": model_bytes / 2**20,
        "cpu_s": sum(os.times()[:2]),  # this process's user + system seconds (all threads): wall >> cpu / cores
        #                                means the machine was shared, or the device did the work
    }
    validation = getattr(trainer, "_validation", None)  # the segmented validation, where the trainer has one
    if validation is not None and validation.segmented is not None:
        report.update(validation_streams=validation.streams, validation_steps=validation.segmented.steps)
    report["ratio"] = report["wall_s"] / epochs_s if epochs_s else None
    covered = ("imports_s", "features_s", "prepare_s", "setup_s", "validation_s", "checkpoint_s", "final_s")
    report["other_s"] = report["wall_s"] - epochs_s - sum(report[k] for k in covered)
    # The 1-minute load average at the end (POSIX only): above the core count, other jobs shared the machine.
    report["load_avg"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report.update(date=date.today().isoformat(), commit=commit(), host=platform.node(), command=" ".join(sys.argv))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
