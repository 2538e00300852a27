"""What a MetaTrader5 failure means and what to do next: every failure of the terminal adapter becomes a
TemporaryError (reconnect, then retry) or a ConfigError (a setting to fix), with a message that names the source,
symbol and timeframe. Codes and messages are those of MetaTrader5 5.0.6231 (`_core` and `__init__.py`)."""

from __future__ import annotations

from typing import Any, NoReturn

from ..errors import ConfigError, TemporaryError

ENV_PASSWORD = "MT5BRIDGE_MT5_PASSWORD"
IPC_CODES = range(-10005, -9999)  # RES_E_INTERNAL_FAIL_* : the terminal or its pipe is not answering
INIT_FAILED = -10003  # RES_E_INTERNAL_FAIL_INIT: "IPC initialize failed, <cause>"
AUTH_FAILED, INVALID_PARAMS, NO_MEMORY = -6, -2, -3
NO_DATA = (-1, -4)  # "Terminal: Call failed" / "Terminal: Not found": no bars there, or none ready yet

# -10003 covers causes that no retry can fix. `_core` formats the message as "IPC initialize failed, %S" with one of
# its UTF-16 cause strings; these are the permanent ones, with what to fix. The others ("Pipe server didn't answer in
# %u sec", "CreateFile failed [%u]", "CInterClient already initialized", ...) are a terminal that is starting, busy
# or gone for a while: temporary.
_PATH_HINT = ("set [source] path (or --mt5-path) to the terminal64.exe of an installed MetaTrader 5; under Wine, "
              "the Windows path as the Windows Python beside the terminal sees it, e.g. "
              "C:\\Program Files\\MetaTrader 5\\terminal64.exe")
_DATA_FOLDER_HINT = ("the terminal's data folder is incomplete: start that terminal once by hand (it creates the "
                     "folder) or use portable mode ([source] portable = true / --portable)")
PERMANENT_INIT_CAUSES = (
    ("Process create failed", f"the terminal could not be started from that path: {_PATH_HINT}"),
    ("MetaTrader 5 x64 not found", f"no installed 64-bit MetaTrader 5 terminal was found: install one, or "
                                   f"{_PATH_HINT}"),
    ("Path too long", "the terminal path is too long for Windows: install the terminal in a shorter folder"),
    ("No MQL5 folder in", _DATA_FOLDER_HINT),
    ("No origin.txt in", _DATA_FOLDER_HINT),
)


def last_error(mt5: Any) -> tuple[int, str]:
    error = mt5.last_error()
    if not isinstance(error, tuple) or len(error) != 2:
        return (0, f"no error code ({error!r})")
    return int(error[0]), str(error[1])


def permanent_init_cause(message: str) -> str | None:
    """What to fix, when an -10003 message names a cause that retrying cannot fix; None for a temporary one."""
    for cause, fix in PERMANENT_INIT_CAUSES:
        if cause in message:
            return fix
    return None


def raise_error(name: str, what: str, error: tuple[int, str], settings: Any, symbol: str = "",
                timeframe: Any = "") -> NoReturn:
    """Raise the error that says what to do about `error` (code, message) from the call `what`."""
    code, message = error
    where = f"{name}: {what} failed: {message} ({code})"
    if code == INIT_FAILED and (fix := permanent_init_cause(message)):
        now = repr(settings.path) if settings.path else "unset: the running or last used terminal"
        raise ConfigError(f"{where}; retrying cannot help: {fix} (terminal path now: {now})")
    if code in IPC_CODES:
        hint = f" (terminal path {settings.path})" if what == "initialize" and settings.path else ""
        raise TemporaryError(f"{where}{hint}; the terminal is not answering, reconnect and retry")
    if code == AUTH_FAILED:
        raise ConfigError(f"{where}: check the login ({settings.login}), the server ({settings.server!r}) and the "
                          f"password (or ${ENV_PASSWORD})")
    if code == INVALID_PARAMS:
        raise ConfigError(f"{where}: the terminal rejected symbol {symbol!r} / timeframe {timeframe} / these "
                          f"arguments")
    if code == NO_MEMORY:
        raise ConfigError(f"{where}: ask for fewer bars per request (page_bars = {settings.page_bars})")
    if what == "initialize" or code in (-5, -7, -8):
        raise ConfigError(f"{where}: check the terminal (path {settings.path!r}) and the MetaTrader5 package")
    raise TemporaryError(f"{where}; the terminal may still be loading history, retry")
