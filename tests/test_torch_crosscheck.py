"""Cross-check against PyTorch autograd: nn.LSTM (gate order i, f, g, o, like ours) + Linear decoder.

PyTorch keeps two LSTM biases (b_ih + b_hh); ours is their sum, so b_hh is set to zero here. Runs whenever torch is
importable (CI installs the CPU build).
"""

from __future__ import annotations

import numpy as np
import pytest

from mt5bridge.config import ModelConfig
from tests.conftest import assert_close

torch = pytest.importorskip("torch")

CONFIG = ModelConfig(window=3, features=4, lstm=(13, 11, 6), latent=3, decoder=(7, 5), target_bars=2, beta=0.4,
                     output_activation="tanh", seed=7)


def torch_loss_and_grads(config, params, state, x, y, eps):
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(x)
    for layer, hidden in enumerate(config.lstm):
        lstm = torch.nn.LSTM(h.shape[-1], hidden).double()
        weights = {"weight_ih_l0": t[f"lstm{layer}.w_ih"], "weight_hh_l0": t[f"lstm{layer}.w_hh"],
                   "bias_ih_l0": t[f"lstm{layer}.b"], "bias_hh_l0": torch.zeros(4 * hidden, dtype=torch.float64)}
        h0, c0 = (torch.tensor(s)[None] for s in state[layer])
        h, _ = torch.func.functional_call(lstm, weights, (h, (h0, c0)))
    rows = x.shape[0] * x.shape[1]
    p = h.reshape(rows, -1)
    mean, logvar = p[:, :config.latent], p[:, config.latent:]
    z = mean + torch.exp(0.5 * logvar) * torch.tensor(eps).reshape(rows, -1)
    for layer in range(len(config.decoder)):
        z = torch.tanh(z @ t[f"dec{layer}.w"].T + t[f"dec{layer}.b"])
    y_hat = torch.tanh(z @ t["out.w"].T + t["out.b"])
    kl = (-0.5 * (1 + logvar - mean ** 2 - torch.exp(logvar))).sum()
    loss = (((y_hat - torch.tensor(y).reshape(rows, -1)) ** 2).sum() + config.beta * kl) / (rows * config.outputs)
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


def _inputs(rng, streams=3, steps=5):
    x = rng.normal(size=(steps, streams, CONFIG.inputs))
    y = rng.normal(size=(steps, streams, CONFIG.outputs))
    eps = rng.normal(size=(steps, streams, CONFIG.latent))
    state = [(rng.normal(scale=0.5, size=(streams, h)), rng.normal(scale=0.5, size=(streams, h)))
             for h in CONFIG.lstm]
    return x, y, eps, state


def _compare(engine, rng, rtol, atol):
    x, y, eps, state = _inputs(rng, streams=engine.streams)
    params = {k: v + rng.normal(scale=0.1, size=v.shape) for k, v in engine.get_params().items()}
    engine.set_params(params)
    engine.set_state(state)
    loss, grads = engine.loss_and_grad(x, y, eps)
    exact = {k: np.asarray(v, np.float64) for k, v in engine.get_params().items()}
    torch_loss, torch_grads = torch_loss_and_grads(CONFIG, exact, state, x, y, eps)
    assert loss.total == pytest.approx(torch_loss, rel=rtol)
    for name in grads:
        assert_close(grads[name], torch_grads[name], rtol=rtol, atol=atol, what=name)


def test_reference_matches_torch(rng):
    from mt5bridge.engine.reference import ReferenceEngine

    _compare(ReferenceEngine(CONFIG, streams=3), rng, rtol=1e-10, atol=1e-12)


def test_opencl_float64_matches_torch(cl_device, variant, rng):
    from mt5bridge.engine.cl_engine import OpenCLEngine

    if not cl_device.float64:
        pytest.skip("no float64")
    engine = OpenCLEngine(CONFIG, streams=3, dtype=np.float64, device=cl_device, variant=variant)
    _compare(engine, rng, rtol=1e-9, atol=1e-12)


def test_opencl_float32_matches_torch(cl_device, variant, rng):
    from mt5bridge.engine.cl_engine import OpenCLEngine

    engine = OpenCLEngine(CONFIG, streams=3, dtype=np.float32, device=cl_device, variant=variant)
    _compare(engine, rng, rtol=2e-4, atol=2e-6)
