"""The recurrent autoencoder's engines: `ReferenceEngine` (NumPy) and `OpenCLEngine`, chosen by device spec."""

from __future__ import annotations

import os

import numpy as np

from ..config import ModelConfig
from ..opencl.runtime import DeviceChoice, resolve_device
from .base import Engine, LossParts

DEVICE_ENV = "MT5BRIDGE_DEVICE"

__all__ = ["Engine", "LossParts", "make_engine", "choose_device", "DEVICE_ENV"]


def choose_device(spec: str | None = None) -> DeviceChoice:
    """Resolve a device spec; None means the MT5BRIDGE_DEVICE environment variable, else `auto`."""
    return resolve_device(spec if spec else os.environ.get(DEVICE_ENV, "auto"))


def make_engine(config: ModelConfig, streams: int = 1, device: str | DeviceChoice | None = None,
                dtype=np.float32, profiling: bool = False) -> Engine:
    choice = device if isinstance(device, DeviceChoice) else choose_device(device)
    if choice.is_numpy:
        from .reference import ReferenceEngine

        return ReferenceEngine(config, streams, dtype)
    from .cl_engine import OpenCLEngine

    return OpenCLEngine(config, streams, dtype, device=choice.device, profiling=profiling)
