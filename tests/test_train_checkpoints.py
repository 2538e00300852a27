"""When training writes its checkpoint (train.checkpoint_every, on a clock the tests move by hand), that a kill
between checkpoints resumes exactly from the last one, that Ctrl-C and the end always write; and the segmented
validation and error passes against the single walk through ModelRunner they replace."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mt5bridge.config import ModelConfig, OptimizerConfig, TrainConfig
from mt5bridge.data import sample_path
from mt5bridge.errors import ConfigError
from mt5bridge.inference import ModelRunner
from mt5bridge.modelfile import load_model
from mt5bridge.training.passes import stateful_pass
from mt5bridge.training.protocol import prepare
from mt5bridge.training.segments import SegmentedPass, Validation, bar_errors, cut_segments
from mt5bridge.training.series import load_series
from mt5bridge.training.trainer import Trainer, log_path

MODEL = ModelConfig(window=3, target_bars=6, lstm=(12, 8), latent=4, decoder=(10,), variational=True, beta=0.1,
                    seed=1, optimizer=OptimizerConfig(lr=3e-3))
TRAIN = TrainConfig(streams=3, tbptt=40, epochs=7, burn_in=20, validation=0.1, seed=5, dtype="float64")


@pytest.fixture(scope="module")
def series():
    return [load_series(sample_path(), TRAIN.feature_set).slice(0, 1200)]


class _Clock:
    """Seconds that pass only when the test says so: one per optimizer step here, so no test depends on speed."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Killed(Exception):
    """A crash: nothing is written on the way out."""


def _on_disk(path) -> tuple[int, int] | None:
    """(epoch, chunk) of the checkpoint on disk, None when there is none."""
    if not path.exists():
        return None
    meta = load_model(path).metadata["training"]
    return meta["epoch"], meta["chunk"]


def _run(series, out, train, *, resume=False, kill_at=None, stop_at=None, seen=None):
    """Train with a hand-moved clock; seen[epoch] = what is on disk when that epoch takes its first step."""
    clock = _Clock()

    def hook(trainer):
        clock.now += 1.0
        if seen is not None and trainer.chunk == 1:
            seen[trainer.epoch + 1] = _on_disk(out)
        if kill_at is not None and trainer.engine.step == kill_at:
            raise _Killed
        if stop_at is not None and trainer.engine.step == stop_at:
            trainer.request_stop()

    trainer = Trainer(series, MODEL, train, out, device="numpy", resume=resume, progress=False, echo=lambda s: None,
                      on_chunk=hook, clock=clock)
    return trainer, trainer.run()


def _chunks(series, train=TRAIN) -> int:
    return len(prepare(series, MODEL, train).chunks(train.tbptt))


def _numbers(history) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in ("seconds", "bars_per_s")} for h in history]


def _assert_same_run(a_path, b_path):
    a, b = load_model(a_path), load_model(b_path)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
        assert np.array_equal(a.adam_m[name], b.adam_m[name]), name
        assert np.array_equal(a.adam_v[name], b.adam_v[name]), name
    assert a.adam_step == b.adam_step
    assert _numbers(a.metadata["training"]["history"]) == _numbers(b.metadata["training"]["history"])
    logged = [json.loads(line) for line in log_path(b_path).read_text().splitlines()]
    assert _numbers(logged) == _numbers(b.metadata["training"]["history"])  # every epoch logged once


def test_checkpoints_are_written_when_the_last_is_old_enough(series, tmp_path):
    n = _chunks(series)
    seen = {}
    out = tmp_path / "m.npz"
    # 2.5 epochs' worth of seconds: due at the end of epoch 3 (3n since the start) and of epoch 6 (3n since 3).
    trainer, result = _run(series, out, replace(TRAIN, checkpoint_every=2.5 * n), seen=seen)
    assert seen == {1: None, 2: None, 3: None, 4: (3, 0), 5: (3, 0), 6: (3, 0), 7: (6, 0)}
    assert trainer.checkpoints == 2 and result.finished
    assert load_model(out).metadata["training"]["finished"]


def test_checkpoint_every_zero_writes_one_at_every_epochs_end(series, tmp_path):
    seen = {}
    trainer, _ = _run(series, tmp_path / "m.npz", replace(TRAIN, epochs=4, checkpoint_every=0.0), seen=seen)
    assert seen == {1: None, 2: (1, 0), 3: (2, 0), 4: (3, 0)}
    assert trainer.checkpoints == 3  # the fourth epoch's end is the finished file


def test_a_kill_between_checkpoints_resumes_from_the_last_one_exactly(series, tmp_path):
    n = _chunks(series)
    train = replace(TRAIN, checkpoint_every=2.5 * n)
    straight = tmp_path / "straight.npz"
    _run(series, straight, train)
    killed = tmp_path / "killed.npz"
    with pytest.raises(_Killed):  # in epoch 5: epochs 4 and 5 ran after the checkpoint of epoch 3
        _run(series, killed, train, kill_at=4 * n + 2)
    assert _on_disk(killed) == (3, 0)
    assert len(log_path(killed).read_text().splitlines()) == 4  # epoch 4 is logged but not in the checkpoint
    _run(series, killed, train, resume=True)
    _assert_same_run(straight, killed)


