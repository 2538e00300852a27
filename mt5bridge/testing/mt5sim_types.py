"""The MetaTrader5 package's constants, error messages and result types, as the simulator (mt5sim.py) reproduces
them: values from MetaTrader5 5.0.6231 (`__init__.py` and the `_core` module). Kept apart from the simulator's
behaviour so each stays short; mt5sim re-exports everything here, so `from mt5bridge.testing.mt5sim import
RES_E_INTERNAL_FAIL_TIMEOUT` keeps working, and the simulator answers `sim.TIMEFRAME_H1` like the real module.
"""

from __future__ import annotations

import operator
from typing import Any

# --- constants, values from MetaTrader5/__init__.py (5.0.6231) ---
TIMEFRAME_M1, TIMEFRAME_M2, TIMEFRAME_M3, TIMEFRAME_M4, TIMEFRAME_M5, TIMEFRAME_M6 = 1, 2, 3, 4, 5, 6
TIMEFRAME_M10, TIMEFRAME_M12, TIMEFRAME_M15, TIMEFRAME_M20, TIMEFRAME_M30 = 10, 12, 15, 20, 30
TIMEFRAME_H1, TIMEFRAME_H2, TIMEFRAME_H4, TIMEFRAME_H3 = 1 | 0x4000, 2 | 0x4000, 4 | 0x4000, 3 | 0x4000
TIMEFRAME_H6, TIMEFRAME_H8, TIMEFRAME_H12, TIMEFRAME_D1 = 6 | 0x4000, 8 | 0x4000, 12 | 0x4000, 24 | 0x4000
TIMEFRAME_W1, TIMEFRAME_MN1 = 1 | 0x8000, 1 | 0xC000
COPY_TICKS_ALL, COPY_TICKS_INFO, COPY_TICKS_TRADE = -1, 1, 2
SYMBOL_CHART_MODE_BID, SYMBOL_CHART_MODE_LAST = 0, 1
ACCOUNT_TRADE_MODE_DEMO, ACCOUNT_TRADE_MODE_CONTEST, ACCOUNT_TRADE_MODE_REAL = 0, 1, 2
RES_S_OK = 1  # generic success
RES_E_FAIL = -1  # generic fail
RES_E_INVALID_PARAMS = -2  # invalid arguments/parameters
RES_E_NO_MEMORY = -3  # no memory condition
RES_E_NOT_FOUND = -4  # no history
RES_E_INVALID_VERSION = -5  # invalid version
RES_E_AUTH_FAILED = -6  # authorization failed
RES_E_UNSUPPORTED = -7  # unsupported method
RES_E_AUTO_TRADING_DISABLED = -8  # auto-trading disabled
RES_E_INTERNAL_FAIL = -10000  # internal IPC general error
RES_E_INTERNAL_FAIL_SEND = -10001  # internal IPC send failed
RES_E_INTERNAL_FAIL_RECEIVE = -10002  # internal IPC recv failed
RES_E_INTERNAL_FAIL_INIT = -10003  # internal IPC initialization fail
RES_E_INTERNAL_FAIL_CONNECT = -10004  # internal IPC no ipc
RES_E_INTERNAL_FAIL_TIMEOUT = -10005  # internal timeout

# Messages as they appear in the real package's _core module.
MESSAGES = {
    RES_S_OK: "Success",
    RES_E_FAIL: "Terminal: Call failed",
    RES_E_INVALID_PARAMS: "Terminal: Invalid params",
    RES_E_NO_MEMORY: "Terminal: Out of memory",
    RES_E_NOT_FOUND: "Terminal: Not found",
    RES_E_INVALID_VERSION: (
        "Terminal: Incompatible versions, please install the latest version of Terminal and Python module"),
    RES_E_AUTH_FAILED: "Terminal: Authorization failed",
    RES_E_UNSUPPORTED: "Terminal: Unsupported function",
    RES_E_AUTO_TRADING_DISABLED: "Auto-Trading using Python API disabled in Terminal",
    RES_E_INTERNAL_FAIL: "IPC call failed",
    RES_E_INTERNAL_FAIL_SEND: "IPC send failed",
    RES_E_INTERNAL_FAIL_RECEIVE: "IPC recv failed",
    RES_E_INTERNAL_FAIL_INIT: "IPC initialize failed, Pipe server didn't answer in 60 sec",
    RES_E_INTERNAL_FAIL_CONNECT: "No IPC connection",
    RES_E_INTERNAL_FAIL_TIMEOUT: "IPC timeout",
}
IPC_CODES = tuple(range(RES_E_INTERNAL_FAIL_TIMEOUT, RES_E_INTERNAL_FAIL + 1))

