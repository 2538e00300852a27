"""Model configuration: sizes, activations, loss weighting and optimizer settings, plus named presets.

Frozen, keyword-only dataclasses; `from_dict` rejects unknown keys and bad values with the key named, so a typo in a
config file never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError

ACTIVATIONS = ("identity", "tanh")
LR_SCHEDULES = ("constant", "cosine", "plateau")


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    """Adam with bias correction; decoupled weight decay (AdamW) and global gradient-norm clipping are optional."""

    lr: float = 1e-3  # learning rate
    beta1: float = 0.9  # first-moment decay
    beta2: float = 0.999  # second-moment decay
    eps: float = 1e-8  # added to sqrt(v_hat)
    weight_decay: float = 0.0  # decoupled: p -= lr * weight_decay * p each step; 0 turns it off
    clip_norm: float = 0.0  # scale all gradients so their global L2 norm is at most this; 0 turns it off

    def validate(self, prefix: str = "optimizer") -> None:
        _check(self.lr > 0, f"{prefix}.lr", self.lr, "must be > 0")
        _check(0 <= self.beta1 < 1, f"{prefix}.beta1", self.beta1, "must be in [0, 1)")
        _check(0 <= self.beta2 < 1, f"{prefix}.beta2", self.beta2, "must be in [0, 1)")
        _check(self.eps > 0, f"{prefix}.eps", self.eps, "must be > 0")
        _check(self.weight_decay >= 0, f"{prefix}.weight_decay", self.weight_decay, "must be >= 0")
        _check(self.clip_norm >= 0, f"{prefix}.clip_norm", self.clip_norm, "must be >= 0 (0 = off)")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The recurrent autoencoder: W bars x F features in, LSTM stack, latent of size Z, dense decoder to D x F out.

    At every step the encoder reads the last `window` bars (W*F inputs) and carries its recurrent state; the decoder
    rebuilds the last `target_bars` bars (D*F outputs) from the latent alone.
    """

    window: int = 10  # W: bars the encoder sees at each step
    target_bars: int = 40  # D: bars the decoder rebuilds at each step
    features: int = 12  # F: features per bar
    lstm: tuple[int, ...] = (500, 250, 50)  # hidden sizes of the stacked LSTM layers; the last one outputs 2Z
    latent: int = 25  # Z: latent size; the last LSTM's 2Z outputs are [mean, log-variance]
    decoder: tuple[int, ...] = (40, 80, 160)  # hidden sizes of the dense decoder
    decoder_activation: str = "tanh"  # activation of the decoder's hidden layers
    output_activation: str = "identity"  # identity suits standardised targets; tanh mimics the article
    variational: bool = True  # False: deterministic autoencoder (latent = mean, no sampling, no KL)
    beta: float = 0.02  # KL weight per row, against that row's summed squared error (see docs/MODEL.md)
    seed: int = 0  # initial weights
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)

    @property
    def inputs(self) -> int:
        """I = W * F, the encoder's input width."""
        return self.window * self.features

    @property
    def outputs(self) -> int:
        """O = D * F, the decoder's output width."""
        return self.target_bars * self.features

    def validate(self) -> None:
        for key in ("window", "target_bars", "features", "latent"):
            value = getattr(self, key)
            _check(isinstance(value, int) and value >= 1, key, value, "must be an integer >= 1")
        _check(len(self.lstm) >= 1, "lstm", self.lstm, "needs at least one layer")
        for i, size in enumerate(self.lstm):
            _check(isinstance(size, int) and size >= 1, f"lstm[{i}]", size, "must be an integer >= 1")
        _check(
            self.lstm[-1] == 2 * self.latent,
            "lstm",
            self.lstm,
            f"the last LSTM must output 2 * latent = {2 * self.latent} values ([mean, log-variance])",
        )
        for i, size in enumerate(self.decoder):
            _check(isinstance(size, int) and size >= 1, f"decoder[{i}]", size, "must be an integer >= 1")
        _check(self.decoder_activation in ACTIVATIONS, "decoder_activation", self.decoder_activation,
               f"must be one of {ACTIVATIONS}")
        _check(self.output_activation in ACTIVATIONS, "output_activation", self.output_activation,
               f"must be one of {ACTIVATIONS}")
        _check(self.beta >= 0, "beta", self.beta, "must be >= 0")
        self.optimizer.validate()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["lstm"] = list(self.lstm)
        out["decoder"] = list(self.decoder)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "model config") -> "ModelConfig":
        """Build and validate from plain data (JSON/TOML); unknown keys and bad types raise ConfigError."""
        data = dict(data)
        opt_data = data.pop("optimizer", {})
        if not isinstance(opt_data, Mapping):
            raise ConfigError(f"{where}: 'optimizer' must be a table, got {opt_data!r}")
        kwargs = typed_kwargs(cls, data, where, skip={"optimizer"})
        for key in ("lstm", "decoder"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        optimizer = OptimizerConfig(**typed_kwargs(OptimizerConfig, opt_data, f"{where}: optimizer"))
        config = cls(optimizer=optimizer, **kwargs)
        try:
            config.validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return config

    def replace(self, **changes: Any) -> "ModelConfig":
        config = dataclasses.replace(self, **changes)
        config.validate()
        return config


def typed_kwargs(cls: type, data: Mapping[str, Any], where: str, skip: set[str] = frozenset()) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(cls(), key)
        kwargs[key] = _coerce(value, default, f"{where}: {key}")
    return kwargs


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Accept only the default's type (ints where floats are expected are widened); name the key otherwise."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, tuple):
        if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
    raise ConfigError(f"{where}: expected {type(default).__name__}, got {value!r}")


def _check(ok: bool, key: str, value: Any, why: str) -> None:
    if not ok:
        raise ConfigError(f"{key} = {value!r} {why}")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """The backfill-training protocol (docs/TRAINING.md): B streams, truncated BPTT over K steps, time-ordered split."""

    feature_set: str = "scale-free-v1"  # id of the 12 features computed per bar (see mt5bridge.features)
    streams: int = 32  # B: the training history is cut into B contiguous segments, each with its own state
    tbptt: int = 40  # K: steps per chunk; the state is carried across chunks, gradients are not
    epochs: int = 20  # the epoch budget: training stops here at the latest
    validation: float = 0.1  # latest fraction of each file's history held out (time-ordered, never shuffled)
    warmup_bars: int = 0  # bars dropped at each file's start before features are used; 0 = the feature set's own
    burn_in: int = 200  # bars that warm the state before validation scores them
    segment_bars: int = 500  # validation and the training-error pass step each file's bars in segments of at
    #                          most this many, side by side as streams (each warmed on burn_in bars); 0: one
    #                          stream per file (the single walk: slow on a GPU, whose steps are launch-bound)
    checkpoint_every: float = 60.0  # seconds: at an epoch's end, write a checkpoint if the last one is at least this
    #                                 old (0: every epoch); Ctrl-C and the end of training always write one
    lr_schedule: str = "constant"  # "constant", "cosine" (decay to lr * lr_floor over the epoch budget) or
    #                                "plateau" (lr * lr_factor after lr_patience epochs without a better validation)
    lr_floor: float = 0.1  # cosine: the final fraction of lr; plateau: the lowest fraction of lr
    lr_factor: float = 0.5  # plateau: the cut
    lr_patience: int = 4  # plateau: epochs without a new best validation nmse before a cut
    patience: int = 0  # early stopping: stop after this many epochs without a new best validation nmse (0: off)
    min_delta: float = 0.002  # a validation nmse counts as better when below best * (1 - min_delta)
    seed: int = 0  # draws of eps and anything else random in training
    dtype: str = "float32"  # engine precision

    def validate(self) -> None:
        for key in ("streams", "tbptt", "epochs"):
            _check(getattr(self, key) >= 1, f"train.{key}", getattr(self, key), "must be >= 1")
        _check(0.0 <= self.validation < 1.0, "train.validation", self.validation, "must be in [0, 1)")
        _check(self.warmup_bars >= 0, "train.warmup_bars", self.warmup_bars, "must be >= 0")
        _check(self.burn_in >= 0, "train.burn_in", self.burn_in, "must be >= 0")
        _check(self.segment_bars >= 0, "train.segment_bars", self.segment_bars, "must be >= 0 (0 = one per file)")
        _check(self.checkpoint_every >= 0, "train.checkpoint_every", self.checkpoint_every,
               "must be >= 0 seconds (0 = every epoch)")
        _check(self.lr_schedule in LR_SCHEDULES, "train.lr_schedule", self.lr_schedule,
               f"must be one of {LR_SCHEDULES}")
        _check(0.0 <= self.lr_floor <= 1.0, "train.lr_floor", self.lr_floor, "must be in [0, 1]")
        _check(0.0 < self.lr_factor < 1.0, "train.lr_factor", self.lr_factor, "must be in (0, 1)")
        _check(self.lr_patience >= 1, "train.lr_patience", self.lr_patience, "must be >= 1")
        _check(self.patience >= 0, "train.patience", self.patience, "must be >= 0 (0 = no early stopping)")
        _check(0.0 <= self.min_delta < 1.0, "train.min_delta", self.min_delta, "must be in [0, 1)")
        needs_validation = self.patience > 0 or self.lr_schedule == "plateau"
        _check(self.validation > 0 or not needs_validation, "train.validation", self.validation,
               "must be > 0 for early stopping (patience) and the plateau schedule, which watch it")
        _check(self.dtype in ("float32", "float64"), "train.dtype", self.dtype, "must be float32 or float64")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "train config") -> "TrainConfig":
        config = cls(**typed_kwargs(cls, data, where))
        try:
            config.validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return config


