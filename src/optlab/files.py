"""What every part of optlab writes: files atomically, and errors as the one line a person reads.

- write_atomic: a temp file in the same folder and a rename, so that an interrupted process never leaves half a
  summary.json, report or record behind.
- first_line: what optlab quotes of an error in its one-line messages: the error's first line, or its type when it
  says nothing (str() of some errors is empty, and `"".splitlines()[0]` would raise in the middle of reporting).
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
