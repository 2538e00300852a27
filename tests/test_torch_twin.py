"""Our training and the PyTorch twin (benchmarks/torch_twin.py) reach the same loss at equal settings."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from mt5bridge.config import get_preset  # noqa: E402
from mt5bridge.data import sample_path  # noqa: E402
from mt5bridge.engine.layout import init_params  # noqa: E402
from mt5bridge.training.protocol import prepare  # noqa: E402
from mt5bridge.training.series import load_series  # noqa: E402
from mt5bridge.training.trainer import Trainer  # noqa: E402


@pytest.mark.parametrize("device", ["numpy", "opencl"])
def test_loss_curves_agree_with_the_pytorch_twin(tmp_path, device, request):
    import torch_twin

    chosen = get_preset("tiny")
    tcfg = replace(chosen.train, epochs=2)
    series = load_series(sample_path(), tcfg.feature_set).slice(0, 1500)
    prep = prepare([series], chosen.model, tcfg)
    params = {k: v.astype(np.float32) for k, v in init_params(chosen.model).items()}
    twin = torch_twin.train_epochs(chosen.model, tcfg, prep, params, 2, "cpu", log=lambda s: None)
    spec = "numpy" if device == "numpy" else request.getfixturevalue("cl_device").index
    ours = Trainer([series], chosen.model, tcfg, tmp_path / "m.npz", device=spec, progress=False,
                   echo=lambda s: None).run().history
    for a, b in zip(ours, twin):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
