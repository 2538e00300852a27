"""mt5bridge: a recurrent variational autoencoder over MetaTrader 5 closed candles, on OpenCL, published over ZeroMQ."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mt5bridge")
except PackageNotFoundError:  # running from a source checkout without an install
    __version__ = "0.0.0+source"
