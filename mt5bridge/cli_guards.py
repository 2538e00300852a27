"""Checks the command line makes before it touches anything: never overwrite what the user did not ask to replace,
never write an output over one of the command's own inputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .errors import ConfigError


def same_file(a: Path, b: Path) -> bool:
    """True when both name one file (through links, relative paths, case on case-insensitive systems)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_input_as_output(output: Path | None, option: str, inputs: Iterable[tuple[str, Path | None]]) -> None:
    """An output that is one of the inputs would destroy it: refuse, naming both options."""
    if output is None:
        return
    for name, path in inputs:
        if path is not None and (same_file(output, path) or output.resolve() == path.resolve()):
            raise ConfigError(f"{option} {output} is the {name} file; write the output somewhere else")


def refuse_replacing(paths: Iterable[Path], *, what: str, force_option: str = "--force", hint: str = "") -> None:
    """Existing files the command would replace: refuse unless the user passed `force_option`."""
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise ConfigError(f"{what} {', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                          f"{hint}pass {force_option} to replace {'it' if len(existing) == 1 else 'them'}")