# -10003 comes with the cause after "IPC initialize failed, " (format "IPC initialize failed, %S" in _core; the
# causes are UTF-16 strings there, e.g. "Process create failed '%s'", "MetaTrader 5 x64 not found").
INIT_FAILED = "IPC initialize failed, "
PIPE_TIMEOUT = "Pipe server didn't answer in {} sec"
PROCESS_CREATE_FAILED = "Process create failed '{}'"
TERMINAL_NOT_FOUND = "MetaTrader 5 x64 not found"
DEFAULT_PATH = "C:\\Program Files\\MetaTrader 5\\terminal64.exe"


def _struct_sequence(name: str, fields: str, doc: str) -> type:
    """A stand-in for the package's result types. In MetaTrader5 5.0.6231 `_core` creates them in C with
    PyStructSequence_InitType2 under bare names ("TerminalInfo", "AccountInfo", "SymbolInfo", "Tick", next to their
    docs "This is a structure for storing terminal information", ...) and adds a C method `_asdict` ("Convert named
    tuple object to dictionary"). So, like those: a tuple subclass with attribute access and `_asdict()`, built from
    one sequence, with NO `_fields`; its `__module__` is "builtins" (what CPython gives a C type whose name has no
    dot), so pickle's lookup of `builtins.TerminalInfo` fails with PicklingError ("Can't pickle <class
    'TerminalInfo'>: attribute lookup TerminalInfo on builtins failed", mt5linux issue #57): rpyc's obtain() and
    anything else that pickles the real results fails on these too."""
    names = tuple(fields.split())

    def __new__(cls, sequence, dict=None):  # noqa: A002 - structseq's own signature: (sequence, dict)
        values = tuple(sequence)
        if len(values) != len(names):
            raise TypeError(f"{name}() takes a {len(names)}-sequence ({len(values)}-sequence given)")
        return tuple.__new__(cls, values)

    def _asdict(self) -> dict:
        return dict(zip(names, self))

    def __repr__(self) -> str:
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in zip(names, self))})"

    def __reduce__(self):  # what a struct sequence answers: pickle then looks the class up by name, and fails
        return (type(self), (tuple(self), {}))

    namespace: dict[str, Any] = {"__slots__": (), "__new__": __new__, "_asdict": _asdict, "__repr__": __repr__,
                                 "__reduce__": __reduce__, "__doc__": doc, "__match_args__": names,
                                 "n_fields": len(names), "n_sequence_fields": len(names), "n_unnamed_fields": 0,
                                 "__module__": "builtins"}
    for i, field_name in enumerate(names):
        namespace[field_name] = property(operator.itemgetter(i))
    return type(name, (tuple,), namespace)


# Field names as in the real structures (TerminalInfo and AccountInfo in full, in the order of the MQL5 docs'
# examples; SymbolInfo: the fields a data feed uses of its 90-odd).
TerminalInfo = _struct_sequence(
    "TerminalInfo",
    "community_account community_connection connected dlls_allowed trade_allowed tradeapi_disabled email_enabled "
    "ftp_enabled notifications_enabled mqid build maxbars codepage ping_last community_balance retransmission "
    "company name language path data_path commondata_path",
    "This is a structure for storing terminal information")
AccountInfo = _struct_sequence(
    "AccountInfo",
    "login trade_mode leverage limit_orders margin_so_mode trade_allowed trade_expert margin_mode currency_digits "
    "fifo_close balance credit profit equity margin margin_free margin_level margin_so_call margin_so_so "
    "margin_initial margin_maintenance assets liabilities commission_blocked name server currency company",
    "This is a structure for storing account information")
SymbolInfo = _struct_sequence("SymbolInfo", "name select visible digits point spread time bid ask description path",
                              "This is a structure for storing symbol information")
Tick = _struct_sequence("Tick", "time bid ask last volume time_msc flags volume_real",
                        "This is a structure for storing latest symbol prices")


# What `from .mt5sim_types import *` hands to mt5sim: the package's constants and the result types.
__all__ = [name for name in tuple(globals()) if name.isupper() or name in ("TerminalInfo", "AccountInfo",
                                                                           "SymbolInfo", "Tick")]
