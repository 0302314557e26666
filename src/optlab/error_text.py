"""What optlab quotes of an error in its one-line messages: the error's first line, or its type when it says
nothing (str() of some errors is empty, and `"".splitlines()[0]` would raise in the middle of reporting)."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