@dataclass(frozen=True)
class Preset:
    model: ModelConfig
    train: TrainConfig


PRESETS: dict[str, Preset] = {
    # The seed article: LSTM 500/250/50 -> VAE 25 -> dense 40/80/160 (tanh) -> 480; W=10, D=40, F=12.
    # beta = 0.02 equals the article's KL multiplier 0.01 against its output gradient (y - y_hat), i.e. a loss of
    # 1/2 * squared error; see docs/MODEL.md. Trained like the reference numbers in the training issue: B=32, K=40,
    # Adam 1e-3, 20 epochs. Features: scale-free-v1 like every preset (feature_set = "mt5-v1" in a config file gives
    # the seed's exact features, whose price units and raw tick volume do not carry across symbols or years).
    "article": Preset(ModelConfig(), TrainConfig(epochs=20)),
    # Our best configuration (docs/TRAINING.md, results): a deterministic autoencoder with a wide latent (Z=128),
    # two LSTM layers of 256, a wider decoder, scale-free features, trained to convergence: an epoch budget, the
    # learning rate cut on validation plateaus, early stopping on the validation nmse, the best epoch's weights kept.
    "default": Preset(ModelConfig(lstm=(256, 256), latent=128, decoder=(256, 512), variational=False,
                                  optimizer=OptimizerConfig(lr=2e-3, clip_norm=1.0)),
                      TrainConfig(epochs=160, lr_schedule="plateau", lr_patience=4, lr_floor=0.01, patience=12)),
    # For a 2-core CPU: the default's network and schedule with a 40-epoch budget (about a quarter of the default's
    # epochs); what it gives up is in docs/TRAINING.md.
    "fast": Preset(ModelConfig(lstm=(256, 256), latent=128, decoder=(256, 512), variational=False,
                               optimizer=OptimizerConfig(lr=2e-3, clip_norm=1.0)),
                   TrainConfig(epochs=40, lr_schedule="plateau", lr_patience=3, lr_floor=0.01, patience=8)),
    # A small network for tests, the demo and smoke runs.
    "tiny": Preset(ModelConfig(lstm=(32, 16), latent=8, decoder=(24,), target_bars=16),
                   TrainConfig(streams=4, tbptt=16, epochs=2, burn_in=20)),
}


