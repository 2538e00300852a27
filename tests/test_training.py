"""Backfill training on the bundled sample with tiny configurations: the protocol, checkpoints and exact resume,
evaluation metrics, and the latent backfill."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mt5bridge.config import ModelConfig, OptimizerConfig, TrainConfig
from mt5bridge.data import sample_path
from mt5bridge.errors import ModelFileError
from mt5bridge.inference import QUANTILES_KEY, ModelRunner
from mt5bridge.modelfile import load_model
from mt5bridge.training.baseline import LAMBDAS, blocks_of, fit_ridge
from mt5bridge.training.evaluate import memory, per_lag_r2
from mt5bridge.training.protocol import prepare
from mt5bridge.training.series import lag_windows, load_series
from mt5bridge.training.trainer import Trainer, log_path

MODEL = ModelConfig(window=3, target_bars=6, lstm=(12, 8), latent=4, decoder=(10,), beta=0.1, seed=1,
                    optimizer=OptimizerConfig(lr=3e-3))
TRAIN = TrainConfig(streams=3, tbptt=8, epochs=2, burn_in=20, validation=0.1, seed=5, dtype="float64")


@pytest.fixture(scope="module")
def series():
    full = load_series(sample_path(), TRAIN.feature_set)
    return [full.slice(0, 1200)]  # enough for a few chunks per epoch, small enough for the numpy device


def _train(series, out, *, model=MODEL, train=TRAIN, resume=False, stop_after=None, device="numpy"):
    def stop(trainer):  # what Ctrl-C does, after a given number of optimizer steps
        if stop_after is not None and trainer.engine.step >= stop_after:
            trainer.request_stop()

    return Trainer(series, model, train, out, device=device, resume=resume, progress=False, echo=lambda s: None,
                   on_chunk=stop).run()


def test_lag_windows_are_newest_first_and_zero_before_the_start():
    z = np.arange(10.0).reshape(5, 2)  # bar i has features (2i, 2i+1)
    out = lag_windows(z, np.array([4, 1]), 3)
    np.testing.assert_array_equal(out[0], [8, 9, 6, 7, 4, 5])
    np.testing.assert_array_equal(out[1], [2, 3, 0, 1, 0, 0])


def test_prepare_splits_in_time_and_cuts_contiguous_streams(series):
    prep = prepare(series, MODEL, TRAIN)
    (a, b), (c, d) = prep.train[0], prep.validation[0]
    assert a == MODEL.target_bars - 1 and b == c and d == len(series[0])
    assert d - c == pytest.approx(0.1 * (d - a), abs=1)
    assert np.all(np.diff(prep.stream_start) == prep.length)  # contiguous, non-overlapping segments
    assert prep.stream_start[-1] + prep.length <= b  # validation bars never trained on
    train_rows = series[0].features[:b]
    np.testing.assert_allclose(prep.standardizer.mean, train_rows.mean(axis=0))  # fitted on the training part only
    x, y = prep.batch(0, 8, MODEL)
    assert x.shape == (8, 3, MODEL.inputs) and y.shape == (8, 3, MODEL.outputs)
    np.testing.assert_array_equal(x, y[:, :, : MODEL.inputs])
    np.testing.assert_allclose(y[0, 1, : MODEL.features], prep.z[0][prep.stream_start[1]])


def test_training_writes_model_log_baseline_and_error_distribution(series, tmp_path):
    out = tmp_path / "m.npz"
    result = _train(series, out)
    assert result.finished and result.epochs == 2
    model = load_model(out, feature_set="scale-free-v1")
    assert model.metadata["training"]["finished"] and model.adam_step > 0
    assert "baseline.weights" in model.extras and len(model.extras[QUANTILES_KEY]) == 1001
    records = [json.loads(line) for line in log_path(out).read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert {"train_loss", "val_nmse", "bars_per_s", "seconds", "lr"} <= set(records[0])
    assert records[1]["train_mse"] < records[0]["train_mse"]


def test_resume_after_each_epoch_matches_an_uninterrupted_run(series, tmp_path):
    straight = tmp_path / "straight.npz"
    _train(series, straight)
    split = tmp_path / "split.npz"
    _train(series, split, train=replace(TRAIN, epochs=1))
    with pytest.raises(ModelFileError, match="has finished training"):
        _train(series, split, resume=True)  # a finished run is not continued
    # The same config (epochs=2) from the start, stopped by Ctrl-C mid-epoch, then resumed.
    mid = tmp_path / "mid.npz"
    stopped = _train(series, mid, stop_after=7)
    assert not stopped.finished and load_model(mid).metadata["training"]["chunk"] > 0
    with pytest.raises(ModelFileError, match=r"train.seed = 5 \(checkpoint\) vs 6 \(now\)"):
        _train(series, mid, train=replace(TRAIN, seed=6), resume=True)  # the refusal names the key
    resumed = _train(series, mid, resume=True)
    assert resumed.finished
    a, b = load_model(straight), load_model(mid)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
        assert np.array_equal(a.adam_m[name], b.adam_m[name]), name
    assert _numbers(a) == _numbers(b)  # every epoch's record, not only the last one's


def _numbers(model) -> list[dict]:
    """The per-epoch records without the wall-clock fields."""
    return [{k: v for k, v in h.items() if k not in ("seconds", "bars_per_s")}
            for h in model.metadata["training"]["history"]]


class _Killed(Exception):
    pass


def test_resume_from_an_end_of_epoch_checkpoint(series, tmp_path):
    """Killed (no Ctrl-C: nothing written) right after epoch 1's own checkpoint: the file on disk is that
    end-of-epoch checkpoint, and resuming it gives the uninterrupted run's numbers, epoch records included."""
    straight = tmp_path / "straight.npz"
    _train(series, straight)
    killed = tmp_path / "killed.npz"
    chunks = len(prepare(series, MODEL, TRAIN).chunks(TRAIN.tbptt))

    def kill(trainer):
        if trainer.engine.step == chunks + 1:  # the first step of epoch 2: epoch 1's checkpoint is on disk
            raise _Killed

    with pytest.raises(_Killed):  # checkpoint_every = 0: a checkpoint at every epoch's end
        Trainer(series, MODEL, replace(TRAIN, checkpoint_every=0.0), killed, device="numpy", progress=False,
                echo=lambda s: None, on_chunk=kill).run()
    checkpoint = load_model(killed).metadata["training"]
    assert (checkpoint["epoch"], checkpoint["chunk"], len(checkpoint["history"])) == (1, 0, 1)
    _train(series, killed, resume=True)
    a, b = load_model(straight), load_model(killed)
    assert _numbers(a) == _numbers(b)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name


