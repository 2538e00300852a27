"""Engine behaviour: training steps match the reference, state carries across chunks, streams stay independent,
and a tiny network overfits a short sequence."""

from __future__ import annotations

import numpy as np
import pytest

from mt5bridge.config import ModelConfig, OptimizerConfig
from mt5bridge.engine.reference import ReferenceEngine
from tests.conftest import assert_close

SMALL = ModelConfig(window=2, features=3, lstm=(19, 6), latent=3, decoder=(11,), target_bars=3, beta=0.5, seed=5,
                    optimizer=OptimizerConfig(lr=3e-3, weight_decay=0.01, clip_norm=0.5))


@pytest.fixture(params=["numpy", "opencl"])
def engine_factory(request):
    if request.param == "numpy":
        return lambda config, streams, dtype=np.float64: ReferenceEngine(config, streams, dtype)
    device = request.getfixturevalue("cl_device")
    from mt5bridge.engine.cl_engine import OpenCLEngine

    return lambda config, streams, dtype=np.float64: OpenCLEngine(config, streams, dtype, device=device)


def _chunk(rng, config, steps, streams):
    return (rng.normal(size=(steps, streams, config.inputs)), rng.normal(size=(steps, streams, config.outputs)),
            rng.normal(size=(steps, streams, config.latent)))


def test_training_steps_match_reference_float64(cl_device, variant, rng):
    """Five AdamW steps with clipping and weight decay, state carried between chunks: same weights as the twin."""
    from mt5bridge.engine.cl_engine import OpenCLEngine

    if not cl_device.float64:
        pytest.skip("no float64")
    ours = OpenCLEngine(SMALL, streams=3, dtype=np.float64, device=cl_device, variant=variant)
    twin = ReferenceEngine(SMALL, streams=3)
    for _ in range(5):
        x, y, eps = _chunk(rng, SMALL, 4, 3)
        assert ours.train_step(x, y, eps).total == pytest.approx(twin.train_step(x, y, eps).total, rel=1e-12)
    for name, value in twin.get_params().items():
        assert_close(ours.get_params()[name], value, rtol=1e-10, atol=1e-13, what=name)
    m1, v1, s1 = ours.get_optimizer_state()
    m2, v2, s2 = twin.get_optimizer_state()
    assert s1 == s2 == 5
    for name in m2:
        assert_close(m1[name], m2[name], rtol=1e-10, atol=1e-14, what=f"m {name}")
        assert_close(v1[name], v2[name], rtol=1e-10, atol=1e-16, what=f"v {name}")


def test_forward_in_chunks_equals_one_pass(engine_factory, rng):
    engine = engine_factory(SMALL, 2)
    x = rng.normal(size=(10, 2, SMALL.inputs))
    whole_z, whole_y = engine.forward(x)
    engine.reset_state()
    parts = [engine.forward(x[a:b]) for a, b in ((0, 3), (3, 4), (4, 10))]
    assert_close(np.concatenate([p[0] for p in parts]), whole_z, rtol=1e-12, atol=1e-14, what="latent")
    assert_close(np.concatenate([p[1] for p in parts]), whole_y, rtol=1e-12, atol=1e-14, what="reconstruction")


def test_training_advances_the_same_state_as_inference(engine_factory, rng):
    engine = engine_factory(SMALL, 2)
    x, y, eps = _chunk(rng, SMALL, 5, 2)
    engine.loss_and_grad(x, y, eps)
    after_training = engine.get_state()
    engine.reset_state()
    engine.forward(x)
    for (h1, c1), (h2, c2) in zip(after_training, engine.get_state()):
        assert_close(h1, h2, rtol=1e-12, atol=1e-14, what="h")
        assert_close(c1, c2, rtol=1e-12, atol=1e-14, what="c")


def test_streams_are_independent_and_reset_individually(engine_factory, rng):
    engine = engine_factory(SMALL, 3)
    x = rng.normal(size=(4, 3, SMALL.inputs))
    z, _ = engine.forward(x)
    engine.reset_state()
    x2 = x.copy()
    x2[:, 1] = rng.normal(size=(4, SMALL.inputs))  # change stream 1 only
    z2, _ = engine.forward(x2)
    assert_close(z2[:, [0, 2]], z[:, [0, 2]], rtol=1e-12, atol=1e-14, what="other streams")
    assert not np.allclose(z2[:, 1], z[:, 1])
    engine.reset_state([1])
    state = engine.get_state()
    assert all(np.all(h[1] == 0) and np.all(c[1] == 0) and np.any(h[0] != 0) for h, c in state)


def test_state_round_trip_and_stream_count_change(engine_factory, rng):
    engine = engine_factory(SMALL, 2)
    engine.forward(rng.normal(size=(3, 2, SMALL.inputs)))
    saved = engine.get_state()
    probe = rng.normal(size=(2, 2, SMALL.inputs))
    expected = engine.forward(probe)[0]
    engine.set_state(engine.zero_state(5))  # five streams now
    assert engine.streams == 5
    engine.forward(rng.normal(size=(2, 5, SMALL.inputs)))
    engine.set_state(saved)
    assert np.array_equal(engine.forward(probe)[0], expected)


def test_bad_shapes_are_named(engine_factory):
    engine = engine_factory(SMALL, 2)
    with pytest.raises(ValueError, match=r"x has shape \(3, 4, 6\), expected \(T, 2, 6\)"):
        engine.forward(np.zeros((3, 4, 6)))
    with pytest.raises(ValueError, match="eps"):
        engine.train_step(np.zeros((3, 2, 6)), np.zeros((3, 2, 9)))
    with pytest.raises(ValueError, match="lstm0.w_ih has shape"):
        engine.set_params({**engine.get_params(), "lstm0.w_ih": np.zeros((2, 2))})


@pytest.mark.parametrize("device", ["numpy", "opencl"])
def test_tiny_network_overfits_a_short_sequence(device, request, rng):
    config = ModelConfig(window=2, features=3, lstm=(24, 12), latent=6, decoder=(24,), target_bars=3,
                         variational=False, optimizer=OptimizerConfig(lr=0.01))
    if device == "numpy":
        engine = ReferenceEngine(config, streams=2, dtype=np.float32)
    else:
        from mt5bridge.engine.cl_engine import OpenCLEngine

        engine = OpenCLEngine(config, streams=2, dtype=np.float32, device=request.getfixturevalue("cl_device"))
    x, y = rng.normal(size=(8, 2, config.inputs)), rng.normal(size=(8, 2, config.outputs))
    losses = []
    for _ in range(300):
        engine.reset_state()  # the same short sequence from an empty memory each time
        losses.append(engine.train_step(x, y).total)
    assert losses[-1] < losses[0] / 100, f"loss {losses[0]:.4g} -> {losses[-1]:.4g}"