def preset(name: str) -> ModelConfig:
    """The model config of a named preset."""
    return get_preset(name).model


def get_preset(name: str) -> Preset:
    try:
        found = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known presets: {sorted(PRESETS)}") from None
    found.model.validate()
    found.train.validate()
    return found


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's data; a missing or malformed file is a ConfigError naming it (and TOML's line and column).

    Read as utf-8-sig: Windows Notepad's "UTF-8 with BOM" starts the file with a BOM, which TOML itself rejects.
    A Windows path in "double quotes" is the usual mistake there ("C:\\data" is a bad escape, "C:\\new" silently a
    newline): both get a hint to use 'single quotes', TOML's literal strings, where a backslash is just a backslash.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as exc:  # Notepad's "Unicode" is UTF-16
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as "
                          "UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}{_quote_hint(text, str(exc))}") from None
    _refuse_control_characters(data, path)
    return data


_TOML_AT = re.compile(r"at line (\d+), column \d+")
_KEY_VALUE = re.compile(r'^\s*([\w.-]+)\s*=\s*"([^"]*)"')


def _quote_hint(text: str, message: str) -> str:
    """'; use single quotes ...' when the line TOML stopped at has a backslash inside a double-quoted string."""
    at = _TOML_AT.search(message)
    lines = text.splitlines()
    line = lines[int(at[1]) - 1] if at and 0 < int(at[1]) <= len(lines) else ""
    if not re.search(r'"[^"]*\\', line):
        return ""
    pair = _KEY_VALUE.match(line)
    example = f" ({pair[1]} = '{pair[2]}')" if pair else ""
    return f"; use single quotes for Windows paths{example}: in TOML a backslash inside double quotes starts an escape"


