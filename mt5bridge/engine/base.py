"""What every engine offers: the network for B streams, each with its own recurrent state.

`Engine` checks arguments and shapes once, here; `ReferenceEngine` (NumPy) and `OpenCLEngine` implement the
underscored methods. Host-facing parameters are dicts of named float arrays (see layout.py for names and shapes).

The loss of a chunk of N = T*B rows (docs/MODEL.md):
    total = (sum of squared errors + beta * sum over rows of KL) / (N * O)
so the first term is the per-element MSE and beta weighs a row's KL against that row's summed squared error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import ModelConfig
from .layout import init_params, param_shapes

State = list[tuple[np.ndarray, np.ndarray]]  # per LSTM layer: h (B,H), c (B,H)


@dataclass(frozen=True)
class LossParts:
    total: float  # the optimised objective
    mse: float  # mean squared error per target element
    kl: float  # mean KL per row (0 when not sampling)


def loss_parts(config: ModelConfig, sq_sum: float, kl_sum: float, rows: int, sample: bool) -> LossParts:
    denominator = rows * config.outputs
    kl_term = config.beta * kl_sum if sample else 0.0
    return LossParts(total=(sq_sum + kl_term) / denominator, mse=sq_sum / denominator,
                     kl=kl_sum / rows if sample else 0.0)


class Engine(ABC):
    device_label: str = "?"

    def __init__(self, config: ModelConfig, streams: int, dtype):
        config.validate()
        if streams < 1:
            raise ValueError(f"streams must be >= 1, got {streams}")
        self.config = config
        self.streams = int(streams)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"engines compute in float32 or float64, not {self.dtype}")
        self.step = 0  # optimizer steps taken
        self._pending: list = []  # losses of steps taken with wait=False (engine-specific records)
        self._shapes = dict(param_shapes(config))

    def initial_params(self) -> dict[str, np.ndarray]:
        return init_params(self.config)

    def zero_state(self, streams: int | None = None) -> State:
        streams = self.streams if streams is None else streams
        return [(np.zeros((streams, h), self.dtype), np.zeros((streams, h), self.dtype)) for h in self.config.lstm]

    # --- parameters ---------------------------------------------------------------------------------------------
    @abstractmethod
    def get_params(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _set_params(self, params: dict[str, np.ndarray]) -> None: ...

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        self._check_named(params, "parameters")
        self._set_params(params)

    @abstractmethod
    def get_optimizer_state(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
        """Adam's first and second moments (named like the parameters) and the step count."""

    @abstractmethod
    def _set_optimizer_state(self, m: dict, v: dict, step: int) -> None: ...

    def set_optimizer_state(self, m: dict, v: dict, step: int) -> None:
        self._check_named(m, "Adam first moments")
        self._check_named(v, "Adam second moments")
        if step < 0:
            raise ValueError(f"optimizer step must be >= 0, got {step}")
        self._set_optimizer_state(m, v, int(step))

    def _check_named(self, arrays: dict[str, np.ndarray], what: str) -> None:
        missing = sorted(set(self._shapes) - set(arrays))
        extra = sorted(set(arrays) - set(self._shapes))
        if missing or extra:
            raise ValueError(f"{what}: missing {missing}, unexpected {extra}")
        for name, shape in self._shapes.items():
            if tuple(np.shape(arrays[name])) != shape:
                raise ValueError(f"{what}: {name} has shape {np.shape(arrays[name])}, expected {shape}")

    # --- recurrent state ----------------------------------------------------------------------------------------
    @abstractmethod
    def get_state(self) -> State: ...

    @abstractmethod
    def _set_state(self, state: State) -> None: ...

    def set_state(self, state: State) -> None:
        """Replace every layer's (h, c); the number of streams follows the arrays given."""
        if len(state) != len(self.config.lstm):
            raise ValueError(f"state has {len(state)} layers, the model has {len(self.config.lstm)}")
        streams = np.shape(state[0][0])[0]
        for layer, ((h, c), hidden) in enumerate(zip(state, self.config.lstm)):
            if np.shape(h) != (streams, hidden) or np.shape(c) != (streams, hidden):
                raise ValueError(f"state of layer {layer}: h {np.shape(h)}, c {np.shape(c)}; "
                                 f"expected ({streams}, {hidden})")
        self.streams = int(streams)
        self._set_state(state)

    def reset_state(self, streams: Sequence[int] | None = None) -> None:
        """Zero the recurrent state of the given streams (all when None)."""
        if streams is None:
            self._set_state(self.zero_state())
            return
        state = self.get_state()
        for h, c in state:
            h[list(streams)] = 0
            c[list(streams)] = 0
        self._set_state(state)

    # --- compute ------------------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inference over T steps, advancing the state: x (T,B,I) -> latent mean (T,B,Z), reconstruction (T,B,O)."""
        return self._forward(self._as_input(x, "x", self.config.inputs))

    def loss_and_grad(self, x: np.ndarray, y: np.ndarray, eps: np.ndarray | None = None):
        """Loss and gradients of one chunk, advancing the state, without updating parameters."""
        return self._loss_and_grad(*self._training_inputs(x, y, eps))

    def train_step(self, x: np.ndarray, y: np.ndarray, eps: np.ndarray | None = None,
                   lr: float | None = None, wait: bool = True) -> LossParts | None:
        """Forward, backward through time over the chunk, one Adam step; the state carries into the next chunk.

        x (T,B,I) inputs, y (T,B,O) targets, eps (T,B,Z) standard normal draws (needed when the model samples);
        lr overrides the config's learning rate for this step (schedules). wait=False does not wait for the
        device to finish: the loss is kept for `collect_losses()`, so the host can queue the next step meanwhile.
        """
        lr = self.config.optimizer.lr if lr is None else float(lr)
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        return self._train_step(*self._training_inputs(x, y, eps), lr, wait)

    def collect_losses(self) -> list[LossParts]:
        """The losses of the steps taken with wait=False since the last call, oldest first."""
        pending, self._pending = self._pending, []
        return self._resolve(pending)

    def _resolve(self, pending: list) -> list[LossParts]:
        return pending

    @abstractmethod
    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def _loss_and_grad(self, x, y, eps) -> tuple[LossParts, dict[str, np.ndarray]]: ...

    @abstractmethod
    def _train_step(self, x, y, eps, lr: float, wait: bool) -> LossParts | None: ...

    def _as_input(self, array: np.ndarray, name: str, width: int, steps: int | None = None) -> np.ndarray:
        array = np.asarray(array)
        expected = (steps if steps is not None else array.shape[0] if array.ndim == 3 else -1, self.streams, width)
        if array.ndim != 3 or array.shape[1:] != expected[1:] or (steps is not None and array.shape[0] != steps):
            raise ValueError(f"{name} has shape {array.shape}, expected (T, {self.streams}, {width})")
        if array.shape[0] < 1:
            raise ValueError(f"{name} needs at least one time step")
        return np.ascontiguousarray(array, self.dtype)

    def _training_inputs(self, x, y, eps):
        x = self._as_input(x, "x", self.config.inputs)
        y = self._as_input(y, "y", self.config.outputs, x.shape[0])
        if self.config.variational:
            if eps is None:
                raise ValueError("the model samples its latent (variational=True): pass eps of shape (T,B,Z)")
            eps = self._as_input(eps, "eps", self.config.latent, x.shape[0])
        else:
            eps = None
        return x, y, eps
