"""Exception classes, sorted by what happens next.

Every error a user can cause names the file, key, line or bar at fault. The daemon catches
`TemporaryError` and retries; everything else stops the command with a clear message.
"""

from __future__ import annotations


class Mt5BridgeError(Exception):
    """Base class: an error with a message meant for the user, shown without a traceback by the CLI."""


class ConfigError(Mt5BridgeError):
    """A configuration value or key is wrong. Requires the user to fix the setting named in the message."""


class DeviceError(Mt5BridgeError):
    """The requested compute device does not exist or cannot run our kernels. Requires a different --device."""


class KernelBuildError(DeviceError):
    """An OpenCL program failed to compile; the message carries the driver's build log."""


class ModelFileError(Mt5BridgeError):
    """A model file is missing, truncated, corrupted, or does not match the expected config or feature set."""


class DataError(Mt5BridgeError):
    """Input bars are malformed; the message names the file and line (or bar time) at fault."""


class TemporaryError(Mt5BridgeError):
    """A transient failure (terminal IPC timeout, lost connection). Usually resolves itself: retry with backoff."""