def test_ctrl_c_writes_a_checkpoint_however_long_the_interval(series, tmp_path):
    n = _chunks(series)
    train = replace(TRAIN, epochs=3, checkpoint_every=1e9)
    straight = tmp_path / "straight.npz"
    _run(series, straight, train)
    stopped = tmp_path / "stopped.npz"
    trainer, result = _run(series, stopped, train, stop_at=n + 2)
    assert not result.finished and trainer.checkpoints == 0
    assert _on_disk(stopped) == (1, 2)  # mid-epoch 2, with the streams' state
    _run(series, stopped, train, resume=True)
    _assert_same_run(straight, stopped)


@pytest.mark.parametrize("patience", [0, 2])
def test_the_finished_file_is_written_without_any_checkpoint(series, tmp_path, patience):
    """The epoch budget or early stopping (min_delta 0.9: nothing after epoch 1 is better) ends the run."""
    out = tmp_path / "m.npz"
    trainer, result = _run(series, out, replace(TRAIN, epochs=4, patience=patience, min_delta=0.9,
                                                checkpoint_every=1e9))
    meta = load_model(out).metadata["training"]
    assert result.finished and meta["finished"] and trainer.checkpoints == 0
    assert len(meta["history"]) == (3 if patience else 4) and meta["convergence"]["stopped_early"] == bool(patience)


def test_checkpoint_every_is_validated_and_may_change_on_resume(series, tmp_path):
    with pytest.raises(ConfigError, match="train.checkpoint_every"):
        TrainConfig(checkpoint_every=-1.0).validate()
    with pytest.raises(ConfigError, match="train.segment_bars"):
        TrainConfig(segment_bars=-1).validate()
    out = tmp_path / "m.npz"
    _run(series, out, replace(TRAIN, epochs=2), stop_at=3)
    _, result = _run(series, out, replace(TRAIN, epochs=2, checkpoint_every=0.0), resume=True)
    assert result.finished


# --- segmented passes ---------------------------------------------------------------------------------------------
def test_segments_score_every_bar_once_and_warm_after_the_first():
    segments = cut_segments([(100, 1100), (50, 60), (5, 5)], first_burn_in=30, burn_in=20, target_bars=40,
                            segment_bars=300)
    first_file = [s for s in segments if s.series == 0]
    assert [(s.start, s.stop) for s in first_file] == [(100, 350), (350, 600), (600, 850), (850, 1100)]
    assert first_file[0].first == 70  # the single walk's own burn-in
    assert all(s.start - s.first == 39 for s in first_file[1:])  # max(burn_in, D-1): every target complete
    assert [(s.first, s.start, s.stop) for s in segments if s.series == 1] == [(20, 50, 60)]
    assert not [s for s in segments if s.series == 2]  # an empty range has no segment
    whole = cut_segments([(100, 1100)], first_burn_in=0, burn_in=20, target_bars=40, segment_bars=0)
    assert [(s.first, s.start, s.stop) for s in whole] == [(100, 100, 1100)]


