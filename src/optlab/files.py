"""What every part of optlab writes: files atomically, and errors as the one line a person reads.

- write_atomic: a temp file in the same folder and a rename, so that an interrupted process never leaves half a
  summary.json, report or record behind.
- first_line: what optlab quotes of an error in its one-line messages: the error's first line, or its type when it
  says nothing (str() of some errors is empty, and `"".splitlines()[0]` would raise in the middle of reporting).
- innermost_error: the error at the bottom of a chain, the one that says why (Hydra's "Error locating target" wraps
  the ImportError of the user's module).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> Path:
    """Write text to path through a temp file in the same folder and a rename (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    return path


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def innermost_error(error: BaseException) -> BaseException:
    """The exception at the bottom of a chain (each __cause__, else __context__)."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error
