"""Model configs: the article preset equals the seed; bad keys and values are named."""

from __future__ import annotations

import pytest

from mt5bridge.config import PRESETS, ModelConfig, preset
from mt5bridge.engine.layout import ParamLayout, param_shapes
from mt5bridge.errors import ConfigError


def test_article_preset_is_the_seed_network():
    cfg = preset("article")
    assert (cfg.window, cfg.features, cfg.inputs) == (10, 12, 120)
    assert cfg.lstm == (500, 250, 50) and cfg.latent == 25
    assert cfg.decoder == (40, 80, 160) and cfg.decoder_activation == "tanh"
    assert (cfg.target_bars, cfg.outputs) == (40, 480)
    assert cfg.variational and cfg.output_activation == "identity"
    shapes = dict(param_shapes(cfg))
    assert shapes["lstm0.w_ih"] == (2000, 120) and shapes["lstm2.w_hh"] == (200, 50) and shapes["out.w"] == (480, 160)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_plain_data(name):
    cfg = preset(name)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_and_bad_keys_are_named():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lstm_size'\]"):
        ModelConfig.from_dict({"lstm_size": [3]})
    with pytest.raises(ConfigError, match="optimizer: unknown key.*'learning_rate'"):
        ModelConfig.from_dict({"optimizer": {"learning_rate": 0.1}})
    with pytest.raises(ConfigError, match="beta: expected float, got 'high'"):
        ModelConfig.from_dict({"beta": "high"})
    with pytest.raises(ConfigError, match="2 \\* latent = 50"):
        ModelConfig.from_dict({"lstm": [500, 250, 40]})
    with pytest.raises(ConfigError, match="output_activation"):
        ModelConfig.from_dict({"output_activation": "relu"})
    with pytest.raises(ConfigError, match="optimizer.lr = -1.0 must be > 0"):
        ModelConfig.from_dict({"optimizer": {"lr": -1}})
    with pytest.raises(ConfigError, match="unknown preset 'big'"):
        preset("big")


def test_padded_layout_keeps_tensors_aligned_and_apart():
    layout = ParamLayout(preset("tiny"), align=64)
    ends = 0
    for spec in layout.specs:
        assert spec.offset % 64 == 0 and spec.offset >= ends
        ends = spec.offset + spec.size
    assert layout.total == ends and layout.count < layout.total
