"""Streams (symbol x timeframe x model) and the model groups that step them together.

Each stream turns closed bars into features with the streaming feature path and feeds them, after the feature
set's warm-up, to the `ModelRunner` of its model file, which holds every stream of that model as one batch: streams
that close at the same moment are stepped in one device call. The numbers are those of `mt5bridge encode` over the
same bars (same feature arithmetic, same runner).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.timeframes import Timeframe, timeframe
from ..features import get_feature_set
from ..inference import ModelRunner, StepOutput
from ..modelfile import Model, file_sha256, load_model
from ..wire import latent_topic
from .config import StreamConfig

log = logging.getLogger("mt5bridge.daemon")


@dataclass
class Stream:
    config: StreamConfig
    tf: Timeframe
    group: "ModelGroup"
    slot: int  # index of this stream in its group's runner
    source: object = None  # BarSource
    features: object = None  # FeatureStream
    last_bar_time: int | None = None
    stream_sequence: int = 0
    bars_seen: int = 0  # bars given to the feature stream
    bars_fed: int = 0  # bars given to the model
    recent: list[tuple[int, bytes]] = field(default_factory=list)
    connected: bool = False
    error: bool = False
    catching_up: bool = False
    last_poll_ms: int = 0
    next_poll: float = 0.0  # clock time of the next poll
    backoff: float = 0.0  # current retry delay after errors (0 = healthy)
    drift: float = float("nan")  # the last bar's input-drift score (mt5bridge/drift.py)
    drifting: bool = False  # over the threshold: FLAG_DRIFT on latents, STATUS_DRIFT in heartbeats
    drift_warned: bool = False  # the warning was logged (once, until the score falls below half the threshold)

    @property
    def key(self) -> str:
        return f"{self.config.symbol}/{self.tf.name}"

    @property
    def topic(self) -> str:
        return latent_topic(self.config.symbol, self.tf.name)

    @property
    def skip(self) -> int:
        """Bars the feature stream needs before the model is fed (what encode drops at a file's start)."""
        fs = self.group.feature_set
        return max(fs.warmup, fs.first_valid)

    def warm(self, warmup_bars: int) -> bool:
        return self.bars_fed >= warmup_bars

    def reset_features(self) -> None:
        self.features = self.group.feature_set.stream()
        self.bars_seen = self.bars_fed = 0


class ModelGroup:
    """Every stream of one model file, stepped as the B streams of one runner."""

    def __init__(self, path: Path, device: str | None):
        self.path = path
        self.model: Model = load_model(path)
        self.sha256 = file_sha256(path)
        self.feature_set = get_feature_set(self.model.feature_set)
        self.device = device
        self.streams: list[Stream] = []
        self.runner: ModelRunner | None = None

    def add(self, config: StreamConfig) -> Stream:
        stream = Stream(config, timeframe(config.timeframe), self, len(self.streams))
        stream.reset_features()
        self.streams.append(stream)
        return stream

    def build(self) -> None:
        self.runner = ModelRunner(self.model, streams=len(self.streams), device=self.device)

    # --- per-stream runner state, for restoring ----------------------------------------------------------------
    def set_stream_state(self, slot: int, state: dict[str, np.ndarray]) -> None:
        full = self.runner.get_state()
        for k, v in state.items():
            full[k][slot] = v[0]
        self.runner.set_state(full)

    def step(self, rows: dict[int, np.ndarray]) -> dict[int, StepOutput]:
        """Step the streams in `rows` (slot -> raw features (F,)) by one bar in one device call.

        Streams without a bar keep their state: the call runs all B slots and puts theirs back afterwards.
        """
        b = len(self.streams)
        features = np.zeros((1, b, self.model.config.features))
        idle = [s for s in range(b) if s not in rows]
        for slot, row in rows.items():
            features[0, slot] = row
        saved = self.runner.get_state() if idle else None
        if idle:  # any finite row will do for idle slots; their results are discarded
            features[0, idle] = features[0, next(iter(rows))]
        out = self.runner.step(features)
        if saved is not None:
            state = self.runner.get_state()
            for key in state:
                state[key][idle] = saved[key][idle]
            self.runner.set_state(state)
        return {slot: _select(out, slot) for slot in rows}


def _select(out: StepOutput, slot: int) -> StepOutput:
    return StepOutput(out.latent[:, slot], out.error[:, slot], out.percentile[:, slot],
                      out.reconstruction[:, slot], out.target[:, slot], out.drift[:, slot])