def test_resume_refuses_other_data(series, tmp_path):
    out = tmp_path / "m.npz"
    _train(series, out, train=replace(TRAIN, epochs=1), stop_after=3)  # an interrupted run
    other = [series[0].slice(0, 1100)]
    with pytest.raises(ModelFileError, match="not on these files"):
        Trainer(other, MODEL, replace(TRAIN, epochs=1), out, device="numpy", resume=True, progress=False,
                echo=lambda s: None).run()


@pytest.mark.parametrize("kernels", ["numpy", "cpu", "gpu"])
def test_runner_gives_the_same_numbers_chunked_or_bar_by_bar(series, tmp_path, request, kernels):
    """encode steps many bars of one stream per call, the daemon one bar of many streams: the same numbers."""
    out = tmp_path / "m.npz"
    _train(series, out, train=replace(TRAIN, epochs=1, dtype="float32"))
    model = load_model(out)
    features = series[0].features[:40]

    def runner(streams=1):
        if kernels == "numpy":
            return ModelRunner(model, streams, device="numpy")
        from mt5bridge.engine.cl_engine import OpenCLEngine

        engine = OpenCLEngine(model.config, streams, np.float32, device=request.getfixturevalue("cl_device"),
                              variant=kernels)
        return ModelRunner(model, streams, engine=engine)

    whole = runner().step(features[:, None])
    many = runner(5).step(np.repeat(features[:, None], 5, axis=1))  # five streams at once, the same bars
    one = runner()
    single = [one.step(features[i: i + 1, None]) for i in range(len(features))]
    assert np.array_equal(many.latent[:, 3], whole.latent[:, 0])
    assert np.array_equal(whole.latent, np.concatenate([s.latent for s in single]))
    assert np.array_equal(whole.error, np.concatenate([s.error for s in single]), equal_nan=True)
    assert np.isnan(whole.error[: MODEL.target_bars - 1]).all() and np.isfinite(whole.error[5:]).all()


def test_runner_state_round_trip_continues_exactly(series, tmp_path):
    out = tmp_path / "m.npz"
    _train(series, out, train=replace(TRAIN, epochs=1))
    model = load_model(out)
    features = series[0].features[:30, None]
    first = ModelRunner(model, device="numpy")
    first.step(features[:20])
    saved = {k: v.copy() for k, v in first.get_state().items()}
    expected = first.step(features[20:])
    second = ModelRunner(model, device="numpy")
    second.set_state(saved)
    assert np.array_equal(second.step(features[20:]).latent, expected.latent)


