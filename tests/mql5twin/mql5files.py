"""The MQL5 built-ins of the latent-file twins (latentfile.py, latentfeed.py): files, the chart's bar times, the
tester's clock; tests only. The same model as mql5_runtime.h's File Functions, CopyTime and TimeCurrent, unkind parts
included, each with its source (MQL5 Reference; error codes from its "Runtime Errors" table); where the docs are
silent, the harsher reading, said so:
- FILE_COMMON names live in COMMON_FILES (None: such names cannot be opened, so a test that forgets to set it never
  reads FILES by mistake); names use '\\'; an absolute name or one climbing out with ".." is refused (5002);
- a second handle on an open file is refused unless both were opened for reading only with FILE_SHARE_READ
  (Windows sharing: the tester's agents read one common file at once); 64 files open at most (5001);
- FileSeek before the start sets the start, beyond the end is allowed (reads there get nothing);
- FileReadArray returns the elements it could read, fewer at the end of the file, with no error code;
- FileFindFirst/FileFindNext: '*' any run, '?' at most one character, case ignored, folders found too with a
  trailing '\\'; the order is undocumented: reverse name order here; no match: INVALID_HANDLE (5019, undocumented);
- the chart: `chart` holds the open times of the chart's bars (CHART_SYMBOL, CHART_PERIOD), oldest first, the last
  one forming. iTime ignores the symbol asked (as the runtime's); CopyTime gives bars of the chart's own symbol and
  period only (-1, 4401 otherwise, or for an empty range);
- TimeCurrent: `server_time`, never before the newest bar opened; MQLInfoInteger(MQL_TESTER): TESTER.
"""

from __future__ import annotations

import os
import time

from . import mql5

FILE_READ = 1
FILE_WRITE = 2
FILE_BIN = 4
FILE_SHARE_READ = 128
FILE_COMMON = 4096
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
MQL_TESTER = 0
ERR_TOO_MANY_FILES = 5001
ERR_WRONG_FILENAME = 5002
ERR_CANNOT_OPEN_FILE = 5004
ERR_INVALID_FILEHANDLE = 5007
ERR_FILE_IS_DIRECTORY = 5018
ERR_FILE_NOT_EXIST = 5019
ERR_HISTORY_NOT_FOUND = 4401

FILES = "."  # MQL5/Files
COMMON_FILES: str | None = None  # Common/Files
TESTER = False
CHART_SYMBOL, CHART_PERIOD = "EURUSD", 16385
chart: list[int] = []
server_time = 0

_files: dict[int, dict] = {}
_searches: dict[int, list[str]] = {}
_next = {"file": 1, "search": 1}


def reset() -> None:
    """A fresh terminal: closes the files, forgets the chart and the settings."""
    global COMMON_FILES, TESTER, CHART_SYMBOL, CHART_PERIOD, server_time, FILES
    for f in _files.values():
        f["file"].close()
    _files.clear()
    _searches.clear()
    chart.clear()
    FILES, COMMON_FILES, TESTER, CHART_SYMBOL, CHART_PERIOD, server_time = ".", None, False, "EURUSD", 16385, 0


def _path(name: str, flags: int) -> str:
    name = name.replace("\\", "/")
    if not name or name.startswith("/") or ":" in name or "/../" in f"/{name}/":
        return ""
    root = COMMON_FILES if flags & FILE_COMMON else FILES
    return "" if root is None else os.path.join(root, name)


def FileOpen(file_name: str, open_flags: int, delimiter: str = "\t", codepage: int = 0) -> int:
    path = _path(file_name, open_flags)
    if not path:
        mql5._error(ERR_CANNOT_OPEN_FILE if open_flags & FILE_COMMON else ERR_WRONG_FILENAME)
        return mql5.INVALID_HANDLE
    if len(_files) >= 64:
        mql5._error(ERR_TOO_MANY_FILES)
        return mql5.INVALID_HANDLE
    if os.path.isdir(path):
        mql5._error(ERR_FILE_IS_DIRECTORY)
        return mql5.INVALID_HANDLE

    def shared(flags: int) -> bool:
        return bool(flags & FILE_SHARE_READ) and not flags & FILE_WRITE

    if any(f["path"] == path and not (shared(f["flags"]) and shared(open_flags)) for f in _files.values()):
        mql5._error(ERR_CANNOT_OPEN_FILE)
        return mql5.INVALID_HANDLE
    try:
        handle_file = open(path, "wb" if open_flags & FILE_WRITE else "rb")
    except OSError:
        mql5._error(ERR_CANNOT_OPEN_FILE)
        return mql5.INVALID_HANDLE
    handle = _next["file"]
    _next["file"] += 1
    _files[handle] = {"file": handle_file, "path": path, "flags": open_flags}
    return handle


