"""The one loader for the OpenCL C sources in `kernels/*.cl`.

In a source checkout (and an editable install) they are at `<repo>/kernels/`; in a wheel they are shipped inside the
package as `mt5bridge/kernels/` (see pyproject.toml). Either way they are found here, and only here.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DeviceError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../mt5bridge


def kernels_dir() -> Path:
    """The folder holding the `.cl` files: inside the installed package first, then the source checkout's."""
    candidates = (_PACKAGE_DIR / "kernels", _PACKAGE_DIR.parent / "kernels")
    for folder in candidates:
        if (folder / "common.h").is_file():
            return folder
    raise DeviceError(
        "OpenCL kernel sources not found; looked in " + ", ".join(str(c) for c in candidates)
        + ". Reinstall mt5bridge (the wheel ships them as mt5bridge/kernels/*.cl)."
    )


# Programs that build on another's functions: the listed files come first, in this order.
PRELUDES = {"lstm_persistent": ("lstm",)}  # lstm_cell: the persistent kernel must round as the stepped one


def kernel_source(name: str) -> str:
    """Text of `kernels/<name>.cl`, preceded by `common.h` (the shared `real` type and helpers) and its preludes.

    Concatenating instead of `#include` keeps the build independent of the driver's include-path handling.
    """
    folder = kernels_dir()
    parts = []
    for part in (*PRELUDES.get(name, ()), name):
        path = folder / f"{part}.cl"
        if not path.is_file():
            known = sorted(p.stem for p in folder.glob("*.cl"))
            raise DeviceError(f"no OpenCL program {part!r} in {folder}; known: {known}")
        # #line keeps the compiler's line numbers in build logs pointing at the real file.
        parts.append(f'#line 1 "{part}.cl"\n' + path.read_text(encoding="utf-8"))
    return with_common_header("\n".join(parts))


def with_common_header(source: str) -> str:
    common = (kernels_dir() / "common.h").read_text(encoding="utf-8")
    # #line keeps the compiler's line numbers in build logs pointing at the real file.
    return f"{common}\n#line 1\n{source}"


def program_names() -> list[str]:
    return sorted(p.stem for p in kernels_dir().glob("*.cl"))