def test_ridge_from_streamed_moments_is_the_direct_fit():
    """One pass of moments: the penalty with the least held-out error (computed directly here), then the ridge
    solution over all rows with it (solved directly here), intercept unpenalised."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 20))  # few rows, weak signal: a middle penalty (100) wins by a clear margin
    y = np.hstack([x @ rng.normal(size=(20, 2)) * 0.2 + 0.5, rng.normal(size=(600, 1))]) + rng.normal(size=(600, 3))
    fit, held = slice(0, 480), slice(480, 600)

    def blocks(part):
        return lambda: ((x[part][lo: lo + 100], y[part][lo: lo + 100]) for lo in range(0, len(x[part]), 100))

    got = fit_ridge(blocks(fit), blocks(held), 20, 3)
    xa = np.hstack([x, np.ones((600, 1))])

    def solve(rows, penalty):
        reg = penalty * np.eye(21)
        reg[-1, -1] = 0.0
        return np.linalg.solve(xa[rows].T @ xa[rows] + reg, xa[rows].T @ y[rows])

    held_errors = [np.sum((xa[held] @ solve(fit, lam * 480 / 1000) - y[held]) ** 2) for lam in LAMBDAS]
    assert int(np.argmin(held_errors)) == 5
    assert got.penalty == pytest.approx(LAMBDAS[5] * 600 / 1000)
    np.testing.assert_allclose(got.weights, solve(slice(0, 600), got.penalty), rtol=1e-9, atol=1e-12)


def test_baseline_blocks_are_the_encoder_window_and_the_target():
    z = np.random.default_rng(0).normal(size=(50, 3))
    blocks = list(blocks_of([z], [(4, 50)], window=2, target_bars=5)())
    x, y = (np.concatenate(parts) for parts in zip(*blocks))
    index = np.arange(4, 50)
    np.testing.assert_array_equal(x, lag_windows(z, index, 2))
    np.testing.assert_array_equal(y, lag_windows(z, index, 5))


def test_metrics_definitions():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(500, 3 * 2))
    assert np.allclose(per_lag_r2(y, y, 3), 1.0)
    assert np.allclose(per_lag_r2(y, np.broadcast_to(y.mean(axis=0), y.shape), 3), 0.0)
    model = np.array([0.9, 0.9, 0.5, 0.45, 0.3, 0.1])
    base = np.array([1.0, 1.0, 0.3, 0.4, 0.1, 0.0])
    assert memory(model, base, window=2) == (5, 3)  # lags 2, 4 and 5 beat the baseline by >= 0.10
    assert memory(base, model, window=2) == (1, 0)  # none: W-1


def test_cli_train_evaluate_encode_round_trip(tmp_path):
    from typer.testing import CliRunner

    from mt5bridge.cli import app

    config = tmp_path / "tiny.toml"
    config.write_text('preset = "tiny"\n[model]\nlstm = [12, 8]\nlatent = 4\ntarget_bars = 12\n'
                      '[train]\nepochs = 1\nstreams = 2\ntbptt = 16\n')
    model, data = tmp_path / "m.npz", str(sample_path())
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", data, "--out", str(model), "--config", str(config),
                                 "--device", "numpy", "--to", "2025-01-01", "--no-progress"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", "--model", str(model), "--data", data, "--from", "2025-01-01",
                                 "--json", str(tmp_path / "e.json"), "--plot", str(tmp_path / "e.png"),
                                 "--device", "numpy"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "e.json").read_text())
    for key in ("bars", "nmse", "rmse_std", "per_lag_r2", "per_lag_r2_price", "baseline_nmse", "baseline_per_lag_r2",
                "baseline_per_lag_r2_price", "state_reset_per_lag_r2_price", "memory_horizon", "memory_lags",
                "latent_active_units"):
        assert key in metrics, key
    assert len(metrics["per_lag_r2"]) == 12 and metrics["first_bar_time"] >= 1_735_689_600
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"
    out = tmp_path / "latents.parquet"
    result = runner.invoke(app, ["encode", "--model", str(model), "--data", data, "--out", str(out),
                                 "--with-reconstruction", "--device", "numpy", "--no-progress"])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert list(frame.columns[:3]) == ["time", "datetime", "z0"] and frame["time"].is_monotonic_increasing
    assert len(frame["reconstruction"].iloc[-1]) == 12 * 12
    # Same latents as stepping the runner directly: encode is the daemon's code path.
    m = load_model(model)
    direct = ModelRunner(m, device="numpy").step(load_series(data, m.feature_set).features[:, None])
    np.testing.assert_array_equal(frame[[f"z{k}" for k in range(4)]].to_numpy(),
                                  direct.latent[:, 0].astype(np.float32))
    assert np.array_equal(frame["recon_error"].to_numpy(), direct.error[:, 0], equal_nan=True)