@pytest.fixture(scope="module")
def trained(series, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "m.npz"
    _run(series, out, replace(TRAIN, epochs=2))
    return load_model(out)


def test_one_segment_per_file_is_the_single_walk(series, trained):
    """segment_bars = 0: validation and the error distribution as ModelRunner's one-stream walk computes them."""
    prep = prepare(series, MODEL, TRAIN)
    runner = ModelRunner(trained, device="numpy")
    (a, b), (c, d) = prep.validation[0], prep.train[0]
    walk = stateful_pass(runner, series[0].features, a, b, TRAIN.burn_in)
    squared = float(np.sum((walk["reconstruction"] - walk["target"]) ** 2))
    variance = float(np.sum((walk["target"] - walk["target"].mean(axis=0)) ** 2))
    engine = ModelRunner(trained, device="numpy").engine
    got = Validation(prep.z, prep.validation, MODEL, np.float64, burn_in=TRAIN.burn_in, segment_bars=0)(engine)
    assert got["val_bars"] == len(walk["error"]) == b - a
    assert got["val_nmse"] == pytest.approx(squared / variance, rel=1e-12)
    assert got["val_mse"] == pytest.approx(squared / (len(walk["error"]) * MODEL.outputs), rel=1e-12)
    errors = stateful_pass(runner, series[0].features, c, d, 0, keep_outputs=False)["error"]
    np.testing.assert_allclose(bar_errors(prep.z, prep.train, MODEL, engine, burn_in=TRAIN.burn_in, segment_bars=0),
                               errors, rtol=1e-12, atol=0)


def test_each_epochs_validation_is_that_epochs_weights_walked(series, tmp_path):
    """The logged val_nmse of epoch k is ModelRunner's single walk over the validation bars with the weights at
    the end of epoch k (segment_bars = 0), not those of another epoch or the best one."""
    n = _chunks(series)
    train = replace(TRAIN, epochs=3, segment_bars=0)
    weights = {}

    def keep(trainer):
        if trainer.chunk == n:
            weights[trainer.epoch + 1] = trainer.engine.get_params()

    out = tmp_path / "m.npz"
    Trainer(series, MODEL, train, out, device="numpy", progress=False, echo=lambda s: None, on_chunk=keep).run()
    prep = prepare(series, MODEL, train)
    a, b = prep.validation[0]
    history = load_model(out).metadata["training"]["history"]
    for record in history:
        model = replace(load_model(out), params=weights[record["epoch"]])
        walk = stateful_pass(ModelRunner(model, device="numpy"), series[0].features, a, b, train.burn_in)
        squared = float(np.sum((walk["reconstruction"] - walk["target"]) ** 2))
        variance = float(np.sum((walk["target"] - walk["target"].mean(axis=0)) ** 2))
        assert record["val_nmse"] == pytest.approx(squared / variance, rel=1e-12), record["epoch"]
    assert len({r["val_nmse"] for r in history}) == 3


def test_segments_hardly_change_the_validation(series, trained):
    prep = prepare(series, MODEL, TRAIN)
    engine = ModelRunner(trained, device="numpy").engine
    whole = Validation(prep.z, prep.validation, MODEL, np.float64, burn_in=TRAIN.burn_in, segment_bars=0)
    cut = Validation(prep.z, prep.validation, MODEL, np.float64, burn_in=TRAIN.burn_in, segment_bars=30)
    assert cut.streams == 4 and cut.bars == whole.bars  # 119 bars in 4 segments, each scored once
    assert cut.variance == pytest.approx(whole.variance, rel=1e-12)
    assert cut(engine)["val_nmse"] == pytest.approx(whole(engine)["val_nmse"], rel=0.02)


@pytest.mark.parametrize("kernels", ["cpu", "gpu"])
def test_each_segment_is_a_runner_walk_from_its_first_bar(series, trained, cl_device, kernels):
    """On OpenCL too: S segments side by side give each stream, bit for bit, the reconstruction of its own
    one-stream ModelRunner walk from the segment's first bar (an empty past: zeros before it)."""
    from mt5bridge.engine.cl_engine import OpenCLEngine

    model = replace(trained, params={k: v.astype(np.float32) for k, v in trained.params.items()})
    prep = prepare(series, MODEL, TRAIN)
    segments = cut_segments(prep.validation, first_burn_in=20, burn_in=20, target_bars=MODEL.target_bars,
                            segment_bars=40)
    assert len(segments) == 3

    def engine():
        built = OpenCLEngine(MODEL, 1, np.float32, device=cl_device, variant=kernels)
        built.set_params(model.params)
        return built

    side_by_side = SegmentedPass(prep.z, segments, MODEL, np.float32)
    side_by_side.chunk_steps = 25  # several forward calls: the state carries from one to the next
    together = engine()
    together.set_state(together.zero_state(len(segments)))
    chunks = list(side_by_side.chunks())
    reconstruction = np.concatenate([together.forward(c.targets[:, :, : MODEL.inputs])[1] for c in chunks])
    errors = np.concatenate([sums for _, sums in side_by_side.run(engine(), chunks)])  # (T, S)
    scored = np.concatenate([c.scored for c in chunks])  # (T, S)
    for k, seg in enumerate(segments):
        steps = seg.stop - seg.first
        out = ModelRunner(model, engine=engine()).step(series[0].features[seg.first: seg.stop, None])
        np.testing.assert_array_equal(reconstruction[:steps, k], out.reconstruction[:, 0])
        walked = (seg.first + np.arange(steps) >= seg.start) & np.isfinite(out.error[:, 0])
        np.testing.assert_array_equal(scored[:steps, k], walked)  # the same bars scored
        assert not scored[steps:, k].any()  # idle steps after a shorter segment's end
        np.testing.assert_allclose(errors[:steps, k][walked], out.error[walked, 0] * MODEL.outputs, rtol=1e-5)


def test_cli_checkpoint_every_reaches_the_training_config(tmp_path):
    from typer.testing import CliRunner

    from mt5bridge.cli import app

    config = tmp_path / "tiny.toml"
    config.write_text('preset = "tiny"\n[train]\nepochs = 1\ncheckpoint_every = 5.0\n')
    out = tmp_path / "m.npz"
    args = ["train", "--data", str(sample_path()), "--out", str(out), "--device", "numpy", "--no-progress",
            "--to", "2024-06-01"]
    result = CliRunner().invoke(app, [*args, "--config", str(config), "--checkpoint-every", "0"])
    assert result.exit_code == 0, result.output
    assert load_model(out).metadata["training"]["train_config"]["checkpoint_every"] == 0.0  # the option wins
    result = CliRunner().invoke(app, [*args, "--force", "--checkpoint-every", "-1"])
    assert result.exit_code != 0 and "--checkpoint-every" in result.output
