"""Backfill training: B streams over the history, truncated BPTT over K steps, checkpoints, exact resume.

The checkpoint is the model file itself (written atomically): weights, Adam moments and step, the random
generator's state, the position (epoch, chunk), mid-epoch the B streams' recurrent state, and the convergence
bookkeeping (best validation so far and its weights, epochs since, the plateau schedule's learning-rate scale).
`--resume` reloads all of it, so an interrupted run continues with the same numbers an uninterrupted one would have
produced. Training ends at the epoch budget or, with `patience`, when the validation nmse has not improved for that
many epochs; the finished file holds the best epoch's weights.

A checkpoint is written at the end of an epoch when the last one is `checkpoint_every` seconds old (not a 16 MB
file after every epoch, when a GPU epoch takes under a second), on Ctrl-C, and the finished file at the end. A
crash between checkpoints loses the epochs since the last one: a resume starts from its exact position and trains
them again with the same numbers, and the per-epoch log is cut back to the checkpoint's history first.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import ModelConfig, TrainConfig
from ..engine import Engine, make_engine
from ..errors import ModelFileError
from ..fileio import atomic_write_bytes
from ..inference import QUANTILES_KEY, error_quantiles
from ..modelfile import Model, load_model, save_model
from ..signals import stop_on_signals
from .baseline import RidgeBaseline, blocks_of, fit_ridge
from .protocol import Prepared, prepare
from .provenance import input_quantiles, training_provenance
from .segments import Validation, bar_errors
from .series import Series

PROGRESS_EVERY = 8  # training steps between loss reads (each read waits for the device)
BEST_PREFIX = "best."  # checkpoint extras: the best epoch's weights, "best.<param name>"
RESUMABLE = ("epochs", "patience", "checkpoint_every")  # train keys a resume may change (not the numbers)


def config_differences(model_a: ModelConfig, train_a: TrainConfig, model_b: ModelConfig,
                       train_b: TrainConfig) -> list[str]:
    """'train.lr_schedule: plateau (checkpoint) vs cosine (now)' for every key that differs, except RESUMABLE."""
    out = []
    for prefix, a, b in (("model", model_a.to_dict(), model_b.to_dict()),
                         ("train", train_a.to_dict(), train_b.to_dict())):
        for key in sorted(set(a) | set(b)):
            if prefix == "train" and key in RESUMABLE:
                continue
            if a.get(key) != b.get(key):
                out.append(f"{prefix}.{key} = {a.get(key)!r} (checkpoint) vs {b.get(key)!r} (now)")
    return out


@dataclass
class TrainResult:
    path: Path
    epochs: int  # epochs completed
    finished: bool  # all epochs done and the final model written
    history: list[dict[str, Any]] = field(default_factory=list)


def log_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".log.jsonl")


class Trainer:
    def __init__(self, series: list[Series], model: ModelConfig, train: TrainConfig, out: str | Path, *,
                 device: str | None = None, resume: bool = False, progress: bool = True,
                 echo: Callable[[str], None] = print, on_chunk: Callable[["Trainer"], None] | None = None,
                 preset_name: str | None = None, clock: Callable[[], float] = time.monotonic):
        self.series, self.cfg, self.tcfg = series, model, train
        self.preset_name = preset_name  # recorded in the model file (mt5bridge info)
        self.out, self.device, self.resume, self.echo = Path(out), device, resume, echo
        self.show_progress = progress
        self.on_chunk = on_chunk  # called after every optimizer step (tests, custom stopping)
        self.clock = clock  # decides when a checkpoint is due (injected by tests)
        self.stop_requested = threading.Event()
        self._rows: list[int] = []  # rows of the steps whose losses are not collected yet
        self.prep: Prepared = prepare(series, model, train)
        self._validation: Validation | None = None  # built at the first validation, then kept
        self._inference: Engine | None = None  # the validation and error passes' engine, built once
        self.checkpoints = 0  # checkpoints written at epoch ends by this run (not Ctrl-C's, not the finished file)

    def request_stop(self) -> None:
        """Finish the current chunk, write a checkpoint and return (what Ctrl-C does)."""
        self.stop_requested.set()

    # --- setup ----------------------------------------------------------------------------------------------------
    def _data_identity(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "bars": len(s), "first": int(s.times[0]), "last": int(s.times[-1])}
                for s in self.series]

    def _fresh(self) -> None:
        self.engine = make_engine(self.cfg, streams=self.tcfg.streams, device=self.device, dtype=self.tcfg.dtype)
        self.rng = np.random.default_rng(self.tcfg.seed)
        self.epoch, self.chunk, self.history = 0, 0, []
        self.convergence = _Convergence()
        self.best_params: dict[str, np.ndarray] | None = None
        self._sums, self._started = np.zeros(4), time.perf_counter()
        p, cfg = self.prep, self.cfg
        fit = [(a, a + int(0.8 * (b - a))) for a, b in p.train]
        hold = [(a + int(0.8 * (b - a)), b) for a, b in p.train]
        self.baseline = fit_ridge(blocks_of(p.z, fit, cfg.window, cfg.target_bars),
                                  blocks_of(p.z, hold, cfg.window, cfg.target_bars), cfg.inputs, cfg.outputs)
        self.out.parent.mkdir(parents=True, exist_ok=True)  # --out may name a new folder
        atomic_write_bytes(log_path(self.out), b"")

    def _restore(self) -> None:
        try:
            ckpt = load_model(self.out, feature_set=self.tcfg.feature_set)
        except ModelFileError as exc:
            raise ModelFileError(f"cannot resume: {exc}") from None
        meta = ckpt.metadata.get("training")
        if not meta:
            raise ModelFileError(f"cannot resume: {self.out} holds no training progress")
        if meta.get("finished"):
            raise ModelFileError(f"cannot resume: {self.out} has finished training ({len(meta['history'])} epochs); "
                                 "train a new model (another --out, or --force to replace it)")
        differences = config_differences(ckpt.config, TrainConfig.from_dict(meta["train_config"]), self.cfg,
                                         self.tcfg)
        if differences:
            raise ModelFileError(f"cannot resume: {self.out} was trained with {'; '.join(differences)} (on resume "
                                 f"only {', '.join('train.' + k for k in RESUMABLE)} may change)")
        if meta["data"] != self._data_identity():
            raise ModelFileError(f"cannot resume: {self.out} was trained on {meta['data']}, not on these files")
        if not np.array_equal(ckpt.standardizer.mean, self.prep.standardizer.mean):
            raise ModelFileError(f"cannot resume: the data's standardisation differs from {self.out}'s")
        self.engine = make_engine(self.cfg, streams=self.tcfg.streams, device=self.device, dtype=self.tcfg.dtype)
        ckpt.load_into(self.engine)
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = meta["rng"]
        self.epoch, self.chunk, self.history = meta["epoch"], meta["chunk"], meta["history"]
        self.convergence = _Convergence(**meta.get("convergence", {}))
        best = {k[len(BEST_PREFIX):]: v for k, v in ckpt.extras.items() if k.startswith(BEST_PREFIX)}
        self.best_params = best or None
        self._sums = np.array(meta["epoch_sums"])  # the interrupted epoch's running totals
        self._started = time.perf_counter() - meta["epoch_seconds"]
        self.baseline = RidgeBaseline.from_extras(ckpt.extras)
        if self.chunk:
            self.engine.set_state([(ckpt.extras[f"train.h{i}"], ckpt.extras[f"train.c{i}"])
                                   for i in range(len(self.cfg.lstm))])
        # Epochs logged after this checkpoint (a crash between checkpoints) are trained again: log them once.
        atomic_write_bytes(log_path(self.out), "".join(json.dumps(r) + "\n" for r in self.history).encode())
        self.echo(f"resuming {self.out} at epoch {self.epoch + 1}, chunk {self.chunk}, step {self.engine.step}")

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def _snapshot(self, *, with_optimizer: bool, extras: dict[str, np.ndarray] | None = None,
                  metadata: dict | None = None) -> Model:
        return Model.from_engine(self.engine, self.prep.standardizer, self.tcfg.feature_set,
                                 with_optimizer=with_optimizer, metadata=metadata, extras=extras)

    def _save(self, finished: bool, quantiles: np.ndarray | None = None) -> None:
        extras = dict(self.baseline.to_extras())
        if self.chunk:  # mid-epoch: the streams' memory is part of the position
            for i, (h, c) in enumerate(self.engine.get_state()):
                extras[f"train.h{i}"], extras[f"train.c{i}"] = h, c
        if quantiles is not None:
            extras[QUANTILES_KEY] = quantiles
            extras.update(input_quantiles(self.prep))
        elif self.best_params is not None:  # a checkpoint keeps the best weights so far, for the finished file
            extras.update({BEST_PREFIX + k: v for k, v in self.best_params.items()})
        meta = {"training": {"train_config": self.tcfg.to_dict(), "data": self._data_identity(),
                             "epoch": self.epoch, "chunk": self.chunk, "rng": self.rng.bit_generator.state,
                             "history": self.history, "finished": finished,
                             "convergence": self.convergence.__dict__,
                             "epoch_sums": self._sums.tolist(), "epoch_seconds": time.perf_counter() - self._started},
                "trained_on": training_provenance(self.series, self.prep)}
        if self.preset_name:
            meta["preset"] = self.preset_name
        save_model(self.out, self._snapshot(with_optimizer=True, extras=extras, metadata=meta))

    # --- the loop -------------------------------------------------------------------------------------------------
    def _lr(self, step: int, total: int) -> float:
        lr = self.cfg.optimizer.lr
        if self.tcfg.lr_schedule == "cosine":
            floor = self.tcfg.lr_floor
            return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(step / total, 1.0))))
        if self.tcfg.lr_schedule == "plateau":
            return lr * self.convergence.lr_scale
        return lr

    def run(self) -> TrainResult:
        self._restore() if self.resume else self._fresh()
        chunks = self.prep.chunks(self.tcfg.tbptt)
        total_steps = self.total_steps = self.tcfg.epochs * len(chunks)
        bars_per_epoch = self.prep.length * self.tcfg.streams
        self.echo(f"training on {self.engine.device_label}: {len(self.series)} file(s), {self.prep.train_bars} "
                  f"training bars, {self.tcfg.streams} streams x {self.prep.length} steps, chunks of "
                  f"{self.tcfg.tbptt}, {self.tcfg.epochs} epochs")
        self._last_checkpoint = self.clock()  # the loaded checkpoint, or the start: nothing to lose yet
        # Signals stay caught to the end: Ctrl-C during the final pass lets the finished file be written.
        with stop_on_signals(self.request_stop):
            with _Progress(self.show_progress, total_steps, self.engine.step) as bar:
                while self.epoch < self.tcfg.epochs and not self.convergence.stopped_early:
                    if not self._train_epoch(chunks, bar):
                        self._save(finished=False)
                        self.echo(f"interrupted: checkpoint written to {self.out} (epoch {self.epoch + 1}, chunk "
                                  f"{self.chunk}); continue with: mt5bridge train --data ... --out {self.out} "
                                  "--resume (the checkpoint keeps its own settings)")
                        return TrainResult(self.out, self.epoch, False, self.history)
                    self._end_epoch(bars_per_epoch)
            if self.best_params is not None:  # the finished model is the best epoch's (Adam moments: the last's)
                self.engine.set_params(self.best_params)
                self.echo(f"keeping epoch {self.convergence.best_epoch}'s weights (validation nmse "
                          f"{self.convergence.best_val_nmse:.4f})")
            quantiles = self._training_error_quantiles()
            self._save(finished=True, quantiles=quantiles)
        self.echo(f"done: {self.out}")
        return TrainResult(self.out, self.epoch, True, self.history)

    def _train_epoch(self, chunks: list[tuple[int, int]], bar: "_Progress") -> bool:
        """The rest of the current epoch's chunks; False when a stop was requested (its losses collected)."""
        if self.chunk == 0:
            self.engine.reset_state()
            self._sums = np.zeros(4)  # loss*rows, mse*rows, kl*rows, rows
            self._started = time.perf_counter()
        for t0, t1 in chunks[self.chunk:]:
            x, y = self.prep.batch(t0, t1, self.cfg)
            eps = self.rng.standard_normal((t1 - t0, self.tcfg.streams, self.cfg.latent)) \
                if self.cfg.variational else None
            # No waiting for the device: the host builds the next chunk while this one runs.
            self.engine.train_step(x, y, eps, lr=self._lr(self.engine.step, self.total_steps), wait=False)
            self._rows.append((t1 - t0) * self.tcfg.streams)
            self.chunk += 1
            if len(self._rows) >= PROGRESS_EVERY or self.chunk == len(chunks):
                self._collect(bar)
            if self.on_chunk:
                self.on_chunk(self)
            if self.stop_requested.is_set():
                self._collect(bar)
                return False
        return True

    def _collect(self, bar: "_Progress") -> None:
        """Fold the losses of the steps since the last collection into the epoch's sums and the progress bar."""
        losses = self.engine.collect_losses()
        for loss, rows in zip(losses, self._rows):
            self._sums += (loss.total * rows, loss.mse * rows, loss.kl * rows, rows)
        if losses:
            rate = self._sums[3] / max(time.perf_counter() - self._started, 1e-9)
            bar.update(self.epoch, losses[-1].total, rate, advance=len(losses))
        self._rows = []

    def _end_epoch(self, bars_per_epoch: int) -> None:
        seconds = time.perf_counter() - self._started
        loss, mse, kl, rows = self._sums
        record = {"epoch": self.epoch + 1, "step": self.engine.step, "train_loss": loss / rows,
                  "train_mse": mse / rows, "train_kl": kl / rows, "lr": self._lr(self.engine.step, self.total_steps),
                  "seconds": seconds, "bars_per_s": bars_per_epoch / seconds}
        params = self.engine.get_params()  # one read from the device serves validation and the best weights
        record.update(self._validate(params))
        if "val_nmse" in record and self.convergence.observe(self.epoch + 1, record["val_nmse"], self.tcfg):
            self.best_params = params
        record.update(best_epoch=self.convergence.best_epoch, lr_scale=self.convergence.lr_scale)
        self.history.append(record)
        with log_path(self.out).open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        self.echo("epoch {epoch}: loss {train_loss:.4f}, mse {train_mse:.4f}".format(**record)
                  + (", validation nmse {val_nmse:.4f}".format(**record) if "val_nmse" in record else "")
                  + f", {seconds:.1f} s ({record['bars_per_s']:.0f} bars/s)")
        self.epoch += 1
        self.chunk = 0
        if self.tcfg.patience and self.convergence.since_best >= self.tcfg.patience:
            self.convergence.stopped_early = True
            self.echo(f"early stop: no better validation nmse for {self.tcfg.patience} epochs "
                      f"(best {self.convergence.best_val_nmse:.4f} at epoch {self.convergence.best_epoch})")
        finishing = self.epoch >= self.tcfg.epochs or self.convergence.stopped_early  # the final file comes next
        if not finishing and self.clock() - self._last_checkpoint >= self.tcfg.checkpoint_every:
            self._save(finished=False)
            self._last_checkpoint = self.clock()
            self.checkpoints += 1

    def _inference_engine(self, params: dict[str, np.ndarray]) -> Engine:
        """The engine of the validation and error passes with these weights; built once (its programs and buffers
        stay), then only its weights are replaced."""
        if self._inference is None:
            self._inference = make_engine(self.cfg, streams=1, device=self.device, dtype=self.tcfg.dtype)
        self._inference.set_params(params)
        return self._inference

    def _validate(self, params: dict[str, np.ndarray]) -> dict[str, float]:
        if self._validation is None:
            self._validation = Validation(self.prep.z, self.prep.validation, self.cfg, self.tcfg.dtype,
                                          burn_in=self.tcfg.burn_in, segment_bars=self.tcfg.segment_bars)
        if not self._validation.bars:
            return {}
        return self._validation(self._inference_engine(params))

    def _training_error_quantiles(self) -> np.ndarray:
        # A new engine: the validation's would keep its long workspace for the error pass's many more streams.
        self._inference = None
        engine = self._inference_engine(self.engine.get_params())
        return error_quantiles(bar_errors(self.prep.z, self.prep.train, self.cfg, engine, burn_in=self.tcfg.burn_in,
                                          segment_bars=self.tcfg.segment_bars))