def _refuse_control_characters(data: Any, path: Path, key: str = "") -> None:
    """No setting holds a control character; one there is a Windows path in double quotes whose \\n, \\t, \\b, \\f
    or \\r TOML turned into one ("C:\\new\\bars.csv"), which would otherwise fail later as a missing file."""
    if isinstance(data, dict):
        for name, value in data.items():
            _refuse_control_characters(value, path, f"{key}.{name}" if key else name)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _refuse_control_characters(value, path, f"{key}[{i}]")
    elif isinstance(data, str) and re.search(r"[\x00-\x1f]", data):
        written = re.sub(r"[\x00-\x1f]", lambda m: _ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"), data)  # as typed
        raise ConfigError(f'config file {path}: {key} = "{written}" holds a control character; use single quotes '
                          f"for Windows paths ({key.rsplit('.', 1)[-1]} = '{written}'): in TOML a backslash inside "
                          "double quotes starts an escape")


_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}  # TOML's one-letter escapes


def load_config_file(path: str | Path) -> Preset:
    """A TOML file with optional `preset = "name"` as the base, then [model], [model.optimizer] and [train] overrides.

    Unknown keys and bad values raise ConfigError naming the file and the key.
    """
    path = Path(path)
    data = read_toml(path)
    unknown = sorted(set(data) - {"preset", "model", "train"})
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s) {unknown}; known: ['model', 'preset', 'train']")
    base = get_preset(data.get("preset", "article"))
    model_data = {**base.model.to_dict(), **{k: v for k, v in data.get("model", {}).items() if k != "optimizer"}}
    model_data["optimizer"] = {**base.model.optimizer.__dict__, **data.get("model", {}).get("optimizer", {})}
    train_data = {**base.train.to_dict(), **data.get("train", {})}
    return Preset(ModelConfig.from_dict(model_data, where=f"config file {path}: model"),
                  TrainConfig.from_dict(train_data, where=f"config file {path}: train"))