def _file(handle: int):
    f = _files.get(handle)
    if f is None:
        mql5._error(ERR_INVALID_FILEHANDLE)
        return None
    return f["file"]


def FileSize(file_handle: int) -> int:
    f = _file(file_handle)
    return 0 if f is None else os.fstat(f.fileno()).st_size


def FileSeek(file_handle: int, offset: int, origin: int) -> bool:
    f = _file(file_handle)
    if f is None:
        return False
    if origin not in (SEEK_SET, SEEK_CUR, SEEK_END):
        mql5._error(4003)
        return False
    base = {SEEK_SET: 0, SEEK_CUR: f.tell(), SEEK_END: FileSize(file_handle)}[origin]
    f.seek(max(0, base + offset))
    return True


def FileReadArray(file_handle: int, array, start: int = 0, count: int = mql5.WHOLE_ARRAY) -> int:
    """uchar arrays (the twin reads bytes only); a dynamic array grows to hold what was read."""
    f = _file(file_handle)
    if f is None or start < 0:
        return 0
    data = f.read() if count < 0 else f.read(count)
    if len(array) < start + len(data):
        mql5.ArrayResize(array, start + len(data))
    array[start:start + len(data)] = data
    return len(data)


def FileClose(file_handle: int) -> None:
    f = _file(file_handle)
    if f is not None:
        f.close()
        del _files[file_handle]


def FileFindFirst(file_filter: str, returned_filename: list, common_flag: int = 0) -> int:
    """MQL5: long FileFindFirst(filter, string &returned_filename, flag); the name comes in returned_filename[0]."""
    folder, _, pattern = file_filter.rpartition("\\")
    path = _path(folder or ".", common_flag)
    entries = os.listdir(path) if path and os.path.isdir(path) else []
    names = [e + "\\" if os.path.isdir(os.path.join(path, e)) else e for e in entries if _matches(pattern, e)]
    if not names:
        mql5._error(ERR_FILE_NOT_EXIST)
        return mql5.INVALID_HANDLE
    names.sort(reverse=True)
    handle = _next["search"]
    _next["search"] += 1
    returned_filename[0] = names[0]
    _searches[handle] = names[1:]
    return handle


def _matches(pattern: str, name: str) -> bool:
    """'*' any run, '?' at most one character, without case (the runtime's mql5rt::Matches)."""
    if not pattern:
        return not name
    head = pattern[0]
    if head == "*":
        return _matches(pattern[1:], name) or (bool(name) and _matches(pattern, name[1:]))
    if head == "?":
        return _matches(pattern[1:], name) or (bool(name) and _matches(pattern[1:], name[1:]))
    return bool(name) and head.lower() == name[0].lower() and _matches(pattern[1:], name[1:])


def FileFindNext(search_handle: int, returned_filename: list) -> bool:
    names = _searches.get(search_handle)
    if not names:
        return False
    returned_filename[0] = names.pop(0)
    return True


def FileFindClose(search_handle: int) -> None:
    _searches.pop(search_handle, None)


def MQLInfoInteger(property_id: int) -> int:
    return 1 if property_id == MQL_TESTER and TESTER else 0


def iTime(symbol: str, timeframe: int, shift: int) -> int:
    n = len(chart)
    return 0 if shift < 0 or shift >= n else chart[n - 1 - shift]


def CopyTime(symbol_name: str, timeframe: int, start_time: int, stop_time: int, time_array: list) -> int:
    ours = symbol_name == CHART_SYMBOL and timeframe in (0, CHART_PERIOD)
    found = [t for t in chart if start_time <= t <= stop_time]
    if not ours or stop_time < start_time or not found:
        mql5._error(ERR_HISTORY_NOT_FOUND)
        return -1
    time_array[:] = found
    return len(found)


def TimeCurrent() -> int:
    return max(server_time, chart[-1] if chart else 0)


def TimeToString(value: int) -> str:
    """TIME_DATE | TIME_MINUTES, the default: 2024.01.02 05:00."""
    return time.strftime("%Y.%m.%d %H:%M", time.gmtime(value))


def StringSplit(text: str, separator: str, result: list) -> int:
    result[:] = text.split(separator) if text else []
    return len(result)
