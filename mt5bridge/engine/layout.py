"""Parameter names, shapes and their places in one flat vector; weight initialisation.

Every engine keeps all trainable parameters in one flat vector (and the gradients and Adam moments in vectors of the
same layout), so the optimizer, the gradient norm and the model file each handle one array. The OpenCL engine pads
each tensor's offset to the device's sub-buffer alignment; the padding is invisible outside the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig


@dataclass(frozen=True)
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    offset: int  # in elements, into the flat vector

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


def param_shapes(config: ModelConfig) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes in network order. LSTM gates are stacked in the order i, f, g, o (PyTorch's)."""
    shapes: list[tuple[str, tuple[int, ...]]] = []
    width = config.inputs
    for layer, hidden in enumerate(config.lstm):
        shapes += [
            (f"lstm{layer}.w_ih", (4 * hidden, width)),  # (4H, I)
            (f"lstm{layer}.w_hh", (4 * hidden, hidden)),  # (4H, H)
            (f"lstm{layer}.b", (4 * hidden,)),  # (4H)
        ]
        width = hidden
    width = config.latent
    for layer, size in enumerate(config.decoder):
        shapes += [(f"dec{layer}.w", (size, width)), (f"dec{layer}.b", (size,))]
        width = size
    shapes += [("out.w", (config.outputs, width)), ("out.b", (config.outputs,))]
    return shapes


class ParamLayout:
    """Offsets of each named tensor in a flat vector whose tensors start at multiples of `align` elements."""

    def __init__(self, config: ModelConfig, align: int = 1):
        self.specs: list[ParamSpec] = []
        offset = 0
        for name, shape in param_shapes(config):
            offset = -(-offset // align) * align
            self.specs.append(ParamSpec(name, shape, offset))
            offset += int(np.prod(shape))
        self.total = offset
        self.by_name = {spec.name: spec for spec in self.specs}

    @property
    def count(self) -> int:
        """Number of trainable parameters (without padding)."""
        return sum(spec.size for spec in self.specs)

    def flatten(self, tensors: dict[str, np.ndarray], dtype: np.dtype) -> np.ndarray:
        flat = np.zeros(self.total, dtype)
        for spec in self.specs:
            flat[spec.offset: spec.offset + spec.size] = np.asarray(tensors[spec.name]).reshape(-1)
        return flat

    def unflatten(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        return {spec.name: flat[spec.offset: spec.offset + spec.size].reshape(spec.shape) for spec in self.specs}


def init_params(config: ModelConfig) -> dict[str, np.ndarray]:
    """Float64 initial weights from `config.seed`.

    LSTM: U(-1/sqrt(H), 1/sqrt(H)) like PyTorch, forget-gate bias +1 so early training keeps memory.
    Dense: Glorot-uniform weights, zero bias.
    """
    rng = np.random.default_rng(config.seed)
    params: dict[str, np.ndarray] = {}
    for name, shape in param_shapes(config):
        layer, kind = name.split(".")
        if layer.startswith("lstm"):
            hidden = shape[0] // 4
            bound = 1.0 / np.sqrt(hidden)
            params[name] = rng.uniform(-bound, bound, shape)
            if kind == "b":
                params[name][hidden: 2 * hidden] += 1.0
        elif kind == "w":
            bound = np.sqrt(6.0 / (shape[0] + shape[1]))
            params[name] = rng.uniform(-bound, bound, shape)
        else:
            params[name] = np.zeros(shape)
    return params
