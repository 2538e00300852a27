"""Finite-difference gradient checks of the whole network in float64, on the OpenCL kernels and on the reference.

The loss covers >= 5 BPTT steps from a non-zero carried-in state, so a missing recurrent gradient (no
backpropagation through time), a wrong gate derivative or a wrong KL term all show up as mismatches.
"""

from __future__ import annotations

import numpy as np
import pytest

from mt5bridge.config import ModelConfig
from mt5bridge.engine.reference import ReferenceEngine

CONFIGS = {
    "vae-tanh-out": ModelConfig(window=2, features=3, lstm=(7, 5, 6), latent=3, decoder=(5, 4), target_bars=3,
                                beta=0.7, output_activation="tanh", seed=3),
    "deterministic": ModelConfig(window=3, features=2, lstm=(9, 4), latent=2, decoder=(6,), target_bars=2,
                                 variational=False, seed=4),
}


def _case(engine, rng, steps=6):
    cfg = engine.config
    streams = engine.streams
    x = rng.normal(size=(steps, streams, cfg.inputs))
    y = rng.normal(size=(steps, streams, cfg.outputs))
    eps = rng.normal(size=(steps, streams, cfg.latent)) if cfg.variational else None
    state = [(rng.normal(scale=0.5, size=h.shape), rng.normal(scale=0.5, size=c.shape))
             for h, c in engine.zero_state()]
    return x, y, eps, state


def _check_gradients(engine, rng, probes_per_tensor=6, h=1e-5):
    x, y, eps, state = _case(engine, rng)
    params = engine.get_params()
    # Move weights off their initial scale so every gate and activation works in a non-trivial regime.
    params = {k: v + rng.normal(scale=0.2, size=v.shape) for k, v in params.items()}
    engine.set_params(params)
    engine.set_state(state)
    _, grads = engine.loss_and_grad(x, y, eps)
    worst = 0.0
    for name, value in params.items():
        flat_indices = rng.choice(value.size, size=min(probes_per_tensor, value.size), replace=False)
        for flat_index in flat_indices:
            index = np.unravel_index(flat_index, value.shape)
            losses = []
            for delta in (h, -h):
                probe = {k: v.copy() for k, v in params.items()}
                probe[name][index] += delta
                engine.set_params(probe)
                engine.set_state(state)
                losses.append(engine.loss_and_grad(x, y, eps)[0].total)
            numeric = (losses[0] - losses[1]) / (2 * h)
            analytic = grads[name][index]
            error = abs(numeric - analytic) / (1e-7 + 1e-5 * abs(numeric))
            worst = max(worst, error)
            assert error <= 1.0, f"{name}{index}: finite difference {numeric:.10g}, analytic {analytic:.10g}"
    return worst


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_opencl_gradients_match_finite_differences_float64(cl_device, variant, rng, name):
    from mt5bridge.engine.cl_engine import OpenCLEngine

    if not cl_device.float64:
        pytest.skip(f"{cl_device.name} has no float64")
    engine = OpenCLEngine(CONFIGS[name], streams=3, dtype=np.float64, device=cl_device, variant=variant)
    _check_gradients(engine, rng)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_reference_gradients_match_finite_differences(rng, name):
    _check_gradients(ReferenceEngine(CONFIGS[name], streams=3), rng)


def test_gradient_flows_back_through_time(rng):
    """An error on the last step only must move weights through earlier steps' inputs: dx at t=0 is non-zero."""
    from mt5bridge.engine import reference as ref

    x = rng.normal(size=(6, 2, 4))
    h0, c0 = np.zeros((2, 5)), np.zeros((2, 5))
    w_ih, w_hh, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 5)), rng.normal(size=20)
    cache = ref.lstm_forward(x, h0, c0, w_ih, w_hh, b)
    dh_out = np.zeros((6, 2, 5))
    dh_out[-1] = 1.0
    dx = ref.lstm_backward(dh_out, cache, w_ih, w_hh)[0]
    assert np.abs(dx[0]).max() > 1e-6
