"""Training to convergence: the best epoch's weights kept, early stopping, the plateau schedule, exact resume of all
of it; several files in one model without streams crossing between them; what the model file records."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mt5bridge.config import ModelConfig, OptimizerConfig, TrainConfig
from mt5bridge.data import sample_path
from mt5bridge.errors import ConfigError, DataError
from mt5bridge.modelfile import load_model
from mt5bridge.training.protocol import prepare
from mt5bridge.training.series import Series, load_series
from mt5bridge.training.trainer import Trainer, _Convergence

MODEL = ModelConfig(window=3, target_bars=6, lstm=(12, 8), latent=4, decoder=(10,), variational=False, seed=1,
                    optimizer=OptimizerConfig(lr=3e-3))
TRAIN = TrainConfig(streams=3, tbptt=8, epochs=4, burn_in=20, validation=0.1, seed=5, dtype="float64")


@pytest.fixture(scope="module")
def series():
    return [load_series(sample_path(), TRAIN.feature_set).slice(0, 1200)]


def _train(series, out, train, *, model=MODEL, stop_after=None, resume=False, snapshots=None):
    def hook(trainer):
        if snapshots is not None and trainer.chunk == len(trainer.prep.chunks(train.tbptt)):
            snapshots[trainer.epoch + 1] = trainer.engine.get_params()  # the weights at this epoch's end
        if stop_after is not None and trainer.engine.step >= stop_after:
            trainer.request_stop()

    return Trainer(series, model, train, out, device="numpy", resume=resume, progress=False, echo=lambda s: None,
                   on_chunk=hook).run()


def _history(path):
    return load_model(path).metadata["training"]["history"]


def test_the_finished_model_holds_the_best_epochs_weights(series, tmp_path):
    """A learning rate high enough to overshoot makes the last epoch worse than the best one."""
    snapshots = {}
    out = tmp_path / "m.npz"
    high = replace(MODEL, optimizer=OptimizerConfig(lr=0.08))
    _train(series, out, replace(TRAIN, epochs=4, min_delta=0.0), model=high, snapshots=snapshots)
    history = _history(out)
    vals = [h["val_nmse"] for h in history]
    best = int(np.argmin(vals)) + 1
    assert best != len(vals), f"the test needs a last epoch worse than the best: {vals}"
    model = load_model(out)
    assert model.metadata["training"]["convergence"]["best_epoch"] == best
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, snapshots[best][name])
    assert any(not np.array_equal(model.params[n], snapshots[len(vals)][n]) for n in model.params)


def test_early_stopping_after_patience_epochs_without_a_better_validation(series, tmp_path):
    """min_delta = 0.9: only a 90% better validation counts, so nothing after epoch 1 does."""
    snapshots = {}
    out = tmp_path / "m.npz"
    result = _train(series, out, replace(TRAIN, epochs=10, patience=2, min_delta=0.9), snapshots=snapshots)
    assert result.finished and result.epochs == 3  # epoch 1 best, epochs 2 and 3 not: stop
    model = load_model(out)
    conv = model.metadata["training"]["convergence"]
    assert conv["stopped_early"] and conv["best_epoch"] == 1 and conv["since_best"] == 2
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, snapshots[1][name])


def test_plateau_schedule_cuts_the_learning_rate_and_stops(series, tmp_path):
    out = tmp_path / "m.npz"
    train = replace(TRAIN, epochs=10, patience=3, min_delta=0.9, lr_schedule="plateau", lr_patience=1,
                    lr_factor=0.5, lr_floor=0.2)
    _train(series, out, train)
    history = _history(out)
    lr = MODEL.optimizer.lr
    # Epoch 1 sets the best; each later epoch without one cuts the rate for the next, down to the floor.
    assert [h["lr"] for h in history] == pytest.approx([lr, lr, lr * 0.5, lr * 0.25])
    assert [h["lr_scale"] for h in history] == pytest.approx([1.0, 0.5, 0.25, 0.2])
    assert len(history) == 4  # since_best reached 3 at epoch 4


def test_convergence_bookkeeping():
    train = replace(TRAIN, lr_schedule="plateau", lr_patience=2, lr_factor=0.5, lr_floor=0.1, min_delta=0.01)
    c = _Convergence()
    assert c.observe(1, 1.0, train)
    assert not c.observe(2, 0.995, train)  # within min_delta: not better
    assert not c.observe(3, 2.0, train) and c.lr_scale == 0.5 and c.since_cut == 0
    assert c.observe(4, 0.5, train) and c.since_best == 0 and c.lr_scale == 0.5  # a new best keeps the rate
    constant = replace(train, lr_schedule="constant")
    c = _Convergence()
    for epoch in range(1, 6):
        c.observe(epoch, 1.0, constant)
    assert c.lr_scale == 1.0 and c.since_best == 4


def test_resume_mid_run_continues_the_convergence_exactly(series, tmp_path):
    # min_delta 0.9: epoch 1 stays the best, epoch 2 cuts the rate, epoch 3 (interrupted) ends the run; a resume
    # that forgot any of this would train epoch 3 at the full rate and go on past it.
    train = replace(TRAIN, epochs=6, patience=2, min_delta=0.9, lr_schedule="plateau", lr_patience=1)
    straight = tmp_path / "straight.npz"
    _train(series, straight, train)
    resumed = tmp_path / "resumed.npz"
    chunks = len(prepare(series, MODEL, train).chunks(train.tbptt))
    stopped = _train(series, resumed, train, stop_after=2 * chunks + 3)  # inside epoch 3
    assert not stopped.finished
    ckpt = load_model(resumed)
    assert any(k.startswith("best.") for k in ckpt.extras)  # the best weights so far travel in the checkpoint
    _train(series, resumed, train, resume=True)
    a, b = load_model(straight), load_model(resumed)
    assert len(_history(straight)) == 3 and a.metadata["training"]["convergence"]["stopped_early"]
    assert a.metadata["training"]["convergence"] == b.metadata["training"]["convergence"]
    assert [h["lr"] for h in _history(straight)] == [h["lr"] for h in _history(resumed)]
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name


def test_early_stopping_needs_validation():
    with pytest.raises(ConfigError, match="train.validation"):
        TrainConfig(validation=0.0, patience=3).validate()
    with pytest.raises(ConfigError, match="train.lr_schedule"):
        TrainConfig(lr_schedule="step").validate()


# --- several files, one model -------------------------------------------------------------------------------------
def _constant_series(name: str, value: float, n: int, timeframe: str = "H1") -> Series:
    times = 1_600_000_000 + 3600 * np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(int(value * 10) % 7)
    features = value + 0.01 * rng.standard_normal((n, 12))  # each file recognisable by its level
    return Series(name, times, features, None, timeframe, TRAIN.feature_set)


def test_each_stream_reads_one_file_only():
    a, b = _constant_series("a.csv", 5.0, 700), _constant_series("b.csv", -5.0, 300)
    prep = prepare([a, b], MODEL, replace(TRAIN, streams=5))
    assert sorted(prep.stream_series.tolist()) == [0, 0, 0, 1, 1]  # by length (625 and 265 bars), at least one
    for s, start in zip(prep.stream_series, prep.stream_start):
        lo, hi = prep.train[s]
        assert lo <= start and start + prep.length <= hi  # a stream's segment lies inside its own file
    for t0, t1 in prep.chunks(TRAIN.tbptt):
        x, y = prep.batch(t0, t1, MODEL)
        raw = prep.standardizer.inverse(y.reshape(t1 - t0, 5, MODEL.target_bars, 12))  # (T, B, D, F)
        for k, s in enumerate(prep.stream_series):
            own = np.isclose(raw[:, k], 5.0 if s == 0 else -5.0, atol=0.1)
            padding = np.isclose(raw[:, k], prep.standardizer.mean, atol=1e-9)  # before a stream's first bar
            assert np.all(own | padding), f"stream {k} of file {s} read another file's bars"


def test_files_of_different_timeframes_are_refused():
    a, b = _constant_series("h1.csv", 1.0, 400), _constant_series("m15.csv", 1.0, 400, timeframe="M15")
    with pytest.raises(DataError, match=r"different timeframes: h1.csv \(H1\), m15.csv \(M15\)"):
        prepare([a, b], MODEL, TRAIN)


def test_features_of_another_set_are_refused():
    a = replace(_constant_series("a.csv", 1.0, 400), feature_set="mt5-v1")
    with pytest.raises(DataError, match="'mt5-v1'.*'scale-free-v1'"):
        prepare([a], MODEL, TRAIN)


def test_model_records_what_it_was_trained_on(series, tmp_path):
    out = tmp_path / "m.npz"
    Trainer(series, MODEL, replace(TRAIN, epochs=1), out, device="numpy", progress=False, echo=lambda s: None,
            preset_name="tiny").run()
    model = load_model(out)
    on = model.metadata["trained_on"]
    assert on["timeframe"] == "H1" and on["files"][0]["name"] == "XAUUSD_H1_sample.csv.gz"
    assert on["files"][0]["train_from"] < on["files"][0]["train_to"] < on["files"][0]["validation_from"]
    assert model.metadata["preset"] == "tiny"
    levels, quantiles = model.extras["inputs.levels"], model.extras["inputs.quantiles"]
    assert quantiles.shape == (len(levels), 12) and np.all(np.diff(quantiles, axis=0) >= 0)
    json.dumps(model.metadata)  # plain JSON