@dataclass
class _Convergence:
    """Early stopping and the plateau schedule's bookkeeping; plain numbers, saved in every checkpoint."""

    best_epoch: int = 0  # 0: no validation seen yet
    best_val_nmse: float | None = None  # None until the first validation (JSON has no infinity)
    since_best: int = 0  # epochs since the last new best
    since_cut: int = 0  # epochs since the last new best or learning-rate cut (plateau)
    lr_scale: float = 1.0  # plateau: the current fraction of the configured learning rate
    stopped_early: bool = False

    def observe(self, epoch: int, val_nmse: float, tcfg: TrainConfig) -> bool:
        """Fold one epoch's validation nmse in; True when it is a new best (its weights should be kept)."""
        if self.best_val_nmse is None or val_nmse < self.best_val_nmse * (1.0 - tcfg.min_delta):
            self.best_epoch, self.best_val_nmse, self.since_best, self.since_cut = epoch, val_nmse, 0, 0
            return True
        self.since_best += 1
        self.since_cut += 1
        if tcfg.lr_schedule == "plateau" and self.since_cut >= tcfg.lr_patience and self.lr_scale > tcfg.lr_floor:
            self.lr_scale = max(self.lr_scale * tcfg.lr_factor, tcfg.lr_floor)
            self.since_cut = 0
        return False


class _Progress:
    """A rich progress bar with loss, bars/s and ETA; silent when disabled."""

    def __init__(self, enabled: bool, total: int, done: int):
        self.enabled, self.total, self.done = enabled, total, done

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                                TextColumn("loss {task.fields[loss]:.4f}"),
                                TextColumn("{task.fields[rate]:.0f} bars/s"),
                                TimeRemainingColumn(), transient=False)
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=self.total, completed=self.done, epoch=1, loss=0.0, rate=0.0)
        return self

    def update(self, epoch: int, loss: float, rate: float, advance: int = 1) -> None:
        if self.enabled:
            self.bar.update(self.task, advance=advance, epoch=epoch + 1, loss=loss, rate=rate)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
